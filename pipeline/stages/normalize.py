"""The normalize stage: NFC, HTML to text, clean whitespace, one tone-mark style, page recovery.

It also enforces the per-article limits and the language check, marking records it rejects for
quarantine (with the reason) instead of passing garbage to the models. Vietnamese typed without
diacritics is kept but marked ``diacritics: false`` (the topic model reads it less well).
"""

from __future__ import annotations

from typing import Any

from pipeline.config import NormalizeConfig
from pipeline.io.records import Record
from pipeline.stages import QUARANTINE_KEY, RunStart
from pipeline.text.language import language_verdicts
from pipeline.text.normalize import clean_batch, clean_texts
from pipeline.text.pages import parse_page
from pipeline.text.scan import scan_texts

DIACRITICS_KEY = "diacritics"  # set (to False) only on kept Vietnamese text typed without diacritics


class NormalizeStage:
    """Cleans ``title`` and ``text``; with ``raw_pages`` also recovers title, author and body."""

    name = "normalize"

    def __init__(self, config: NormalizeConfig, raw_pages: bool = False) -> None:
        self.config = config
        self.raw_pages = raw_pages

    def describe(self) -> dict[str, Any]:
        return {"tone_style": self.config.tone_style, "raw_pages": self.raw_pages}

    def fingerprint(self) -> str | None:
        """No model files: the settings alone say what this stage does."""
        return None

    def start(self, run: RunStart) -> None:
        """Nothing to prepare: each batch is processed on its own."""

    def finish(self) -> None:
        """Nothing to report at the end of a run."""

    def _reject(self, text: str, title: str) -> str | None:
        cfg = self.config
        if len(text) > cfg.max_chars:
            return f"text has {len(text):,} characters, above normalize.max_chars={cfg.max_chars:,}"
        if len(title) > cfg.max_title_chars:
            return f"title has {len(title):,} characters, above normalize.max_title_chars={cfg.max_title_chars:,}"
        return None

    def __call__(self, records: list[Record]) -> list[Record]:
        """Clean a batch: per-record Python only where a record needs it (HTML, rare dirty text).

        Cleaning and the language check share one compiled scan of the batch
        (:func:`pipeline.text.normalize.clean_batch`), which is what keeps this stage cheaper than the
        topic model it feeds. A record is written to only where something changed: clean
        articles (almost all) pass through with their strings untouched.
        """
        cfg = self.config
        texts = [record["text"] for record in records]
        titles = [record.get("title") or "" for record in records]
        too_long = [i for i, (text, title) in enumerate(zip(texts, titles, strict=True))
                    if len(text) > cfg.max_chars or len(title) > cfg.max_title_chars]
        live = records
        if too_long:
            for i in too_long:
                records[i][QUARANTINE_KEY] = self._reject(texts[i], titles[i])
            keep = sorted(set(range(len(records))) - set(too_long))
            live, texts, titles = ([values[i] for i in keep] for values in (records, texts, titles))
        if any(titles):  # (untitled input, e.g. VNTC, skips a scan)
            titles = clean_texts(titles, cfg.tone_style)
        cleaned, counts = clean_batch(texts, cfg.tone_style, html=cfg.strip_html)
        texts = list(cleaned)
        for record, title in zip(live, titles, strict=True):
            if record.get("title") is not title:  # (a missing title becomes "")
                record["title"] = title
        if self.raw_pages:
            for i, record in enumerate(live):
                page = parse_page(texts[i], titles[i] or None)
                record["title"], texts[i] = page.title, page.body
                record["author"] = page.author
        for record, text, old in zip(live, texts, cleaned, strict=True):
            if text is not old or record["text"] is not text:
                record["text"] = text
        problems: list[str | None] = [None] * len(live)
        if cfg.language_check:
            stale = [i for i, (new, old) in enumerate(zip(texts, cleaned, strict=True)) if new is not old]
            if stale:  # raw_pages changed the body: count its letters again
                counts[stale] = scan_texts([texts[i] for i in stale]).counts
            problems, no_diacritics = language_verdicts(texts, counts)
            for i in no_diacritics:  # Vietnamese typed without accents: kept, but flagged
                live[i][DIACRITICS_KEY] = False
        for i in [i for i, (text, problem) in enumerate(zip(texts, problems, strict=True)) if problem or not text]:
            live[i][QUARANTINE_KEY] = problems[i] if texts[i] else "text is empty after normalization"
        return records
