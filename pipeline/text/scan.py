"""One compiled pass over a batch of texts: which ones ``clean_text`` would leave alone, and letter counts.

Why: the normalize stage ran ``clean_text`` (a few C regex scans plus Python glue, ~30 us) and
``language_check`` (a Python loop over every character, ~400 us) on each article, ten times the
topic model's own cost. Almost every real article is already clean (97.5 % of VNTC, all of
VietNews), and the language check only needs four counts over ``text.lower()``. Here all texts
of a batch become one array of code points (as the topic model's vectorizer does) and a compiled
kernel (``csrc/text.c``, built with the package as ``pipeline.text._kernels``), parallel over texts
and without the GIL, decides per text, in one pass over a 64k-entry table:

* ``clean``: the text has nothing that ``clean_text`` rewrites (``\\r``, invisible or control
  characters, blanks other than space and newline, two spaces in a row, whitespace at either end
  of a line or of the text, three newlines in a row) and is NFC (known from the characters for
  ordinary text, else asked of ``unicodedata``). The tone style is the caller's business. A
  text that is not ``clean`` simply goes through ``clean_text``, so outputs are the same by
  construction; only the shortcut must never say "clean" wrongly (tested against ``clean_text``
  on real and crafted texts).
* ``counts``: letters, Latin letters, non-Vietnamese Latin letters (``ä``, ``ø``...) and
  Vietnamese marked letters in ``text.lower()``, as :func:`pipeline.text.language.language_verdicts`
  counts them, from a per-code-point table built with the same Python predicates.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.text._kernels import (
    DIRTY,  # per-text result bits of the scan: clean_text would change the text (besides NFC and tone style)
    HAS_LESS_THAN,
    HAS_UNKNOWN,
    LANE,  # letter counts are packed as four 16-bit lanes of one uint64 per code point
    LESS_THAN,  # "<": the text may carry HTML markup (the caller decides)
    MAYBE_NOT_NFC,
    NEWLINE,
    NFC_UNSAFE,  # may change under NFC next to its neighbours: the text needs unicodedata's check
    SPACE,  # str.isspace() other than "\n": stripped at line and text ends
    UNKNOWN,  # a surrogate (UTF-16 half of an astral character, or a lone one): counted in Python
    scan,
)
from pipeline.text.cache import cached_arrays
from pipeline.text.chars import CLEAN_REWRITES_RE, letter_class

TABLE_SIZE = 0x10000  # one entry per BMP code point; astral characters are looked up as a surrogate
# Flags per code point (the kernel's, and two more). The low four bits form a three-character window
# (12 bits) whose verdict (would clean_text change something here?) is precomputed in VERDICT.
BAD = 1  # clean_text deletes or rewrites it wherever it stands
ASCII_SPACE = 8  # " " (has SPACE too): two in a row are squeezed
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


def kernel_threads() -> int:
    """Threads of the compiled kernels' parallel loops: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (not on Linux)
        return os.cpu_count() or 1


class Scan(NamedTuple):
    """Per text: would ``clean_text`` leave it unchanged (given tone style ``keep``), and counts."""

    clean: np.ndarray  # bool (n,): nothing for clean_text to do (NFC included)
    counts: np.ndarray  # int64 (n, 4): letters, latin, foreign, marked of text.lower()
    has_less_than: np.ndarray  # bool (n,): the text contains "<" (candidates for the HTML check)


ENCODE_CHUNK = 256  # texts per join + encode: one multi-MB temporary per batch cost 4.7 us/article, chunks 1.7


def encode_batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts as one code-point array plus document offsets (C-speed encodes).

    UTF-16 (half the memory traffic of UTF-32) when no text has an astral character, since then
    code units are code points; otherwise UTF-32. Lone surrogates pass through as code points.
    Texts are joined and encoded ``ENCODE_CHUNK`` at a time into one preallocated array: joining a
    whole batch makes two fresh temporaries of several MB per call, and touching fresh memory
    (page faults) cost three times the encoding itself on this project's machines.
    """
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    little = sys.byteorder == "little"
    out = np.empty(offsets[-1], dtype=np.uint16)
    for start in range(0, len(texts), ENCODE_CHUNK):
        stop = min(start + ENCODE_CHUNK, len(texts))
        blob = "".join(texts[start:stop]).encode("utf-16-le" if little else "utf-16-be", "surrogatepass")
        if len(blob) != 2 * (offsets[stop] - offsets[start]):
            break  # an astral character takes two UTF-16 units: use UTF-32 for the whole batch
        out[offsets[start] : offsets[stop]] = np.frombuffer(blob, dtype=np.uint16)
    else:
        return out, offsets
    blob = "".join(texts).encode("utf-32-le" if little else "utf-32-be", "surrogatepass")
    return np.frombuffer(blob, dtype=np.uint32), offsets


def letter_counts_of(char: str) -> tuple[int, int, int, int]:
    """What one character adds to (letters, latin, foreign, marked) once the text is lower-cased.

    ``str.lower`` maps characters one by one (its only context rule, final sigma, yields another
    Greek letter), so per-character contributions add up to the counts of ``text.lower()``.
    """
    letters = latin = foreign = marked = 0
    for ch in char.lower():
        if ch.isalpha():
            letters += 1
            is_latin, is_foreign, is_marked = letter_class(ch)
            latin += is_latin
            foreign += is_foreign
            marked += is_marked
    return letters, latin, foreign, marked


def _nfc_unsafe() -> set[int]:
    """BMP code points that may not be left as they are by NFC when they stand in a text.

    A character is safe when NFC leaves it alone, it is a starter (combining class 0), and
    neither it nor the first character of its decomposition can combine with a preceding
    character (the second half of a canonical pair, or a Hangul jamo). A string of safe
    characters is then NFC: each decomposes and recomposes to itself, and nothing composes
    across characters. (Astral canonical pairs use only astral code points, which are UNKNOWN.)
    """
    second = set()
    for code in range(TABLE_SIZE):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second.add(int(parts[1], 16))
    unsafe = set(range(0x1100, 0x1200)) | set(range(0xD800, 0xE000))
    for code in range(TABLE_SIZE):
        char = chr(code)
        if code in second or unicodedata.combining(char) or unicodedata.normalize("NFC", char) != char:
            unsafe.add(code)
            continue
        first = unicodedata.normalize("NFD", char)[0]
        if ord(first) in second or unicodedata.combining(first) or 0x1100 <= ord(first) < 0x1200:
            unsafe.add(code)
    return unsafe


TABLE_NAMES = ("flags", "packed", "verdict")


def _tables_key() -> str:
    """What the tables depend on: the code of ``pipeline/text`` (predicates, patterns) and the Unicode
    database and Python behind ``str.lower``, ``isalpha``, ``isspace`` and ``unicodedata``."""
    import hashlib

    digest = hashlib.sha256(f"{sys.version_info[:3]} {unicodedata.unidata_version} {np.__version__}".encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def scan_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per BMP code point its flags and packed letter counts, and the three-character verdicts.

    Building them walks every BMP code point in Python (about half a second), so they are kept in
    the user's cache folder (:func:`pipeline.text.cache.cached_arrays`), under a key of everything
    they depend on.
    """
    arrays = cached_arrays(
        f"scan_tables.{_tables_key()}.npz",
        "the text scan's code-point tables",
        lambda: dict(zip(TABLE_NAMES, build_scan_tables(), strict=True)),
        lambda a: [a.get(n, np.zeros(0)).shape for n in TABLE_NAMES] == [(TABLE_SIZE,), (TABLE_SIZE,), (1 << 12,)],
    )
    return tuple(arrays[name] for name in TABLE_NAMES)


def build_scan_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tables of :func:`scan_tables`, computed."""
    flags = np.zeros(TABLE_SIZE, dtype=np.uint8)
    packed = np.zeros(TABLE_SIZE, dtype=np.uint64)
    unsafe = _nfc_unsafe()
    for code in range(TABLE_SIZE):
        char = chr(code)
        flag = 0
        if CLEAN_REWRITES_RE.match(char):
            flag |= BAD
        if char == "\n":
            flag |= NEWLINE
        elif char.isspace():
            flag |= SPACE
        if char == " ":
            flag |= ASCII_SPACE
        if 0xD800 <= code < 0xE000:
            flag |= UNKNOWN
        if code in unsafe:
            flag |= NFC_UNSAFE
        if char == "<":
            flag |= LESS_THAN
        flags[code] = flag
        counts = letter_counts_of(char)
        assert max(counts) <= 3  # FLUSH relies on it
        packed[code] = sum(count << (LANE * lane) for lane, count in enumerate(counts))
    verdict = np.zeros(1 << 12, dtype=np.uint8)
    for window in range(1 << 12):
        a, b, c = (window >> 8) & 15, (window >> 4) & 15, window & 15
        dirty = (
            c & BAD
            or (b & NEWLINE and c & SPACE)  # whitespace at the start of a line
            or (b & SPACE and c & NEWLINE)  # whitespace at the end of a line
            or (b & ASCII_SPACE and c & ASCII_SPACE)
            or (a & b & c & NEWLINE)  # three line breaks
        )
        verdict[window] = DIRTY if dirty else 0
    return flags, packed, verdict


def scan_texts(texts: list[str]) -> Scan:
    """Clean flags and letter counts for every text of a batch (see the module docstring)."""
    flags, packed, verdict = scan_tables()
    cp, offsets = encode_batch(texts)
    n = len(texts)
    status = np.empty(n, dtype=np.uint8)
    counts = np.empty((n, 4), dtype=np.int64)
    scan(cp, offsets, flags, packed, verdict, status, counts, kernel_threads())
    clean = (status & DIRTY) == 0
    for d in np.flatnonzero(status & HAS_UNKNOWN):
        for char in _ASTRAL_RE.findall(texts[d]):
            counts[d] += letter_counts_of(char)
    for d in np.flatnonzero(clean & ((status & MAYBE_NOT_NFC) != 0)):
        clean[d] = unicodedata.is_normalized("NFC", texts[d])
    return Scan(clean, counts, (status & HAS_LESS_THAN) != 0)
