"""Compiled syllable/character n-gram TF-IDF features, batch in, CSR matrix (or class scores) out.

Why not scikit-learn's ``TfidfVectorizer``: its tokenizer and n-gram loop run in Python, one
document at a time, and would be most of the classifier's time. Here a batch of texts becomes one
array of code points, and a compiled kernel (``csrc/ngrams.c``, built with the package as
``pipeline.topic._kernels``), parallel over documents and without the GIL, lower-cases, applies
one tone-mark style, splits syllables (``\\w+`` like ``re``), hashes word and character n-grams to
64 bits, looks them up in the vocabulary and writes sub-linear TF-IDF rows, L2-normalized. The
vocabulary is stored as the n-grams' 64-bit hashes (collisions among a few million n-grams have
probability ~1e-7), so the model needs no pickle and no strings. The vocabulary's lookup table
(``build_table``) packs a hash's high 32 bits with its column in one 64-bit slot, so a lookup
touches one cache line. Prediction (``tfidf_scores``) folds each document's TF-IDF row into its
class scores as soon as it is known, without building the matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np

from pipeline.text.cache import cached_arrays
from pipeline.text.hashing import FNV_OFFSET, FNV_PRIME
from pipeline.text.scan import encode_batch, kernel_threads  # (UTF-16 when possible)
from pipeline.topic._kernels import build_table, tfidf_rows, tfidf_scores, unique_grams

if TYPE_CHECKING:  # (scipy.sparse takes 0.06 s to import; prediction never builds a matrix)
    import scipy.sparse as sp

TABLE_SIZE = 0x10000  # code points above the BMP are rare in news text and count as separators


@lru_cache(maxsize=1)
def char_table() -> np.ndarray:
    """Per BMP code point: its lower case if it is a ``\\w`` character (what ``re`` would do), else 0.

    One table for both questions, so the kernel does one lookup per character (no word
    character is NUL or lower-cases to it). Building it asks Python about every BMP code point
    (about 0.1 s, at the start of every job that classifies), so it is kept in the user's cache
    folder (:func:`pipeline.text.cache.cached_arrays`), under a key of what it depends on (Python,
    its Unicode database, this file).
    """
    import hashlib
    import sys
    import unicodedata
    from pathlib import Path

    key = hashlib.sha256(f"{sys.version_info[:3]} {unicodedata.unidata_version}".encode())
    key.update(Path(__file__).read_bytes())
    arrays = cached_arrays(
        f"char_table.{key.hexdigest()[:16]}.npz",
        "the topic model's character table",
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

    def count(self, texts: list[str], frequencies: DocumentFrequencies) -> None:
        """Add the distinct n-grams of each of ``texts`` to ``frequencies``."""
        for start in range(0, len(texts), self.chunk_size):
            _, values = unique_grams(*self._kernel_args(texts[start : start + self.chunk_size]), kernel_threads())
            frequencies.add(values, min(self.chunk_size, len(texts) - start))

    def fit(self, texts: Iterable[str]) -> NgramTfidfVectorizer:
        """Document frequencies of every n-gram; keep the vocabulary; compute smooth idf.

        ``texts`` is read once, ``chunk_size`` at a time (a generator is never held whole).
        """
        frequencies = DocumentFrequencies()
        for chunk in chunked(texts, self.chunk_size):
            self.count(chunk, frequencies)
        return self.fit_frequencies(frequencies)

    def fit_frequencies(self, frequencies: DocumentFrequencies) -> NgramTfidfVectorizer:
        """Keep the vocabulary of counted document frequencies (:meth:`count`); compute smooth idf."""
        keys, df = frequencies.result()
        n_docs = frequencies.n_docs
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
        threads = kernel_threads()
        return tfidf_scores(
            cp, offsets, *self._settings_args(), self._lookup_table(), self.idf_, self.sublinear_tf,
            np.ascontiguousarray(coef, dtype=np.float32), np.ascontiguousarray(intercept, dtype=np.float32),
            4 * threads, first_line, threads,
        )

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """L2-normalized TF-IDF rows (float32 CSR), one per text."""
        import scipy.sparse as sp

        table = self._lookup_table()
        blocks = []
        for start in range(0, max(len(texts), 1), self.chunk_size):
            chunk = texts[start : start + self.chunk_size]
            threads = kernel_threads()
            indptr, indices, data = tfidf_rows(
                *self._kernel_args(chunk), table, self.idf_, self.sublinear_tf, 4 * threads, threads
            )
            blocks.append(sp.csr_matrix((data, indices, indptr), shape=(len(chunk), self.n_features)))
        return blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")


class DocumentFrequencies:
    """How many documents hold each n-gram hash, counted a chunk of documents at a time.

    Memory is the distinct n-grams seen (16 bytes each) plus the chunks not yet merged, at most about
    as many again: never one entry per document and n-gram, which for a corpus is tens of times more.
    Chunks are merged into the totals once more than ``merge_size`` (or as many as the totals) wait.
    """

    merge_size = 1 << 20

    def __init__(self) -> None:
        self.n_docs = 0
        self._keys = np.empty(0, dtype=np.uint64)
        self._df = np.empty(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_size = 0

    def add(self, values: np.ndarray, n_docs: int) -> None:
        """Count ``values``, the distinct n-grams of each of ``n_docs`` documents one after another."""
        keys, df = np.unique(values, return_counts=True)
        self._pending.append((keys, df))
        self._pending_size += len(keys)
        self.n_docs += n_docs
        if self._pending_size > max(len(self._keys), self.merge_size):
            self._merge()

    def _merge(self) -> None:
        keys = np.concatenate([self._keys, *(k for k, _ in self._pending)])
        df = np.concatenate([self._df, *(d for _, d in self._pending)])
        self._pending, self._pending_size = [], 0
        order = np.argsort(keys, kind="stable")
        keys, df = keys[order], df[order]
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else order[:0]
        self._keys, self._df = keys[starts], np.add.reduceat(df, starts) if len(keys) else df

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct n-gram hashes, ascending, and their document frequencies."""
        self._merge()
        return self._keys, self._df


def chunked(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    """Lists of at most ``size`` of ``texts``, in order."""
    iterator = iter(texts)
    while chunk := list(islice(iterator, size)):
        yield chunk
