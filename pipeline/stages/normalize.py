"""The normalize stage: NFC, clean whitespace, one tone-mark style, scraped-page recovery."""

from __future__ import annotations

from typing import Any

from pipeline.config import NormalizeConfig
from pipeline.pages import parse_page
from pipeline.records import Record
from pipeline.stages import QUARANTINE_KEY
from pipeline.text import clean_text


class NormalizeStage:
    """Cleans ``title`` and ``text``; with ``raw_pages`` also recovers title, author and body."""

    name = "normalize"

    def __init__(self, config: NormalizeConfig, raw_pages: bool = False) -> None:
        self.config = config
        self.raw_pages = raw_pages

    def describe(self) -> dict[str, Any]:
        return {"tone_style": self.config.tone_style, "raw_pages": self.raw_pages}

    def normalize(self, record: Record) -> Record:
        style = self.config.tone_style
        text = record["text"]
        if len(text) > self.config.max_chars:
            record[QUARANTINE_KEY] = (
                f"text has {len(text):,} characters, above normalize.max_chars={self.config.max_chars:,}"
            )
            return record
        record["title"] = clean_text(record.get("title") or "", style)
        text = clean_text(text, style)
        if self.raw_pages:
            page = parse_page(text, record["title"] or None)
            record["title"], text = page.title, page.body
            record["author"] = page.author
        if not text:
            record[QUARANTINE_KEY] = "text is empty after normalization"
        record["text"] = text
        return record

    def __call__(self, records: list[Record]) -> list[Record]:
        return [self.normalize(r) for r in records]
