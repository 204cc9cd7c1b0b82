"""Candidate features for learned extractive summaries: position, length, similarity, entities, corpus statistics.

Why these: news puts the gist early (position), the newsroom's lead paragraph restates the title
(title similarity) and the article's main subject (centroid similarity, TextRank centrality), and
names, places and figures (numbers, capitalized syllables, corpus idf) are what a lead paragraph
is made of. Photo captions and datelines are short and often lack a final full stop. Similarity
is measured twice: by shared syllables (TF-IDF within the article) and in the corpus vectors'
space (:mod:`pipeline.summarize.embeddings`), which also relates sentences that share no word.
No tagger or word segmenter runs, so the summarizer stays fast enough for the batch job.

One pass per article, compiled (:mod:`pipeline.summarize.kernels`), a batch of articles per call:
every candidate (whole sentences first, then the clause-trimmed variants of
:mod:`pipeline.summarize.clauses`) gets its row from the same matrices, and a trimmed candidate is
compared with the article's whole sentences (its own sentence left out where the feature compares
with "the other sentences"). Ranks count the whole sentences that score strictly higher, so a
trimmed candidate is ranked against the same sentences as the whole one.

Named entities are approximated by capitalized syllables that do not start the sentence
(``Hà Nội``, ``UBND``, ``Nguyễn Văn A``): Vietnamese capitalizes proper names syllable by syllable,
and a named-entity tagger (underthesea's runs a CRF over every syllable) would cost far more per
article than the whole summarizer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pipeline.summarize import kernels
from pipeline.summarize.clauses import MIN_TRIMMED_SYLLABLES, WHOLE, candidate_text
from pipeline.summarize.embeddings import CorpusVectors
from pipeline.text.scan import encode_batch

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


class Candidate(NamedTuple):
    """A unit the summarizer may pick: sentence ``sentence`` whole or clause-trimmed (``trim``), as ``text``."""

    sentence: int
    trim: int
    text: str


class BatchCandidates(NamedTuple):
    """The candidates of a batch of articles: article ``a``'s are rows ``offsets[a]:offsets[a + 1]``."""

    offsets: np.ndarray  # (articles + 1,) int64
    sentence: np.ndarray  # sentence index of each candidate, int64
    trim: np.ndarray  # 0 whole, 1 leading clause dropped, 2 trailing clause dropped (clauses.py)
    features: np.ndarray  # (candidates, len(FEATURE_NAMES)) float32


def batch_candidate_features(
    titles: list[str], sentence_lists: list[list[str]], vectors: CorpusVectors, trim_clauses: bool = True
) -> BatchCandidates:
    """Candidates and features of many articles in one compiled call (titles and sentences as given).

    Per article the candidates are its whole sentences in order, then (``trim_clauses``) the
    leading-clause trims, then the trailing-clause trims that keep at least
    ``MIN_TRIMMED_SYLLABLES`` syllables.
    """
    texts: list[str] = []
    first_text = np.empty(len(titles), dtype=np.int64)
    n_sentences = np.empty(len(titles), dtype=np.int64)
    for a, (title, sentences) in enumerate(zip(titles, sentence_lists, strict=True)):
        first_text[a] = len(texts)
        n_sentences[a] = len(sentences)
        texts.append(title)
        texts.extend(sentences)
    cp, offsets = encode_batch(texts)
    lower, flags = kernels.char_tables()
    keys, rows = vectors.keys()
    return BatchCandidates(
        *kernels.batch_features(
            cp, offsets, first_text, n_sentences, lower, flags, keys, rows, vectors.idf_padded,
            vectors.weighted_padded, trim_clauses, MIN_TRIMMED_SYLLABLES,
        )
    )


def candidate_features(
    title: str, sentences: list[str], vectors: CorpusVectors, trim_clauses: bool = True
) -> tuple[list[Candidate], np.ndarray]:
    """One article's candidates (with their text) and a float32 feature row each."""
    batch = batch_candidate_features([title], [sentences], vectors, trim_clauses)
    candidates = [
        Candidate(i, trim, sentences[i] if trim == WHOLE else candidate_text(sentences[i], trim))
        for i, trim in zip(batch.sentence.tolist(), batch.trim.tolist(), strict=True)
    ]
    return candidates, batch.features


def sentence_features(title: str, sentences: list[str], vectors: CorpusVectors) -> np.ndarray:
    """A ``(len(sentences), len(FEATURE_NAMES))`` float32 matrix, one row per whole sentence."""
    return candidate_features(title, sentences, vectors, trim_clauses=False)[1]
