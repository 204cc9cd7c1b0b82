"""Sinks: JSONL, CSV, Parquet and SQLite, plus the quarantine file.

File sinks write to a temporary file beside the target and rename it into place when the run
finishes, so a killed run never leaves a half-written results file under the final name. CSV and
Parquet need all columns up front while input fields may vary from row to row, so they spool rows
to a temporary JSONL file and convert it at the end (two streaming passes, flat memory).
SQLite writes each batch in one transaction with bound parameters.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.config import OutputConfig
from pipeline.errors import OutputError
from pipeline.records import Quarantined, Record

FORMATS_BY_SUFFIX = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
                     ".db": "sqlite", ".sqlite": "sqlite", ".sqlite3": "sqlite"}
CORE_COLUMNS = ("id", "title", "author", "topic", "topic_score", "topic_top_k", "summary", "text")


def detect_output_format(path: Path, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    fmt = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"Cannot tell the output format from {path.name}; use one of {sorted(FORMATS_BY_SUFFIX)} "
            "or set output.format (jsonl, csv, parquet, sqlite)."
        )
    return fmt


def side_path(output: Path, suffix: str) -> Path:
    """A file next to the results: ``results/day.jsonl`` -> ``results/day.<suffix>``."""
    return output.with_name(f"{output.stem}.{suffix}")


def _dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, default=str)


class _AtomicFile:
    """A temporary file in the target's folder, renamed over the target on commit."""

    def __init__(self, target: Path, mode: str = "w") -> None:
        self.target = target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        except OSError as exc:
            raise OutputError(f"Cannot write to {target.parent}: {exc.strerror or exc}.") from None
        self.tmp = Path(tmp)
        self.handle = os.fdopen(fd, mode) if "b" in mode else os.fdopen(fd, mode, encoding="utf-8", newline="")

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        self.file = _AtomicFile(path)

    def write(self, rows: list[Record]) -> None:
        self.file.handle.writelines(_dumps(r) + "\n" for r in rows)

    def close(self) -> None:
        self.file.commit()

    def abort(self) -> None:
        self.file.abort()


class _SpooledWriter:
    """Spools rows as JSONL, then converts them in :meth:`_convert` once all columns are known."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.spool = _AtomicFile(path.with_name(f".{path.name}.spool.jsonl"))
        self.columns: dict[str, None] = {}

    def write(self, rows: list[Record]) -> None:
        for row in rows:
            self.columns.update(dict.fromkeys(row))
            self.spool.handle.write(_dumps(row) + "\n")

    def _rows(self) -> Iterator[Record]:
        with open(self.spool.tmp, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)

    def ordered_columns(self) -> list[str]:
        core = [c for c in CORE_COLUMNS if c in self.columns]
        return core + [c for c in self.columns if c not in CORE_COLUMNS]

    def close(self) -> None:
        self.spool.handle.flush()
        try:
            self._convert()
        finally:
            self.spool.abort()

    def abort(self) -> None:
        self.spool.abort()

    def _convert(self) -> None:
        raise NotImplementedError


class CsvWriter(_SpooledWriter):
    """CSV with a header of every column seen; lists and dicts are written as JSON text."""

    def _convert(self) -> None:
        out = _AtomicFile(self.path)
        try:
            writer = csv.DictWriter(out.handle, fieldnames=self.ordered_columns(), extrasaction="ignore")
            writer.writeheader()
            for row in self._rows():
                writer.writerow(
                    {k: _dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()}
                )
        except BaseException:
            out.abort()
            raise
        out.commit()


class ParquetWriter(_SpooledWriter):
    """Parquet with one schema unified over all rows; columns whose types conflict become JSON text."""

    chunk_rows = 2048

    def _chunks(self) -> Iterator[list[Record]]:
        chunk: list[Record] = []
        for row in self._rows():
            chunk.append(row)
            if len(chunk) >= self.chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _schema(self, columns: list[str]):
        import pyarrow as pa

        types: dict[str, Any] = {}
        as_text: set[str] = set()
        for chunk in self._chunks():
            for col in columns:
                if col in as_text:
                    continue
                try:
                    typ = pa.array([r.get(col) for r in chunk]).type
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                    as_text.add(col)
                    continue
                prev = types.get(col)
                if prev is None or pa.types.is_null(prev):
                    types[col] = typ
                elif not pa.types.is_null(typ) and typ != prev:
                    try:
                        types[col] = pa.unify_schemas(
                            [pa.schema([(col, prev)]), pa.schema([(col, typ)])], promote_options="permissive"
                        ).field(col).type
                    except (pa.ArrowInvalid, pa.ArrowTypeError):
                        as_text.add(col)
        fields = [(c, pa.string() if c in as_text else types.get(c, pa.null())) for c in columns]
        return pa.schema(fields), as_text

    def _convert(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = self.ordered_columns()
        schema, as_text = self._schema(columns)
        out = _AtomicFile(self.path, mode="wb")
        try:
            with pq.ParquetWriter(out.handle, schema) as writer:
                for chunk in self._chunks():
                    data = {
                        c: [_dumps(r[c]) if c in as_text and r.get(c) is not None else r.get(c) for r in chunk]
                        for c in columns
                    }
                    writer.write_table(pa.table(data, schema=schema))
        except BaseException:
            out.abort()
            raise
        out.commit()


class SqliteWriter:
    """One table keyed by article id; core fields as columns, the whole row as JSON in ``record``."""

    def __init__(self, path: Path, table: str) -> None:
        self.table = table
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path)
            with self.conn:
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')
                self.conn.execute(
                    f'CREATE TABLE "{table}" (id TEXT PRIMARY KEY, title TEXT, topic TEXT, topic_score REAL, '
                    "summary TEXT, record TEXT NOT NULL)"
                )
                self.conn.execute(f'CREATE INDEX "{table}_topic" ON "{table}" (topic)')
        except sqlite3.Error as exc:
            raise OutputError(f"Cannot write SQLite database {path}: {exc}.") from None

    def write(self, rows: list[Record]) -> None:
        with self.conn:  # one transaction per batch
            self.conn.executemany(
                f'INSERT OR REPLACE INTO "{self.table}" (id, title, topic, topic_score, summary, record) '
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (r["id"], r.get("title"), r.get("topic"), r.get("topic_score"), r.get("summary"), _dumps(r))
                    for r in rows
                ],
            )

    def close(self) -> None:
        self.conn.close()

    def abort(self) -> None:
        self.conn.close()


def open_writer(config: OutputConfig):
    """The sink for the configured output; fails fast (OutputError) if it cannot be created."""
    fmt = detect_output_format(config.path, config.format)
    if fmt == "jsonl":
        return JsonlWriter(config.path)
    if fmt == "csv":
        return CsvWriter(config.path)
    if fmt == "parquet":
        return ParquetWriter(config.path)
    return SqliteWriter(config.path, config.table)


class QuarantineWriter:
    """``<output stem>.quarantine.jsonl``: one line per bad row with its id, reason, source and raw input."""

    def __init__(self, output: Path) -> None:
        self.path = side_path(output, "quarantine.jsonl")
        self.file = _AtomicFile(self.path)
        self.reasons: dict[str, int] = {}

    def write(self, entries: list[Quarantined]) -> None:
        for entry in entries:
            kind = entry.reason.split(":")[0].split(" (")[0]
            self.reasons[kind] = self.reasons.get(kind, 0) + 1
            self.file.handle.write(_dumps(entry.to_json()) + "\n")

    def close(self) -> None:
        self.file.commit()

    def abort(self) -> None:
        self.file.abort()
