"""What both abstractive backends share (:mod:`pipeline.summarize.abstractive`, :mod:`pipeline.summarize.ct2`).

:class:`BatchedSummarizer` holds what does not depend on the inference library (token counting,
truncation accounting, ``long_input: chunk``, batching); a backend implements loading and one
batch of generation.
"""

from __future__ import annotations

from typing import Any

from pipeline.config import SummarizeConfig

# Added to a failed summarize.model load: the offline way out.
EXTRACTIVE_HINT = " Or use summarize.kind=extractive, which needs no download."


class BatchedSummarizer:
    """What both backends share: token counting, long-input handling, length-sorted batches.

    Subclasses load ``self.tokenizer`` and implement :meth:`_generate` (one batch of texts in,
    summaries out). With ``long_input: chunk`` an article longer than the window is split into
    sentence-aligned windows (:mod:`pipeline.summarize.chunking`); all windows of all articles
    in a call are generated together, so chunking keeps the batching benefit.
    """

    config: SummarizeConfig
    tokenizer: Any

    def __init__(self, config: SummarizeConfig) -> None:
        self.config = config
        self.truncated_ = 0  # articles some of whose text the model never read
        self.chunked_ = 0  # articles summarized from more than one window
        self._load()

    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _generate(self, texts: list[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _token_counts(self, texts: list[str]) -> list[int]:
        """Input length of each text as the model sees it (prefix and special tokens included)."""
        return [len(ids) for ids in self.tokenizer([self.config.prefix + t for t in texts])["input_ids"]]

    def sentence_token_counts(self, sentences: list[str]) -> list[int]:
        """Tokens of each sentence without special tokens: what it adds to a window."""
        return [len(ids) for ids in self.tokenizer(sentences, add_special_tokens=False)["input_ids"]]

    def chunk_budget(self) -> int:
        """Tokens left for article text in one window, after the prefix and special tokens."""
        overhead = len(self.tokenizer(self.config.prefix)["input_ids"])
        return max(1, self.config.max_input_tokens - overhead)

    def _run(self, texts: list[str]) -> list[str]:
        """Generate in length-sorted batches (similar lengths pad less); results in input order."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        summaries: list[str] = [""] * len(texts)
        size = self.config.batch_size
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            for i, summary in zip(idx, self._generate([texts[i] for i in idx]), strict=True):
                summaries[i] = summary
        return summaries

    def summarize(self, texts: list[str]) -> list[str]:
        """Summaries in input order; over-long inputs are truncated or chunked (and counted)."""
        if not texts:
            return []
        counts = self._token_counts(texts)
        too_long = [i for i, n in enumerate(counts) if n > self.config.max_input_tokens]
        if self.config.long_input == "truncate" or not too_long:
            self.truncated_ += len(too_long)
            return self._run(texts)
        return self._summarize_chunked(texts, set(too_long))

    def _summarize_chunked(self, texts: list[str], too_long: set[int]) -> list[str]:
        from pipeline.summarize.chunking import plan_chunks

        cfg = self.config
        budget = self.chunk_budget()
        pieces: list[str] = []
        owners: list[int] = []
        for i, text in enumerate(texts):
            if i in too_long:
                plan = plan_chunks(text, self.sentence_token_counts, budget, cfg.max_chunks)
                self.truncated_ += plan.truncated
                chunks = plan.chunks
            else:
                chunks = [text]
            pieces.extend(chunks)
            owners.extend([i] * len(chunks))
        parts: list[list[str]] = [[] for _ in texts]
        for owner, summary in zip(owners, self._run(pieces), strict=True):
            parts[owner].append(summary)
        merged = [" ".join(p for p in part if p) for part in parts]
        multi = [i for i, part in enumerate(parts) if len(part) > 1]
        self.chunked_ += len(multi)
        if cfg.chunk_merge == "summarize" and multi:
            for i, summary in zip(multi, self._run([merged[i] for i in multi]), strict=True):
                merged[i] = summary
        return merged
