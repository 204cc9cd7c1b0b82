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
from pipeline.text import clean_batch, clean_texts, language_problems
from pipeline.textscan import scan_texts


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

    def __call__(self, records: list[Record]) -> list[Record]:
        """Clean a batch: per-record Python only where a record needs it (HTML, rare dirty text).

        Cleaning and the language check share one compiled scan of the batch
        (:func:`pipeline.text.clean_batch`), which is what keeps this stage cheaper than the
        topic model it feeds.
        """
        cfg = self.config
        live: list[Record] = []
        for record in records:
            reason = self._reject(record)
            if reason:
                record[QUARANTINE_KEY] = reason
            else:
                live.append(record)
        texts = [record["text"] for record in live]
        titles = [record.get("title") or "" for record in live]
        if any(titles):  # (untitled input, e.g. VNTC, skips a scan)
            titles = clean_texts(titles, cfg.tone_style)
        cleaned, counts = clean_batch(texts, cfg.tone_style, html=cfg.strip_html)
        texts = list(cleaned)
        for i, record in enumerate(live):
            record["title"] = titles[i]
            if self.raw_pages:
                page = parse_page(texts[i], titles[i] or None)
                record["title"], texts[i] = page.title, page.body
                record["author"] = page.author
            record["text"] = texts[i]
        problems: list[str | None] = [None] * len(live)
        if cfg.language_check:
            stale = [i for i, (new, old) in enumerate(zip(texts, cleaned, strict=True)) if new is not old]
            if stale:  # raw_pages changed the body: count its letters again
                counts[stale] = scan_texts([texts[i] for i in stale]).counts
            problems = language_problems(texts, counts)
        for record, text, problem in zip(live, texts, problems, strict=True):
            if not text:
                record[QUARANTINE_KEY] = "text is empty after normalization"
            elif problem:
                record[QUARANTINE_KEY] = problem
        return records
