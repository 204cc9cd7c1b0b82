"""Secrets never reach a file or a log: the password of a database URL is shown as ``***``.

``output.url`` may carry a database password (``postgresql+psycopg://user:secret@host/db``, or
``?password=secret``). A password may hold any character (a quote, ``@``, ``:``, ``/``, ``#``, spaces,
``%``-escapes, non-ASCII; a raw ``@``, which URL readers take for the end of the password, is refused by the
config: :func:`password_holds_at`), so it is found by parsing the URL, never by guessing its end with a pattern:

- :func:`mask_url` shows a URL with its password (and every ``password``-like query value) replaced by
  ``***``: what ``vnnews config show``, the resolved config beside the results and messages show;
- :func:`register_url` remembers the secrets of a URL when the config is read; :func:`redact` then
  replaces each of them, in every form a message may quote it (as written, ``%``-decoded, ``%``-encoded,
  escaped by ``repr``), in any text: error messages, log lines, what a database driver says.

Better still, keep the password out of the config: PostgreSQL drivers read ``PGPASSWORD`` or
``~/.pgpass`` when the URL has none.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MASK = "***"
# Query parameters that carry a secret (libpq's ``password``, ``sslpassword``; drivers' ``pwd``...).
SECRET_PARAMETERS = ("password", "passwd", "pwd", "secret", "token", "sslpassword", "sslkey_password")
# Secrets shorter than this are masked where a URL is shown (mask_url), not searched for in free text,
# where one or two characters would blank out every word that holds them.
MIN_SEARCHED = 3

_secrets: set[str] = set()


def _split(url: str) -> tuple[str, str, str] | None:
    """``(scheme://user:, password, @rest)`` of a URL with a password, cut at the ``:`` after the user name
    and at the LAST ``@``: whatever the password holds (``@``, ``/``, ``?``, ``#``), it lies between those."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    at = rest.rfind("@")
    colon = rest.find(":", 0, at) if at > 0 else -1
    if colon < 0:
        return None
    return f"{scheme}://{rest[:colon + 1]}", rest[colon + 1:at], rest[at:]


def password_holds_at(url: str) -> bool:
    """Whether the password of ``url`` holds a raw ``@``: URL readers end the password at the first ``@`` and
    take the rest of it for the host name, which messages then quote."""
    split = _split(url)
    return split is not None and "@" in split[1]


def _query_secrets(url: str) -> list[tuple[str, str]]:
    """``(name, value)`` of the secret query parameters of ``url``, values as written."""
    _, sep, query = url.partition("?")
    if not sep:
        return []
    found = []
    for part in query.replace(";", "&").split("&"):
        name, eq, value = part.partition("=")
        if eq and unquote_plus(name).strip().lower() in SECRET_PARAMETERS:
            found.append((name, value))
    return found


def url_secrets(url: str) -> set[str]:
    """Every password a URL may hold, in the forms a message may quote it: the text between the user name
    and the last ``@``, what SQLAlchemy parses as the password, the secret query values; each as written,
    decoded and encoded."""
    raw: set[str] = set()
    split = _split(url)
    if split is not None:
        raw.add(split[1])
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # (not a URL SQLAlchemy reads: the split above holds its secret)
        parsed = None
    if parsed is not None:
        raw.add(str(parsed.password or ""))
        for name, values in parsed.query.items():
            if name.lower() in SECRET_PARAMETERS:
                raw.update(values if isinstance(values, tuple) else (values,))
    raw.update(value for _, value in _query_secrets(url))
    forms: set[str] = set()
    for secret in raw:
        for form in (secret, unquote(secret), unquote_plus(secret), quote(secret, safe=""), quote_plus(secret, safe=""),
                     quote(unquote(secret), safe=""), repr(secret)[1:-1], repr(unquote(secret))[1:-1],
                     json.dumps(secret)[1:-1], json.dumps(unquote(secret), ensure_ascii=False)[1:-1]):
            if form:
                forms.add(form)
    return forms


def mask_url(url: str) -> str:
    """``url`` with its password and secret query values shown as ``***`` (``scheme://user:***@host/db``)."""
    split = _split(url)
    if split is not None:
        head, _, tail = split
        url = head + MASK + tail
    for name, value in _query_secrets(url):
        url = url.replace(f"{name}={value}", f"{name}={MASK}")
    return url


def register_url(url: str | None) -> None:
    """Remember the secrets of ``url`` (a config's database URL), so :func:`redact` masks them in any text."""
    if url:
        _secrets.update(s for s in url_secrets(url) if len(s) >= MIN_SEARCHED)


def redact(text: str) -> str:
    """``text`` with every remembered secret (see :func:`register_url`) replaced by ``***``, longest first."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
