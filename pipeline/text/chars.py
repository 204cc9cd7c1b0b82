"""Character classes shared by text normalization and its compiled scan.

What :func:`pipeline.text.normalize.clean_text` deletes or rewrites wherever it stands, and which
letters count as Latin, foreign Latin or Vietnamese-marked for the language check. Both
:mod:`pipeline.text.normalize` and the per-code-point tables of :mod:`pipeline.text.scan` are
built from these, so the two agree by construction.
"""

from __future__ import annotations

import re

# Zero-width and other invisible format characters, and control characters, are deleted; other
# blanks (tab, NBSP, ideographic space...) become spaces; runs of spaces become one.
_JUNK_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_OTHER_BLANKS_RE = re.compile("[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# Every character clean_text deletes or rewrites wherever it stands (the batch scan's table).
CLEAN_REWRITES_RE = re.compile(f"\r|{_JUNK_RE.pattern}|{_OTHER_BLANKS_RE.pattern}")

# ð is the lower case of Ð (Icelandic eth), which Vietnamese fonts and keyboards often produce
# for Đ: counted as the Vietnamese letter, not as a foreign one (a VNTC article writes "ÐT" so).
_VIETNAMESE_MARKED = set(
    "ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵð"
)


def letter_class(ch: str) -> tuple[bool, bool, bool]:
    """For one lower-case letter: is it Latin, Latin but not Vietnamese (ä, ø...), Vietnamese marked."""
    marked = ch in _VIETNAMESE_MARKED
    latin = ch < "\u0250" or marked or "\u1e00" <= ch <= "\u1eff"
    foreign = "\u00c0" <= ch < "\u0250" and not marked
    return latin, foreign, marked
