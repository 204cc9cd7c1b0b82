"""The normalize stage: NFC, HTML to text, clean whitespace, one tone-mark style, page recovery.

It also enforces the per-article limits and the language check, marking records it rejects for
quarantine (with the reason) instead of passing garbage to the models.
"""

from __future__ import annotations

from typing import Any

from pipeline.config import NormalizeConfig
from pipeline.pages import parse_page
from pipeline.records import Record
from pipeline.stages import QUARANTINE_KEY
from pipeline.text import clean_text, html_to_text, language_problem, looks_like_html


class NormalizeStage:
    """Cleans ``title`` and ``text``; with ``raw_pages`` also recovers title, author and body."""

    name = "normalize"

    def __init__(self, config: NormalizeConfig, raw_pages: bool = False) -> None:
        self.config = config
        self.raw_pages = raw_pages

    def describe(self) -> dict[str, Any]:
        return {"tone_style": self.config.tone_style, "raw_pages": self.raw_pages}

    def _reject(self, record: Record) -> str | None:
        cfg = self.config
        if len(record["text"]) > cfg.max_chars:
            return f"text has {len(record['text']):,} characters, above normalize.max_chars={cfg.max_chars:,}"
        title_chars = len(record.get("title") or "")
        if title_chars > cfg.max_title_chars:
            return f"title has {title_chars:,} characters, above normalize.max_title_chars={cfg.max_title_chars:,}"
        return None

    def normalize(self, record: Record) -> Record:
        reason = self._reject(record)
        if reason:
            record[QUARANTINE_KEY] = reason
            return record
        style = self.config.tone_style
        text = record["text"]
        if self.config.strip_html and looks_like_html(text):
            text = html_to_text(text)
        record["title"] = clean_text(record.get("title") or "", style)
        text = clean_text(text, style)
        if self.raw_pages:
            page = parse_page(text, record["title"] or None)
            record["title"], text = page.title, page.body
            record["author"] = page.author
        record["text"] = text
        if not text:
            record[QUARANTINE_KEY] = "text is empty after normalization"
        elif self.config.language_check and (problem := language_problem(text)):
            record[QUARANTINE_KEY] = problem
        return record

    def __call__(self, records: list[Record]) -> list[Record]:
        return [self.normalize(r) for r in records]
