"""Sinks: JSONL, CSV, Parquet and SQL tables (SQLite, PostgreSQL), plus the quarantine file.

A sink is committed once per run, from the run's finished parts (see :mod:`pipeline.run.state`), in
one atomic step: file sinks write a temporary file beside the target and rename it over the
target; SQL tables are written in one transaction with bound parameters only. So a killed run
never leaves a half-written output, and the previous output stays intact until the new one is
complete.

``output.mode`` decides what the new output holds:
- ``overwrite``: this run's rows only;
- ``append``: the existing rows, then this run's rows;
- ``upsert``: the existing rows whose key this run did not produce, then this run's rows
  (SQLite: ``INSERT ... ON CONFLICT DO UPDATE``, keeping ``created_at``). Rows whose content and
  config are unchanged but whose other input fields changed are *refreshed*: their new input
  fields are written with the model fields of the existing row (:func:`with_previous_fields`).

Each sink has a cheap ``signature()`` of what is committed (file: size and mtime; table: row count
and latest ``updated_at``), saved in the run state so a finished run whose output was deleted or
changed since runs again instead of reporting "up to date".
CSV and Parquet need all columns before writing while input fields may vary from row to row, so
their writers read the rows twice (once for the columns or schema, once to write).

JSONL rows are serialized with orjson (compact separators, UTF-8 unescaped); a value orjson
cannot write (a key that is not a string, an integer beyond 64 bits) falls back to the standard
library, so every row is written, and as the same JSON value. JSON inside CSV cells, Parquet
columns and SQL records keeps Python's layout (:func:`dumps`). A run's rows arrive as :class:`JsonlRows`:
lines already in the output's form, which a JSONL sink copies as they are.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from pipeline.config import OutputConfig
from pipeline.errors import OutputError, first_line
from pipeline.io.records import Record
from pipeline.redact import redact

FORMATS_BY_SUFFIX = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
                     ".db": "sqlite", ".sqlite": "sqlite", ".sqlite3": "sqlite"}
CORE_COLUMNS = ("id", "title", "author", "topic", "topic_score", "topic_top_k", "summary", "text")
RowsFactory = Callable[[], Iterable[Record]]


@runtime_checkable
class Sink(Protocol):
    """Where a run's rows end up (a JSONL, CSV or Parquet file, or a SQL table); :func:`open_sink` makes one."""

    def exists(self) -> bool:
        """Whether the output exists yet."""
        ...

    def signature(self) -> Any:
        """What changes when the output is written (size and mtime of a file); None when it does not exist."""
        ...

    def read_rows(self) -> Iterator[Record]:
        """The rows the output holds now (none when it does not exist)."""
        ...

    def commit(self, mode: str, rows: RowsFactory, key: str, run_id: str) -> None:
        """Write the run's rows according to ``mode`` (overwrite, append, upsert by ``key``) in one
        atomic step; repeating the commit of run ``run_id`` (after a crash) changes nothing more."""
        ...
# Files and folders a run writes beside ``<stem>.<ext>`` (see :func:`side_path`).
SIDE_SUFFIXES = ("state", "quarantine.jsonl", "rejected.jsonl", "manifest.json", "config.yaml", "runs.jsonl",
                 "report.html", "dedup")


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


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (anywhere inside) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _stdlib_dumps(row: Any) -> str:
    try:
        return json.dumps(row, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(row), ensure_ascii=False, default=str, allow_nan=False)


def _default(value: Any) -> Any:
    """What orjson cannot write itself, as the standard library's ``default=str`` writes it: float
    subclasses (numpy's float64) as numbers, everything else (dates, Decimal, numpy integers) as text."""
    if isinstance(value, float):
        return float(value)
    return str(value)


# Dates and dataclasses go through _default (str), as json.dumps(default=str) writes them.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_bytes(row: Any) -> bytes:
    """One row as strict JSON in UTF-8, non-ASCII characters unescaped: NaN and infinities (pandas'
    missing values, float columns) become null, since bare ``NaN`` is not JSON and strict parsers
    reject the whole line."""
    try:
        return orjson.dumps(row, default=_default, option=_ORJSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):  # a non-string key, an integer beyond 64 bits
        return _stdlib_dumps(row).encode("utf-8")


def dumps(row: Any) -> str:
    """A value as strict JSON text in Python's layout (``", "`` and ``": "``): the JSON held inside
    CSV cells, Parquet columns and SQL records, which people read and compare as text."""
    return _stdlib_dumps(row)


def loads(line: bytes | str) -> Any:
    """One JSON value (a line of a JSONL file); what orjson refuses but Python's json reads (``NaN``) is
    read as Python reads it."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


class JsonlRows:
    """A run's rows held as JSONL lines (the run state's part files), callable as a rows factory.

    ``blocks()`` yields bytes of whole lines, each line one row exactly as a JSONL sink writes it,
    so that sink copies them without parsing; calling the object parses them for every other sink.
    """

    def __init__(self, blocks: Callable[[], Iterable[bytes]]) -> None:
        self.blocks = blocks

    def __call__(self) -> Iterator[Record]:
        for block in self.blocks():
            for line in block.splitlines():
                if line:
                    yield loads(line)


class _AtomicFile:
    """A temporary file in the target's folder, renamed over the target on commit."""

    def __init__(self, target: Path, binary: bool = False) -> None:
        self.target = target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        except OSError as exc:
            raise OutputError(f"Cannot write to {target.parent}: {exc.strerror or exc}.") from None
        self.tmp = Path(tmp)
        os.chmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results follow the umask like other files
        self.handle = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")

    def __enter__(self) -> _AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.handle.flush()
                os.fsync(self.handle.fileno())
                self.handle.close()
                os.replace(self.tmp, self.target)
                return
            except OSError as error:
                exc_type, exc = type(error), error
        with contextlib.suppress(OSError):
            self.handle.close()
        self.tmp.unlink(missing_ok=True)
        if issubclass(exc_type, OSError):  # disk full, quota, file too large, I/O error
            raise OutputError(
                f"Cannot write {self.target}: {exc.strerror or exc}. The previous {self.target.name} is unchanged; "
                "free space (or fix the folder) and run the same command again: finished batches are kept."
            ) from None


def write_text_atomic(path: Path, text: str) -> None:
    """Write a side file (config, manifest, report) whole or not at all: a full disk never leaves half of one."""
    with _AtomicFile(path) as out:
        out.handle.write(text)


@functools.cache
def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, before any worker threads write files
    os.umask(mask)
    return mask


def check_writable(directory: Path) -> None:
    """Fail before any work if the output folder cannot be created or written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise OutputError(f"Cannot write to output folder {directory}: {exc.strerror or exc}.") from None


def remove_stale_temporaries(output: Path) -> None:
    """Delete temporary files a killed commit left beside the output (call while holding the run lock)."""
    for pattern in (f".{output.name}.*.partial", f".{output.stem}.quarantine.jsonl.*.partial",
                    f".{output.stem}.rejected.jsonl.*.partial"):
        for stale in output.parent.glob(pattern):
            stale.unlink(missing_ok=True)


def ordered_columns(rows: Iterable[Record]) -> list[str]:
    """Every column seen, core fields first, the rest in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return [c for c in CORE_COLUMNS if c in seen] + [c for c in seen if c not in CORE_COLUMNS]


def file_signature(path: Path) -> list[int] | None:
    """Size and modification time of a file (None if absent): changes whenever the file is replaced or edited."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def has_rows(sink: Sink) -> bool:
    return next(iter(sink.read_rows()), None) is not None


def then(first: RowsFactory, second: RowsFactory) -> RowsFactory:
    """The rows of ``first``, then those of ``second`` (kept as JSONL lines when ``second`` holds them so)."""
    if isinstance(second, JsonlRows):
        return JsonlRows(lambda: chain((dumps_bytes(r) + b"\n" for r in first()), second.blocks()))
    return lambda: chain(first(), second())


class JsonlSink:
    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def signature(self) -> list[int] | None:
        return file_signature(self.path)

    def read_rows(self) -> Iterator[Record]:
        if self.path.exists():
            with open(self.path, "rb") as fh:
                for line in fh:
                    if line.strip():
                        yield loads(line)

    def replace(self, rows: RowsFactory) -> None:
        with _AtomicFile(self.path, binary=True) as out:
            if isinstance(rows, JsonlRows):
                out.handle.writelines(rows.blocks())
            else:
                out.handle.writelines(dumps_bytes(r) + b"\n" for r in rows())

    def commit(self, mode: str, rows: RowsFactory, key: str, run_id: str) -> None:
        """Rewrite the file (atomically, see :meth:`replace`) with the rows ``mode`` asks for.

        A repeated commit of the same run (killed after the output was renamed but before the run
        was marked complete) is detected by ``run_id`` and skipped in append mode, where it would
        duplicate; overwrite and upsert give the same result when repeated.
        """
        if mode == "overwrite":
            self.replace(rows)
        elif mode == "append":
            if not any(r.get("run_id") == run_id for r in self.read_rows()):
                self.replace(then(self.read_rows, rows))
        else:
            new_keys = {str(r.get(key)) for r in rows()}
            self.replace(then(lambda: (r for r in self.read_rows() if str(r.get(key)) not in new_keys), rows))


class CsvSink(JsonlSink):
    """CSV with a header of every column seen; lists and dicts are written as JSON text."""

    def read_rows(self) -> Iterator[Record]:
        if self.path.exists():
            csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
            with open(self.path, encoding="utf-8", newline="") as fh:
                yield from csv.DictReader(fh)

    def replace(self, rows: RowsFactory) -> None:
        columns = ordered_columns(rows())
        with _AtomicFile(self.path) as out:
            writer = csv.DictWriter(out.handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows():
                writer.writerow({k: dumps(v) if isinstance(v, (list, dict)) else _finite(v) for k, v in row.items()})


class ParquetSink(JsonlSink):
    """Parquet with one schema unified over all rows; columns whose types conflict become JSON text."""

    chunk_rows = 2048

    def read_rows(self) -> Iterator[Record]:
        if self.path.exists():
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.chunk_rows):
                yield from batch.to_pylist()

    def _chunks(self, rows: RowsFactory) -> Iterator[list[Record]]:
        chunk: list[Record] = []
        for row in rows():
            chunk.append(row)
            if len(chunk) >= self.chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _schema(self, rows: RowsFactory, columns: list[str]):
        import pyarrow as pa

        types: dict[str, Any] = {}
        as_text: set[str] = set()
        for chunk in self._chunks(rows):
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
        as_text.update(c for c, typ in types.items() if not _parquet_writable(typ))
        fields = [(c, pa.string() if c in as_text else types.get(c, pa.null())) for c in columns]
        return pa.schema(fields), as_text

    def replace(self, rows: RowsFactory) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = ordered_columns(rows())
        schema, as_text = self._schema(rows, columns)
        with _AtomicFile(self.path, binary=True) as out, pq.ParquetWriter(out.handle, schema) as writer:
            for chunk in self._chunks(rows):
                data = {
                    c: [dumps(r[c]) if c in as_text and r.get(c) is not None else r.get(c) for r in chunk]
                    for c in columns
                }
                writer.write_table(pa.table(data, schema=schema))


def _parquet_writable(typ) -> bool:
    """Whether Parquet can store ``typ``: not an object without fields (``{}`` in every row), at any depth."""
    import pyarrow as pa

    if pa.types.is_struct(typ):
        return typ.num_fields > 0 and all(_parquet_writable(typ.field(i).type) for i in range(typ.num_fields))
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return _parquet_writable(typ.value_type)
    return True


class SqlSink:
    """A SQL table keyed by article (SQLAlchemy: SQLite, PostgreSQL, ...), written in one transaction.

    Schema: ``id`` (the article key, primary key), core fields as columns (``topic`` indexed),
    ``content_hash``, ``config_hash``, ``run_id``, ``created_at``/``updated_at`` and the whole row
    as JSON text in ``record``. Upserts use the dialect's ``INSERT ... ON CONFLICT DO UPDATE``
    (``created_at`` is kept); every value is a bound parameter. Timestamps are ISO 8601 UTC to the
    microsecond, so rows read back in the order of the commits that created them (then by key, within one
    commit) however close two commits are.
    """

    chunk_rows = 1000

    def __init__(self, url: str, table: str, key: str = "id") -> None:
        import sqlalchemy as sa

        self.url = url
        self.key = key
        try:
            self.engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            reason = first_line(exc)
            raise OutputError(redact(f"output.url {url!r} is not a usable SQLAlchemy URL: {reason}.")) from None
        self.table = sa.Table(
            table, sa.MetaData(),
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("title", sa.Text), sa.Column("topic", sa.Text, index=True), sa.Column("topic_score", sa.Float),
            sa.Column("summary", sa.Text), sa.Column("content_hash", sa.Text), sa.Column("config_hash", sa.Text),
            sa.Column("run_id", sa.Text), sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Text, nullable=False), sa.Column("record", sa.Text, nullable=False),
        )

    def _fail(self, exc: Exception) -> OutputError:
        return OutputError(redact(f"Cannot write table {self.table.name} at {self.engine.url!r}: {exc}".split("\n")[0]))

    def exists(self) -> bool:
        import sqlalchemy as sa

        try:
            return sa.inspect(self.engine).has_table(self.table.name)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None

    def signature(self) -> list[Any] | None:
        """Row count and latest ``updated_at`` of the table (every commit of rows moves one of them)."""
        import sqlalchemy as sa

        if not self.exists():
            return None
        try:
            with self.engine.connect() as conn:
                count, latest = conn.execute(
                    sa.select(sa.func.count(), sa.func.max(self.table.c.updated_at)).select_from(self.table)
                ).one()
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None
        return [count, latest]

    def check(self) -> None:
        """Connect and create the table if missing, before any work (fails fast on a bad server)."""
        import sqlalchemy as sa

        try:
            self.table.metadata.create_all(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None

    def read_rows(self) -> Iterator[Record]:
        import sqlalchemy as sa

        if not self.exists():
            return
        with self.engine.connect() as conn:
            query = sa.select(self.table.c.record).order_by(self.table.c.created_at, self.table.c.id)
            for (record,) in conn.execution_options(stream_results=True).execute(query):
                yield json.loads(record)

    def _insert(self):
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            raise OutputError(f"The SQL sink supports SQLite and PostgreSQL, not {dialect}.")
        statement = insert(self.table)
        updated = {c.name: statement.excluded[c.name] for c in self.table.columns if c.name not in ("id", "created_at")}
        return statement.on_conflict_do_update(index_elements=[self.table.c.id], set_=updated)

    def commit(self, mode: str, rows: RowsFactory, key: str = "id", run_id: str = "") -> None:
        """All of the run's rows in one transaction (a killed commit leaves the table as it was).

        Rows are keyed by the sink's own ``key`` (``output.key``) and inserted as upserts, so a
        repeated commit of the same run changes nothing; ``key`` and ``run_id`` are not needed here.
        """
        import sqlalchemy as sa

        now = datetime.now(UTC).isoformat(timespec="microseconds")
        statement = self._insert()
        try:
            with self.engine.begin() as conn:
                self.table.metadata.create_all(conn)
                if mode == "overwrite":
                    conn.execute(sa.delete(self.table))
                chunk: list[dict[str, Any]] = []
                for r in rows():
                    chunk.append({
                        "id": str(r.get(self.key)), "title": r.get("title"), "topic": r.get("topic"),
                        "topic_score": r.get("topic_score"), "summary": r.get("summary"),
                        "content_hash": r.get("content_hash"), "config_hash": r.get("config_hash"),
                        "run_id": r.get("run_id"), "created_at": now, "updated_at": now, "record": dumps(r),
                    })
                    if len(chunk) >= self.chunk_rows:
                        conn.execute(statement, chunk)
                        chunk = []
                if chunk:
                    conn.execute(statement, chunk)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None


def open_sink(config: OutputConfig) -> Sink:
    """The sink for the configured output (nothing is written until the run commits)."""
    if config.format != "sql" and config.path.is_dir():
        raise OutputError(
            f"output.path {config.path} is a directory; give a file name inside it, e.g. "
            f"{config.path / 'results.jsonl'}."
        )
    fmt = detect_output_format(config.path, config.format)
    check_writable(config.path.parent)
    if fmt in ("sqlite", "sql"):
        if config.mode == "append":
            raise OutputError(
                "output.mode=append cannot be used with a SQL table: it is keyed by article; "
                "use upsert (replace rows with the same key) or overwrite."
            )
        url = config.url if fmt == "sql" else f"sqlite:///{config.path}"
        if not url:
            raise OutputError("output.format=sql needs output.url (e.g. postgresql+psycopg://user@host/db).")
        sink = SqlSink(url, config.table, config.key)
        sink.check()
        return sink
    return {"jsonl": JsonlSink, "csv": CsvSink, "parquet": ParquetSink}[fmt](config.path)


def commit(sink: Sink, mode: str, new_rows: RowsFactory, key: str, run_id: str) -> None:
    """Write the run's rows into ``sink`` according to ``mode``; safe to repeat after a crash (see Sink.commit)."""
    sink.commit(mode, new_rows, key, run_id)


def with_previous_fields(sink: Sink, key: str, refreshed: RowsFactory, fields: Iterable[str]) -> RowsFactory:
    """Refreshed rows completed with ``fields`` (topic, summary, ...) of the existing rows with their keys.

    One pass over the existing output keeps only those fields of only those keys, so memory grows
    with the number of refreshed rows, not with the output.
    """
    fields = tuple(fields)
    wanted = {str(r.get(key)) for r in refreshed()}
    previous: dict[str, dict[str, Any]] = {}
    if wanted:
        for row in sink.read_rows():
            rkey = str(row.get(key))
            if rkey in wanted:
                previous[rkey] = {f: row[f] for f in fields if f in row}
    missing = wanted - previous.keys()
    if missing:
        raise OutputError(
            f"{len(missing)} rows to refresh (e.g. {key} {sorted(missing)[0]!r}) are no longer in the output: it "
            "changed during the run. Run again with runner.resume: false to compute them."
        )
    return lambda: ({**row, **previous[str(row.get(key))]} for row in refreshed())


def commit_quarantine(path: Path, mode: str, entries: RowsFactory, run_id: str) -> None:
    """The quarantine file: this run's entries (overwrite) or all runs' entries (append, upsert)."""
    sink = JsonlSink(path)
    if mode == "overwrite":
        sink.replace(entries)
    elif not any(r.get("run_id") == run_id for r in sink.read_rows()):
        sink.replace(then(sink.read_rows, entries))
