"""Long articles: split on sentence boundaries into windows a seq2seq model can read whole.

ViT5 and BARTpho read 1,024 tokens; a long feature article has several times that. Truncating
keeps only the opening, so ``summarize.long_input: chunk`` instead packs whole sentences into
windows of at most ``budget`` tokens, summarizes each window, and merges the window summaries
(see :class:`pipeline.summarize.batched.BatchedSummarizer`). Work is capped at
``max_chunks`` windows per article: the tail beyond the cap is dropped and the article counted
as truncated, so one huge input cannot stall a batch job.

The functions here are pure (sentences and token counts in, spans out) so they are tested
without any model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.text.normalize import split_sentences


@dataclass(frozen=True)
class ChunkPlan:
    """The windows of one article, and whether any of its text will not be read."""

    chunks: list[str]
    truncated: bool


def pack_sentences(lengths: list[int], budget: int) -> list[tuple[int, int]]:
    """Greedy packing of consecutive sentences into spans ``[start, end)`` of at most ``budget`` tokens.

    Greedy in article order keeps sentences contiguous (a window reads like a passage) and is
    optimal for the number of windows when order must be kept. A single sentence longer than
    the budget gets a window of its own (the model truncates it).

    >>> pack_sentences([3, 4, 2, 6, 1], budget=7)
    [(0, 2), (2, 3), (3, 5)]
    >>> pack_sentences([9, 1], budget=5)
    [(0, 1), (1, 2)]
    """
    if budget < 1:
        raise ValueError(f"budget must be positive, got {budget}")
    spans: list[tuple[int, int]] = []
    start, used = 0, 0
    for i, length in enumerate(lengths):
        if i > start and used + length > budget:
            spans.append((start, i))
            start, used = i, 0
        used += length
    if start < len(lengths):
        spans.append((start, len(lengths)))
    return spans


def plan_chunks(
    text: str,
    count_tokens: Callable[[list[str]], list[int]],
    budget: int,
    max_chunks: int,
) -> ChunkPlan:
    """Sentence-aligned windows of ``text``, at most ``max_chunks`` of them.

    ``count_tokens`` gives the token count of each sentence (without special tokens); ``budget``
    is the model's window minus the prefix and special tokens. Sentences are joined with a space,
    whose token cost is already inside each sentence's count for SentencePiece-style tokenizers.
    """
    sentences = split_sentences(text) or [text]
    lengths = count_tokens(sentences)
    spans = pack_sentences(lengths, budget)
    oversized = any(end - start == 1 and lengths[start] > budget for start, end in spans[:max_chunks])
    kept = spans[:max_chunks]
    chunks = [" ".join(sentences[start:end]) for start, end in kept]
    return ChunkPlan(chunks=chunks, truncated=oversized or len(spans) > max_chunks)
