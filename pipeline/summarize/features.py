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
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from pipeline.summarize.clauses import NO_LEADING_CLAUSE, WHOLE, trimmed_variants
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
_NUMBER_TOKEN_RE = re.compile(r"\w*\d\w*")  # one match per syllable (\w+ token) that holds a digit
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


def candidates_of(sentences: list[str], trim_clauses: bool = True) -> list[Candidate]:
    """Whole sentences in order, then (``trim_clauses``) the leading-clause and the trailing-clause trims."""
    candidates = [Candidate(i, WHOLE, s) for i, s in enumerate(sentences)]
    if trim_clauses and sentences:
        for kind, variants in trimmed_variants(sentences).items():
            candidates.extend(Candidate(i, kind, v) for i, v in enumerate(variants) if v is not None)
    return candidates


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


def candidate_features(
    title: str, sentences: list[str], vectors: CorpusVectors, trim_clauses: bool = True
) -> tuple[list[Candidate], np.ndarray]:
    """The candidates (:func:`candidates_of`) and one float32 feature row each, in one pass over the article."""
    candidates = candidates_of(sentences, trim_clauses)
    n, m = len(sentences), len(candidates)
    if n == 0:
        return candidates, np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    tokens = [syllables(c.text) for c in candidates]
    title_tokens = syllables(title)
    sentence_of = np.fromiter((c.sentence for c in candidates), dtype=np.int64, count=m)
    lengths = np.fromiter(map(len, tokens), dtype=np.float64, count=m)

    # Syllable TF-IDF within the article (documents: the whole sentences and the title; sublinear tf).
    vocabulary: dict[str, int] = {}
    for toks in (*tokens[:n], title_tokens):
        for t in toks:
            vocabulary.setdefault(t, len(vocabulary))
    rows = np.repeat(np.arange(m + 1), [*map(len, tokens), len(title_tokens)])
    columns = np.fromiter(
        (vocabulary[t] for toks in (*tokens, title_tokens) for t in toks), dtype=np.int64, count=len(rows)
    )
    counts = np.zeros((m + 1, len(vocabulary)))
    np.add.at(counts, (rows, columns), 1.0)
    documents = np.concatenate([counts[:n], counts[m:]])  # whole sentences + title
    df = (documents > 0).sum(axis=0)
    idf = np.log((n + 2) / (df + 1)) + 1.0
    tfidf = np.where(counts > 0, 1.0 + np.log(np.maximum(counts, 1.0)), 0.0) * idf
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

    # Shared syllables and bigrams.
    title_set = set(title_tokens)
    title_bigrams = set(pairwise(title_tokens))
    bigram_sets = [set(pairwise(t)) for t in tokens]
    bigram_df: dict[tuple[str, str], int] = {}
    for b in bigram_sets[:n]:
        for pair_ in b:
            bigram_df[pair_] = bigram_df.get(pair_, 0) + 1
    title_overlap = np.array([len(title_set.intersection(t)) / len(title_set) if title_set else 0.0 for t in tokens])
    title_bigram_overlap = np.array(
        [len(title_bigrams & b) / len(title_bigrams) if title_bigrams else 0.0 for b in bigram_sets]
    )
    get_df = bigram_df.__getitem__
    centrality = np.array([sum(map(get_df, b)) / len(b) - 1.0 if b else 0.0 for b in bigram_sets])

    # Surface: figures, names, punctuation.
    numbers = np.array([len(_NUMBER_TOKEN_RE.findall(c.text)) for c in candidates], dtype=np.float64)
    entities = np.array(
        [len(_CAPITALIZED_RE.findall(c.text.lstrip()[1:])) if c.text.strip() else 0 for c in candidates],
        dtype=np.float64,
    )
    stripped = [c.text.rstrip() for c in candidates]
    ends_with_stop = np.array([s.rstrip("\"”»')").endswith(_STOP_ENDINGS) for s in stripped], dtype=np.float64)
    has_quote = np.array([any(q in c.text for q in _QUOTES) for c in candidates], dtype=np.float64)
    ends_with_colon = np.array([s.endswith(":") for s in stripped], dtype=np.float64)

    position = sentence_of.astype(np.float64)
    trim = np.fromiter((c.trim for c in candidates), dtype=np.float64, count=m)
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
        trim,
        lengths[sentence_of] - lengths,
        title_overlap[sentence_of],
    ]
    corpus = _corpus_features(vocabulary, columns[: int(lengths[:n].sum())], tokens, title_tokens, candidates, n, vectors)
    return candidates, np.column_stack([*lexical, *corpus]).astype(np.float32)


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
    vocabulary: dict[str, int],
    local_ids: np.ndarray,
    tokens: list[list[str]],
    title_tokens: list[str],
    candidates: list[Candidate],
    n: int,
    vectors: CorpusVectors,
) -> list[np.ndarray]:
    """The corpus-statistics columns of every candidate (the first ``n`` are the whole sentences).

    ``local_ids`` holds the article-vocabulary id of every syllable of the whole sentences, in
    order. A trimmed candidate's syllables are a prefix (trailing clause dropped) or a suffix
    (leading clause dropped) of its sentence's, so every candidate's vector and mean idf are
    differences of cumulative sums over the article's syllables and syllable pairs.
    """
    terms_of = list(vocabulary)
    rows = vectors.rows(terms_of)[local_ids]  # -1: unknown, which indexes the zero row of `weighted`
    sizes = np.fromiter((len(t) for t in tokens[:n]), dtype=np.int64, count=n)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pair_rows = np.full(max(len(local_ids) - 1, 0), -1, dtype=np.int64)
    if len(pair_rows):
        inside = np.ones(len(pair_rows), dtype=bool)
        inside[(starts[1:] - 1)[starts[1:] - 1 < len(pair_rows)]] = False  # no pair across two sentences
        keys = local_ids[:-1] * len(terms_of) + local_ids[1:]
        unique, inverse = np.unique(keys[inside], return_inverse=True)
        width = len(terms_of)
        pair_rows[inside] = vectors.rows([f"{terms_of[k // width]} {terms_of[k % width]}" for k in unique])[inverse]
    sentence = np.fromiter((c.sentence for c in candidates), dtype=np.int64, count=len(candidates))
    trim = np.fromiter((c.trim for c in candidates), dtype=np.int64, count=len(candidates))
    k = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    first = np.where(trim == NO_LEADING_CLAUSE, starts[sentence] + sizes[sentence] - k, starts[sentence])
    last = first + k  # one past the candidate's last syllable
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
    idf, index = vectors.idf_padded, vectors.index
    title_weights = {t: float(idf[index.get(t, -1)]) for t in set(title_tokens)}
    title_total = sum(title_weights.values())
    get_weight = title_weights.__getitem__
    title_recall = np.array(
        [sum(map(get_weight, title_weights.keys() & set(t))) / title_total if title_total else 0.0 for t in tokens]
    )
    return [
        doc_cos,
        _above(doc_cos[:n], doc_cos),
        title_cos,
        _above(title_cos[:n], title_cos),
        lead_cos,
        textrank,
        mean_idf,
        title_recall,
    ]
