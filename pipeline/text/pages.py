"""Recover title, author and body from a scraped article page, dropping site boilerplate.

A scraped page is the article framed by site chrome: the title on top, often a byline, then
prose, and at the bottom navigation ("cùng chuyên mục", "Xem thêm ...", share counters). The
rule that generalizes across sites: navigation lines are short and are not sentences (no final
punctuation), while prose lines are long or end like a sentence. We strip such lines from the end
of the page (and anywhere in the body when they contain a typical navigation phrase), and take a
name-shaped short line right after the title, or just before the trailing chrome, as the author.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Phrases that mark a line as site navigation wherever it appears, when the line is short.
NAVIGATION_PHRASES = (
    "xem thêm", "xem tiếp", "đọc thêm", "tin liên quan", "bài liên quan", "cùng chuyên mục",
    "tin cùng chuyên mục", "chia sẻ", "bình luận", "theo dõi", "đăng ký", "quảng cáo", "từ khóa",
    "từ khoá", "tags", "kéo xuống", "trở về", "quay lại", "trang chủ", "bản quyền", "liên hệ",
    "tải ứng dụng", "nhấn vào", "click", "share", "like",
)
_SENTENCE_END = (".", "!", "?", "…", '"', "”", "»", ":", ";")
_NAV_MAX_WORDS = 12
_AUTHOR_MAX_WORDS = 6
_INITIAL_RE = re.compile(r"^[A-ZĐ]\.$|^[A-ZĐ][a-zđ]?\.$")
_NAME_WORD_RE = re.compile(r"^[^\W\d_][\w'’-]*$")


@dataclass
class Page:
    title: str
    author: str | None
    body: str


def _is_prose(line: str) -> bool:
    return len(line.split()) > _NAV_MAX_WORDS or line.rstrip().endswith(_SENTENCE_END)


def _is_trailing_chrome(line: str) -> bool:
    """At the page's end even a short line ending in punctuation is chrome if it reads as navigation."""
    return not _is_prose(line) or (len(line.split()) <= _NAV_MAX_WORDS and _has_navigation_phrase(line))


def _has_navigation_phrase(line: str) -> bool:
    lowered = line.lower()
    return any(phrase in lowered for phrase in NAVIGATION_PHRASES)


def looks_like_author(line: str) -> bool:
    """A byline: a few capitalized words or initials (``N. Huyền``, ``Minh Anh - Hà Nội``)."""
    line = line.strip().strip("-–—").strip()
    for prefix in ("Theo ", "Bài:", "Bài và ảnh:", "Tác giả:", "PV:"):
        if line.startswith(prefix):
            line = line[len(prefix):].strip()
    words = [w for w in re.split(r"[\s,/–-]+", line) if w]
    if not 1 <= len(words) <= _AUTHOR_MAX_WORDS or (line.endswith((".", "!", "?", ":")) and len(words) > 1):
        return False
    return all(_INITIAL_RE.match(w) or (_NAME_WORD_RE.match(w) and w[0].isupper()) for w in words)


def parse_page(page: str, title: str | None = None) -> Page:
    """Split a scraped page into title, author and body (boilerplate removed).

    ``title`` is used when the input already carries one; otherwise the first line is the title.
    Expects cleaned text (see :func:`pipeline.text.normalize.clean_text`).
    """
    lines = [line.strip() for line in page.split("\n")]
    lines = [line for line in lines if line]
    if not title and lines:
        title, lines = lines[0], lines[1:]
    author: str | None = None
    if lines and looks_like_author(lines[0]) and not _has_navigation_phrase(lines[0]):
        author, lines = lines[0], lines[1:]
    # Trailing chrome: short non-sentences at the end, plus a byline that may stand just above it
    # (the name-shaped line nearest the prose wins, since chrome further down is often a menu).
    byline_at_top = author is not None
    while lines and _is_trailing_chrome(lines[-1]):
        line = lines.pop()
        if not byline_at_top and looks_like_author(line) and not _has_navigation_phrase(line):
            author = line
    body = [line for line in lines if _is_prose(line) or not _has_navigation_phrase(line)]
    return Page(title=title or "", author=author, body="\n".join(body))
