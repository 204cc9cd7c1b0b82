"""The summarize stage: adds ``summary`` with the configured summarizer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.config import SummarizeConfig
from pipeline.records import Record
from pipeline.state import directory_fingerprint
from pipeline.summarize.extractive import VERSION as EXTRACTIVE_VERSION
from pipeline.summarize.extractive import LeadTitleSummarizer

log = logging.getLogger(__name__)


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
            self.extractive = LeadTitleSummarizer(config.max_sentences)

    def describe(self) -> dict[str, Any]:
        if self.abstractive is not None:
            return {
                "kind": "abstractive",
                **self.abstractive.describe(),
                "long_input": self.config.long_input,
                "truncated": self.abstractive.truncated_,
                "chunked": self.abstractive.chunked_,
            }
        return {"kind": "extractive", "method": "lead_title", "max_sentences": self.config.max_sentences}

    def fingerprint(self) -> str:
        """The abstractive model's files (a local directory) or its hub id; the extractive method's version."""
        if self.abstractive is None:
            return f"lead_title:{EXTRACTIVE_VERSION}"
        local = Path(self.config.model).expanduser()
        return directory_fingerprint(local) if local.exists() else self.config.model

    def __call__(self, records: list[Record]) -> list[Record]:
        if self.abstractive is not None:
            summaries = self.abstractive.summarize([r["text"] for r in records])
        else:
            summaries = [self.extractive.summarize(r.get("title") or "", r["text"]) for r in records]
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
