"""Secrets never reach a file or a log: passwords in URLs are replaced by ``***``.

``output.url`` may carry a database password (``postgresql+psycopg://user:secret@host/db``). The
job writes its resolved config beside the results and prints errors that quote URLs; both go
through :func:`redact`. Better still, keep the password out of the config: PostgreSQL drivers
read ``PGPASSWORD`` or ``~/.pgpass`` when the URL has none.
"""

from __future__ import annotations

import re

# scheme://user:password@host  and  ?password=...&  (also pwd=, passwd=)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*:)(?P<secret>[^@\s'\"]+)(?=@)")
_QUERY = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd)=)(?P<secret>[^&;\s'\"]+)", re.IGNORECASE)

MASK = "***"


def redact(text: str) -> str:
    """``text`` with every URL password replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: m["head"] + MASK, text)
    return _QUERY.sub(lambda m: m["head"] + MASK, text)
