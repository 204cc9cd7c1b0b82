"""The summarize stage: adds ``summary`` with the configured summarizer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.config import SummarizeConfig, resolve_model_path
from pipeline.io.records import Record
from pipeline.provenance import directory_fingerprint
from pipeline.stages import RunStart
from pipeline.summarize.extractive import VERSION as EXTRACTIVE_VERSION
from pipeline.summarize.extractive import LeadTitleSummarizer

log = logging.getLogger(__name__)


def make_extractive(config: SummarizeConfig) -> Any:
    """The configured extractive summarizer: the learned sentence scorer (default) or lead_title."""
    if config.method == "learned":
        from pipeline.summarize.learned import LearnedExtractiveSummarizer

        path = resolve_model_path(config.extractive_model)
        model = LearnedExtractiveSummarizer.load(path, max_sentences=config.max_sentences)
        model.max_syllables = config.max_syllables  # the job's budget, also when it is null
        return model
    return LeadTitleSummarizer(config.max_sentences)


class SummarizeStage:
    """Extractive (``LeadTitleSummarizer``) or abstractive (torch or CTranslate2, see ``load_abstractive``)."""

    name = "summarize"

    def __init__(self, config: SummarizeConfig) -> None:
        self.config = config
        if config.kind == "abstractive":
            from pipeline.summarize.abstractive import load_abstractive  # imports torch only when needed

            self.abstractive: Any = load_abstractive(config)
        else:
            self.abstractive = None
            self.extractive = make_extractive(config)

    def describe(self) -> dict[str, Any]:
        if self.abstractive is not None:
            return {
                "kind": "abstractive",
                **self.abstractive.describe(),
                "long_input": self.config.long_input,
                "truncated": self.abstractive.truncated_,
                "chunked": self.abstractive.chunked_,
            }
        described = {"kind": "extractive", "method": self.config.method, "max_sentences": self.config.max_sentences}
        if self.config.method == "learned":
            described["model"] = str(self.config.extractive_model)
            described["max_syllables"] = self.config.max_syllables
        return described

    def fingerprint(self) -> str:
        """The model's files (a local directory) or its hub id; lead_title's method version."""
        if self.abstractive is None:
            if self.config.method == "learned":
                return "learned:" + directory_fingerprint(resolve_model_path(self.config.extractive_model))
            return f"lead_title:{EXTRACTIVE_VERSION}"
        local = Path(self.config.model).expanduser()
        return directory_fingerprint(local) if local.exists() else self.config.model

    def start(self, run: RunStart) -> None:
        """Nothing to prepare: the models are loaded in __init__ and each batch is summarized on its own."""

    def __call__(self, records: list[Record]) -> list[Record]:
        if self.abstractive is not None:
            summaries = self.abstractive.summarize([r["text"] for r in records])
        else:
            titles = [r.get("title") or "" for r in records]
            summaries = self.extractive.summarize_batch(titles, [r["text"] for r in records])
        for record, summary in zip(records, summaries, strict=True):
            record["summary"] = summary
        return records

    def finish(self) -> None:
        """Log once per run how many inputs were cut to the model's window (not once per article)."""
        if self.abstractive is not None and self.abstractive.chunked_:
            log.info(
                "%d article(s) longer than summarize.max_input_tokens=%d were summarized in chunks.",
                self.abstractive.chunked_,
                self.config.max_input_tokens,
            )
        if self.abstractive is not None and self.abstractive.truncated_ and self.config.long_input == "chunk":
            log.warning(
                "%d article(s) did not fit in summarize.max_chunks=%d windows of %d tokens (or had a sentence "
                "longer than one window); their remaining text was not read.",
                self.abstractive.truncated_,
                self.config.max_chunks,
                self.config.max_input_tokens,
            )
        elif self.abstractive is not None and self.abstractive.truncated_:
            log.warning(
                "%d article(s) were longer than summarize.max_input_tokens=%d and were truncated "
                "(summarize.long_input=chunk reads them whole).",
                self.abstractive.truncated_,
                self.config.max_input_tokens,
            )
