"""MinHash signatures of articles over Vietnamese syllable shingles, datasketch's MinHash scheme.

A shingle is ``size`` consecutive syllables of the article's canonical form: lower case, one
tone-mark style (``hòa``, not ``hoà``: outlets differ in this alone) and no punctuation, so two
copies that differ only in spelling conventions, spacing or quotes share every shingle. The share
of shingles two articles have in common (their Jaccard similarity) is what the signatures
estimate: ``num_perm`` minimum hash values per article, equal in a share of positions that
estimates it with a standard error of about ``sqrt(J * (1 - J) / num_perm)``.

A signature is the ``hashvalues`` of a datasketch ``MinHash`` (scheme ``affine32``, ``seed``)
updated with the shingles' 32-bit hashes, computed for a whole batch in one compiled loop (``csrc/text.c``):
each white-space token is hashed once (its syllables in canonical form, blake2b, cached: news uses
a bounded vocabulary) and a shingle's hash combines its tokens' hashes, where datasketch would hash
every shingle's bytes with SHA-1 in a Python loop (6 to 10 times slower per article, docs/dedup.md).
``tests/stages/test_dedup.py`` checks that the values equal datasketch's own ``update_batch``. Signatures
are comparable across runs while ``SIGNATURE_VERSION``, ``num_perm``, ``seed`` and
``shingle_size`` are.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from datasketch import MinHash

from pipeline.text._kernels import signatures
from pipeline.text.normalize import set_tone_style

# What makes two signatures comparable besides num_perm, seed and shingle size: bump it whenever the
# canonical form, the shingling or the hashing changes, so stored signatures are not mixed with new ones.
SIGNATURE_VERSION = 1
SCHEME = "affine32"

_SYLLABLE_RE = re.compile(r"[^\W_]+")
# Odd 64-bit multipliers, one per position in a shingle: a shingle's hash is the wrapped sum of its
# syllables' hashes times these, so "a b c" and "c b a" differ.
_POSITION_MULTIPLIERS = np.array(
    [int.from_bytes(hashlib.blake2b(f"position {i}".encode(), digest_size=8).digest(), "little") | 1
     for i in range(16)], dtype=np.uint64)


def canonical_syllables(text: str) -> list[str]:
    """The text's syllables as the signatures see them: lower case, one tone-mark style, tokens split at
    white space with their punctuation dropped (a token holding more than one syllable stays one)."""
    tokens = (" ".join(_SYLLABLE_RE.findall(set_tone_style(token, "new"))) for token in text.lower().split())
    return [token for token in tokens if token]


def syllable_shingles(words: list[str], size: int) -> set[str]:
    """The distinct runs of ``size`` consecutive syllables; a shorter text is one shingle (what the
    signatures estimate the Jaccard similarity of)."""
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


class Signer:
    """Computes MinHash signatures with fixed permutations (built once, shared by every article)."""

    def __init__(self, num_perm: int, seed: int, shingle_size: int) -> None:
        if shingle_size > len(_POSITION_MULTIPLIERS):
            raise ValueError(f"shingle_size must be at most {len(_POSITION_MULTIPLIERS)}")
        self.num_perm = num_perm
        self.seed = seed
        self.shingle_size = shingle_size
        self._permutations = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
        # (the kernel's copy of the permutations: uint64, as a * h + b is computed modulo 2**64)
        self._a, self._b = (np.ascontiguousarray(p, dtype=np.uint64) for p in self._permutations)
        self._syllables: dict[str, int] = {}  # lower-cased syllable -> 64-bit hash of its canonical form

    def _syllable_hash(self, token: str) -> int:
        """A token's 64-bit hash: its syllables in canonical form (0 for a token of punctuation only)."""
        canonical = " ".join(_SYLLABLE_RE.findall(set_tone_style(token, "new")))
        value = int.from_bytes(hashlib.blake2b(canonical.encode(), digest_size=8).digest(), "little") if canonical \
            else 0
        if len(self._syllables) < 1_000_000:  # (a bound for hostile input; news stays far below it)
            self._syllables[token] = value
        return value

    def syllable_ids(self, text: str) -> np.ndarray:
        """The 64-bit hashes of the text's syllables, in order.

        The text is split at white space and each token looked up in a cache (splitting and a dict
        lookup per token cost half of a regular expression over the text); a token holding more
        than one syllable ("17/10", "Jong-nam") counts as one, a token of punctuation only as none.
        """
        tokens = text.lower().split()
        values = list(map(self._syllables.get, tokens))
        if None in values:
            values = [self._syllable_hash(token) if value is None else value
                      for token, value in zip(tokens, values, strict=True)]
        ids = np.array(values, dtype=np.uint64)
        return ids[ids != 0]

    def shingle_hashes(self, text: str) -> list[int]:
        """The 32-bit hashes of the text's shingles, one by one in Python: what :meth:`sign` feeds to the
        permutations (a datasketch ``MinHash`` updated with them has the same hash values; the tests check)."""
        ids = [int(i) for i in self.syllable_ids(text)]
        width = min(self.shingle_size, len(ids))
        multipliers = [int(m) for m in _POSITION_MULTIPLIERS]
        return [(sum(ids[i + j] * multipliers[j] for j in range(width)) % 2**64) >> 32
                for i in range(len(ids) - width + 1)] if ids else []

    def sign(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures, syllables)``: one ``uint32`` signature row per text, ``(len(texts), num_perm)``,
        and each text's number of syllables. A text without a syllable gets datasketch's empty signature."""
        ids = [self.syllable_ids(text) for text in texts]
        lengths = np.array([len(i) for i in ids], dtype=np.int64)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        out = np.full((len(texts), self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        if len(texts):
            # Per shingle: the wrapped sum of its syllables' hashes times the position multipliers, its
            # upper 32 bits, datasketch's fmix32, then a * h + b mod 2**32 for each permutation; the
            # minimum over the shingles. A text shorter than the shingle size is one shingle.
            signatures(np.concatenate(ids), offsets, self.shingle_size, _POSITION_MULTIPLIERS, self._a, self._b, out)
        return out, lengths

    def minhash(self, signature: np.ndarray) -> MinHash:
        """A datasketch MinHash around a stored signature (what MinHashLSH inserts and queries)."""
        return MinHash(num_perm=self.num_perm, seed=self.seed, hashvalues=signature,
                       permutations=self._permutations, scheme=SCHEME)


def similarity(signature: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of one signature with each row of ``others``: the share of equal values."""
    return (others == signature).mean(axis=1)
