"""The article record that flows through every stage, and the quarantine entry for bad rows.

A record is a plain ``dict`` (cheap to batch, serialize and send to other processes) with the
core fields ``id``, ``title`` and ``text``; every other input field is carried through untouched.
Stages add fields (``topic``, ``topic_score``, ``summary``, ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]


@dataclass
class Quarantined:
    """A row that could not be processed: why, where it came from, and its raw input, unchanged."""

    reason: str
    raw: Any
    source: str
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        raw = self.raw
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="backslashreplace")
        return {"id": self.id, "reason": self.reason, "source": self.source, "raw": raw}


@dataclass
class Batch:
    """What a reader yields: good records plus the rows it had to quarantine, in input order."""

    records: list[Record] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    start: int = 0  # index of the batch's first input row

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def size(self) -> int:
        return len(self.records) + len(self.quarantined)


def content_id(title: str, text: str) -> str:
    """A stable id for articles that come without one: a hash of title and text."""
    digest = hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
    return f"sha1-{digest[:16]}"


def _json_safe(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:200]
    except (TypeError, ValueError):
        return repr(value)[:200]


def to_record(
    raw: dict[str, Any],
    *,
    text_field: str,
    title_field: str | None,
    id_field: str | None,
    source: str,
) -> Record | Quarantined:
    """Map an input row to a record, or say why it cannot be one.

    Ids may be strings or integers (CSV and databases often number rows); other types are errors
    because they cannot identify a row stably. Extra fields are carried through as they are.
    """
    raw_id = raw.get(id_field) if id_field else None
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, (str, int))):
        return Quarantined(f"field '{id_field}' must be a string or integer, got {type(raw_id).__name__}", raw, source)
    rid = str(raw_id).strip() if raw_id is not None else None
    if rid == "":
        rid = None

    if text_field not in raw or raw[text_field] is None:
        return Quarantined(f"missing text field '{text_field}'", raw, source, rid)
    text = raw[text_field]
    if not isinstance(text, str):
        return Quarantined(
            f"field '{text_field}' must be a string, got {type(text).__name__}: {_json_safe(text)}", raw, source, rid
        )
    if not text.strip():
        return Quarantined(f"field '{text_field}' is empty", raw, source, rid)

    title = raw.get(title_field) if title_field else None
    if title is not None and not isinstance(title, str):
        return Quarantined(f"field '{title_field}' must be a string, got {type(title).__name__}", raw, source, rid)

    record: Record = {"id": rid or content_id(title or "", text), "title": title or "", "text": text}
    for key, value in raw.items():
        if key not in (text_field, title_field, id_field) and key not in record:
            record[key] = value
    return record
