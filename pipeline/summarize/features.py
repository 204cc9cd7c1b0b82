"""Sentence features for learned extractive summaries: position, length, title and centroid similarity, entities.

Why these: news puts the gist early (position), the newsroom's lead paragraph restates the title
(title similarity) and the article's main subject (centroid similarity), and names, places and
figures (numbers, capitalized syllables) are what a lead paragraph is made of. Photo captions and
datelines are short and often lack a final full stop. Every feature is cheap: no tagger or word
segmenter runs, so the summarizer stays fast enough for the batch job.

Named entities are approximated by capitalized syllables that do not start the sentence
(``Hà Nội``, ``UBND``, ``Nguyễn Văn A``): Vietnamese capitalizes proper names syllable by syllable,
and underthesea's NER would make the summarizer about 100x slower.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from pipeline.summarize.clauses import WHOLE, trimmed_variants
from pipeline.summarize.extractive import article_tfidf
from pipeline.text.normalize import syllables

FEATURE_NAMES: tuple[str, ...] = (
    "position",  # 0-based index of the sentence in the article
    "position_inverse",  # 1 / (1 + index)
    "position_relative",  # index / number of sentences
    "is_first",
    "n_sentences",
    "length",  # syllables
    "length_log",
    "title_cosine",  # TF-IDF cosine with the title
    "title_cosine_rank",  # rank of title_cosine within the article (0 = most similar)
    "title_cosine_share",  # title_cosine / the article's best title_cosine
    "title_overlap",  # share of the title's syllables found in the sentence
    "centroid_cosine",  # TF-IDF cosine with the sum of the other sentences
    "centroid_cosine_rank",
    "numbers",  # number tokens (digits)
    "entities",  # capitalized syllables that do not start the sentence
    "entity_share",  # entities / length
    "ends_with_stop",  # ends with . ! ? or a closing quote after one
    "has_quote",  # reported speech
    "ends_with_colon",  # introduces a list or a quote
    "title_bigram_overlap",  # share of the title's syllable bigrams found in the sentence
    "bigram_centrality",  # mean number of other sentences sharing each of the sentence's bigrams
    "max_sentence_cosine",  # highest TF-IDF cosine with any other sentence (repeated content)
    "first_sentence_cosine",  # TF-IDF cosine with the article's first sentence
    "trim",  # 0 whole sentence, 1 its leading clause dropped, 2 its trailing clause dropped (see clauses.py)
    "trimmed_syllables",  # syllables the trim removed
    "whole_title_overlap",  # title_overlap of the whole sentence the candidate comes from
)
_N_BASE = len(FEATURE_NAMES) - 3  # the columns computed from a sentence's own text and its article

_CAPITALIZED_RE = re.compile(r"\b[A-ZÀ-ỸĐ]\w*", re.UNICODE)
_NUMBER_RE = re.compile(r"\d")
_QUOTES = ('"', "“", "”", "«", "»")


def _cosines(a: np.ndarray, b: np.ndarray, norms_a: np.ndarray, norms_b: np.ndarray) -> np.ndarray:
    """Cosine of every row of ``a`` with every row of ``b``; 0 where either row is empty."""
    denominator = np.outer(norms_a, norms_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (a @ b.T) / denominator, 0.0)


def _ranks(values: list[float]) -> list[int]:
    """0 for the largest value; ties share the earlier sentence's better rank order."""
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    ranks = [0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = rank
    return ranks


class Candidate(NamedTuple):
    """A unit the summarizer may pick: sentence ``sentence`` whole or clause-trimmed (``trim``), as ``text``."""

    sentence: int
    trim: int
    text: str


def sentence_features(title: str, sentences: list[str]) -> np.ndarray:
    """A ``(len(sentences), len(FEATURE_NAMES))`` float32 matrix, one row per whole sentence."""
    base = _base_features(title, sentences)
    n = len(sentences)
    overlap = base[:, FEATURE_NAMES.index("title_overlap")]
    return np.column_stack([base, np.zeros(n), np.zeros(n), overlap]).astype(np.float32)


def candidate_features(
    title: str, sentences: list[str], trim_clauses: bool = True
) -> tuple[list[Candidate], np.ndarray]:
    """Whole sentences, then (``trim_clauses``) their clause-trimmed variants, and one feature row each.

    A variant's features are computed in the article with every sentence trimmed the same way
    (one pass per trim kind, so three feature passes per article instead of one per variant).
    """
    whole = sentence_features(title, sentences)
    candidates = [Candidate(i, WHOLE, s) for i, s in enumerate(sentences)]
    blocks = [whole]
    if trim_clauses and sentences:
        length = FEATURE_NAMES.index("length")
        for kind, variants in trimmed_variants(sentences).items():
            keep = [i for i, v in enumerate(variants) if v is not None]
            if not keep:
                continue
            texts = [v if v is not None else s for v, s in zip(variants, sentences, strict=True)]
            trimmed = _base_features(title, texts)
            rows = np.column_stack(
                [
                    trimmed[keep],
                    np.full(len(keep), kind),
                    whole[keep, length] - trimmed[keep, length],
                    whole[keep, FEATURE_NAMES.index("whole_title_overlap")],
                ]
            )
            blocks.append(rows.astype(np.float32))
            candidates.extend(Candidate(i, kind, variants[i]) for i in keep)  # type: ignore[arg-type]
    return candidates, np.concatenate(blocks)


def _base_features(title: str, sentences: list[str]) -> np.ndarray:
    """The first ``_N_BASE`` feature columns, computed from each sentence's text within the article."""
    n = len(sentences)
    if n == 0:
        return np.zeros((0, _N_BASE), dtype=np.float32)
    tokens = [syllables(s) for s in sentences]
    counts = [Counter(t) for t in tokens]
    title_tokens = syllables(title)
    # One dense TF-IDF matrix per article (rows: sentences, then the title): articles have tens of
    # sentences and a few hundred distinct syllables, so matrix products beat dict loops by far.
    weights = article_tfidf([*counts, Counter(title_tokens)])
    vocabulary = {t: j for j, t in enumerate({t for w in weights for t in w})}
    matrix = np.zeros((n + 1, len(vocabulary)))
    for i, w in enumerate(weights):
        for t, value in w.items():
            matrix[i, vocabulary[t]] = value
    sentence_matrix, title_vector = matrix[:n], matrix[n]
    norms = np.linalg.norm(sentence_matrix, axis=1)
    title_norm = np.linalg.norm(title_vector)[None]
    title_cos = _cosines(sentence_matrix, title_vector[None, :], norms, title_norm)[:, 0].tolist()
    rest = sentence_matrix.sum(axis=0)[None, :] - sentence_matrix  # each sentence left out of the centroid
    rest_norms = np.linalg.norm(rest, axis=1)
    dots = np.einsum("ij,ij->i", sentence_matrix, rest)
    with np.errstate(divide="ignore", invalid="ignore"):
        centroid = np.where((norms > 0) & (rest_norms > 0), dots / (norms * rest_norms), 0.0)
    centroid_cos = centroid.tolist()
    pair_cos = _cosines(sentence_matrix, sentence_matrix, norms, norms)
    np.fill_diagonal(pair_cos, 0.0)
    similarity = pair_cos.tolist()

    bigrams = [set(pairwise(t)) for t in tokens]
    bigram_df: Counter[tuple[str, str]] = Counter()
    for b in bigrams:
        bigram_df.update(b)
    title_bigrams = set(pairwise(title_tokens))

    title_set = set(title_tokens)
    best_title = max(title_cos) or 1.0
    title_rank = _ranks(title_cos)
    centroid_rank = _ranks(centroid_cos)
    rows = []
    for i, (sentence, toks) in enumerate(zip(sentences, tokens, strict=True)):
        length = len(toks)
        stripped = sentence.rstrip()
        entities = len(_CAPITALIZED_RE.findall(sentence.lstrip()[1:])) if sentence.strip() else 0
        rows.append(
            (
                i,
                1.0 / (1 + i),
                i / n,
                float(i == 0),
                n,
                length,
                math.log1p(length),
                title_cos[i],
                title_rank[i],
                title_cos[i] / best_title,
                len(title_set.intersection(toks)) / len(title_set) if title_set else 0.0,
                centroid_cos[i],
                centroid_rank[i],
                sum(1 for t in toks if _NUMBER_RE.search(t)),
                entities,
                entities / length if length else 0.0,
                float(stripped.rstrip("\"”»')").endswith((".", "!", "?", "…"))),
                float(any(q in sentence for q in _QUOTES)),
                float(stripped.endswith(":")),
                len(title_bigrams & bigrams[i]) / len(title_bigrams) if title_bigrams else 0.0,
                sum(bigram_df[b] - 1 for b in bigrams[i]) / len(bigrams[i]) if bigrams[i] else 0.0,
                max(similarity[i]) if n > 1 else 0.0,
                similarity[i][0] if i else 1.0,
            )
        )
    return np.asarray(rows, dtype=np.float32)
