"""The article record that flows through every stage, and the quarantine entry for bad rows.

A record is a plain ``dict`` (cheap to batch, serialize and send to other processes) with the
core fields ``id``, ``title`` and ``text``; every other input field is carried through untouched,
whatever its name. Stages add fields (``topic``, ``topic_score``, ``summary``, ...); an input field
with the name of one of them is kept under a prefixed name (:data:`OUTPUT_FIELDS`, :func:`to_record`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

# Marks the stages and the API put on a record while it is processed; never written (see output_row).
QUARANTINE_KEY = "_quarantine_reason"  # set by a stage: the record goes to quarantine with this reason
SKIP_MODELS_KEY = "_skip_models"  # set (to True) by a stage: the later stages leave the record alone
POSITION_KEY = "_position"  # the record's input row while the Python API processes a list
INTERNAL_FIELDS = frozenset({QUARANTINE_KEY, SKIP_MODELS_KEY, POSITION_KEY})
# Fields vnnews writes into a row itself: the core fields, what the stages add, the row's hashes and run,
# and the API's quarantine_reason. An input field of one of these names (other than the configured
# id/title/text fields, which become the core fields) is kept under input.renamed_field_prefix + its name.
OUTPUT_FIELDS = frozenset({
    "id", "title", "text", "author", "diacritics", "duplicate_of", "duplicate_similarity", "topic", "topic_score",
    "topic_top_k", "summary", "content_hash", "input_hash", "config_hash", "run_id", "quarantine_reason",
})
RESERVED_FIELDS = OUTPUT_FIELDS | INTERNAL_FIELDS


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


def shown_path(path: str) -> str:
    """A file name or path as rows, sources and quarantine reasons carry it: bytes of the name that are not
    UTF-8 written as ``\\xNN`` (Python's backslashreplace form), so every output can store it.

    The operating system gives such names to Python as lone surrogates (``surrogateescape``), which
    no UTF-8 output can encode; the file itself is still opened by its real name.
    """
    if lone_surrogate(path) is None:
        return path
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class FileRow(dict):
    """A row a reader made from a whole file (a .txt file, an HTML page): its article fields are
    always ``id``, ``title`` and ``text``, whatever ``input.*_field`` say."""


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
    digest = hashlib.sha1(title.encode())  # = sha1 of f"{title}\n{text}", without copying the text into it
    digest.update(b"\n")
    digest.update(text.encode())
    return f"sha1-{digest.hexdigest()[:16]}"


def input_hash(record: Record) -> str:
    """Hash of a record's input fields other than title and text (id, url, views, published...).

    Title and text are :func:`content_id`'s; leaving them out here keeps this hash as cheap as the
    few small fields it reads (hashing the whole article twice cost as much as classifying it).
    The hashed text is ``json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)``; for the
    usual fields (text keys, text or integer values) it is assembled directly, the same characters.
    """
    meta = {k: v for k, v in record.items() if k not in ("title", "text")}
    blob = _flat_json(meta)
    if blob is None:
        blob = json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _flat_json(meta: dict[str, Any]) -> str | None:
    """``json.dumps(meta, sort_keys=True, ensure_ascii=False)`` when every key is text and every value text,
    an integer (not a bool) or None; None otherwise (the caller asks json itself)."""
    parts = []
    for key in sorted(meta) if all(type(k) is str for k in meta) else ():
        value = meta[key]
        kind = type(value)
        if kind is str:
            text = _encode_string(value)
        elif kind is int:
            text = int.__repr__(value)
        elif value is None:
            text = "null"
        else:
            return None
        parts.append(f"{_encode_string(key)}: {text}")
    if len(parts) != len(meta):
        return None
    return "{" + ", ".join(parts) + "}"


def stamp_hashes(record: Record) -> None:
    """Add ``input_hash`` (the other input fields: a changed url or views is noticed) and
    ``content_hash`` (title and text: what the models read) before any stage runs; upsert compares
    both, so a row is unchanged only when every input field is."""
    record["input_hash"] = input_hash(record)
    record["content_hash"] = content_id(record.get("title") or "", record["text"])


# Deepest nesting of lists/objects accepted in a row (the row itself is level 1). News rows need a
# few levels; deeper ones are scraper bugs or attacks, and every later stage that serializes or
# renders a row (part files, sinks, the HTML report) recurses per level, so they are refused here.
MAX_DEPTH = 64

# Values that need no look inside (integers do: their size is checked), for carry_problem's fast path.
_FLAT = frozenset({str, float, bool, type(None)})
_encode_string = json.encoder.encode_basestring  # how json.dumps(ensure_ascii=False) writes a string

# Integers must fit a signed 64-bit column: Parquet, SQL databases and fast JSON libraries refuse
# (or silently round) larger ones, so a row carrying one could not reach every output unchanged.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

def lone_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in ``text``, or None.

    The strict UTF-16 encoder refuses exactly these characters and runs at memory speed (about 4x
    faster than a regular expression over a news article), and ASCII text needs no look at all.
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-16-le")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


class EscapedRow(dict):
    """A JSONL row whose line holds ``\\uD8xx``-style escapes: its strings may hold lone surrogates.

    Every other row from :mod:`pipeline.io.readers` is valid Unicode by construction (strict decoders,
    Arrow strings), so :func:`to_record` scans the strings of these rows only.
    """


def _shown(text: str, limit: int = 60) -> str:
    """``text`` safe to put in a message: lone surrogates written as ``\\udXXX`` escapes."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def carry_problem(row: Any, strings: bool = True) -> str | None:
    """Why ``row`` cannot be carried unchanged to every output, or None if it can.

    Checks every value and key, however nested: a lone UTF-16 surrogate (half of an emoji cut by a
    scraper, ``"\\ud83d"`` in JSON) cannot be encoded as UTF-8; nesting deeper than
    :data:`MAX_DEPTH`; integers outside the signed 64-bit range. The walk is iterative and stops
    at the depth limit, so checking a hostile row costs no more than the row's size.
    ``strings=False`` skips the scan of string values (keys are always checked) for rows known to
    be valid Unicode.
    """
    if not strings and type(row) is dict and all(type(v) in _FLAT for v in row.values()) \
            and all(type(k) is str and k.isascii() for k in row):
        return None  # the usual row: ASCII names, values that are text (known valid), numbers or null
    stack: list[tuple[Any, int, str | None]] = [(row, 1, None)]
    while stack:
        value, depth, field = stack.pop()
        if isinstance(value, str):
            if strings and (found := lone_surrogate(value)) is not None:
                return f"contains a lone surrogate (\\u{ord(found):04x}){_where(field)}: " \
                       "half of a character cut in two, not valid Unicode"
        elif isinstance(value, int) and not isinstance(value, bool):
            if not _INT64_MIN <= value <= _INT64_MAX:
                return f"integer{_where(field)} does not fit in 64 bits ({value.bit_length()} bits)"
        elif isinstance(value, dict | list | tuple):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels{_where(field)}"
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if isinstance(key, str) and (found := lone_surrogate(key)) is not None:
                    return f"contains a lone surrogate (\\u{ord(found):04x}) in a field name{_where(field)}"
                stack.append((item, depth + 1, key if field is None else field))
    return None


def _where(field: Any) -> str:
    return "" if field is None else f" in field '{_shown(str(field))}'"


def _storable(row: Any) -> str:
    """A row that failed :func:`carry_problem` as JSON text that every output can hold (ASCII escapes)."""
    try:
        return json.dumps(row, ensure_ascii=True, default=str)
    except (ValueError, RecursionError) as exc:
        return f"(row cannot be shown: {exc})"


def to_record(
    raw: dict[str, Any],
    *,
    text_field: str,
    title_field: str | None,
    id_field: str | None,
    source: str,
    strings_checked: bool = False,
    prefix: str = "input_",
) -> Record | Quarantined:
    """Map an input row to a record, or say why it cannot be one.

    Ids may be strings or integers (CSV and databases often number rows); other types are errors
    because they cannot identify a row stably. Extra fields are carried through as they are, in
    their order, whatever their names (``_id``, ``$oid``, ``a.b``, ``""``...), once
    :func:`carry_problem` has found nothing that would break a later stage (``strings_checked``:
    the row's strings are known to be valid Unicode, see :class:`EscapedRow`). One whose name is in
    :data:`RESERVED_FIELDS` is kept as ``prefix`` + its name (``topic`` -> ``input_topic``), the
    prefix repeated while that name is taken too: never overwritten by a stage, never dropped. The
    fields of a :class:`FileRow` (an HTML page's ``author``) are the reader's and keep their names.
    An id, text or title given as bytes (a Parquet BINARY column: text written without its UTF-8 mark) is
    decoded as UTF-8; bytes that are not UTF-8 quarantine the row, naming the field.
    """
    if (problem := carry_problem(raw, strings=not strings_checked)) is not None:
        raw_id = raw.get(id_field) if id_field else None
        rid = str(raw_id) if isinstance(raw_id, str | int) and carry_problem(raw_id) is None else None
        return Quarantined(problem, _storable(raw), source, rid)
    raw_id = raw.get(id_field) if id_field else None
    try:
        if type(raw_id) is bytes:  # (bytes here and below: a Parquet BINARY column, text without its UTF-8 mark)
            raw_id = _utf8(raw_id, id_field)
    except ValueError as exc:
        return Quarantined(str(exc), raw, source)
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, (str, int))):
        return Quarantined(f"field '{id_field}' must be a string or integer, got {type(raw_id).__name__}", raw, source)
    rid = str(raw_id).strip() if raw_id is not None else None
    if rid == "":
        rid = None

    if text_field not in raw or raw[text_field] is None:
        return Quarantined(f"missing text field '{text_field}'", raw, source, rid)
    text = raw[text_field]
    title = raw.get(title_field) if title_field else None
    try:
        if type(text) is bytes:
            text = _utf8(text, text_field)
        if type(title) is bytes:
            title = _utf8(title, title_field)
    except ValueError as exc:
        return Quarantined(str(exc), raw, source, rid)
    if not isinstance(text, str):
        return Quarantined(f"field '{text_field}' must be a string, got {type(text).__name__}", raw, source, rid)
    if not text.strip():
        return Quarantined(f"field '{text_field}' is empty", raw, source, rid)
    if title is not None and not isinstance(title, str):
        return Quarantined(f"field '{title_field}' must be a string, got {type(title).__name__}", raw, source, rid)

    record: Record = {"id": rid or content_id(title or "", text), "title": title or "", "text": text}
    for key, value in raw.items():
        if key in (text_field, title_field, id_field):
            continue
        if key in RESERVED_FIELDS and not isinstance(raw, FileRow):  # (a FileRow's fields are the reader's own)
            while key in RESERVED_FIELDS or key in raw or key in record:
                key = prefix + key
        record[key] = value
    return record


def _utf8(value: bytes, field: str) -> str:
    """``value`` decoded as UTF-8; a ValueError naming ``field`` when it is not UTF-8."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"field '{field}' holds bytes that are not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start:,})") from None


def output_row(record: Record, include_text: bool) -> Record:
    """What a sink receives: every field except the :data:`INTERNAL_FIELDS` marks (and the text unless asked
    for), in order."""
    if include_text:
        return {k: v for k, v in record.items() if k not in INTERNAL_FIELDS}
    return {k: v for k, v in record.items() if k not in INTERNAL_FIELDS and k != "text"}
