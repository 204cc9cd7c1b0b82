"""Compiled kernels of the learned summarizer: candidate features and tree scores, a batch at a time.

Why compiled: an article has tens of candidates and 34 features each; computed with numpy per
article, the ~100 small array operations and the Python loops over syllables and clause trims
cost more than the model itself. Here a batch of titles and sentences is one array of code points
(:func:`pipeline.text.scan.encode_batch`) and one C function (``csrc/summarize.c``, built with the
package as ``pipeline.summarize._kernels``) splits syllables (``\\w+`` as ``re`` does, lower-cased),
finds the clause trims, and computes every feature of
:data:`pipeline.summarize.features.FEATURE_NAMES` with the same definitions as the documentation
there. Strings never enter the kernel: syllables and syllable pairs are 64-bit FNV hashes, and
the corpus vocabulary is looked up by the same hashes (:func:`vocabulary_keys`). The kernels
release the GIL.

* ``batch_features(cp, offsets, article_text, n_sentences, lower, flags, keys, rows, idf_padded,
  weighted, trim_clauses, min_trimmed)``: every article's candidates and features, concatenated,
  as ``(offsets, sentence, trim, features)``. Article ``a``'s title is text ``article_text[a]``
  of ``(cp, offsets)`` and its ``n_sentences[a]`` sentences follow; its candidates are rows
  ``offsets[a]:offsets[a + 1]``, its whole sentences in order, then the leading-clause trims,
  then the trailing-clause trims (:mod:`pipeline.summarize.clauses`).
* ``tree_depth(left, right, roots)``: the depth of the deepest tree (a single leaf has depth 0).
* ``complete_trees(left, right, feature, threshold, value, roots, depth)``: each tree re-laid as a
  complete binary tree of ``depth`` levels, ``(features, thresholds, leaves)``: node ``p``'s
  children are ``2p + 1`` and ``2p + 2``, so scoring is ``depth`` steps without a branch on the
  path; a leaf above the last level becomes splits that always go left (threshold +inf).
* ``predict_complete(x, features, thresholds, leaves, depth, baseline)``: the boosted sum over
  those trees for each row of ``x`` (left when ``<=``), 16 rows descending each tree together so
  their chains of dependent loads overlap.
* ``predict_nodes(x, left, right, feature, threshold, value, roots, baseline)``: the same sum
  walked node by node (a leaf has ``left == -1``), for trees deeper than ``COMPLETE_MAX_DEPTH``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from pipeline.summarize._kernels import (
    CAPITAL,
    CLOSER,
    DIGIT,
    N_FEATURES,
    QUOTE,
    SPACE,
    STOP,
    TABLE_SIZE,
    WORD,
    batch_features,
    complete_trees,
    hash_table,
    predict_complete,
    predict_nodes,
    tree_depth,
)
from pipeline.summarize._kernels import vocabulary_keys as _vocabulary_keys

__all__ = ["COMPLETE_MAX_DEPTH", "N_FEATURES", "batch_features", "build_char_tables", "char_tables", "complete_trees",
           "predict_complete", "predict_nodes", "tree_depth", "vocabulary_keys"]

COMPLETE_MAX_DEPTH = 8  # a complete tree of depth d has 2**d leaves: deeper trees are walked node by node


@lru_cache(maxsize=1)
def char_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per BMP code point: its lower case (a single code point, else itself) and its flags (the kernel's bits).

    Kept in the user's cache folder (:func:`pipeline.text.cache.cached_arrays`) under a key of what
    they depend on (Python, its Unicode database, this file): building them takes a tenth of a second.
    """
    import hashlib
    import sys
    import unicodedata
    from pathlib import Path

    from pipeline.text.cache import cached_arrays

    key = hashlib.sha256(f"{sys.version_info[:3]} {unicodedata.unidata_version}".encode())
    key.update(Path(__file__).read_bytes())
    arrays = cached_arrays(
        f"summary_char_tables.{key.hexdigest()[:16]}.npz",
        "the summarizer's character tables",
        lambda: dict(zip(("lower", "flags"), build_char_tables(), strict=True)),
        lambda a: [(a[n].shape, a[n].dtype) for n in ("lower", "flags") if n in a]
        == [((TABLE_SIZE,), np.uint32), ((TABLE_SIZE,), np.uint8)],
    )
    return arrays["lower"], arrays["flags"]


def build_char_tables() -> tuple[np.ndarray, np.ndarray]:
    """The tables of :func:`char_tables`, computed.

    The classes come from ``re`` itself, matched over a string of every BMP code point, so they
    are exactly what the regex-based text functions see. Code points above the BMP count as
    separators (rare in news text).
    """
    chars = "".join(map(chr, range(TABLE_SIZE)))
    lower = np.fromiter(
        (ord(low) if len(low) == 1 else code for code, low in enumerate(map(str.lower, chars))),
        dtype=np.uint32,
        count=TABLE_SIZE,
    )
    flags = np.zeros(TABLE_SIZE, dtype=np.uint8)
    for pattern, bit in (
        (r"\w", WORD),  # alphanumeric or "_"
        (r"\s", SPACE),  # str.isspace
        (r"\d", DIGIT),  # a syllable with a decimal digit is a figure
        (r"[A-ZÀ-ỸĐ]", CAPITAL),  # starts a name (features.py's entity pattern)
        ("[\"“”«»]", QUOTE),
        ("[.!?…]", STOP),  # a sentence end
        ("[\"”»')]", CLOSER),  # closing marks after a sentence end
    ):
        found = np.array([m.start() for m in re.finditer(pattern, chars)], dtype=np.int64)
        flags[found] |= bit
    return lower, flags


def vocabulary_keys(vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The corpus vocabulary as an open-addressing hash table from term key to row (for ``batch_features``).

    A term's key is its syllable's hash, or a pair's ("a b") built from its two syllables' hashes.
    Returns the slots' keys and rows (-1: an empty slot; a repeated term keeps its first row); a
    power-of-two size with load <= 0.5, so a lookup is one or two probes.
    """
    from pipeline.text.scan import encode_batch

    if not vocabulary:
        return np.zeros(1, dtype=np.uint64), np.full(1, -1, dtype=np.int64)
    cp, offsets = encode_batch(vocabulary)
    return hash_table(_vocabulary_keys(cp, offsets, char_tables()[0]))
