"""Abstractive summaries with any Hugging Face seq2seq model (ViT5, BARTpho, mT5, BART...).

Loaded with the Auto classes from a hub id or a local directory, never with remote code.
Generation runs in length-sorted batches (similar lengths pad less, so each batch does less
wasted work) under ``torch.inference_mode()``; ``pipeline("summarization")`` is gone in
transformers 5, so we call ``generate()`` directly.

:class:`~pipeline.summarize.batched.BatchedSummarizer` holds what does not depend on the inference
library (token counting, truncation accounting, ``long_input: chunk``, batching), so this module and
the CTranslate2 backend (:mod:`pipeline.summarize.ct2`) only implement loading and one batch of generation.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.config import SummarizeConfig
from pipeline.errors import ModelNotFoundError, first_line
from pipeline.hub import load_source, local_dir, missing_model_message, resolve_device
from pipeline.modelfiles import BadModelFile, check_hf_folder
from pipeline.summarize.batched import EXTRACTIVE_HINT, BatchedSummarizer

log = logging.getLogger(__name__)


class Seq2SeqSummarizer(BatchedSummarizer):
    """Batched ``generate()`` over a PyTorch seq2seq model; settings come from the summarize config."""

    def _load(self) -> None:
        model = self.config.model
        try:  # before torch's import: an unreachable hub fails at once
            source = load_source(model, "summarize.model")
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(str(exc) + EXTRACTIVE_HINT) from None
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        local = local_dir(source)
        try:
            if local is not None:
                check_hf_folder(local)
            # Weights are read from safetensors only, never unpickled (hub repos and save_pretrained have them).
            self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(source, trust_remote_code=False, use_safetensors=True)
        except BadModelFile as exc:
            raise ModelNotFoundError(missing_model_message(model, str(exc), "summarize.model") + EXTRACTIVE_HINT) \
                from None
        except Exception as exc:  # from_pretrained reads a folder of any files: whatever it raises is that folder
            reason = f"{type(exc).__name__}: {first_line(exc)}"
            raise ModelNotFoundError(missing_model_message(model, reason, "summarize.model") + EXTRACTIVE_HINT) \
                from None
        self.device = torch.device(resolve_device(self.config.device))
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
