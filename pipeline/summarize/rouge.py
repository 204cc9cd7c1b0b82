"""ROUGE for Vietnamese, computed with the `rouge-score` package and a tokenizer that keeps letters.

`rouge-score`'s default tokenizer keeps only ``[a-z0-9]``, so "người" becomes "ng" "i": published
ViT5/BARTpho numbers used it, and we report it for comparison; the Vietnamese-aware variant
(Unicode words, NFC, lower case, one tone-mark style on both sides, no stemming) counts Vietnamese
syllables, and is the one docs/summarizer.md reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from pipeline.text.normalize import nfc, set_tone_style, syllables

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class VietnameseTokenizer:
    """Syllables as Unicode words, after NFC and one tone style (``new``), lower-cased."""

    def tokenize(self, text: str) -> list[str]:
        return syllables(set_tone_style(nfc(text), "new"))


def ngram_f1(reference: Sequence[str], candidate: Sequence[str], n: int) -> float:
    """ROUGE-n F1 of two token lists, as `rouge-score` computes it (clipped n-gram counts), without its overhead.

    Training labels every candidate of every article, which through ``RougeScorer.score`` costs
    more than computing the features; :func:`rouge_scores` stays the scorer of record.
    """
    ref = Counter(zip(*(reference[i:] for i in range(n)), strict=False))
    cand = Counter(zip(*(candidate[i:] for i in range(n)), strict=False))
    overlap = sum((ref & cand).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(cand.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def rouge_scores(references: Iterable[str], predictions: Iterable[str], vietnamese: bool = True) -> dict[str, float]:
    """Mean ROUGE-1/2/L F1 (in percent) over pairs; ``vietnamese=False`` uses rouge-score's default tokenizer."""
    from rouge_score import rouge_scorer

    tokenizer = VietnameseTokenizer() if vietnamese else None
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False, tokenizer=tokenizer)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    n = 0
    for reference, prediction in zip(references, predictions, strict=True):
        scores = scorer.score(reference, prediction)
        for key in ROUGE_TYPES:
            totals[key] += scores[key].fmeasure
        n += 1
    return {key: round(100 * value / n, 2) if n else 0.0 for key, value in totals.items()}


def rouge_per_pair(
    references: Iterable[str], predictions: Iterable[str], vietnamese: bool = True
) -> dict[str, list[float]]:
    """ROUGE-1/2/L F1 (in percent) of every pair, for distributions and per-article examples."""
    from rouge_score import rouge_scorer

    tokenizer = VietnameseTokenizer() if vietnamese else None
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False, tokenizer=tokenizer)
    out: dict[str, list[float]] = {key: [] for key in ROUGE_TYPES}
    for reference, prediction in zip(references, predictions, strict=True):
        scores = scorer.score(reference, prediction)
        for key in ROUGE_TYPES:
            out[key].append(100 * scores[key].fmeasure)
    return out
