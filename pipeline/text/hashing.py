"""64-bit hashing of syllables and n-grams inside numba kernels: FNV-1a over code points, splitmix64 to finish.

FNV-1a is cheap per character and lets a kernel hash a syllable while it scans it; its low bits
are poorly mixed, so :func:`splitmix64` (the finalizer of Steele et al.'s SplitMix64) spreads them
before the low bits index a hash table. Shared by the topic model's n-gram features and the
summarizer's candidate features, so the two compute hashes the same way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FNV_OFFSET = np.uint64(14695981039346656037)
FNV_PRIME = np.uint64(1099511628211)


@njit(cache=True, inline="always")
def splitmix64(h):
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))
