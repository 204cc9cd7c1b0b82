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
cannot write (a key that is not a string, an integer beyond 64 bits, a lone surrogate) falls back to
the standard library, so every row is written, and as the same JSON value. JSON inside CSV cells, Parquet
columns and SQL records keeps Python's layout (:func:`dumps`). A run's rows arrive as :class:`JsonlRows`:
lines already in the output's form, which a JSONL sink copies as they are.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import re
import secrets
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from pipeline.config import OutputConfig
from pipeline.errors import ConfigError, OutputError, first_line
from pipeline.io.records import Record
from pipeline.redact import mask_url, redact, register_url

log = logging.getLogger(__name__)

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

def detect_output_format(path: Path, declared: str = "auto") -> str:
    """The output format ``declared``, or the one ``path``'s suffix names: a config error (exit 2, before any work)
    when it names none (no suffix, a folder such as ``/`` or ``.``, a compressed ``.jsonl.gz``)."""
    if declared != "auto":
        return declared
    fmt = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"output.path {str(path)!r} does not say which format to write: give it one of the suffixes "
            f"{', '.join(sorted(FORMATS_BY_SUFFIX))}, or set output.format (jsonl, csv, parquet, sqlite, sql)."
        )
    return fmt


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
    """``row`` as JSON text that UTF-8 can always encode: a lone surrogate (half of a UTF-16 pair, which JSON input
    may hold as ``\\ud800``) is written as that escape again, and reads back as the same string."""
    try:
        text = json.dumps(row, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        row = _finite(row)
        text = json.dumps(row, ensure_ascii=False, default=str, allow_nan=False)
    if not text.isascii() and not_utf8(text):
        text = json.dumps(row, ensure_ascii=True, default=str, allow_nan=False)
    return text


def not_utf8(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate, which no UTF-8 file, Arrow string or database text can hold."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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
    except (TypeError, orjson.JSONEncodeError):  # a non-string key, an integer beyond 64 bits, a lone surrogate
        return _stdlib_dumps(row).encode("utf-8")


def dumps(row: Any) -> str:
    """A value as strict JSON text in Python's layout (``", "`` and ``": "``): the JSON held inside
    CSV cells, Parquet columns and SQL records, which people read and compare as text."""
    return _stdlib_dumps(row)


# 19 digits in a row: maybe an integer beyond 64 bits, which orjson would read as a float (losing digits).
_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def loads(line: bytes | str) -> Any:
    """One JSON value (a line of a JSONL file); what orjson refuses but Python's json reads (``NaN``, a lone
    surrogate's escape) is read as Python reads it, and so is a line with an integer beyond 64 bits, which orjson
    would read as a float."""
    if (_LONG_DIGITS_BYTES if isinstance(line, bytes) else _LONG_DIGITS).search(line) is None:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    return json.loads(line)


class JsonlRows:
    """A run's rows held as JSONL lines (the run state's part files), callable as a rows factory.

    ``blocks()`` yields bytes of whole lines, each line one row exactly as a JSONL sink writes it,
    so that sink copies them without parsing; calling the object parses them for every other sink.
    """

    def __init__(self, blocks: Callable[[], Iterable[bytes]]) -> None:
        self.blocks = blocks

    def __call__(self) -> Iterator[Record]:
        for row, _ in self.sized():
            yield row

    def sized(self) -> Iterator[tuple[Record, int]]:
        """Each row with the length of its JSON line (what sizes a batch of rows, for free)."""
        for block in self.blocks():
            for line in block.splitlines():
                if line:
                    yield loads(line), len(line)


# -- what each sink can store --------------------------------------------------------------------

# Parquet: fields written as columns of their own (the pipeline's fields and the key); every other field is kept
# in EXTRA_FIELDS, one JSON object per row, so that a row's cost follows its size, not the number of field names
# all rows have together.
PARQUET_COLUMNS = (*CORE_COLUMNS, "content_hash", "input_hash", "config_hash", "run_id", "diacritics", "duplicate_of",
                   "duplicate_similarity")
EXTRA_FIELDS = "extra_fields"
# SQL tables: the text columns beside ``id`` (the key) and ``record`` (the whole row as JSON).
SQL_TEXT_COLUMNS = ("title", "topic", "summary", "content_hash", "config_hash", "run_id")
# PostgreSQL's btree index holds entries of at most 2,704 bytes: a text of at most 2,692 bytes (8 bytes of entry
# header, 4 of length) whatever it holds. A longer key or topic (both indexed) is refused up front, even one that
# PostgreSQL might compress below the limit, so whether a row is stored never depends on how its key compresses.
PG_INDEX_TEXT_BYTES = 2692


def _strings(value: Any) -> Iterator[str]:
    """Every text inside ``value``: itself, list items, mapping keys and values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _named(name: Any) -> str:
    """A field name as a reason shows it: quoted, escaped, at most 40 characters."""
    text = repr(str(name))
    return text if len(text) <= 42 else text[:40] + "...'"


_SURROGATE = "a lone surrogate (half of a UTF-16 pair, as JSON input may hold: \\ud800), which UTF-8 text cannot hold"


def _csv_problem(row: Record) -> str | None:
    for name, value in row.items():
        if isinstance(name, str) and not_utf8(name):
            return f"cannot be written to CSV: the name of field {_named(name)} holds {_SURROGATE}"
        if isinstance(value, str) and not_utf8(value):
            return f"cannot be written to CSV: field {_named(name)} holds {_SURROGATE}"
    return None


def _parquet_problem(row: Record, key: str) -> str | None:
    for name in dict.fromkeys((*PARQUET_COLUMNS, key)):
        if name in row and any(not_utf8(text) for text in _strings(row[name])):
            return f"cannot be written to Parquet: field {_named(name)} holds {_SURROGATE}"
    return None


def sql_text(value: Any) -> str | None:
    """What a SQL text column holds for a field: its text, JSON text for any other value, NULL for None."""
    return value if value is None or isinstance(value, str) else dumps(value)


def _sql_problem(row: Record, key: str, postgres: bool) -> str | None:
    where = "PostgreSQL" if postgres else "SQLite"
    columns = {key: str(row.get(key)), **{c: sql_text(row.get(c)) for c in SQL_TEXT_COLUMNS}}
    for name, text in columns.items():
        if text is None:
            continue
        field = f"the key ({key} field)" if name == key else f"field {_named(name)}"
        if not_utf8(text):
            return f"cannot be stored in {where}: {field} holds {_SURROGATE}"
        if postgres and "\x00" in text:
            return (f"cannot be stored in PostgreSQL: {field} holds a NUL character (\\x00), which PostgreSQL text "
                    "cannot hold")
        if postgres and name in (key, "topic") and len(text.encode("utf-8")) > PG_INDEX_TEXT_BYTES:
            return (f"cannot be stored in PostgreSQL: {field} is {len(text.encode('utf-8')):,} bytes long, beyond the "
                    f"{PG_INDEX_TEXT_BYTES:,} bytes an index entry holds")
    score = row.get("topic_score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            return f"cannot be stored in {where}: field 'topic_score' holds {type(score).__name__}, not a number"
        try:
            float(score)
        except OverflowError:
            return f"cannot be stored in {where}: field 'topic_score' is an integer beyond a 64-bit float's range"
    return None


def row_check(config: OutputConfig) -> Callable[[Record], str | None] | None:
    """Why the configured output cannot store a row (None when it can), to quarantine that row before the commit;
    None when every row can be stored (JSONL) or the format is unknown (opening the output says so).

    CSV, Parquet and SQL text cannot hold a lone surrogate in the text they store natively (JSON text escapes it);
    PostgreSQL text cannot hold NUL, and its indexes no key or topic beyond :data:`PG_INDEX_TEXT_BYTES`; a SQL
    table's ``topic_score`` column holds numbers of a 64-bit float's range only.
    """
    try:
        fmt = detect_output_format(config.path, config.format)
    except ConfigError:  # (opening the output says so)
        return None
    key = config.key
    if fmt == "csv":
        return _csv_problem
    if fmt == "parquet":
        return lambda row: _parquet_problem(row, key)
    if fmt in ("sqlite", "sql"):
        postgres = fmt == "sql" and not (config.url or "").lower().startswith("sqlite")
        return lambda row: _sql_problem(row, key, postgres)
    return None


class DamagedOutput(OutputError):
    """An existing output (or quarantine file) whose rows cannot all be read: exit 5, saying what to do."""


# A temporary file: ``.<target name>.<8 characters>.partial`` beside its target (see :func:`is_temporary_of`).
TEMPORARY_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.partial")


def is_temporary_of(name: str, target: str) -> bool:
    """Whether ``name`` is a temporary file written for ``target`` (names compared, never matched as a pattern)."""
    found = TEMPORARY_NAME.fullmatch(name)
    return found is not None and found["target"] == target


def file_kind(mode: int) -> str:
    """What a file is, in words (from ``st_mode``)."""
    for test, kind in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return "special file"


def write_target(path: Path, follow_link: bool, role: str | None = None) -> Path:
    """The regular file a write to ``path`` replaces: ``path`` itself (it may not exist yet) or, with
    ``follow_link``, the existing file a symbolic link at ``path`` points to.

    Refused (:class:`OutputError`): a FIFO, socket, device or folder, which a rename would replace by a
    regular file; a link when ``follow_link`` is False (side files: a link planted beside an output must
    never make a run overwrite what it points to); a link to nothing or to anything but a regular file.
    ``role`` names ``path`` in the message (default ``output.path`` or ``The side file``).
    """
    role = role or ("output.path" if follow_link else "The side file")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise OutputError(f"{role} {path} cannot be used: {exc.strerror or exc}.") from None
    shown = f"{role} {path}"
    if stat.S_ISLNK(mode):
        if not follow_link:
            raise OutputError(
                f"{shown} is a symbolic link (to {os.readlink(path)}): vnnews never writes a side file through a "
                "link, so that a link planted beside an output cannot make a run overwrite the file it points to. "
                f"Remove the link; the run writes a new {path.name}."
            )
        target = Path(os.path.realpath(path))
        try:
            mode = os.stat(target).st_mode
        except OSError:
            raise OutputError(
                f"{shown} is a symbolic link to {target}, which does not exist: vnnews writes through a link only to "
                f"an existing file. Create {target}, or set output.path to the file the results should go to."
            ) from None
        shown, path = f"{shown} is a symbolic link to {target}, which", target
    if stat.S_ISREG(mode):
        return path
    kind = file_kind(mode)
    if kind == "folder":
        raise OutputError(f"{shown} is a directory: give a file name inside it, e.g. {path / 'results.jsonl'}.")
    if role == "output.path":
        raise OutputError(
            f"{shown} is a {kind}, not a regular file: vnnews replaces its output as a whole (a new file renamed "
            f"over the old one), which would put a regular file where the {kind} was. Give output.path a regular "
            "file (to keep only the quarantine and the manifest, delete the results after the run)."
        )
    raise OutputError(
        f"{shown} is a {kind}, not a regular file: the run would replace it with a regular file. Remove it, or give "
        "output.path another name."
    )


def current_umask() -> int:
    """The process umask, read without changing it (Linux), else by setting it back at once."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _open_new(path: Path, like: Path) -> int:
    """Create ``path`` (never following a link, failing if it exists) with the permissions and owner of the
    file ``like`` (of a new file: 0666); the umask applies."""
    mode, owner = 0o666, None
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(like)
        mode, owner = stat.S_IMODE(st.st_mode) & 0o777, (st.st_uid, st.st_gid)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    if owner is not None:
        with contextlib.suppress(OSError):  # (only root may give a file away; a group of one's own is fine)
            os.fchown(fd, *owner)
    return fd


def _create_temporary(target: Path) -> tuple[int, Path]:
    """Create ``.<target name>.<8 random characters>.partial`` beside ``target``, as :func:`_open_new` does."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
        try:
            return _open_new(tmp, target), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


class _AtomicFile:
    """A temporary file in the target's folder, renamed over the target on commit.

    ``follow_link`` (outputs): an output given as a symbolic link is written through it, replacing the
    file it points to in that file's folder; side files are never written through a link (see
    :func:`write_target`). The new file keeps the replaced file's permissions and owner.
    """

    def __init__(self, target: Path, binary: bool = False, follow_link: bool = False) -> None:
        self.follow_link = follow_link
        self.target = write_target(target, follow_link)
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            fd, self.tmp = _create_temporary(self.target)
        except OSError as exc:
            raise OutputError(f"Cannot write to {self.target.parent}: {exc.strerror or exc}.") from None
        try:
            self.handle = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
        except BaseException:  # (a signal right here: the temporary file goes)
            os.close(fd)
            self.tmp.unlink(missing_ok=True)
            raise

    def __enter__(self) -> _AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.handle.flush()
                os.fsync(self.handle.fileno())
                self.handle.close()
                write_target(self.target, self.follow_link)  # (a FIFO or link put there meanwhile is not replaced)
                os.replace(self.tmp, self.target)
                return
            except OSError as error:
                exc_type, exc = type(error), error
            except BaseException:  # OutputError, or a signal while the file is flushed: no temporary file is left
                with contextlib.suppress(OSError):
                    self.handle.close()
                self.tmp.unlink(missing_ok=True)
                raise
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


def check_writable(directory: Path) -> None:
    """Fail before any work if the output folder cannot be created or written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise OutputError(f"Cannot write to output folder {directory}: {exc.strerror or exc}.") from None


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
    """Whether the output holds rows (a damaged one does, if unreadable ones)."""
    try:
        return next(iter(sink.read_rows()), None) is not None
    except DamagedOutput:
        return True


def then(first: RowsFactory, second: RowsFactory) -> RowsFactory:
    """The rows of ``first``, then those of ``second`` (kept as JSONL lines when ``second`` holds them so)."""
    if isinstance(second, JsonlRows):
        return JsonlRows(lambda: chain((dumps_bytes(r) + b"\n" for r in first()), second.blocks()))
    return lambda: chain(first(), second())


# What the bytes of an existing output look like (see sniff_format), in words.
FORMAT_WORDS = {"jsonl": "JSON lines", "csv": "CSV text", "parquet": "Parquet data", "sqlite": "a SQLite database",
                "": "nothing but blank space", None: "bytes of none of vnnews' output formats"}


def sniff_format(path: Path) -> str | None:
    """The output format the first bytes of ``path`` look like: 'jsonl', 'csv', 'parquet' or 'sqlite'; '' for a
    missing, empty or blank file; None for anything else (binary data)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        return ""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    text = head.split(b"\x00", 1)[0]  # (NUL bytes after some text: an end zeroed by a crash, see JsonlSink._cut)
    stripped = text.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not stripped:
        return None if b"\x00" in head else ""
    if stripped.startswith(b"{"):
        return "jsonl"
    first, newline, _ = text.partition(b"\n")
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:
        if newline or len(head) < 4096 or exc.start < len(first) - 3:  # (a character cut by the 4 KiB window is fine)
            return None
    return "csv"


def _last_line_start(fh, size: int) -> int:
    """The offset just after the last ``\\n`` of an open binary file (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - (1 << 16))
        fh.seek(start)
        found = fh.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _set_aside(target: Path, offset: int, role: str) -> Path:
    """Move the bytes of ``target`` from ``offset`` on to a new ``<stem>.damaged-<UTC time><suffix>`` beside
    it (fsynced, with the target's permissions), then cut ``target`` there; returns the new file."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with open(target, "rb") as fh:
        fh.seek(offset)
        tail = fh.read()
    for n in range(100):
        aside = target.with_name(f"{target.stem}.damaged-{stamp}{f'-{n}' if n else ''}{target.suffix}")
        try:
            fd = _open_new(aside, target)
            break
        except FileExistsError:
            continue
    else:
        raise OutputError(f"Cannot set the damaged end of {target} aside: no free name beside it.")
    with os.fdopen(fd, "wb") as out:
        out.write(tail)
        out.flush()
        os.fsync(out.fileno())
    with open(target, "r+b") as fh:
        fh.truncate(offset)
        fh.flush()
        os.fsync(fh.fileno())
    log.warning(
        "%s %s ended in a row cut short (%s bytes from byte %s on, as a full disk or an interrupted copy leaves "
        "it): those bytes were moved to %s and the whole rows before them are kept.",
        role, target, f"{len(tail):,}", f"{offset:,}", aside,
    )
    return aside


class JsonlSink:
    """A JSONL file, one row per line (see :class:`_AtomicFile` for how it is replaced).

    ``follow_link``: an output given as a symbolic link is written through it; the quarantine file (a
    side file, ``follow_link=False``) never is. ``role`` names the file in messages.
    """

    format = "jsonl"

    def __init__(self, path: Path, follow_link: bool = True, role: str = "The output") -> None:
        self.path = path
        self.follow_link = follow_link
        self.role = role

    def exists(self) -> bool:
        return self.path.exists()

    def signature(self) -> list[int] | None:
        return file_signature(self.path)

    def _damaged(self, detail: str) -> DamagedOutput:
        return DamagedOutput(
            f"{self.role} {self.path} cannot be read: {detail}. It was damaged or edited since vnnews wrote it, and "
            "a run that keeps its rows (output.mode append or upsert) cannot go on without them, so nothing was "
            f"written. Restore it from a backup, mend that part by hand, or move it aside (mv {self.path} "
            f"{self.path}.damaged) to start a new one."
        )

    def read_rows(self) -> Iterator[Record]:
        if self.path.exists():
            with open(self.path, "rb") as fh:
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            row = loads(line)
                        except (ValueError, RecursionError) as exc:
                            raise self._damaged(f"line {number:,} is not JSON ({first_line(exc)})") from None
                        if not isinstance(row, dict):
                            raise self._damaged(f"line {number:,} is not a JSON object")
                        yield row

    def check_existing(self, mode: str) -> None:
        """Before a run that keeps the existing rows (append, upsert): refuse a file in another format, and set
        a last row cut short (a full disk, an interrupted copy) aside into ``<stem>.damaged-<time><suffix>``,
        keeping every whole row. Nothing to do for overwrite, which replaces the file whatever it holds."""
        target = write_target(self.path, self.follow_link, self.role)
        if mode == "overwrite":
            return
        found = sniff_format(target)
        if found == "":
            return
        if found != self.format:
            fix = (f"Set output.format: {found} to go on with it, give" if found and self.role == "The output"
                   else "Give")
            raise OutputError(
                f"{self.role} {self.path} holds {FORMAT_WORDS[found]}, not {FORMAT_WORDS[self.format]}: output.mode "
                f"{mode} keeps the rows it holds, and they cannot be read as {self.format}. {fix} output.path a new "
                f"name, or move {self.path} aside (mv {self.path} {self.path}.old)."
            )
        cut = self._cut(target)
        if cut is not None:
            _set_aside(target, cut, self.role)

    def _cut(self, path: Path) -> int | None:
        """Where a last line cut short begins (None when the file ends with a whole row): a JSONL sink ends
        every row with a line end, and a last line without one is whole only when it reads as a JSON object."""
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return None
            start = _last_line_start(fh, size)
            fh.seek(start)
            tail = fh.read()
        if not tail.strip():
            return None
        with contextlib.suppress(ValueError, RecursionError):
            if isinstance(loads(tail), dict):
                return None
        return start

    def replace(self, rows: RowsFactory) -> None:
        with _AtomicFile(self.path, binary=True, follow_link=self.follow_link) as out:
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


# What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list, with line feed and NUL, and the
# full-width forms some spreadsheets read as the same signs), as its first character after any spaces.
FORMULA_SIGNS = frozenset("=+-@\t\r\n\x00\uff1d\uff0b\uff0d\uff20")
# A plain number ("-5", "+1.5e3"): a spreadsheet reads it as a number, never as a formula, so it is left as it is.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def is_formula(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` (a cell, leading single quotes aside) as a formula."""
    text = text.lstrip("'")
    if not text or _NUMBER.fullmatch(text):
        return False
    return text[0] in FORMULA_SIGNS or text.lstrip()[:1] in FORMULA_SIGNS


def escape_formula(text: str) -> str:
    """A cell a spreadsheet shows as text: one behind a single quote when it would be a formula (or begins with
    single quotes before one, so that :func:`unescape_formula` tells them apart), else ``text`` unchanged."""
    return "'" + text if is_formula(text) else text


def unescape_formula(cell: str) -> str:
    """The text :func:`escape_formula` was given (the one quote it added taken off)."""
    return cell[1:] if cell[:1] == "'" and is_formula(cell) else cell


def csv_cell(value: Any) -> str:
    """A field as CSV text: lists and mappings as JSON, None, NaN and infinities as an empty cell."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, (list, tuple, dict)):
        return dumps(value)
    return str(value)


class CsvSink(JsonlSink):
    """CSV with a header of every column seen; lists and dicts are written as JSON text.

    ``formulas`` (``output.csv_formulas``): ``escape`` quotes every cell and writes a cell that a spreadsheet would
    run as a formula (:func:`is_formula`, the header too) behind a single quote, which reading the file back takes
    off again; ``keep`` writes every cell as it is.
    """

    format = "csv"

    def __init__(self, path: Path, follow_link: bool = True, role: str = "The output",
                 formulas: str = "escape") -> None:
        super().__init__(path, follow_link, role)
        self.formulas = formulas

    def read_rows(self) -> Iterator[Record]:
        if not self.path.exists():
            return
        csv.field_size_limit(sys.maxsize)  # cells of any length (a C long holds it on POSIX systems)
        text = unescape_formula if self.formulas == "escape" else str
        with open(self.path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            try:
                header = [text(name) for name in next((record for record in reader if record), None) or ()]
                for record in reader:
                    if not record:
                        continue
                    if len(record) != len(header):
                        raise self._damaged(f"the record that ends on line {reader.line_num:,} has {len(record)} "
                                            f"fields, the header {len(header)}")
                    yield dict(zip(header, map(text, record), strict=True))
            except csv.Error as exc:
                raise self._damaged(f"line {reader.line_num:,}: {first_line(exc)}") from None
            except UnicodeDecodeError as exc:
                raise self._damaged(f"it is not UTF-8 text ({exc.reason}) after line {reader.line_num:,}") from None

    def _cut(self, path: Path) -> int | None:
        """Where a last record cut short begins (None when the file ends with a whole record): the CSV sink ends
        every record with ``\\r\\n``; a last record without a line end, or with fewer fields than the header, is
        cut (a NUL-filled end, as a crash can leave, too)."""
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 2))
            end = fh.read()
            if end == b"\r\n":
                return None
            fh.seek(0)
            consumed = 0

            def lines() -> Iterator[str]:
                nonlocal consumed
                for raw in fh:
                    consumed += len(raw)
                    yield raw.decode("utf-8", "replace")  # (damage inside the file is read_rows' to report)

            csv.field_size_limit(sys.maxsize)  # cells of any length (a C long holds it on POSIX systems)
            reader = csv.reader(lines())
            header, last, last_start = None, None, 0
            while True:
                start = consumed
                try:
                    record = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    return start if consumed >= size else None
                if not record:
                    continue
                if header is None:
                    header, last, last_start = record, None, start
                else:
                    last, last_start = record, start
        whole = end.endswith((b"\n", b"\r")) and (last is None or len(last) == len(header or ()))
        return None if whole or header is None else last_start

    def replace(self, rows: RowsFactory) -> None:
        columns = ordered_columns(rows())
        escape = self.formulas == "escape"
        text = escape_formula if escape else str
        with _AtomicFile(self.path, follow_link=self.follow_link) as out:
            writer = csv.writer(out.handle, quoting=csv.QUOTE_ALL if escape else csv.QUOTE_MINIMAL)
            writer.writerow([text(str(name)) for name in columns])
            for row in rows():
                writer.writerow([text(csv_cell(row.get(name))) for name in columns])


def approx_bytes(value: Any) -> int:
    """About how many bytes ``value`` takes as JSON text (a text: its length and quotes; a number: a few digits; a
    mapping or list: a separator per item besides the items): what batches of rows are sized by, so that a batch of
    wide rows holds fewer of them. (As Python objects a row takes about four times as much.)"""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return sum(approx_bytes(k) + approx_bytes(v) + 2 for k, v in value.items()) + 2
    if isinstance(value, (list, tuple)):
        return sum(approx_bytes(v) + 1 for v in value) + 2
    return 8


def sized_rows(rows: RowsFactory) -> Iterator[tuple[Record, int]]:
    """The rows with their size as JSON text: measured on the lines of a run's parts, estimated otherwise."""
    if isinstance(rows, JsonlRows):
        return rows.sized()
    return ((row, approx_bytes(row)) for row in rows())


def batched(rows: Iterable[tuple[Record, int]], max_rows: int, max_bytes: int) -> Iterator[list[Record]]:
    """Rows given with their sizes, in lists of at most ``max_rows`` rows and about ``max_bytes`` (a wider row
    alone)."""
    chunk: list[Record] = []
    size = 0
    for row, nbytes in rows:
        chunk.append(row)
        size += nbytes
        if len(chunk) >= max_rows or size >= max_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


class ParquetSink(JsonlSink):
    """Parquet: the pipeline's fields and the key (:data:`PARQUET_COLUMNS`) as typed columns, every other field
    in one JSON object per row (column :data:`EXTRA_FIELDS`), so memory follows the widest row, never the number
    of field names all rows have together. A typed column whose types conflict between rows (a number here, text
    there) holds JSON text; the schema's ``vnnews`` metadata names those columns and :meth:`read_rows` gives the
    rows back as they were written. Row groups hold at most ``chunk_rows`` rows and about ``chunk_bytes``
    of JSON text (as Python objects, about four times as much, while a group is built).

    A Parquet file cut short has lost its footer, without which no row can be read: it is refused
    (:meth:`check_existing`), never set aside row by row as JSONL and CSV are.
    """

    format = "parquet"
    chunk_rows = 2048
    chunk_bytes = 4 << 20

    def __init__(self, path: Path, follow_link: bool = True, role: str = "The output", key: str = "id") -> None:
        super().__init__(path, follow_link, role)
        self.key = key

    def read_rows(self) -> Iterator[Record]:
        if not self.path.exists() or not self.path.stat().st_size:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(self.path)
            layout = json.loads((file.schema_arrow.metadata or {}).get(b"vnnews", b"{}"))
            as_json, extra = layout.get("json_columns", []), layout.get("extra_fields")
            for batch in file.iter_batches(batch_size=self.chunk_rows):
                for row in batch.to_pylist():
                    for name in as_json:
                        if row.get(name) is not None:
                            row[name] = loads(row[name])
                    if extra is not None:
                        fields = row.pop(extra, None)
                        if fields is not None:
                            row.update(loads(fields))
                    yield row
        except (pa.ArrowException, OSError) as exc:
            raise self._damaged(f"it is not a whole Parquet file ({first_line(exc)})") from None
        except (ValueError, RecursionError) as exc:
            raise self._damaged(f"a JSON column is not JSON ({first_line(exc)})") from None

    def _cut(self, path: Path) -> int | None:
        """Nothing to set aside: a file whose footer cannot be read is refused as damaged."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pq.ParquetFile(path).close()
        except (pa.ArrowException, OSError) as exc:
            raise self._damaged(f"it is not a whole Parquet file ({first_line(exc)}); a Parquet file cut short "
                                "has lost the footer that locates its rows") from None
        return None

    def _chunks(self, rows: RowsFactory) -> Iterator[list[Record]]:
        return batched(sized_rows(rows), self.chunk_rows, self.chunk_bytes)

    def _schema(self, rows: RowsFactory):
        """The file's schema and the typed columns that hold JSON text: the typed columns the rows have (in
        :data:`PARQUET_COLUMNS` order, the key after them), each of the type its values share, and
        :data:`EXTRA_FIELDS` when any row has another field."""
        import pyarrow as pa

        typed = dict.fromkeys((*PARQUET_COLUMNS, self.key))
        types: dict[str, Any] = {}
        as_text: set[str] = set()
        extra = False
        for chunk in self._chunks(rows):
            names = set().union(*chunk)
            extra = extra or not names <= typed.keys()
            for col in typed:
                if col not in names or col in as_text:
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
        shaped = [c for c, typ in types.items() if c not in as_text and _has_struct(typ)]
        if shaped:  # (a struct has the fields of every row's mapping: one with fewer would read back with more)
            for chunk in self._chunks(rows):
                as_text.update(c for c in shaped if not all(_fits(r.get(c), types[c]) for r in chunk))
        columns = [c for c in typed if c in types or c in as_text]
        fields = [(c, pa.string() if c in as_text else types.get(c, pa.null())) for c in columns]
        if extra:
            fields.append((EXTRA_FIELDS, pa.string()))
        layout = {"json_columns": sorted(as_text), "extra_fields": EXTRA_FIELDS if extra else None}
        return pa.schema(fields, metadata={"vnnews": json.dumps(layout)}), as_text, columns, extra

    def replace(self, rows: RowsFactory) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema, as_text, columns, extra = self._schema(rows)
        typed = set(columns)
        with (_AtomicFile(self.path, binary=True, follow_link=self.follow_link) as out,
              pq.ParquetWriter(out.handle, schema) as writer):
            for chunk in self._chunks(rows):
                data = {
                    c: [dumps(r[c]) if c in as_text and r.get(c) is not None else r.get(c) for r in chunk]
                    for c in columns
                }
                if extra:
                    data[EXTRA_FIELDS] = [
                        dumps(others) if (others := {k: v for k, v in r.items() if k not in typed}) else None
                        for r in chunk
                    ]
                writer.write_table(pa.table(data, schema=schema))


def _has_struct(typ) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(typ):
        return True
    return (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and _has_struct(typ.value_type)


def _fits(value: Any, typ) -> bool:
    """Whether ``value`` reads back from a column of type ``typ`` as itself: each mapping in it has exactly the
    fields of its struct (Arrow gives a missing field back as None)."""
    import pyarrow as pa

    if value is None:
        return True
    if pa.types.is_struct(typ):
        names = [typ.field(i).name for i in range(typ.num_fields)]
        return isinstance(value, dict) and len(value) == len(names) and all(
            name in value and _fits(value[name], typ.field(name).type) for name in names)
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return isinstance(value, (list, tuple)) and all(_fits(item, typ.value_type) for item in value)
    return True


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
    chunk_bytes = 16 << 20

    def __init__(self, url: str, table: str, key: str = "id", file: Path | None = None) -> None:
        import sqlalchemy as sa

        register_url(url)
        self.url = url
        self.key = key
        self.file = file  # the SQLite database file (None on a server)
        try:
            self.engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError, ValueError, TypeError) as exc:
            reason = first_line(exc)
            raise OutputError(redact(f"output.url {mask_url(url)} is not a usable SQLAlchemy URL: {reason}.")) from None
        self.table = sa.Table(
            table, sa.MetaData(),
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("title", sa.Text), sa.Column("topic", sa.Text, index=True), sa.Column("topic_score", sa.Float),
            sa.Column("summary", sa.Text), sa.Column("content_hash", sa.Text), sa.Column("config_hash", sa.Text),
            sa.Column("run_id", sa.Text), sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Text, nullable=False), sa.Column("record", sa.Text, nullable=False),
        )

    def _fail(self, exc: Exception, doing: str = "write") -> OutputError:
        import sqlalchemy as sa

        message = f"Cannot {doing} table {self.table.name} at {mask_url(self.url)}: {first_line(exc)}"
        if self.file is not None and isinstance(exc, sa.exc.DatabaseError) and any(
                sign in str(exc) for sign in ("malformed", "not a database")):
            return DamagedOutput(redact(
                f"{message}. The database file is damaged (cut short or overwritten), so nothing was written: restore "
                f"it from a backup, or recover what it holds (sqlite3 {self.file} .recover | sqlite3 "
                f"{self.file.with_suffix('.recovered' + self.file.suffix)}) and set output.path to the recovered file."
            ))
        return OutputError(redact(message + "."))

    def check_existing(self, mode: str) -> None:
        """Refuse (whatever the mode) a file at the SQLite output's path that is not a SQLite database: the
        table would be written into it."""
        if self.file is None:
            return
        found = sniff_format(self.file)
        if found == "sqlite" or not self.file.exists() or not self.file.stat().st_size:
            return
        fix = f"Set output.format: {found} to go on with it, give" if found else "Give"
        raise OutputError(
            f"output.path {self.file} holds {FORMAT_WORDS[found]}, not a SQLite database: vnnews writes its table "
            f"into that file and does not replace another. {fix} output.path a new name, or move {self.file} aside "
            f"(mv {self.file} {self.file}.old)."
        )

    def _narrow_mode(self) -> None:
        """A SQLite file written in place gets no wider permissions than the umask allows now (see
        :func:`pipeline.io.paths.input_modes`): rows from a private input never land in a readable database."""
        if self.file is None:
            return
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(self.file).st_mode)
            if mode & current_umask():
                os.chmod(self.file, mode & ~current_umask())

    def exists(self) -> bool:
        import sqlalchemy as sa

        try:
            return sa.inspect(self.engine).has_table(self.table.name)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "read") from None

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
            raise self._fail(exc, "read") from None
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
        try:
            with self.engine.connect() as conn:
                query = sa.select(self.table.c.record).order_by(self.table.c.created_at, self.table.c.id)
                for (record,) in conn.execution_options(stream_results=True).execute(query):
                    yield json.loads(record)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "read") from None
        except (ValueError, RecursionError) as exc:
            raise DamagedOutput(
                f"Cannot read table {self.table.name} at {mask_url(self.url)}: a record is not JSON "
                f"({first_line(exc)}); it was edited since vnnews wrote it. Mend or delete that row."
            ) from None

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
        self._narrow_mode()
        try:
            with self.engine.begin() as conn:
                self.table.metadata.create_all(conn)
                if mode == "overwrite":
                    conn.execute(sa.delete(self.table))
                chunk: list[dict[str, Any]] = []
                size = 0
                for r in rows():
                    record = dumps(r)
                    score = r.get("topic_score")
                    chunk.append({
                        "id": str(r.get(self.key)), **{c: sql_text(r.get(c)) for c in SQL_TEXT_COLUMNS},
                        "topic_score": None if score is None else float(score),
                        "created_at": now, "updated_at": now, "record": record,
                    })
                    size += len(record)
                    if len(chunk) >= self.chunk_rows or size >= self.chunk_bytes:
                        conn.execute(statement, chunk)
                        chunk, size = [], 0
                if chunk:
                    conn.execute(statement, chunk)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None


def open_sink(config: OutputConfig) -> Sink:
    """The sink for the configured output, its existing file checked (nothing is written until the run commits,
    but a last row cut short is set aside first, see :meth:`JsonlSink.check_existing`)."""
    if config.format != "sql" and config.path.is_dir():
        raise OutputError(
            f"output.path {config.path} is a directory; give a file name inside it, e.g. "
            f"{config.path / 'results.jsonl'}."
        )
    fmt = detect_output_format(config.path, config.format)
    check_writable(config.path.parent)
    if fmt != "sql":
        check_writable(write_target(config.path, follow_link=True, role="output.path").parent)
    if fmt in ("sqlite", "sql"):
        if config.mode == "append":
            raise OutputError(
                "output.mode=append cannot be used with a SQL table: it is keyed by article; "
                "use upsert (replace rows with the same key) or overwrite."
            )
        url = config.url if fmt == "sql" else f"sqlite:///{config.path}"
        if not url:
            raise OutputError("output.format=sql needs output.url (e.g. postgresql+psycopg://user@host/db).")
        sink = SqlSink(url, config.table, config.key, file=config.path if fmt == "sqlite" else None)
        sink.check_existing(config.mode)
        sink.check()
        return sink
    if fmt == "csv":
        file_sink: JsonlSink = CsvSink(config.path, formulas=config.csv_formulas)
    elif fmt == "parquet":
        file_sink = ParquetSink(config.path, key=config.key)
    else:
        file_sink = JsonlSink(config.path)
    file_sink.check_existing(config.mode)
    return file_sink


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
    """The quarantine file: this run's entries (overwrite) or all runs' entries (append, upsert). It is a side
    file: never written through a link; an entry cut short at its end is set aside as an output's last row is."""
    sink = JsonlSink(path, follow_link=False, role="The quarantine file")
    if mode == "overwrite":
        sink.replace(entries)
        return
    sink.check_existing("append")
    if not any(r.get("run_id") == run_id for r in sink.read_rows()):
        sink.replace(then(sink.read_rows, entries))
