"""64-bit hashing of syllables and n-grams: FNV-1a over code points, splitmix64 to finish.

FNV-1a is cheap per character and lets a kernel hash a syllable while it scans it; its low bits
are poorly mixed, so splitmix64 (the finalizer of Steele et al.'s SplitMix64) spreads them before
the low bits index a hash table. The compiled kernels (``csrc/common.h``) and the Python that
hashes what they must match (the topic model's stop syllables) share these constants, so the
topic model's n-gram features and the summarizer's candidate features hash the same way.
"""

from __future__ import annotations

import numpy as np

FNV_OFFSET = np.uint64(14695981039346656037)
FNV_PRIME = np.uint64(1099511628211)
