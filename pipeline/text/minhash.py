"""MinHash signatures of articles over Vietnamese syllable shingles (datasketch's MinHash).

A shingle is ``size`` consecutive syllables of the article's canonical form: lower case, one
tone-mark style (``hòa``, not ``hoà``: outlets differ in this alone) and no punctuation, so two
copies that differ only in spelling conventions, spacing or quotes share every shingle. The share
of shingles two articles have in common (their Jaccard similarity) is what the signatures
estimate: ``num_perm`` minimum hash values per article, equal in a share of positions that
estimates it with a standard error of about ``sqrt(J * (1 - J) / num_perm)``.

Signatures are ``uint32`` rows (datasketch's ``affine32`` scheme), computed with the same seeded
permutations everywhere, so a signature stored by one run is comparable with one computed by the
next (``SIGNATURE_VERSION`` changes whenever that stops being true).
"""

from __future__ import annotations

import re

import numpy as np
from datasketch import MinHash

from pipeline.text.normalize import set_tone_style

# What makes two signatures comparable besides num_perm, seed and shingle size: bump it whenever the
# canonical form, the shingling or the hashing changes, so stored signatures are not mixed with new ones.
SIGNATURE_VERSION = 1
SCHEME = "affine32"

_SYLLABLE_RE = re.compile(r"[^\W_]+")


def canonical_syllables(text: str) -> list[str]:
    """The article's syllables in lower case with one tone-mark style, punctuation and symbols dropped."""
    return _SYLLABLE_RE.findall(set_tone_style(text.lower(), "new"))


def syllable_shingles(words: list[str], size: int) -> set[bytes]:
    """The distinct runs of ``size`` consecutive syllables (UTF-8); a shorter text is one shingle."""
    if len(words) <= size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


class Signer:
    """Computes MinHash signatures with fixed permutations (built once, shared by every article)."""

    def __init__(self, num_perm: int, seed: int, shingle_size: int) -> None:
        self.num_perm = num_perm
        self.seed = seed
        self.shingle_size = shingle_size
        self._permutations = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations

    def sign(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures, syllables)``: one ``uint32`` signature row per text, ``(len(texts), num_perm)``,
        and each text's number of syllables."""
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        lengths = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            words = canonical_syllables(text)
            minhash = MinHash(num_perm=self.num_perm, seed=self.seed, permutations=self._permutations, scheme=SCHEME)
            minhash.update_batch(syllable_shingles(words, self.shingle_size))
            out[i] = minhash.hashvalues
            lengths[i] = len(words)
        return out, lengths

    def minhash(self, signature: np.ndarray) -> MinHash:
        """A datasketch MinHash around a stored signature (what MinHashLSH inserts and queries)."""
        return MinHash(num_perm=self.num_perm, seed=self.seed, hashvalues=signature,
                       permutations=self._permutations, scheme=SCHEME)


def similarity(signature: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of one signature with each row of ``others``: the share of equal values."""
    return (others == signature).mean(axis=1)
