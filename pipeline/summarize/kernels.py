"""Compiled kernels of the learned summarizer (numba): candidate features and tree scores, a batch at a time.

Why compiled: an article has tens of candidates and 34 features each; computed with numpy per
article, the ~100 small array operations and the Python loops over syllables and clause trims
cost more than the model itself. Here a batch of titles and sentences is one array of code points
(:func:`pipeline.text.scan.encode_batch`) and one kernel, parallel over articles, splits syllables
(``\\w+`` as ``re`` does, lower-cased), finds the clause trims, and computes every feature of
:data:`pipeline.summarize.features.FEATURE_NAMES` with the same definitions as the documentation
there. Strings never enter the kernel: syllables and syllable pairs are 64-bit FNV hashes, and
the corpus vocabulary is looked up by the same hashes (:func:`vocabulary_keys`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from numba import njit

from pipeline.text.hashing import FNV_OFFSET, FNV_PRIME, splitmix64

_PAIR_SALT = np.uint64(0x9E3779B97F4A7C15)
TABLE_SIZE = 0x10000  # code points above the BMP count as separators (rare in news text)

# Bits of the per-character flags table.
WORD = 1  # \w in re: alphanumeric or "_"
SPACE = 2  # \s in re (str.isspace)
DIGIT = 4  # \d in re: a decimal digit (a syllable with one is a figure: it cannot be all letters)
CAPITAL = 8  # in the class [A-ZÀ-ỸĐ] that starts a name (features.py's entity pattern)
QUOTE = 16  # one of " “ ” « »
STOP = 32  # . ! ? … (a sentence end)
CLOSER = 64  # " ” » ' ) (closing marks after a sentence end)

N_FEATURES = 34
_COMMA, _COLON = 44, 58
_DAMPING = 0.85  # TextRank's PageRank damping


@lru_cache(maxsize=1)
def char_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per BMP code point: its lower case (a single code point, else itself) and its flags (bits above).

    The classes come from ``re`` itself, matched over a string of every BMP code point, so they
    are exactly what the regex-based text functions see.
    """
    chars = "".join(map(chr, range(TABLE_SIZE)))
    lower = np.fromiter(
        (ord(low) if len(low) == 1 else code for code, low in enumerate(map(str.lower, chars))),
        dtype=np.uint32,
        count=TABLE_SIZE,
    )
    flags = np.zeros(TABLE_SIZE, dtype=np.uint8)
    for pattern, bit in (
        (r"\w", WORD),
        (r"\s", SPACE),
        (r"\d", DIGIT),
        (r"[A-ZÀ-ỸĐ]", CAPITAL),
        ("[\"“”«»]", QUOTE),
        ("[.!?…]", STOP),
        ("[\"”»')]", CLOSER),
    ):
        found = np.array([m.start() for m in re.finditer(pattern, chars)], dtype=np.int64)
        flags[found] |= bit
    return lower, flags


@njit(cache=True, inline="always")
def _unigram_key(h):
    return splitmix64(h)


@njit(cache=True, inline="always")
def _pair_key(a, b):
    return splitmix64(a * _PAIR_SALT + b + np.uint64(1))


@njit(cache=True, inline="always")
def _flag(cp, i, flags, bit):
    c = cp[i]
    return c < TABLE_SIZE and (flags[c] & bit) != 0


@njit(cache=True)
def _vocabulary_keys(cp, offsets, lower):
    """Key of each vocabulary term: a syllable's, or a pair's ("a b") built from its two syllables' hashes."""
    n = offsets.shape[0] - 1
    keys = np.empty(n, dtype=np.uint64)
    for t in range(n):
        h = FNV_OFFSET
        first = FNV_OFFSET
        pair = False
        for i in range(offsets[t], offsets[t + 1]):
            c = cp[i]
            if c == 32 and not pair:
                pair = True
                first = h
                h = FNV_OFFSET
                continue
            h = (h ^ np.uint64(lower[c] if c < TABLE_SIZE else c)) * FNV_PRIME
        keys[t] = _pair_key(first, h) if pair else _unigram_key(h)
    return keys


def vocabulary_keys(vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The corpus vocabulary as an open-addressing hash table from term key to row (for :func:`batch_features`).

    Returns the slots' keys and rows (-1: an empty slot); a power-of-two size with load <= 0.5, so
    a lookup is one or two probes (a binary search over 20,000 keys was a third of the features' time).
    """
    from pipeline.text.scan import encode_batch

    if not vocabulary:
        return np.zeros(1, dtype=np.uint64), np.full(1, -1, dtype=np.int64)
    cp, offsets = encode_batch(vocabulary)
    return _hash_table(_vocabulary_keys(cp, offsets, char_tables()[0]))


@njit(cache=True)
def _hash_table(keys):
    size = 1
    while size < 2 * keys.shape[0] + 2:
        size *= 2
    slot_keys = np.zeros(size, dtype=np.uint64)
    slot_rows = np.full(size, -1, dtype=np.int64)
    mask = np.uint64(size - 1)
    for row in range(keys.shape[0]):
        s = keys[row] & mask
        while slot_rows[s] >= 0 and slot_keys[s] != keys[row]:
            s = (s + np.uint64(1)) & mask
        if slot_rows[s] < 0:  # (a repeated term keeps its first row)
            slot_keys[s] = keys[row]
            slot_rows[s] = row
    return slot_keys, slot_rows


@njit(cache=True, inline="always")
def _find(keys, rows, key):
    """Row of ``key`` in the :func:`vocabulary_keys` table, or -1 (an unknown term: the padded tables' last row)."""
    mask = np.uint64(keys.shape[0] - 1)
    s = key & mask
    while rows[s] >= 0:
        if keys[s] == key:
            return rows[s]
        s = (s + np.uint64(1)) & mask
    return -1


@njit(cache=True)
def _tokenize(cp, start, end, lower, flags, tok_start, tok_end, tok_hash, tok_digit, pos):
    """Append the ``\\w+`` tokens of ``cp[start:end]`` from index ``pos``: char span, FNV hash of the
    lower-cased characters, and whether the token is a figure (has a decimal digit)."""
    i = start
    while i < end:
        if not _flag(cp, i, flags, WORD):
            i += 1
            continue
        s = i
        h = FNV_OFFSET
        digit = False
        while i < end and _flag(cp, i, flags, WORD):
            c = cp[i]
            digit = digit or (flags[c] & DIGIT) != 0
            h = (h ^ np.uint64(lower[c])) * FNV_PRIME
            i += 1
        tok_start[pos] = s
        tok_end[pos] = i
        tok_hash[pos] = h
        tok_digit[pos] = digit
        pos += 1
    return pos


@njit(cache=True)
def _entities(cp, start, end, flags):
    """Matches of ``\\b[A-ZÀ-ỸĐ]\\w*`` in ``cp[start:end]`` (``re.findall`` semantics: left to right,
    non-overlapping; the slice's start counts as a non-word neighbour)."""
    count = 0
    p = start
    while p < end:
        word = _flag(cp, p, flags, WORD)
        before = p > start and _flag(cp, p - 1, flags, WORD)
        if _flag(cp, p, flags, CAPITAL) and word != before:
            count += 1
            p += 1
            while p < end and _flag(cp, p, flags, WORD):
                p += 1
        else:
            p += 1
    return count


@njit(cache=True)
def _has_quote(cp, start, end, flags):
    for p in range(start, end):
        if _flag(cp, p, flags, QUOTE):
            return 1.0
    return 0.0


@njit(cache=True)
def _lstrip(cp, start, end, flags):
    while start < end and _flag(cp, start, flags, SPACE):
        start += 1
    return start


@njit(cache=True)
def _rstrip(cp, start, end, flags):
    while end > start and _flag(cp, end - 1, flags, SPACE):
        end -= 1
    return end


@njit(cache=True)
def _ends_with_stop(cp, start, end, flags):
    end = _rstrip(cp, start, end, flags)
    while end > start and _flag(cp, end - 1, flags, CLOSER):
        end -= 1
    return 1.0 if end > start and _flag(cp, end - 1, flags, STOP) else 0.0


@njit(cache=True)
def _clause_breaks(cp, start, end, flags):
    """The first and the last whitespace run right after a comma: (first run's end, last run's start), -1 if none."""
    first_end = -1
    last_start = -1
    p = start + 1
    while p < end:
        if cp[p - 1] == _COMMA and _flag(cp, p, flags, SPACE):
            q = p
            while q < end and _flag(cp, q, flags, SPACE):
                q += 1
            if first_end < 0:
                first_end = q
            last_start = p
            p = q
        else:
            p += 1
    return first_end, last_start


@njit(cache=True)
def _unit(v):
    norm = np.sqrt(np.sum(v * v))
    return v / norm if norm > 0 else v * 0.0


@njit(cache=True)
def _textrank(emb):
    """PageRank over positive cosines between sentences (TextRank), scaled so the mean is 1.

    Solved directly, ``(I - d P^T) r = (1 - d) / n`` by Gaussian elimination with partial pivoting:
    articles have tens of sentences.
    """
    n = emb.shape[0]
    out = np.ones(n)
    if n < 2:
        return out
    sim = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            s = 0.0
            for d in range(emb.shape[1]):
                s += emb[i, d] * emb[j, d]
            sim[i, j] = sim[j, i] = s if s > 0 else 0.0
    a = np.zeros((n, n))
    for i in range(n):
        total = sim[i].sum()
        for j in range(n):
            p = sim[i, j] / total if total > 0 else 1.0 / n
            a[j, i] -= _DAMPING * p  # the transpose of the transition matrix
        a[i, i] += 1.0
    b = np.full(n, (1 - _DAMPING) / n)
    for col in range(n):
        pivot = col
        for r in range(col + 1, n):
            if abs(a[r, col]) > abs(a[pivot, col]):
                pivot = r
        if pivot != col:
            for c in range(n):
                a[col, c], a[pivot, c] = a[pivot, c], a[col, c]
            b[col], b[pivot] = b[pivot], b[col]
        for r in range(col + 1, n):
            f = a[r, col] / a[col, col]
            if f != 0.0:
                for c in range(col, n):
                    a[r, c] -= f * a[col, c]
                b[r] -= f * b[col]
    for r in range(n - 1, -1, -1):
        s = b[r]
        for c in range(r + 1, n):
            s -= a[r, c] * out[c]
        out[r] = s / a[r, r]
    return out * n


@njit(cache=True)
def _above(values, n):
    """For each value, how many of the first ``n`` (the whole sentences) are strictly higher."""
    out = np.zeros(values.shape[0])
    for j in range(values.shape[0]):
        c = 0
        for i in range(n):
            if values[i] > values[j]:
                c += 1
        out[j] = c
    return out


@njit(cache=True)
def _article(cp, offs, t0, n, lower, flags, keys, rows, idf_padded, weighted, trim_clauses, min_trimmed):
    """Candidates (sentence, trim) and features of one article: its title is text ``t0``, its
    sentences the ``n`` texts after it. Candidates are the whole sentences in order, then the
    leading-clause trims, then the trailing-clause trims (see :mod:`pipeline.summarize.clauses`)."""
    n_chars = offs[t0 + n + 1] - offs[t0]
    cap = n_chars // 2 + n + 2
    tok_start = np.empty(cap, dtype=np.int64)
    tok_end = np.empty(cap, dtype=np.int64)
    tok_hash = np.empty(cap, dtype=np.uint64)
    tok_digit = np.empty(cap, dtype=np.bool_)
    starts = np.empty(n, dtype=np.int64)
    sizes = np.empty(n, dtype=np.int64)
    pos = 0
    for i in range(n):
        starts[i] = pos
        pos = _tokenize(cp, offs[t0 + 1 + i], offs[t0 + 2 + i], lower, flags, tok_start, tok_end, tok_hash,
                        tok_digit, pos)
        sizes[i] = pos - starts[i]
    n_tok = pos
    pos = _tokenize(cp, offs[t0], offs[t0 + 1], lower, flags, tok_start, tok_end, tok_hash, tok_digit, pos)
    n_title = pos - n_tok

    # Local term ids in first-occurrence order (sentences, then the title): an open-addressing table.
    size = 1
    while size < 2 * pos + 2:
        size *= 2
    slot_key = np.zeros(size, dtype=np.uint64)
    slot_id = np.full(size, -1, dtype=np.int64)
    ids = np.empty(pos, dtype=np.int64)
    term_hash = np.empty(pos, dtype=np.uint64)
    term_digit = np.zeros(pos, dtype=np.bool_)
    width = 0
    mask = np.uint64(size - 1)
    for t in range(pos):
        h = tok_hash[t]
        s = splitmix64(h) & mask
        while slot_id[s] >= 0 and slot_key[s] != h:
            s = (s + np.uint64(1)) & mask
        if slot_id[s] < 0:
            slot_key[s] = h
            slot_id[s] = width
            term_hash[width] = h
            term_digit[width] = tok_digit[t]
            width += 1
        ids[t] = slot_id[s]
    title_ids = ids[n_tok:pos]

    # Candidates.
    lead_end = np.full(n, -1, dtype=np.int64)
    trail_start = np.full(n, -1, dtype=np.int64)
    lead_k = np.zeros(n, dtype=np.int64)
    trail_k = np.zeros(n, dtype=np.int64)
    m = n
    if trim_clauses:
        for i in range(n):
            a, b = offs[t0 + 1 + i], offs[t0 + 2 + i]
            first_end, last_start = _clause_breaks(cp, a, b, flags)
            if first_end >= 0:
                lead_end[i] = first_end
                trail_start[i] = last_start
                for t in range(starts[i], starts[i] + sizes[i]):
                    if tok_start[t] >= first_end:
                        lead_k[i] += 1
                    if tok_end[t] <= last_start:
                        trail_k[i] += 1
                if lead_k[i] >= min_trimmed:
                    m += 1
                if trail_k[i] >= min_trimmed:
                    m += 1
    c_sent = np.empty(m, dtype=np.int64)
    c_trim = np.empty(m, dtype=np.int64)
    c_first = np.empty(m, dtype=np.int64)
    c_k = np.empty(m, dtype=np.int64)
    entities = np.empty(m)
    stop = np.empty(m)
    quote = np.empty(m)
    colon = np.empty(m)
    for i in range(n):
        a, b = offs[t0 + 1 + i], offs[t0 + 2 + i]
        c_sent[i] = i
        c_trim[i] = 0
        c_first[i] = starts[i]
        c_k[i] = sizes[i]
        s = _lstrip(cp, a, b, flags)
        entities[i] = _entities(cp, s + 1, b, flags) if s < _rstrip(cp, a, b, flags) else 0.0
        stop[i] = _ends_with_stop(cp, a, b, flags)
        quote[i] = _has_quote(cp, a, b, flags)
        e = _rstrip(cp, a, b, flags)
        colon[i] = 1.0 if e > a and cp[e - 1] == _COLON else 0.0
    j = n
    for kind in (1, 2):
        for i in range(n):
            k = lead_k[i] if kind == 1 else trail_k[i]
            if lead_end[i] < 0 or k < min_trimmed:
                continue
            a, b = offs[t0 + 1 + i], offs[t0 + 2 + i]
            c_sent[j] = i
            c_trim[j] = kind
            c_k[j] = k
            if kind == 1:  # the sentence after its first clause break, re-capitalized
                c_first[j] = starts[i] + sizes[i] - k
                entities[j] = _entities(cp, lead_end[i] + 1, b, flags)
                stop[j] = stop[i]
                quote[j] = _has_quote(cp, lead_end[i], b, flags)
                colon[j] = colon[i]
            else:  # the sentence up to its last clause break, closed with a full stop
                c_first[j] = starts[i]
                s = _lstrip(cp, a, trail_start[i], flags)
                entities[j] = _entities(cp, s + 1, trail_start[i], flags)
                stop[j] = 1.0
                quote[j] = _has_quote(cp, a, trail_start[i], flags)
                colon[j] = 0.0
            j += 1

    # Syllable TF-IDF within the article (documents: the whole sentences and the title; sublinear tf).
    # Rows 0..m-1 are the candidates, row m the title; each row's distinct terms in first-occurrence order.
    r_ptr = np.zeros(m + 2, dtype=np.int64)
    nnz_cap = 0
    for r in range(m):
        nnz_cap += c_k[r]
    nnz_cap += n_title
    r_term = np.empty(nnz_cap, dtype=np.int64)
    r_count = np.empty(nnz_cap)
    count = np.zeros(width)
    nnz = 0
    for r in range(m + 1):
        lo = c_first[r] if r < m else n_tok
        hi = lo + (c_k[r] if r < m else n_title)
        begin = nnz
        for t in range(lo, hi):
            w = ids[t]
            if count[w] == 0:
                r_term[nnz] = w
                nnz += 1
            count[w] += 1
        for q in range(begin, nnz):
            r_count[q] = count[r_term[q]]
            count[r_term[q]] = 0
        r_ptr[r + 1] = nnz
    df = np.zeros(width)
    for r in range(n):
        for q in range(r_ptr[r], r_ptr[r + 1]):
            df[r_term[q]] += 1
    for q in range(r_ptr[m], r_ptr[m + 1]):
        df[r_term[q]] += 1
    idf = np.log((n + 2) / (df + 1)) + 1.0
    r_w = np.empty(nnz)
    r_unit = np.empty(nnz)
    for r in range(m + 1):
        norm = 0.0
        for q in range(r_ptr[r], r_ptr[r + 1]):
            w = (1.0 + np.log(r_count[q])) * idf[r_term[q]]
            r_w[q] = w
            norm += w * w
        norm = np.sqrt(norm)
        for q in range(r_ptr[r], r_ptr[r + 1]):
            r_unit[q] = r_w[q] / norm if norm > 0 else 0.0

    dense = np.zeros(width)
    for q in range(r_ptr[m], r_ptr[m + 1]):
        dense[r_term[q]] = r_unit[q]
    title_cos = np.zeros(m)
    for r in range(m):
        s = 0.0
        for q in range(r_ptr[r], r_ptr[r + 1]):
            s += r_unit[q] * dense[r_term[q]]
        title_cos[r] = s
    dense[:] = 0.0
    # The other sentences of the article: the sum of all whole sentences' TF-IDF minus the candidate's sentence.
    whole_sum = np.zeros(width)
    for r in range(n):
        for q in range(r_ptr[r], r_ptr[r + 1]):
            whole_sum[r_term[q]] += r_w[q]
    centroid_cos = np.zeros(m)
    for i in range(n):
        rest = whole_sum.copy()
        for q in range(r_ptr[i], r_ptr[i + 1]):
            rest[r_term[q]] -= r_w[q]
        norm = np.sqrt(np.sum(rest * rest))
        if norm == 0:
            continue
        for r in range(m):
            if c_sent[r] == i:
                s = 0.0
                for q in range(r_ptr[r], r_ptr[r + 1]):
                    s += r_unit[q] * rest[r_term[q]]
                centroid_cos[r] = s / norm
    max_pair = np.zeros(m)
    first_cos = np.zeros(m)
    for i in range(n):
        for q in range(r_ptr[i], r_ptr[i + 1]):
            dense[r_term[q]] = r_unit[q]
        for r in range(m):
            if c_sent[r] == i:
                continue
            s = 0.0
            for q in range(r_ptr[r], r_ptr[r + 1]):
                s += r_unit[q] * dense[r_term[q]]
            if n > 1 and s > max_pair[r]:
                max_pair[r] = s
            if i == 0:
                first_cos[r] = s
        for q in range(r_ptr[i], r_ptr[i + 1]):
            dense[r_term[q]] = 0.0
    for r in range(m):
        if c_sent[r] == 0:
            first_cos[r] = 1.0

    # Title syllables found in each candidate (plain and weighted by corpus idf).
    corpus_row = np.empty(width, dtype=np.int64)
    for w in range(width):
        corpus_row[w] = _find(keys, rows, _unigram_key(term_hash[w]))
    in_title = np.zeros(width, dtype=np.bool_)
    n_title_terms = 0
    title_weight_sum = 0.0
    for q in range(r_ptr[m], r_ptr[m + 1]):
        in_title[r_term[q]] = True
        n_title_terms += 1
        title_weight_sum += idf_padded[corpus_row[r_term[q]]]
    title_overlap = np.zeros(m)
    title_recall = np.zeros(m)
    for r in range(m):
        c = 0
        s = 0.0
        for q in range(r_ptr[r], r_ptr[r + 1]):
            if in_title[r_term[q]]:
                c += 1
                s += idf_padded[corpus_row[r_term[q]]]
        if n_title_terms:
            title_overlap[r] = c / n_title_terms
            title_recall[r] = s / title_weight_sum
    numbers = np.zeros(m)
    for r in range(m):
        for t in range(c_first[r], c_first[r] + c_k[r]):
            if term_digit[ids[t]]:
                numbers[r] += 1

    # Syllable pairs (adjacent syllables of one sentence): local columns in first-occurrence order.
    pair_col = np.full(max(n_tok, 1), -1, dtype=np.int64)
    psize = 1
    while psize < 2 * n_tok + 2:
        psize *= 2
    pslot_key = np.zeros(psize, dtype=np.int64)
    pslot_id = np.full(psize, -1, dtype=np.int64)
    pair_a = np.empty(max(n_tok, 1), dtype=np.int64)
    pair_b = np.empty(max(n_tok, 1), dtype=np.int64)
    pmask = psize - 1
    n_pairs = 0
    for i in range(n):
        for t in range(starts[i], starts[i] + sizes[i] - 1):
            key = ids[t] * width + ids[t + 1]
            s = np.int64(splitmix64(np.uint64(key)) & np.uint64(pmask))
            while pslot_id[s] >= 0 and pslot_key[s] != key:
                s = (s + 1) & pmask
            if pslot_id[s] < 0:
                pslot_key[s] = key
                pslot_id[s] = n_pairs
                pair_a[n_pairs] = ids[t]
                pair_b[n_pairs] = ids[t + 1]
                n_pairs += 1
            pair_col[t] = pslot_id[s]
    stamp = np.full(n_pairs + 1, -1, dtype=np.int64)
    col_count = np.zeros(n_pairs + 1)
    for i in range(n):
        for t in range(starts[i], starts[i] + sizes[i] - 1):
            c = pair_col[t]
            if stamp[c] != i:
                stamp[c] = i
                col_count[c] += 1
    in_title_pairs = np.zeros(n_pairs + 1, dtype=np.bool_)
    title_keys = np.empty(max(n_title - 1, 0), dtype=np.int64)
    for t in range(n_title - 1):
        title_keys[t] = title_ids[t] * width + title_ids[t + 1]
    n_title_pairs = np.unique(title_keys).shape[0] if n_title > 1 else 0
    for t in range(n_title - 1):
        key = title_keys[t]
        s = np.int64(splitmix64(np.uint64(key)) & np.uint64(pmask))
        while pslot_id[s] >= 0 and pslot_key[s] != key:
            s = (s + 1) & pmask
        if pslot_id[s] >= 0:
            in_title_pairs[pslot_id[s]] = True
    stamp[:] = -1
    centrality = np.zeros(m)
    title_bigram = np.zeros(m)
    for r in range(m):
        distinct = 0
        shared = 0.0
        found = 0
        for t in range(c_first[r], c_first[r] + c_k[r] - 1):
            c = pair_col[t]
            if stamp[c] != r:
                stamp[c] = r
                distinct += 1
                shared += col_count[c]
                if in_title_pairs[c]:
                    found += 1
        centrality[r] = shared / distinct - 1.0 if distinct > 0 else 0.0
        if n_title_pairs:
            title_bigram[r] = found / n_title_pairs

    # Corpus statistics: idf-weighted sums of the corpus vectors of a candidate's syllables and pairs.
    dim = weighted.shape[1]
    pair_row = np.empty(n_pairs, dtype=np.int64)
    for c in range(n_pairs):
        pair_row[c] = _find(keys, rows, _pair_key(term_hash[pair_a[c]], term_hash[pair_b[c]]))
    # One running sum along each sentence (syllable t adds its vector and the vector of the pair it
    # ends); a candidate, a span of one sentence, is the difference of the sums at its two ends.
    emb = np.zeros((m, dim), dtype=np.float32)
    mean_idf = np.zeros(m)
    cand_of = np.full((n, 3), -1, dtype=np.int64)  # per sentence: its whole, leading-trim, trailing-trim candidate
    for r in range(m):
        cand_of[c_sent[r], c_trim[r]] = r
    acc = np.zeros(dim)
    at_lead = np.zeros(dim)  # the sum before a leading trim's first syllable (and the pair entering it)
    v = np.zeros(dim)
    for i in range(n):
        lead, trail = cand_of[i, 1], cand_of[i, 2]
        lead_from = sizes[i] - c_k[lead] if lead >= 0 else -1
        acc[:] = 0.0
        acc_idf = 0.0
        lead_idf = 0.0
        for j in range(sizes[i] + 1):
            if j == lead_from:
                at_lead[:] = acc
                lead_idf = acc_idf
                if j > 0:
                    row = pair_row[pair_col[starts[i] + j - 1]]
                    if row >= 0:
                        for d in range(dim):
                            at_lead[d] += weighted[row, d]
            if trail >= 0 and j == c_k[trail]:
                u = _unit(acc)
                for d in range(dim):
                    emb[trail, d] = u[d]
                mean_idf[trail] = acc_idf / j
            if j == sizes[i]:
                break
            t = starts[i] + j
            row = corpus_row[ids[t]]
            acc_idf += idf_padded[row]
            if row >= 0:  # (an unknown term's vector is zero)
                for d in range(dim):
                    acc[d] += weighted[row, d]
            if j > 0:
                row = pair_row[pair_col[t - 1]]
                if row >= 0:
                    for d in range(dim):
                        acc[d] += weighted[row, d]
        u = _unit(acc)
        for d in range(dim):
            emb[i, d] = u[d]
        if sizes[i] > 0:
            mean_idf[i] = acc_idf / sizes[i]
        if lead >= 0:
            for d in range(dim):
                v[d] = acc[d] - at_lead[d]
            u = _unit(v)
            for d in range(dim):
                emb[lead, d] = u[d]
            mean_idf[lead] = (acc_idf - lead_idf) / c_k[lead]
    v[:] = 0.0
    for t in range(n_tok, pos):
        row = corpus_row[ids[t]]
        if row >= 0:
            for d in range(dim):
                v[d] += weighted[row, d]
        if t + 1 < pos:
            row = _find(keys, rows, _pair_key(tok_hash[t], tok_hash[t + 1]))
            if row >= 0:
                for d in range(dim):
                    v[d] += weighted[row, d]
    title_vec = _unit(v).astype(np.float32)
    whole = emb[:n].astype(np.float64)
    doc_vec = _unit(whole.sum(axis=0))
    lead_vec = _unit(whole[: min(n, 3)].sum(axis=0))
    doc_cos = np.zeros(m)
    title_emb_cos = np.zeros(m)
    lead_cos = np.zeros(m)
    for r in range(m):  # (loops, not @: numba's matrix product would load SciPy's BLAS)
        for d in range(dim):
            e = np.float64(emb[r, d])
            doc_cos[r] += e * doc_vec[d]
            title_emb_cos[r] += e * title_vec[d]
            lead_cos[r] += e * lead_vec[d]
    rank = _textrank(whole)

    out = np.empty((m, N_FEATURES), dtype=np.float32)
    best_title = title_cos[:n].max() if n else 0.0
    if best_title == 0.0:
        best_title = 1.0
    title_rank = _above(title_cos, n)
    centroid_rank = _above(centroid_cos, n)
    doc_rank = _above(doc_cos, n)
    title_emb_rank = _above(title_emb_cos, n)
    for r in range(m):
        p = float(c_sent[r])
        length = float(c_k[r])
        whole_length = float(c_k[c_sent[r]])
        out[r, 0] = p
        out[r, 1] = 1.0 / (1.0 + p)
        out[r, 2] = p / n
        out[r, 3] = 1.0 if c_sent[r] == 0 else 0.0
        out[r, 4] = n
        out[r, 5] = length
        out[r, 6] = np.log1p(length)
        out[r, 7] = title_cos[r]
        out[r, 8] = title_rank[r]
        out[r, 9] = title_cos[r] / best_title
        out[r, 10] = title_overlap[r]
        out[r, 11] = centroid_cos[r]
        out[r, 12] = centroid_rank[r]
        out[r, 13] = numbers[r]
        out[r, 14] = entities[r]
        out[r, 15] = entities[r] / length if length > 0 else 0.0
        out[r, 16] = stop[r]
        out[r, 17] = quote[r]
        out[r, 18] = colon[r]
        out[r, 19] = title_bigram[r]
        out[r, 20] = centrality[r]
        out[r, 21] = max_pair[r]
        out[r, 22] = first_cos[r]
        out[r, 23] = c_trim[r]
        out[r, 24] = whole_length - length
        out[r, 25] = title_overlap[c_sent[r]]
        out[r, 26] = doc_cos[r]
        out[r, 27] = doc_rank[r]
        out[r, 28] = title_emb_cos[r]
        out[r, 29] = title_emb_rank[r]
        out[r, 30] = lead_cos[r]
        out[r, 31] = rank[c_sent[r]]
        out[r, 32] = mean_idf[r]
        out[r, 33] = title_recall[r]
    return c_sent, c_trim, out


@njit(cache=True, nogil=True)
def batch_features(cp, offs, article_text, n_sentences, lower, flags, keys, rows, idf_padded, weighted,
                   trim_clauses, min_trimmed):
    """Every article's candidates and features, concatenated: (offsets, sentence, trim, features).

    Article ``a``'s title is text ``article_text[a]`` of ``(cp, offs)`` and its ``n_sentences[a]``
    sentences follow; its candidates are rows ``offsets[a]:offsets[a + 1]``.
    """
    n_articles = article_text.shape[0]
    sent_parts = [np.empty(0, dtype=np.int64) for _ in range(n_articles)]
    trim_parts = [np.empty(0, dtype=np.int64) for _ in range(n_articles)]
    x_parts = [np.empty((0, N_FEATURES), dtype=np.float32) for _ in range(n_articles)]
    counts = np.zeros(n_articles + 1, dtype=np.int64)
    for a in range(n_articles):
        sent, trim, x = _article(cp, offs, article_text[a], n_sentences[a], lower, flags, keys, rows, idf_padded,
                                 weighted, trim_clauses, min_trimmed)
        sent_parts[a] = sent
        trim_parts[a] = trim
        x_parts[a] = x
        counts[a + 1] = sent.shape[0]
    offsets = np.cumsum(counts)
    sentence = np.empty(offsets[-1], dtype=np.int64)
    trim = np.empty(offsets[-1], dtype=np.int64)
    features = np.empty((offsets[-1], N_FEATURES), dtype=np.float32)
    for a in range(n_articles):
        sentence[offsets[a] : offsets[a + 1]] = sent_parts[a]
        trim[offsets[a] : offsets[a + 1]] = trim_parts[a]
        features[offsets[a] : offsets[a + 1]] = x_parts[a]
    return offsets, sentence, trim, features


COMPLETE_MAX_DEPTH = 8  # a complete tree of depth d has 2**d leaves: deeper trees are walked node by node


@njit(cache=True)
def tree_depth(left, right, roots):
    """The depth of the deepest tree (a tree that is one leaf has depth 0)."""
    deepest = 0
    stack = np.empty((left.shape[0] + 1, 2), dtype=np.int64)
    for t in range(roots.shape[0]):
        stack[0, 0] = roots[t]
        stack[0, 1] = 0
        top = 1
        while top:
            top -= 1
            node, level = stack[top, 0], stack[top, 1]
            if left[node] < 0:
                deepest = max(deepest, level)
            else:
                stack[top, 0], stack[top, 1] = left[node], level + 1
                stack[top + 1, 0], stack[top + 1, 1] = right[node], level + 1
                top += 2
    return deepest


@njit(cache=True)
def complete_trees(left, right, feature, threshold, value, roots, depth):
    """Each tree re-laid as a complete binary tree of ``depth`` levels: (features, thresholds, leaves).

    Node ``p``'s children are ``2p + 1`` and ``2p + 2``, so scoring is ``depth`` steps without a
    branch on the path (:func:`predict_complete`). A leaf above the last level becomes a chain of
    splits that always go left (threshold +inf) and its value fills the leaves below it.
    """
    n_trees = roots.shape[0]
    inner = 2**depth - 1
    feat = np.zeros((n_trees, max(inner, 1)), dtype=np.int64)
    thr = np.full((n_trees, max(inner, 1)), np.inf)
    leaf = np.zeros((n_trees, 2**depth))
    stack = np.empty((left.shape[0] + 1, 3), dtype=np.int64)
    for t in range(n_trees):
        stack[0, 0], stack[0, 1], stack[0, 2] = roots[t], 0, 0
        top = 1
        while top:
            top -= 1
            node, pos, level = stack[top, 0], stack[top, 1], stack[top, 2]
            if left[node] < 0:
                lo, hi = pos, pos
                for _ in range(level, depth):
                    lo, hi = 2 * lo + 1, 2 * hi + 2
                leaf[t, lo - inner : hi - inner + 1] = value[node]
            else:
                feat[t, pos], thr[t, pos] = feature[node], threshold[node]
                stack[top, 0], stack[top, 1], stack[top, 2] = left[node], 2 * pos + 1, level + 1
                stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = right[node], 2 * pos + 2, level + 1
                top += 2
    return feat, thr, leaf


_ROW_BLOCK = 16  # rows walked down one tree together: their paths are independent loads the CPU overlaps


@njit(cache=True, nogil=True)
def predict_complete(x, feat, thr, leaf, depth, baseline):
    """The boosted sum over the trees of :func:`complete_trees` for each row of ``x`` (left when <=).

    One path down a tree is a chain of dependent loads; ``_ROW_BLOCK`` rows descend each tree
    level by level together, so their chains overlap instead of waiting on each other.
    """
    inner = 2**depth - 1
    n = x.shape[0]
    out = np.empty(n)
    pos = np.zeros(_ROW_BLOCK, dtype=np.int64)
    total = np.zeros(_ROW_BLOCK)
    for start in range(0, n, _ROW_BLOCK):
        rows = min(_ROW_BLOCK, n - start)
        total[:] = 0.0
        for t in range(feat.shape[0]):
            pos[:] = 0
            for _ in range(depth):
                for b in range(rows):
                    p = pos[b]
                    pos[b] = 2 * p + 1 + (x[start + b, feat[t, p]] > thr[t, p])
            for b in range(rows):
                total[b] += leaf[t, pos[b] - inner]
        for b in range(rows):
            out[start + b] = baseline + total[b]
    return out


@njit(cache=True, nogil=True)
def predict_nodes(x, left, right, feature, threshold, value, roots, baseline):
    """The boosted sum over all trees of each row of ``x``, node by node (a leaf has ``left == -1``)."""
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        s = 0.0
        for t in range(roots.shape[0]):
            node = roots[t]
            while left[node] >= 0:
                node = left[node] if x[i, feature[node]] <= threshold[node] else right[node]
            s += value[node]
        out[i] = baseline + s
    return out
