"""Compiled syllable/character n-gram TF-IDF features (numba), batch in, CSR matrix out.

Why not scikit-learn's ``TfidfVectorizer``: its tokenizer and n-gram loop run in Python, one
document at a time, and would be most of the classifier's time. Here a
batch of texts becomes one array of code points, and a compiled kernel, parallel over documents,
lower-cases, applies one tone-mark style, splits syllables (``\\w+`` like ``re``), hashes word
and character n-grams to 64 bits, looks them up in the vocabulary and writes sub-linear TF-IDF
rows, L2-normalized. The vocabulary is stored as the n-grams' 64-bit hashes (collisions among
a few million n-grams have probability ~1e-7), so the model needs no pickle and no strings.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numba
import numpy as np
from numba import njit, prange

from pipeline.text.hashing import FNV_OFFSET, FNV_PRIME, splitmix64
from pipeline.text.scan import cached_arrays, encode_batch  # (UTF-16 when possible)

if TYPE_CHECKING:  # (scipy.sparse takes 0.06 s to import; prediction never builds a matrix)
    import scipy.sparse as sp

_WORD_SALT = np.uint64(0x9E3779B97F4A7C15)
_CHAR_SALT = np.uint64(0xC2B2AE3D27D4EB4F)
_EMPTY = np.uint64(0)
_HIGH = np.uint64(0xFFFFFFFF00000000)
_LOW = np.uint64(0xFFFFFFFF)
_FREE = np.uint64(0xFFFFFFFFFFFFFFFF)
TABLE_SIZE = 0x10000  # code points above the BMP are rare in news text and count as separators


@lru_cache(maxsize=1)
def char_table() -> np.ndarray:
    """Per BMP code point: its lower case if it is a ``\\w`` character (what ``re`` would do), else 0.

    One table for both questions, so the kernel does one lookup per character (no word
    character is NUL or lower-cases to it). Building it asks Python about every BMP code point
    (about 0.1 s, at the start of every job that classifies), so it is kept in
    ``pipeline/topic/__pycache__`` beside numba's compiled kernels, under a key of what it depends
    on (Python, its Unicode database, this file); a missing or unreadable file is rebuilt, a folder
    that cannot be written is no error.
    """
    import hashlib
    import sys
    import unicodedata
    from pathlib import Path

    key = hashlib.sha256(f"{sys.version_info[:3]} {unicodedata.unidata_version}".encode())
    key.update(Path(__file__).read_bytes())
    cache = Path(__file__).parent / "__pycache__" / f"char_table.{key.hexdigest()[:16]}.npz"
    arrays = cached_arrays(
        cache,
        lambda: {"lower_word": build_char_table()},
        lambda a: a.get("lower_word", np.zeros(0)).shape == (TABLE_SIZE,) and a["lower_word"].dtype == np.uint32,
    )
    return arrays["lower_word"]


def build_char_table() -> np.ndarray:
    """The table of :func:`char_table`, computed."""
    lower_word = np.zeros(TABLE_SIZE, dtype=np.uint32)
    for code in range(TABLE_SIZE):
        char = chr(code)
        if char.isalnum() or char == "_":
            low = char.lower()
            lower_word[code] = ord(low) if len(low) == 1 else code
    return lower_word


@lru_cache(maxsize=3)
def tone_tables(style: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (last two letters of a syllable) rewritten for a tone style, lower case, and a filter.

    Mirrors :func:`pipeline.text.normalize.set_tone_style` (``hoà`` <-> ``hòa``, not after ``q``), applied
    per syllable after lower-casing, so no regex pass over the text is needed.
    """
    from pipeline.text.normalize import _NEW_TO_OLD, _OLD_TO_NEW

    table = {"new": _OLD_TO_NEW, "old": _NEW_TO_OLD}.get(style, {})
    pairs = sorted((s, d) for s, d in table.items() if s == s.lower())
    src = np.array([[ord(s[0]), ord(s[1])] for s, _ in pairs], dtype=np.uint32).reshape(-1, 2)
    dst = np.array([[ord(d[0]), ord(d[1])] for _, d in pairs], dtype=np.uint32).reshape(-1, 2)
    last = np.zeros(TABLE_SIZE, dtype=np.bool_)
    for code in src[:, 1]:
        last[code] = True
    return src, dst, last


@lru_cache(maxsize=16)
def stop_hashes(syllables: tuple[str, ...], style: str) -> np.ndarray:
    """Sorted 64-bit hashes of syllables to skip, hashed exactly as the kernel hashes a syllable."""
    from pipeline.text.normalize import nfc, set_tone_style

    hashes = set()
    for syllable in syllables:
        h = int(FNV_OFFSET)
        for char in set_tone_style(nfc(syllable).lower(), style):
            h = ((h ^ ord(char)) * int(FNV_PRIME)) & 0xFFFFFFFFFFFFFFFF
        hashes.add(h)
    return np.array(sorted(hashes), dtype=np.uint64)


@njit(cache=True, inline="always")
def _mix(h):
    # splitmix64 spreads FNV bits so the low bits index the hash table well; 0 marks an empty slot
    h = splitmix64(h)
    if h == _EMPTY:
        h = np.uint64(1)
    return h


@njit(cache=True, inline="always")
def _in_sorted(values, h):
    """Binary search (numba's np.searchsorted per syllable cost a third of the n-gram time)."""
    lo = 0
    hi = values.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    return lo < values.shape[0] and values[lo] == h


@njit(cache=True, inline="always")
def _gram_capacity(n_chars, ngram_max, char_min, char_max):
    """Upper bound on the n-grams of a document of ``n_chars`` characters (size of the scratch arrays)."""
    n_char_orders = char_max - char_min + 1 if char_max > 0 else 0
    return (n_chars + 1) * (ngram_max + 3 * n_char_orders) + 1


@njit(cache=True)
def _doc_grams(cp, start, end, lower_word, tone_src, tone_dst, tone_last, ngram_max, char_min, char_max,
               drop_digits, stop):
    """Hashes of every word n-gram (1..ngram_max) and padded character n-gram of one document."""
    n = end - start
    out = np.empty(_gram_capacity(n, ngram_max, char_min, char_max), dtype=np.uint64)
    toks = np.empty(n // 2 + 2, dtype=np.uint64)
    buf = np.empty(n + 2, dtype=np.uint32)
    count = _fill_grams(cp, start, end, lower_word, tone_src, tone_dst, tone_last, ngram_max, char_min, char_max,
                        drop_digits, stop, out, toks, buf)
    return out[:count]


@njit(cache=True)
def _fill_grams(cp, start, end, lower_word, tone_src, tone_dst, tone_last, ngram_max, char_min, char_max,
                drop_digits, stop, out, toks, buf):
    """:func:`_doc_grams` into caller-owned scratch arrays (``out`` >= :func:`_gram_capacity`, ``toks`` >=
    n // 2 + 2, ``buf`` >= n + 2 for n characters); returns the number of hashes written to ``out``.

    The prediction kernel reuses one set of arrays per block of documents: allocating them per
    document made every article a round trip through the allocator, which after a process has
    freed memory (a small job process, not a benchmark holding its training corpus) cost a third
    of the kernel's time.
    """
    n_char_orders = char_max - char_min + 1 if char_max > 0 else 0
    # A one-word Bloom filter of the stop syllables (bit h % 64 of each): most syllables fail it and
    # skip the binary search, whose unpredictable branches cost ~10 % of the prediction kernel.
    stop_bits = np.uint64(0)
    for k in range(stop.shape[0]):
        stop_bits |= np.uint64(1) << (stop[k] & np.uint64(63))
    count = 0
    nt = 0
    i = start
    while i < end:
        c = cp[i]
        ch = lower_word[c] if c < 0x10000 else 0  # (the test is compiled away for UTF-16 input)
        i += 1
        if ch == 0:
            continue
        # one syllable: lower-cased into buf[1..length], FNV-hashed up to its last two letters
        # (which the tone style may still rewrite)
        length = 0
        has_digit = False
        head = FNV_OFFSET
        while True:
            if 48 <= ch <= 57:
                has_digit = True
            length += 1
            buf[length] = ch
            if length >= 3:
                head = (head ^ np.uint64(buf[length - 2])) * FNV_PRIME
            if i >= end:
                break
            c = cp[i]
            ch = lower_word[c] if c < 0x10000 else 0
            if ch == 0:
                break
            i += 1
        if drop_digits and has_digit:
            continue
        if length >= 2 and tone_last[buf[length]] and (length < 3 or buf[length - 2] != 113):  # 113 = "q"
            for k in range(tone_src.shape[0]):
                if buf[length - 1] == tone_src[k, 0] and buf[length] == tone_src[k, 1]:
                    buf[length - 1] = tone_dst[k, 0]
                    buf[length] = tone_dst[k, 1]
                    break
        h = head
        for k in range(max(1, length - 1), length + 1):
            h = (h ^ np.uint64(buf[k])) * FNV_PRIME
        if (stop_bits >> (h & np.uint64(63))) & np.uint64(1) and _in_sorted(stop, h):
            continue
        toks[nt] = h
        nt += 1
        if n_char_orders > 0:
            buf[0] = 32
            buf[length + 1] = 32
            padded = length + 2
            for m in range(char_min, char_max + 1):
                for s in range(0, padded - m + 1):
                    g = FNV_OFFSET ^ np.uint64(m)
                    for k in range(s, s + m):
                        g = (g ^ np.uint64(buf[k])) * FNV_PRIME
                    out[count] = _mix(g ^ _CHAR_SALT)
                    count += 1
    for t in range(nt):
        g = toks[t]
        out[count] = _mix(g + np.uint64(1))
        count += 1
        for order in range(2, ngram_max + 1):
            if t + order > nt:
                break
            g = g * _WORD_SALT + toks[t + order - 1]
            out[count] = _mix(g + np.uint64(order))
            count += 1
    return count


@njit(cache=True, parallel=True)
def _unique_grams(cp, offsets, lower_word, tone_src, tone_dst, tone_last, ngram_max, char_min, char_max,
                  drop_digits, stop):
    """Per document, its distinct n-gram hashes (for document frequencies); ragged, as (ptr, values)."""
    n_docs = offsets.shape[0] - 1
    parts = [np.empty(0, dtype=np.uint64) for _ in range(n_docs)]
    counts = np.zeros(n_docs + 1, dtype=np.int64)
    for d in prange(n_docs):
        grams = np.unique(_doc_grams(cp, offsets[d], offsets[d + 1], lower_word, tone_src, tone_dst, tone_last,
                                     ngram_max, char_min, char_max, drop_digits, stop))
        parts[d] = grams
        counts[d + 1] = grams.shape[0]
    ptr = np.cumsum(counts)
    values = np.empty(ptr[-1], dtype=np.uint64)
    for d in prange(n_docs):
        values[ptr[d] : ptr[d + 1]] = parts[d]
    return ptr, values


@njit(cache=True)
def build_table(keys):
    """Open-addressing hash table from n-gram hash to column, one 64-bit word per slot.

    A slot packs the hash's high 32 bits (a fingerprint) with the column in the low 32 bits, so
    a lookup touches one cache line; the slot index supplies the hash's low bits. Size is a power
    of two with load <= 0.5; an empty slot is all ones.
    """
    size = 1
    while size < 2 * keys.shape[0] + 2:
        size *= 2
    table = np.full(size, _FREE, dtype=np.uint64)
    mask = np.uint64(size - 1)
    for j in range(keys.shape[0]):
        s = keys[j] & mask
        entry = (keys[j] & _HIGH) | np.uint64(j)
        while table[s] != _FREE:
            s = (s + np.uint64(1)) & mask
        table[s] = entry
    return table


@njit(cache=True, inline="always")
def _count_terms(grams, n_grams, table, tf, touched, first):
    """Term frequencies of a document's n-grams (``grams[:n_grams]``) in ``tf`` (dense scratch, columns).

    Each n-gram hash is looked up in :func:`build_table`'s table; ``touched`` receives the
    distinct columns in first-occurrence order and their number is returned. The caller reads
    and resets ``tf`` at those columns. ``first`` is scratch of at least ``n_grams`` slots.
    """
    mask = np.uint64(table.shape[0] - 1)
    for k in range(n_grams):  # independent loads first: the cache misses overlap
        first[k] = table[grams[k] & mask]
    nu = 0
    for k in range(n_grams):
        g = grams[k]
        high = g & _HIGH
        s = g & mask
        entry = first[k]
        while entry != _FREE:
            if entry & _HIGH == high:
                col = np.int64(entry & _LOW)
                if tf[col] == 0:
                    touched[nu] = col
                    nu += 1
                tf[col] += 1
                break
            s = (s + np.uint64(1)) & mask
            entry = table[s]
    return nu


@njit(cache=True, parallel=True)
def _tfidf_rows(cp, offsets, lower_word, tone_src, tone_dst, tone_last, ngram_max, char_min, char_max,
                drop_digits, stop, table, idf, sublinear, n_blocks):
    """CSR (indptr, indices, data) of L2-normalized TF-IDF rows for the vocabulary in (slots, cols).

    Documents are split into ``n_blocks`` runs, one per task; each run counts term frequencies in
    a dense scratch array (reset after each document) rather than sorting each document's n-grams.
    Column indices within a row are in first-occurrence order (CSR does not require sorted rows).
    """
    n_docs = offsets.shape[0] - 1
    part_idx = [np.empty(0, dtype=np.int32) for _ in range(n_docs)]
    part_val = [np.empty(0, dtype=np.float32) for _ in range(n_docs)]
    counts = np.zeros(n_docs + 1, dtype=np.int64)
    n_blocks = max(1, min(n_blocks, n_docs))
    for b in prange(n_blocks):
        tf = np.zeros(idf.shape[0], dtype=np.int32)
        for d in range(b * n_docs // n_blocks, (b + 1) * n_docs // n_blocks):
            grams = _doc_grams(cp, offsets[d], offsets[d + 1], lower_word, tone_src, tone_dst, tone_last,
                               ngram_max, char_min, char_max, drop_digits, stop)
            touched = np.empty(grams.shape[0], dtype=np.int32)
            first = np.empty(grams.shape[0], dtype=np.uint64)
            nu = _count_terms(grams, grams.shape[0], table, tf, touched, first)
            idx = touched[:nu].copy()
            val = np.empty(nu, dtype=np.float32)
            norm = 0.0
            for k in range(nu):
                col = idx[k]
                count = float(tf[col])
                tf[col] = 0
                w = (1.0 + np.log(count) if sublinear else count) * idf[col]
                val[k] = w
                norm += w * w
            if norm > 0:
                scale = 1.0 / np.sqrt(norm)
                for k in range(nu):
                    val[k] = val[k] * scale
            part_idx[d] = idx
            part_val[d] = val
            counts[d + 1] = nu
    indptr = np.cumsum(counts)
    indices = np.empty(indptr[-1], dtype=np.int32)
    data = np.empty(indptr[-1], dtype=np.float32)
    for d in prange(n_docs):
        indices[indptr[d] : indptr[d + 1]] = part_idx[d]
        data[indptr[d] : indptr[d + 1]] = part_val[d]
    return indptr, indices, data


@njit(cache=True, parallel=True, nogil=True)
def _tfidf_scores(cp, offsets, lower_word, tone_src, tone_dst, tone_last, ngram_max, char_min, char_max,
                  drop_digits, stop, table, idf, sublinear, coef, intercept, n_blocks, first_line):
    """``transform(texts) @ coef + intercept`` without building the matrix: the prediction hot path.

    Same features and weights as :func:`_tfidf_rows`; each document's TF-IDF row is folded into
    its class scores as soon as it is known, so no CSR arrays are allocated or copied. With
    ``first_line`` each document is read up to its first ``\\n`` (``str.partition("\\n")[0]``): the
    title features of an article come from the code points already encoded for its body.
    """
    n_docs = offsets.shape[0] - 1
    n_classes = coef.shape[1]
    scores = np.empty((n_docs, n_classes), dtype=np.float32)
    n_blocks = max(1, min(n_blocks, n_docs))
    for b in prange(n_blocks):
        tf = np.zeros(idf.shape[0], dtype=np.int32)
        acc = np.empty(n_classes, dtype=np.float64)
        lo, hi = b * n_docs // n_blocks, (b + 1) * n_docs // n_blocks
        longest = 0
        for d in range(lo, hi):
            longest = max(longest, offsets[d + 1] - offsets[d])
        capacity = _gram_capacity(longest, ngram_max, char_min, char_max)
        grams = np.empty(capacity, dtype=np.uint64)  # scratch for the whole block (see _fill_grams)
        first = np.empty(capacity, dtype=np.uint64)
        touched = np.empty(capacity, dtype=np.int32)
        toks = np.empty(longest // 2 + 2, dtype=np.uint64)
        buf = np.empty(longest + 2, dtype=np.uint32)
        for d in range(lo, hi):
            end = offsets[d + 1]
            if first_line:
                newline = offsets[d]
                while newline < end and cp[newline] != 10:
                    newline += 1
                end = newline
            n_grams = _fill_grams(cp, offsets[d], end, lower_word, tone_src, tone_dst, tone_last,
                                  ngram_max, char_min, char_max, drop_digits, stop, grams, toks, buf)
            nu = _count_terms(grams, n_grams, table, tf, touched, first)
            acc[:] = 0.0
            norm = 0.0
            for k in range(nu):
                col = touched[k]
                count = tf[col]
                tf[col] = 0
                if count == 1:  # most n-grams occur once: tf weight 1 either way, no log
                    w = np.float64(idf[col])
                else:
                    w = (1.0 + np.log(float(count)) if sublinear else float(count)) * idf[col]
                norm += w * w
                for c in range(n_classes):
                    acc[c] += w * coef[col, c]
            scale = 1.0 / np.sqrt(norm) if norm > 0 else 0.0
            for c in range(n_classes):
                scores[d, c] = acc[c] * scale + intercept[c]
    return scores


class NgramTfidfVectorizer:
    """TF-IDF over hashed syllable 1..``ngram_max``-grams and optional padded character n-grams.

    Settings match scikit-learn's ``TfidfVectorizer`` where they exist (``min_df``, ``max_df``,
    ``max_features``, ``sublinear_tf``, smooth idf, L2 rows); ``max_features`` keeps the n-grams
    with the highest document frequency. ``drop_digits`` skips syllables with digits (dates,
    prices, scores), which tie a model to one period more than to a topic; ``stop_syllables`` are
    skipped too (bylines such as ``(NLĐ)``, which tie it to one newspaper).

    >>> vec = NgramTfidfVectorizer(min_df=1, max_df=1.0).fit(["Hà Nội mưa", "hà nội nắng"])
    >>> vec.transform(["HÀ NỘI"]).nnz  # "hà", "nội", "hà nội"
    3
    """

    def __init__(self, ngram_max: int = 2, char_ngram_min: int = 0, char_ngram_max: int = 0,
                 max_features: int | None = None, min_df: int = 2, max_df: float = 1.0,
                 sublinear_tf: bool = True, tone_style: str = "new", drop_digits: bool = False,
                 stop_syllables: tuple[str, ...] | list[str] = (), chunk_size: int = 2048) -> None:
        self.ngram_max = ngram_max
        self.char_ngram_min = char_ngram_min
        self.char_ngram_max = char_ngram_max
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.tone_style = tone_style
        self.drop_digits = drop_digits
        self.stop_syllables = tuple(stop_syllables)
        self.chunk_size = chunk_size

    def _kernel_args(self, texts: list[str]) -> tuple:
        return (*encode_batch(texts), *self._settings_args())

    def _settings_args(self) -> tuple:
        """The kernels' arguments after the code points and offsets: tables and n-gram settings."""
        src, dst, last = tone_tables(self.tone_style)
        char_max = self.char_ngram_max if self.char_ngram_min > 0 else 0
        return (char_table(), src, dst, last, self.ngram_max, max(self.char_ngram_min, 1), char_max,
                self.drop_digits, stop_hashes(tuple(self.stop_syllables), self.tone_style))

    def fit(self, texts: list[str]) -> NgramTfidfVectorizer:
        """Document frequencies of every n-gram; keep the vocabulary; compute smooth idf."""
        chunks = []
        for start in range(0, len(texts), self.chunk_size):
            _, values = _unique_grams(*self._kernel_args(texts[start : start + self.chunk_size]))
            chunks.append(values)
        keys, df = np.unique(np.concatenate(chunks) if chunks else np.empty(0, np.uint64), return_counts=True)
        n_docs = len(texts)
        keep = (df >= self.min_df) & (df <= self.max_df * n_docs)
        keys, df = keys[keep], df[keep]
        # Columns in order of document frequency (highest first, ties by hash): the n-grams of almost
        # every article then share a few cache lines of the weights and counts at prediction time.
        order = np.lexsort((keys, -df))
        if self.max_features is not None:
            order = order[: self.max_features]
        keys, df = keys[order], df[order]
        if len(keys) == 0:
            raise ValueError("empty vocabulary: lower min_df or give more text")
        self.keys_ = keys
        self.idf_ = (np.log((1 + n_docs) / (1 + df)) + 1.0).astype(np.float32)
        self._table = None
        return self

    def fit_transform(self, texts: list[str]) -> sp.csr_matrix:
        return self.fit(texts).transform(texts)

    @property
    def n_features(self) -> int:
        return len(self.keys_)

    def _lookup_table(self) -> np.ndarray:
        if getattr(self, "_table", None) is None:
            self._table = build_table(self.keys_)
        return self._table

    def transform_dot(self, texts: list[str], coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """``transform(texts) @ coef + intercept`` (coef: features x classes), fused in the kernel."""
        parts = [np.empty((0, np.shape(coef)[1]), dtype=np.float32)]
        for start in range(0, len(texts), self.chunk_size):
            parts.append(self.scores(*encode_batch(texts[start : start + self.chunk_size]), coef, intercept))
        return np.vstack(parts)

    def scores(self, cp: np.ndarray, offsets: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
               first_line: bool = False) -> np.ndarray:
        """:meth:`transform_dot` of texts already encoded (:func:`~pipeline.text.scan.encode_batch`); with
        ``first_line``, of their first lines only."""
        return _tfidf_scores(
            cp, offsets, *self._settings_args(), self._lookup_table(), self.idf_, self.sublinear_tf,
            np.ascontiguousarray(coef, dtype=np.float32), np.ascontiguousarray(intercept, dtype=np.float32),
            4 * numba.get_num_threads(), first_line,
        )

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """L2-normalized TF-IDF rows (float32 CSR), one per text."""
        import scipy.sparse as sp

        table = self._lookup_table()
        blocks = []
        for start in range(0, max(len(texts), 1), self.chunk_size):
            chunk = texts[start : start + self.chunk_size]
            indptr, indices, data = _tfidf_rows(
                *self._kernel_args(chunk), table, self.idf_, self.sublinear_tf, 4 * numba.get_num_threads()
            )
            blocks.append(sp.csr_matrix((data, indices, indptr), shape=(len(chunk), self.n_features)))
        return blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")
