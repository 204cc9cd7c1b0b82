"""Abstractive summaries with any Hugging Face seq2seq model (ViT5, BARTpho, mT5, BART...).

Loaded with the Auto classes from a hub id or a local directory, never with remote code.
Generation runs in length-sorted batches (similar lengths pad less, so each batch does less
wasted work) under ``torch.inference_mode()``; ``pipeline("summarization")`` is gone in
transformers 5, so we call ``generate()`` directly.

:class:`BatchedSummarizer` holds what does not depend on the inference library (token counting,
truncation accounting, ``long_input: chunk``, batching), so the CTranslate2 backend
(:mod:`pipeline.summarize.ct2`) only implements loading and one batch of generation.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.config import SummarizeConfig
from pipeline.errors import ModelNotFoundError
from pipeline.hub import check_local, local_dir, missing_model_message

# Added to a failed summarize.model load: the offline way out.
EXTRACTIVE_HINT = " Or use summarize.kind=extractive, which needs no download."

log = logging.getLogger(__name__)


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

    def count_truncated(self, texts: list[str]) -> int:
        return sum(n > self.config.max_input_tokens for n in self._token_counts(texts))

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


class Seq2SeqSummarizer(BatchedSummarizer):
    """Batched ``generate()`` over a PyTorch seq2seq model; settings come from the summarize config."""

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        model = self.config.model
        check_local(model, "summarize.model")
        local = local_dir(model)
        # Never unpickle weights when safetensors exist (hub repos and our own saves have them); a
        # local directory with only pytorch_model.bin loads through torch's weights_only loader.
        safetensors = True if local is None or any(local.glob("*.safetensors")) else None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=False)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(
                model, trust_remote_code=False, use_safetensors=safetensors
            )
        except (OSError, ValueError, KeyError) as exc:
            reason = str(exc).strip().split("\n")[0].rstrip(".")
            message = missing_model_message(model, reason, "summarize.model")
            raise ModelNotFoundError(message + EXTRACTIVE_HINT) from None
        device = self.config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model.to(self.device).eval()

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.config.model,
            "architecture": type(self.model).__name__,
            "backend": "torch",
            "device": str(self.device),
            "num_beams": self.config.num_beams,
            "max_new_tokens": self.config.max_new_tokens,
        }

    def _generate(self, texts: list[str]) -> list[str]:
        import torch

        cfg = self.config
        encoded = self.tokenizer(
            [cfg.prefix + t for t in texts],
            max_length=cfg.max_input_tokens,
            truncation=True,
            padding=True,
            return_tensors="pt",
        ).to(self.device)
        with torch.inference_mode():
            output = self.model.generate(
                **encoded,
                max_new_tokens=cfg.max_new_tokens,
                min_new_tokens=cfg.min_new_tokens,
                num_beams=cfg.num_beams,
                length_penalty=cfg.length_penalty,
                no_repeat_ngram_size=cfg.no_repeat_ngram_size,
                do_sample=False,
                early_stopping=cfg.num_beams > 1,
            )
        return [s.strip() for s in self.tokenizer.batch_decode(output, skip_special_tokens=True)]


def load_abstractive(config: SummarizeConfig) -> BatchedSummarizer:
    """The summarizer for ``config.backend``; ctranslate2 is imported only when chosen."""
    if config.backend == "ctranslate2":
        from pipeline.summarize.ct2 import Ct2Summarizer

        return Ct2Summarizer(config)
    return Seq2SeqSummarizer(config)
