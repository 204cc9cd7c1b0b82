"""Extractive summaries with no download: rank an article's sentences, keep the best in order.

A sentence scores high when it comes early (news puts the gist first) and shares words with the
title (syllable TF-IDF cosine within the article). On 400 VietNews dev articles this beats Lead-2
by about one ROUGE point; a centroid-similarity term was tried and did not help, so it is absent.
"""

from __future__ import annotations

import math
from collections import Counter

from pipeline.text.normalize import split_sentences, syllables

VERSION = "1"  # bump when the method changes, so finished jobs are redone
POSITION_WEIGHT = 1.0  # score of sentence i includes POSITION_WEIGHT / (1 + i)
TITLE_WEIGHT = 1.0  # plus TITLE_WEIGHT * cosine(sentence, title)
MIN_SENTENCE_SYLLABLES = 6  # shorter lines are captions ("Ảnh: TTXVN") or datelines


def article_tfidf(counts: list[Counter[str]]) -> list[dict[str, float]]:
    """Sublinear TF-IDF within one article (its sentences and the title are the documents)."""
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    n = len(counts)
    idf = {term: math.log((n + 1) / (d + 1)) + 1.0 for term, d in df.items()}
    return [{t: (1 + math.log(k)) * idf[t] for t, k in c.items()} for c in counts]


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(t, 0.0) for t, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


class LeadTitleSummarizer:
    """Picks ``max_sentences`` sentences by position and overlap with the title, in article order."""

    def __init__(self, max_sentences: int = 2) -> None:
        self.max_sentences = max_sentences

    def rank(self, title: str, sentences: list[str]) -> list[float]:
        counts = [Counter(syllables(s)) for s in sentences]
        vectors = article_tfidf([*counts, Counter(syllables(title))])
        title_vector = vectors[-1]
        return [
            -1.0
            if sum(count.values()) < MIN_SENTENCE_SYLLABLES
            else POSITION_WEIGHT / (1 + i) + TITLE_WEIGHT * _cosine(vec, title_vector)
            for i, (vec, count) in enumerate(zip(vectors[:-1], counts, strict=True))
        ]

    def summarize(self, title: str, text: str) -> str:
        sentences = split_sentences(text)
        if len(sentences) <= self.max_sentences:
            return " ".join(sentences)
        scores = self.rank(title, sentences)
        best = sorted(range(len(sentences)), key=lambda i: -scores[i])[: self.max_sentences]
        return " ".join(sentences[i] for i in sorted(best))

    def summarize_batch(self, titles: list[str], texts: list[str]) -> list[str]:
        return [self.summarize(title, text) for title, text in zip(titles, texts, strict=True)]
