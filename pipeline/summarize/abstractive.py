"""Abstractive summaries with any Hugging Face seq2seq model (ViT5, BARTpho, mT5, BART...).

Loaded with the Auto classes from a hub id or a local directory, never with remote code.
Generation runs in length-sorted batches (similar lengths pad less, so each batch does less
wasted work) under ``torch.inference_mode()``; ``pipeline("summarization")`` is gone in
transformers 5, so we call ``generate()`` directly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.config import SummarizeConfig
from pipeline.errors import ModelNotFoundError

log = logging.getLogger(__name__)


def _local_dir(model: str) -> Path | None:
    path = Path(model).expanduser()
    return path if path.exists() else None


def _missing_model_message(model: str, reason: str) -> str:
    if _local_dir(model) is not None or model.startswith((".", "/", "~")) or model.count("/") > 1:
        return (
            f"Cannot load summarization model from {model}: {reason}. Point summarize.model at a directory "
            "holding config.json, the tokenizer files and model.safetensors (as written by save_pretrained)."
        )
    return (
        f"Cannot load summarization model {model!r} from the Hugging Face Hub: {reason}. If this machine "
        "is offline, download the model elsewhere (`hf download " + model + " --local-dir DIR`), copy DIR "
        "here and set summarize.model to that directory (e.g. --set summarize.model=DIR); or use "
        "summarize.kind=extractive, which needs no model. Set HF_HUB_OFFLINE=1 to skip the network retries."
    )


class Seq2SeqSummarizer:
    """Batched ``generate()`` over a seq2seq model; settings come from the summarize config."""

    def __init__(self, config: SummarizeConfig) -> None:
        self.config = config
        self.truncated_ = 0
        self._load()

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        model = self.config.model
        local = _local_dir(model)
        kwargs: dict[str, Any] = {"trust_remote_code": False}
        if local is None or any(local.glob("*.safetensors")):
            kwargs["use_safetensors"] = True  # never unpickle weights when safetensors exist
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=False)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(model, **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            reason = str(exc).strip().split("\n")[0].rstrip(".")
            raise ModelNotFoundError(_missing_model_message(model, reason)) from None
        device = self.config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model.to(self.device).eval()

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.config.model,
            "architecture": type(self.model).__name__,
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

    def count_truncated(self, texts: list[str]) -> int:
        lengths = self.tokenizer([self.config.prefix + t for t in texts], truncation=False)["input_ids"]
        return sum(len(ids) > self.config.max_input_tokens for ids in lengths)

    def summarize(self, texts: list[str]) -> list[str]:
        """Summaries in input order; inputs longer than ``max_input_tokens`` are truncated (and counted)."""
        if not texts:
            return []
        self.truncated_ += self.count_truncated(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        summaries: list[str] = [""] * len(texts)
        size = self.config.batch_size
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            for i, summary in zip(idx, self._generate([texts[i] for i in idx]), strict=True):
                summaries[i] = summary
        return summaries
