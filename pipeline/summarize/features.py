"""Candidate features for learned extractive summaries: position, length, similarity, entities, corpus statistics.

Why these: news puts the gist early (position), the newsroom's lead paragraph restates the title
(title similarity) and the article's main subject (centroid similarity, TextRank centrality), and
names, places and figures (numbers, capitalized syllables, corpus idf) are what a lead paragraph
is made of. Photo captions and datelines are short and often lack a final full stop. Similarity
is measured twice: by shared syllables (TF-IDF within the article) and in the corpus vectors'
space (:mod:`pipeline.summarize.embeddings`), which also relates sentences that share no word.
No tagger or word segmenter runs, so the summarizer stays fast enough for the batch job.

One pass per article: every candidate (whole sentences first, then the clause-trimmed variants of
:mod:`pipeline.summarize.clauses`) gets its row from the same matrices, and a trimmed candidate is
compared with the article's whole sentences (its own sentence left out where the feature compares
with "the other sentences"). Ranks count the whole sentences that score strictly higher, so a
trimmed candidate is ranked against the same sentences as the whole one.

Named entities are approximated by capitalized syllables that do not start the sentence
(``Hà Nội``, ``UBND``, ``Nguyễn Văn A``): Vietnamese capitalizes proper names syllable by syllable,
and underthesea's NER would make the summarizer about 100x slower.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import NamedTuple

import numpy as np

from pipeline.summarize.clauses import NO_LEADING_CLAUSE, WHOLE, trims
from pipeline.summarize.embeddings import CorpusVectors
from pipeline.text.normalize import syllables

FEATURE_NAMES: tuple[str, ...] = (
    "position",  # 0-based index of the sentence in the article
    "position_inverse",  # 1 / (1 + index)
    "position_relative",  # index / number of sentences
    "is_first",
    "n_sentences",
    "length",  # syllables
    "length_log",
    "title_cosine",  # TF-IDF cosine with the title (idf within the article)
    "title_cosine_rank",  # whole sentences with a higher title_cosine (0 = most similar)
    "title_cosine_share",  # title_cosine / the best whole sentence's title_cosine
    "title_overlap",  # share of the title's syllables found in the candidate
    "centroid_cosine",  # TF-IDF cosine with the sum of the other sentences
    "centroid_cosine_rank",
    "numbers",  # number tokens (digits)
    "entities",  # capitalized syllables that do not start the sentence
    "entity_share",  # entities / length
    "ends_with_stop",  # ends with . ! ? or a closing quote after one
    "has_quote",  # reported speech
    "ends_with_colon",  # introduces a list or a quote
    "title_bigram_overlap",  # share of the title's syllable bigrams found in the candidate
    "bigram_centrality",  # mean number of other sentences sharing each of the candidate's bigrams
    "max_sentence_cosine",  # highest TF-IDF cosine with any other sentence (repeated content)
    "first_sentence_cosine",  # TF-IDF cosine with the article's first sentence (1 for the first sentence)
    "trim",  # 0 whole sentence, 1 its leading clause dropped, 2 its trailing clause dropped (see clauses.py)
    "trimmed_syllables",  # syllables the trim removed
    "whole_title_overlap",  # title_overlap of the whole sentence the candidate comes from
    # Corpus statistics (pipeline/summarize/embeddings.py):
    "doc_embedding_cosine",  # LSA cosine with the article (the sum of its whole sentences' vectors)
    "doc_embedding_rank",  # whole sentences with a higher doc_embedding_cosine (0 = most central)
    "title_embedding_cosine",  # LSA cosine with the title
    "title_embedding_rank",  # whole sentences with a higher title_embedding_cosine
    "lead_embedding_cosine",  # LSA cosine with the article's first three sentences
    "textrank",  # PageRank of the sentence in the graph of LSA cosines between sentences, x number of sentences
    "mean_idf",  # mean corpus idf of the candidate's syllables (specific words: names, figures)
    "title_idf_recall",  # corpus-idf-weighted share of the title's syllables found in the candidate
)
_TEXTRANK_DAMPING = 0.85

_CAPITALIZED_RE = re.compile(r"\b[A-ZÀ-ỸĐ]\w*", re.UNICODE)
_DIGIT_RE = re.compile(r"\d")
_STOP_ENDINGS = (".", "!", "?", "…")
_QUOTES = ('"', "“", "”", "«", "»")


class Candidate(NamedTuple):
    """A unit the summarizer may pick: sentence ``sentence`` whole or clause-trimmed (``trim``), as ``text``."""

    sentence: int
    trim: int
    text: str


def sentence_features(title: str, sentences: list[str], vectors: CorpusVectors) -> np.ndarray:
    """A ``(len(sentences), len(FEATURE_NAMES))`` float32 matrix, one row per whole sentence."""
    return candidate_features(title, sentences, vectors, trim_clauses=False)[1]


def _candidates(sentences: list[str], trim_clauses: bool) -> tuple[list[Candidate], list[int]]:
    """Whole sentences in order, then (``trim_clauses``) the leading-clause and the trailing-clause trims,
    and the syllable count of each trimmed one."""
    candidates = [Candidate(i, WHOLE, s) for i, s in enumerate(sentences)]
    if not (trim_clauses and sentences):
        return candidates, []
    trimmed = trims(sentences)
    candidates.extend(Candidate(i, kind, text) for i, kind, text, _ in trimmed)
    return candidates, [length for *_, length in trimmed]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _above(whole: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each value, how many whole sentences score strictly higher (a rank that trimmed candidates share)."""
    return len(whole) - np.searchsorted(np.sort(whole), values, side="right")


def _textrank(embeddings: np.ndarray) -> np.ndarray:
    """PageRank over positive cosines between sentences (TextRank), scaled so the mean is 1.

    Solved directly, ``(I - d P^T) r = (1 - d) / n``, instead of iterating: articles have tens of sentences.
    """
    n = len(embeddings)
    if n < 2:
        return np.ones(n)
    similarity = np.clip(embeddings @ embeddings.T, 0.0, None).astype(np.float64)
    np.fill_diagonal(similarity, 0.0)
    sums = similarity.sum(axis=1, keepdims=True)
    transition = np.divide(similarity, sums, out=np.full_like(similarity, 1.0 / n), where=sums > 0)
    system = np.eye(n) - _TEXTRANK_DAMPING * transition.T
    rank = np.linalg.solve(system, np.full(n, (1 - _TEXTRANK_DAMPING) / n))
    return rank * n


def _spans(first: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row number and position of every item of the spans ``[first, first + size)``, concatenated."""
    total = int(size.sum())
    begins = np.concatenate([[0], np.cumsum(size)[:-1]])
    return np.repeat(np.arange(len(size)), size), np.repeat(first - begins, size) + np.arange(total)


def candidate_features(
    title: str, sentences: list[str], vectors: CorpusVectors, trim_clauses: bool = True
) -> tuple[list[Candidate], np.ndarray]:
    """The candidates (whole sentences, then their clause trims) and one float32 feature row each, in one pass.

    Every syllable of the article is looked up once: a candidate is a span of the article's
    syllables (a whole sentence, or a prefix or suffix of one), and its counts, shared bigrams,
    figures and corpus vectors are gathered from those spans with numpy.
    """
    candidates, trimmed_lengths = _candidates(sentences, trim_clauses)
    n, m = len(sentences), len(candidates)
    if n == 0:
        return candidates, np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    whole_tokens = [syllables(s) for s in sentences]
    title_tokens = syllables(title)
    terms_of = list(dict.fromkeys(chain(chain.from_iterable(whole_tokens), title_tokens)))
    vocabulary = {t: i for i, t in enumerate(terms_of)}
    width = len(terms_of)
    get = vocabulary.__getitem__
    ids = np.array(list(map(get, chain.from_iterable(whole_tokens))), dtype=np.int64)
    title_ids = np.array(list(map(get, title_tokens)), dtype=np.int64)
    sizes = np.array([len(t) for t in whole_tokens], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sentence_of = np.array([c.sentence for c in candidates], dtype=np.int64)
    trim = np.array([c.trim for c in candidates], dtype=np.int64)
    k = np.concatenate([sizes, np.array(trimmed_lengths, dtype=np.int64)])
    first = np.where(trim == NO_LEADING_CLAUSE, starts[sentence_of] + sizes[sentence_of] - k, starts[sentence_of])
    last = first + k  # one past the candidate's last syllable
    lengths = k.astype(np.float64)

    # Syllable TF-IDF within the article (documents: the whole sentences and the title; sublinear tf).
    rows, positions = _spans(first, k)
    flat = np.concatenate([rows * width + ids[positions], m * width + title_ids])
    counts = np.bincount(flat, minlength=(m + 1) * width).reshape(m + 1, width).astype(np.float64)
    present = counts > 0
    df = present[:n].sum(axis=0) + present[m]  # whole sentences + title
    idf = np.log((n + 2) / (df + 1)) + 1.0
    tfidf = np.where(present, 1.0 + np.log(np.maximum(counts, 1.0)), 0.0) * idf
    unit = _unit_rows(tfidf)
    cands, title_unit, whole = unit[:m], unit[m], unit[:n]
    title_cos = cands @ title_unit
    whole_sum = tfidf[:n].sum(axis=0)
    rest = _unit_rows(whole_sum[None, :] - tfidf[:n][sentence_of])  # the other sentences of the article
    centroid_cos = np.einsum("ij,ij->i", cands, rest)
    pair = cands @ whole.T
    pair[np.arange(m), sentence_of] = 0.0
    max_pair = pair.max(axis=1) if n > 1 else np.zeros(m)
    first_cos = np.where(sentence_of == 0, 1.0, pair[:, 0])

    # Shared syllables and bigrams (adjacent syllables of one sentence).
    title_terms = np.unique(title_ids)
    title_present = present[:m][:, title_terms]
    title_overlap = title_present.sum(axis=1) / len(title_terms) if len(title_terms) else np.zeros(m)
    pair_ids = np.full(max(len(ids) - 1, 0), -1, dtype=np.int64)
    if len(pair_ids):
        inside = np.ones(len(pair_ids), dtype=bool)
        ends = starts[1:] - 1  # the last syllable before each sentence start: no pair across two sentences
        inside[ends[(ends >= 0) & (ends < len(pair_ids))]] = False
        unique_pairs, pair_ids[inside] = np.unique((ids[:-1] * width + ids[1:])[inside], return_inverse=True)
    else:
        unique_pairs = np.zeros(0, dtype=np.int64)
    n_pairs = len(unique_pairs)
    pair_rows, pair_positions = _spans(first, np.maximum(k - 1, 0))
    has_pair = (
        np.bincount(pair_rows * n_pairs + pair_ids[pair_positions], minlength=m * n_pairs).reshape(m, n_pairs) > 0
    )
    distinct = has_pair.sum(axis=1)
    centrality = np.divide(has_pair @ has_pair[:n].sum(axis=0), distinct, out=np.ones(m), where=distinct > 0) - 1.0
    title_pairs = np.unique(title_ids[:-1] * width + title_ids[1:])
    shared = np.searchsorted(unique_pairs, title_pairs)
    found = shared < n_pairs
    found[found] = unique_pairs[shared[found]] == title_pairs[found]
    title_bigram_overlap = (
        has_pair[:, shared[found]].sum(axis=1) / len(title_pairs) if len(title_pairs) else np.zeros(m)
    )

    # Surface: figures, names, punctuation.
    digit_term = np.array([not t.isalpha() and _DIGIT_RE.search(t) is not None for t in terms_of], dtype=np.float64)
    cum_digits = np.concatenate([[0.0], np.cumsum(digit_term[ids])])
    numbers = cum_digits[last] - cum_digits[first]
    entities = np.array(
        [len(_CAPITALIZED_RE.findall(c.text.lstrip()[1:])) if c.text.strip() else 0 for c in candidates],
        dtype=np.float64,
    )
    stripped = [c.text.rstrip() for c in candidates]
    ends_with_stop = np.array([s.rstrip("\"”»')").endswith(_STOP_ENDINGS) for s in stripped], dtype=np.float64)
    has_quote = np.array([any(q in c.text for q in _QUOTES) for c in candidates], dtype=np.float64)
    ends_with_colon = np.array([s.endswith(":") for s in stripped], dtype=np.float64)

    position = sentence_of.astype(np.float64)
    whole_title_cos = title_cos[:n]
    best_title = whole_title_cos.max() or 1.0
    lexical = [
        position,
        1.0 / (1.0 + position),
        position / n,
        (position == 0).astype(np.float64),
        np.full(m, n, dtype=np.float64),
        lengths,
        np.log1p(lengths),
        title_cos,
        _above(whole_title_cos, title_cos),
        title_cos / best_title,
        title_overlap,
        centroid_cos,
        _above(centroid_cos[:n], centroid_cos),
        numbers,
        entities,
        np.divide(entities, lengths, out=np.zeros(m), where=lengths > 0),
        ends_with_stop,
        has_quote,
        ends_with_colon,
        title_bigram_overlap,
        centrality,
        max_pair,
        first_cos,
        trim.astype(np.float64),
        lengths[sentence_of] - lengths,
        title_overlap[sentence_of],
    ]
    # Corpus statistics: the article's terms and syllable pairs mapped to the corpus vectors' rows.
    corpus_rows = vectors.rows(terms_of)
    corpus_pairs = vectors.rows([f"{terms_of[p // width]} {terms_of[p % width]}" for p in unique_pairs.tolist()])
    corpus_pairs = np.append(corpus_pairs, -1)[pair_ids]  # -1 (no pair) stays unknown
    title_weights = vectors.idf_padded[corpus_rows[title_terms]]
    corpus = _corpus_features(corpus_rows[ids], corpus_pairs, first, last, sentence_of, n, title_tokens, vectors)
    title_recall = title_present @ title_weights / title_weights.sum() if len(title_terms) else np.zeros(m)
    return candidates, np.column_stack([*lexical, *corpus, title_recall]).astype(np.float32)


def _span_sums(
    values: np.ndarray, weights: np.ndarray | None, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``values`` rows (and of ``weights``) over each span ``[first, last)``.

    One ``np.add.reduceat`` over the pieces between all span ends, then differences of the
    pieces' running sums: each row is added once however many spans hold it.
    """
    if len(values) == 0:
        return np.zeros((len(first), values.shape[1])), np.zeros(len(first))
    bounds = np.unique(np.concatenate([[0], first, last]))
    bounds = bounds[bounds < len(values)]
    pieces = np.add.reduceat(values, bounds, axis=0, dtype=np.float64)
    running = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(pieces, axis=0)])
    at_first, at_last = np.searchsorted(bounds, first), np.searchsorted(bounds, last)
    sums = running[at_last] - running[at_first]
    if weights is None:
        return sums, np.zeros(len(first))
    running_w = np.concatenate([[0.0], np.cumsum(np.add.reduceat(weights, bounds, dtype=np.float64))])
    return sums, running_w[at_last] - running_w[at_first]


def _corpus_features(
    rows: np.ndarray,
    pair_rows: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    sentence: np.ndarray,
    n: int,
    title_tokens: list[str],
    vectors: CorpusVectors,
) -> list[np.ndarray]:
    """The corpus-statistics columns but the last (title_idf_recall) of every candidate.

    ``rows`` and ``pair_rows`` are the corpus vectors' rows of the article's syllables and of its
    adjacent pairs (-1: unknown); each candidate is the span ``[first, last)`` of them, so its
    vector and mean idf are sums over spans (:func:`_span_sums`).
    """
    k = last - first
    pair_last = np.maximum(last - 1, first)
    unigram_sums, unigram_idf = _span_sums(vectors.weighted_padded[rows], vectors.idf_padded[rows], first, last)
    pair_sums, _ = _span_sums(vectors.weighted_padded[pair_rows], None, first, pair_last)
    embeddings = _unit_rows(unigram_sums + pair_sums).astype(np.float32)
    mean_idf = np.divide(unigram_idf, k, out=np.zeros(len(k)), where=k > 0)
    title_vector = vectors.embed([title_tokens])[0]
    whole = embeddings[:n]
    doc_cos = embeddings @ _unit_rows(whole.sum(axis=0))
    title_cos = embeddings @ title_vector
    lead_cos = embeddings @ _unit_rows(whole[:3].sum(axis=0))
    textrank = _textrank(whole)[sentence]
    return [
        doc_cos,
        _above(doc_cos[:n], doc_cos),
        title_cos,
        _above(title_cos[:n], title_cos),
        lead_cos,
        textrank,
        mean_idf,
    ]
