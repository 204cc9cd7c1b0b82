"""Streaming readers: JSONL (optionally gzipped), CSV, Parquet, .txt files, HTML pages, WARC files, folders of them,
saved HF datasets.

Each reader yields input rows one at a time (never the whole file), so memory stays flat however
large the input. A row that cannot even be parsed (bad JSON, undecodable bytes, a line longer than
``input.max_line_bytes``) is yielded as a :class:`~pipeline.io.records.Quarantined` entry with its raw
bytes, so nothing vanishes silently; a file damaged part-way (truncated gzip, corrupt Parquet page)
gives its rows up to the damage plus one entry for the rest. :func:`read_batches` maps rows to
records with the configured field names (where :func:`~pipeline.io.records.to_record` also refuses
rows no later stage could carry) and groups them.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import logging
import os
import re
import stat
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, AnyStr

import orjson

from pipeline.config import InputConfig
from pipeline.errors import InputError
from pipeline.extras import require
from pipeline.io.html import HtmlReader
from pipeline.io.records import Batch, EscapedRow, FileRow, Quarantined, lone_surrogate, shown_path, to_record
from pipeline.io.warc import WarcReader
from pipeline.progress import ProgressSettings

Row = dict[str, Any] | Quarantined
log = logging.getLogger(__name__)

_SUFFIXES = ((".jsonl", "jsonl"), (".jsonl.gz", "jsonl"), (".json", "jsonl"), (".ndjson", "jsonl"),
             (".csv", "csv"), (".csv.gz", "csv"), (".parquet", "parquet"), (".txt", "txt"),
             (".html", "html"), (".htm", "html"), (".html.gz", "html"), (".htm.gz", "html"),
             (".warc", "warc"), (".warc.gz", "warc"))
_SUFFIX_LIST = ", ".join(s for s, _ in _SUFFIXES)
_BLOCK = 1 << 18  # bytes read at a time by the line splitter


def format_of_name(name: str) -> str | None:
    """The input format a file name's extension stands for (case-insensitive), or None."""
    name = name.lower()
    return next((fmt for suffix, fmt in _SUFFIXES if name.endswith(suffix)), None)


def detect_format(path: Path, declared: str = "auto", follow_symlinks: bool = False) -> str:
    """The input format: as declared, else from the extension; a folder is "hf_dataset" or "folder".

    An explicit ``declared`` is never overridden: a folder is a saved Hugging Face dataset only with
    ``hf_dataset``, read file by file (every file in ``declared``) with any other format. With "auto",
    a folder is a saved dataset only when it is one whole (:func:`saved_dataset`) and holds no other
    input file; one that holds both, or some of a dataset's files and nothing else to read, is an
    InputError that names what was found. A stray ``state.json`` or ``dataset_info.json`` among
    JSONL files is one more file of the folder.
    """
    if path.is_dir():
        if declared != "auto":
            return "hf_dataset" if declared == "hf_dataset" else "folder"
        whole, found = saved_dataset(path)
        if not found:
            return "folder"
        others = [e.rel for e in list_folder(path, follow_symlinks=follow_symlinks)
                  if e.fmt is not None and e.rel not in found]
        if whole and not others:
            return "hf_dataset"
        if others and not whole:
            return "folder"
        listed = ", ".join(found[:6]) + (", ..." if len(found) > 6 else "")
        if whole:
            more = ", ".join(others[:3]) + (f" and {len(others) - 3:,} more" if len(others) > 3 else "")
            raise InputError(
                f"Input folder {shown_path(str(path))} holds a saved Hugging Face dataset ({listed}) and other input "
                f"files ({more}); set input.format: hf_dataset to read the dataset, or the files' format (jsonl, "
                "csv, ...) to read the folder file by file."
            )
        raise InputError(
            f"Input folder {shown_path(str(path))} holds part of a saved Hugging Face dataset ({listed}) but not a "
            "whole one (a state.json listing .arrow files that are there, with dataset_info.json; or a "
            "dataset_dict.json naming such split folders) and no other input file; set input.format: hf_dataset "
            "to try to load it, or jsonl to read its .json files as JSON lines."
        )
    if declared != "auto":
        return declared
    if (fmt := format_of_name(path.name)) is not None:
        return fmt
    raise InputError(
        f"Cannot tell the format of input {shown_path(str(path))} from its name; set input.format to one of "
        "jsonl, csv, parquet, txt, html, warc, hf_dataset."
    )


def saved_dataset(path: Path) -> tuple[bool, list[str]]:
    """(whether ``path`` is a whole saved Hugging Face dataset, the dataset files found in it, relative to it).

    Whole: a ``Dataset`` folder has ``dataset_info.json`` and a ``state.json`` whose ``_data_files``
    list names .arrow files that are all there; a ``DatasetDict`` folder has a ``dataset_dict.json``
    whose ``splits`` are each such a folder. Files are only looked at, never loaded: a state.json
    larger than 1 MiB or not of that shape is not a dataset's.
    """
    if (path / "dataset_dict.json").is_file():
        splits = _json_file(path / "dataset_dict.json").get("splits")
        found = ["dataset_dict.json"]
        whole = isinstance(splits, list) and bool(splits) and all(isinstance(s, str) for s in splits)
        for split in splits if whole else []:
            split_whole, split_found = _saved_split(path, split) if "/" not in split else (False, [])
            whole = whole and split_whole
            found += [f"{split}/{name}" for name in split_found]
        return whole, found
    return _saved_split(path, "")


def _saved_split(path: Path, split: str) -> tuple[bool, list[str]]:
    """:func:`saved_dataset` for one ``Dataset`` folder (``path / split``)."""
    folder = path / split if split else path
    found = [m for m in ("state.json", "dataset_info.json") if (folder / m).is_file()]
    if "state.json" not in found:
        return False, found
    files = _json_file(folder / "state.json").get("_data_files")
    names = [f.get("filename") for f in files] if isinstance(files, list) and files and \
        all(isinstance(f, dict) for f in files) else []
    arrow = [n for n in names if isinstance(n, str) and n.endswith(".arrow") and "/" not in n
             and (folder / n).is_file()]
    found += arrow
    return "dataset_info.json" in found and bool(arrow) and len(arrow) == len(names), found


def _json_file(path: Path) -> dict[str, Any]:
    """A small JSON object file's content; {} when it is larger than 1 MiB, cannot be read or is not an object."""
    try:
        with open(path, "rb") as fh:
            data = fh.read((1 << 20) + 1)
        obj = json.loads(data) if len(data) <= 1 << 20 else None
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _open_binary(path: Path) -> io.BufferedIOBase:
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
        return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    except OSError as exc:
        raise InputError(f"Cannot open input {path}: {exc.strerror or exc}.") from None


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_NEWLINE_TEXT = re.compile(r"\r\n?|\n")


def _decode(raw: bytes, encoding: str) -> str:
    """Decode one file or line; a UTF-16 byte-order mark wins over the configured encoding."""
    if raw[:2] in _UTF16_BOMS:
        return raw.decode("utf-16")
    text = raw.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def _ascii_compatible(encoding: str) -> bool:
    """Whether line breaks are the single bytes CR and LF in ``encoding`` (not so in UTF-16/32)."""
    return "\r\n".encode(encoding) == b"\r\n"


def _pieces(block: AnyStr) -> list[AnyStr]:
    """``block`` cut after every LF, CRLF and lone CR, line breaks kept (the last piece may have none).

    ``bytes.splitlines`` splits at exactly these three, in C; ``str.splitlines`` would also split at
    characters JSON allows inside strings (U+2028, U+0085...), so text is cut by pattern.
    """
    if isinstance(block, bytes):
        return block.splitlines(keepends=True)
    pieces, pos = [], 0
    for match in _NEWLINE_TEXT.finditer(block):
        pieces.append(block[pos:match.end()])
        pos = match.end()
    return [*pieces, block[pos:]] if pos < len(block) else pieces


def _split_lines(blocks: Iterable[AnyStr], limit: int) -> Iterator[tuple[AnyStr, bool]]:
    """(line with its line break, longer than ``limit``?) for the text in ``blocks``.

    Lines end at LF, CRLF or a lone CR (old Mac exports). A line longer than ``limit`` is given as
    its first 1,000 characters and the rest is skipped as it is read: no line longer than the
    limit is ever held in memory.
    """
    parts: list[AnyStr] = []
    size, skipping, after_cr = 0, False, False
    for block in blocks:
        if after_cr and block[:1] in ("\n", b"\n"):
            block = block[1:]  # the LF of a CRLF split between two blocks
        after_cr = block[-1:] in ("\r", b"\r")
        for piece in _pieces(block):
            ended = piece[-1:] in ("\n", "\r", b"\n", b"\r")
            if skipping:
                skipping = not ended
                continue
            if not ended:  # the line goes on in the next block
                parts.append(piece)
                size += len(piece)
                if size > limit:
                    yield parts[0][:1000], True
                    parts, size, skipping = [], 0, True
                continue
            body = len(piece) - (2 if piece[-2:] in ("\r\n", b"\r\n") else 1)  # without its line break
            if size + body > limit:
                yield (parts[0] if parts else piece)[:1000], True
            else:
                yield (piece[:0].join([*parts, piece]) if parts else piece), False
            parts, size = [], 0
    if parts:
        yield parts[0][:0].join(parts), False


def _physical_lines(fh, encoding: str, max_line_bytes: int) -> Iterator[tuple[int, bytes | str, bool]]:
    """(line number, line, too long?) for a binary file; lines keep their line breaks.

    Lines are bytes for encodings where CR and LF are single bytes (decoded line by line by the
    caller, so one bad line is one quarantine entry), text for UTF-16/32: a file with a UTF-16
    byte-order mark (as Windows tools write it) is decoded as such whatever ``encoding`` says.
    """
    head = fh.read(2)
    blocks = iter(lambda: fh.read1(_BLOCK), b"")  # read1: a truncated gzip gives up what it has
    if head in _UTF16_BOMS or not _ascii_compatible(encoding):
        if head in _UTF16_BOMS:
            encoding, head = ("utf-16-le" if head == b"\xff\xfe" else "utf-16-be"), b""
        decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")
        width = max(1, len("\n".encode(encoding)) - len("".encode(encoding)))
        texts = _decoded(decoder, chain([head], blocks))
        lines = _split_lines((t for t in texts if t), max_line_bytes // width)
    else:
        lines = _split_lines(chain([head], blocks), max_line_bytes)
    for lineno, (line, too_long) in enumerate(lines, start=1):
        yield lineno, line, too_long


def _decoded(decoder: codecs.IncrementalDecoder, blocks: Iterable[bytes]) -> Iterator[str]:
    """``blocks`` decoded; the end of the input is checked once the last block is read (an odd byte left over in
    UTF-16 raises UnicodeDecodeError then, never vanishes)."""
    for block in blocks:
        yield decoder.decode(block)
    yield decoder.decode(b"", final=True)


def _too_long(max_line_bytes: int, what: str = "line") -> str:
    return f"{what} is longer than input.max_line_bytes={max_line_bytes:,}"


_DAMAGE = (EOFError, OSError, zlib.error, UnicodeError)  # truncated gzip, broken UTF-16


class JsonlReader:
    """One JSON object per line; blank lines are skipped, every other bad line is quarantined.

    ``where`` (on this reader and every other one) names the row last yielded as quarantine entries name
    it (``file:line``), so a row that is refused later is located in its file too.

    Lines end at LF, CRLF or a lone CR (a raw CR or LF can never be inside a JSON value) and are
    read with a size cap, so a file without line breaks cannot exhaust memory. ``NaN``,
    ``Infinity`` and ``-Infinity`` (which Python's json accepts but strict parsers refuse) become
    null, so no output ever holds a bare ``NaN``.
    """

    def __init__(self, path: Path, encoding: str = "utf-8", max_line_bytes: int = 20_000_000,
                 name: str | None = None) -> None:
        self.path = path
        self.encoding = encoding
        self.max_line_bytes = max_line_bytes
        self.name = name or shown_path(path.name)  # where quarantined lines say they come from
        self._utf8 = codecs.lookup(encoding).name == "utf-8"  # lines go to the parser as bytes
        self.where: str | None = None

    def estimate_total(self) -> int | None:
        """Line breaks in the file: the row count for progress and ETA (blank lines make it a slight overestimate)."""
        with _open_binary(self.path) as fh:
            try:
                if fh.read(2) in _UTF16_BOMS:
                    return None
                lf, cr, last = 0, 0, b"\n"
                for block in iter(lambda: fh.read(1 << 20), b""):
                    # (a CR is rare: looking for one is a memchr, counting them a second pass over the block)
                    lf, last = lf + block.count(b"\n"), block[-1:]
                    if b"\r" in block:
                        cr += block.count(b"\r")
            except (EOFError, OSError, zlib.error):  # corrupt gzip: rows() quarantines the damage
                return None
            return max(lf, cr) + (last not in (b"\n", b"\r"))

    def rows(self) -> Iterator[Row]:
        with _open_binary(self.path) as fh:
            try:
                for lineno, raw, too_long in _physical_lines(fh, self.encoding, self.max_line_bytes):
                    source = f"{self.name}:{lineno}"
                    if too_long:
                        yield Quarantined(_too_long(self.max_line_bytes), raw, source)
                    elif raw.strip():
                        self.where = source
                        yield self._parse(raw, source)
            except _DAMAGE as exc:
                yield Quarantined(f"input ends abruptly or cannot be decoded: {exc}", b"", f"{self.name}:end")

    def _parse(self, raw: bytes | str, source: str) -> Row:
        if self._utf8 or isinstance(raw, str):
            obj = _fast_object(raw)
            if obj is not None:
                return obj
        if isinstance(raw, str):
            line = raw.lstrip("\ufeff")
            if _has_surrogates(line):
                return Quarantined("line is not valid UTF-16", line.encode("utf-8", "surrogateescape"), source)
        else:
            try:
                line = _decode(raw, self.encoding)
            except UnicodeDecodeError as exc:
                return Quarantined(f"line is not valid {self.encoding}: {exc.reason}", raw, source)
            if not self._utf8 and (obj := _fast_object(line)) is not None:
                return obj
        try:
            obj = _JSON.decode(line)
        except json.JSONDecodeError as exc:
            return Quarantined(f"invalid JSON: {exc.msg} (column {exc.colno})", line, source)
        except RecursionError:
            return Quarantined("invalid JSON: nested too deeply", line[:1000], source)
        except ValueError as exc:  # an integer of more than 4,300 digits
            return Quarantined(f"invalid JSON: {exc}", line[:1000], source)
        if not isinstance(obj, dict):
            return Quarantined(f"expected a JSON object, got {type(obj).__name__}", line, source)
        escaped = raw if isinstance(raw, bytes) else line  # (searching the raw bytes is the faster way)
        return EscapedRow(obj) if _SURROGATE_ESCAPES[type(escaped)].search(escaped) else obj


def _fast_object(line: bytes | str) -> dict[str, Any] | None:
    """The JSON object on ``line`` read by orjson, or None when the standard library must read it.

    orjson refuses what this reader treats specially (invalid UTF-8, a byte-order mark, lone
    surrogates, ``NaN``, nesting beyond its limit), so those lines take the slower path with its
    exact quarantine reasons; an object orjson reads holds valid Unicode only. orjson reads an
    integer beyond 64 bits as a float, which Python's json keeps as an integer (refused later, see
    :func:`~pipeline.io.records.carry_problem`): objects holding such a float are read again too.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict or _holds_huge_float(obj):
        return None
    return obj


def _holds_huge_float(obj: dict[str, Any]) -> bool:
    """Whether a float of magnitude 2**63 or more is anywhere in ``obj`` (what an oversized integer becomes)."""
    stack: list[Any] = [obj]
    while stack:
        value = stack.pop()
        for item in value.values() if type(value) is dict else value:
            kind = type(item)
            if kind is float:
                if not -9.2e18 < item < 9.2e18:
                    return True
            elif kind is dict or kind is list:
                stack.append(item)
    return False


def _null_constant(name: str) -> None:
    """NaN, Infinity and -Infinity in JSONL are read as null (they are not JSON; see JsonlReader)."""
    return None


# One decoder for every line (json.loads with an option would build a new one per call).
_JSON = json.JSONDecoder(parse_constant=_null_constant)
# JSON escapes that can spell half of a surrogate pair, \uD800-\uDFFF: only such lines can carry one.
_SURROGATE_ESCAPES = {bytes: re.compile(rb"\\u[dD][89a-fA-F]"), str: re.compile(r"\\u[dD][89a-fA-F]")}


class _OversizedRecord(Exception):
    """A CSV record grew past input.max_line_bytes (raised by :class:`_CsvFeed` to stop the parser)."""


class _CsvFeed:
    """The physical lines of a CSV file as text, for :mod:`csv`; remembers the lines of the current record.

    Lines the parser consumed for a record that turned out malformed can be pushed back and parsed
    again, one line later. The current record is never allowed past ``limit``.
    """

    def __init__(self, lines: Iterator[tuple[int, bytes | str, bool]], encoding: str, limit: int) -> None:
        self.lines = lines
        self.encoding = encoding
        self.limit = limit
        self.pending: list[tuple[int, bytes | str, bool]] = []
        self.record: list[tuple[int, bytes | str, bool]] = []
        self.size = 0
        self.hit_end = False  # the parser asked for a line past the end of the file within this record

    def start_record(self) -> None:
        self.record, self.size, self.hit_end = [], 0, False

    def push_back(self, lines: list[tuple[int, bytes | str, bool]]) -> None:
        self.pending[:0] = lines

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        item = self.pending.pop(0) if self.pending else next(self.lines, None)
        if item is None:
            self.hit_end = True
            raise StopIteration
        self.record.append(item)
        self.size += len(item[1])
        if item[2] or self.size > self.limit:
            raise _OversizedRecord
        return self._text(item)

    def _text(self, item: tuple[int, bytes | str, bool]) -> str:
        line = item[1]
        if isinstance(line, bytes):
            line = line.decode(self.encoding, "surrogateescape")
        return line.lstrip("\ufeff") if item[0] == 1 else line

    def record_is_strict(self, delimiter: str) -> bool:
        """Whether the current record's lines parse with each closing quote followed by a delimiter or the line's
        end. A quote left open pairs with the next quote in the file, most often one that opens a field of a later
        row, and the text after that one breaks the rule; a quoted field that spans lines keeps it."""
        try:
            next(csv.reader([self._text(item) for item in self.record], delimiter=delimiter, strict=True))
        except csv.Error:
            return False
        return True


class CsvReader:
    """CSV with a header row; quoted fields may contain line breaks (LF, CRLF or lone CR) and quotes.

    A malformed record (an unclosed quote swallows the next lines, so the field count comes out
    wrong, a quote that closes it is followed by more text, or the file ends inside the quoted field)
    quarantines its first physical line and the lines after it are parsed again as rows. A record
    longer than ``max_line_bytes`` is quarantined the same way, so neither can eat the rest of the
    file. ``delimiter`` "auto" picks , ; tab or |, whichever the header line has most of.
    """

    def __init__(self, path: Path, encoding: str = "utf-8", max_line_bytes: int = 20_000_000,
                 delimiter: str = "auto", name: str | None = None) -> None:
        self.path = path
        self.encoding = encoding
        self.max_line_bytes = max_line_bytes
        self.delimiter = delimiter
        self.name = name or shown_path(path.name)
        self.where: str | None = None

    def estimate_total(self) -> int | None:
        return None  # rows may span lines; counting would mean parsing twice

    def rows(self) -> Iterator[Row]:
        csv.field_size_limit(sys.maxsize)  # cells of any length (a C long holds it on POSIX systems)
        with _open_binary(self.path) as fh:
            feed = _CsvFeed(_physical_lines(fh, self.encoding, self.max_line_bytes), self.encoding,
                            self.max_line_bytes)
            try:
                yield from self._records(feed)
            except _DAMAGE as exc:
                lineno = feed.record[0][0] if feed.record else "end"
                yield Quarantined(f"input ends abruptly or cannot be decoded: {exc}", "", f"{self.name}:{lineno}")

    def _records(self, feed: _CsvFeed) -> Iterator[Row]:
        header = self._header(feed)
        if header is None:
            return
        delimiter, names = header
        while True:
            feed.start_record()
            try:
                fields = next(csv.reader(feed, delimiter=delimiter))
            except StopIteration:
                return
            except (_OversizedRecord, csv.Error) as exc:
                first = feed.record[0]
                what = "line" if len(feed.record) == 1 else f"record from line {first[0]}"
                reason = _too_long(self.max_line_bytes, what) if isinstance(exc, _OversizedRecord) \
                    else f"malformed CSV: {exc}"
                if len(feed.record) > 1:
                    reason += "; the lines after its first are read again as rows"
                yield Quarantined(reason, first[1][:1000], f"{self.name}:{first[0]}")
                feed.push_back(feed.record[1:])
                continue
            if not fields:
                continue  # blank line
            source = f"{self.name}:{feed.record[0][0]}"
            if feed.hit_end or (len(feed.record) > 1 and (len(fields) != len(names)
                                                          or not feed.record_is_strict(delimiter))):
                yield self._unclosed(feed, len(fields), len(names))
                feed.push_back(feed.record[1:])
                continue
            row = dict(zip(names, fields, strict=False))
            if len(fields) > len(names):
                yield Quarantined(f"row has more fields than the header ({len(fields)} for {len(names)}: column "
                                  f"{len(names) + 1} on has no name)", _row_text(fields), source)
            elif (bad := next((i for i, v in enumerate(fields) if _has_surrogates(v)), None)) is not None:
                yield Quarantined(f"{_column(names, bad)} is not valid {self.encoding}", _row_text(fields), source)
            else:
                self.where = source
                yield row | dict.fromkeys(names[len(fields):])

    def _header(self, feed: _CsvFeed) -> tuple[str, list[str]] | None:
        """(delimiter, column names) from the first non-blank line; None for an empty file."""
        for line in feed:
            if line.strip():
                delimiter = self.delimiter
                if delimiter == "auto":
                    delimiter = max(",;\t|", key=line.count)  # ties: the earliest, so "," by default
                return delimiter, next(csv.reader([line], delimiter=delimiter))
        return None

    def _unclosed(self, feed: _CsvFeed, got: int, expected: int) -> Quarantined:
        lineno, line, _ = feed.record[0]
        swallowed = len(feed.record) - 1
        if feed.hit_end:
            why = "the file ends inside the quoted field"
        elif got != expected:
            why = f"it swallows {swallowed} more lines into a row of {got} fields, the header has {expected}"
        else:
            why = f"it pairs with a quote {swallowed} lines further down that text follows, not a delimiter"
        return Quarantined(f"unclosed quote on this line ({why}); the lines after it are read again as rows",
                           line, f"{self.name}:{lineno}")


def _column(names: list[str], index: int) -> str:
    """A CSV column as a message names it: its number, and its header name when that looks like one (a file
    without a header line has a row of data there)."""
    name = names[index] if index < len(names) else ""
    shown = f" ({name})" if re.fullmatch(r"\w[\w.-]{0,39}", name) else ""
    return f"column {index + 1}{shown}"


def _has_surrogates(value: str) -> bool:
    """Undecodable bytes, kept by the ``surrogateescape`` decoder as lone surrogates."""
    return lone_surrogate(value) is not None


def _row_text(fields: list[str]) -> str:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8", "surrogateescape").decode(
        "utf-8", "backslashreplace"
    )


class ParquetReader:
    """Parquet read in record batches; the schema's columns become fields.

    Page checksums are verified where the writer stored them. A damaged page or row group costs the
    rows of its row group from the first batch that cannot be decoded: one quarantine entry says
    which rows (numbers and count) were lost, and the next row group is read. A file whose footer (at
    its end: the index of its row groups) is missing or damaged, as in a file cut short, gives no row
    at all, and says so.
    """

    def __init__(self, path: Path, batch_size: int = 1024, name: str | None = None) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.batch_size = batch_size
        self.name = name or shown_path(path.name)
        self.where: str | None = None
        try:
            self._file = pq.ParquetFile(path, page_checksum_verification=True)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise InputError(f"Cannot read Parquet input {self.name}: {exc} (a Parquet file's rows are found "
                             "through its footer, at its end: a file cut short or with a damaged footer gives no "
                             "row).") from None

    def estimate_total(self) -> int | None:
        return self._file.metadata.num_rows

    def rows(self) -> Iterator[Row]:
        import pyarrow as pa

        first = 0  # the number of the row group's first row, from 0
        for group in range(self._file.num_row_groups):  # a batch never spans two: damage stays in its group
            size, done = self._file.metadata.row_group(group).num_rows, 0
            try:
                for batch in self._file.iter_batches(batch_size=self.batch_size, row_groups=[group]):
                    for row in batch.to_pylist():
                        done += 1
                        self.where = f"{self.name}:row {first + done}"
                        yield row
            except (OSError, ValueError, pa.ArrowException) as exc:
                lost = size - done
                yield Quarantined(f"Parquet row group {group + 1} is damaged: its rows {first + done + 1:,} to "
                                  f"{first + size:,} ({lost:,} row{'s' if lost != 1 else ''}) cannot be read: "
                                  f"{' '.join(str(exc).split())}",
                                  b"", f"{self.name}:row {first + done + 1}")
            first += size


class TxtFolderReader:
    """``.txt`` files (all of a folder's, searched recursively in sorted order, or those given), one article each.

    The id is the file's path relative to the folder, without extension; with
    ``first_line_title`` the first non-empty line (ended by LF, CRLF or a lone CR) is the title and
    the rest the text. A file larger than ``max_bytes`` is quarantined without being read whole.
    """

    def __init__(self, path: Path, encoding: str = "utf-8", first_line_title: bool = True,
                 files: list[Path] | None = None, max_bytes: int = 20_000_000) -> None:
        self.path = path
        self.encoding = encoding
        self.first_line_title = first_line_title
        self.max_bytes = max_bytes
        if files is None:
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()
                                                         and p.name.lower().endswith(".txt"))
        self.files = files  # a subset when a folder is read file by file
        self.where: str | None = None

    def estimate_total(self) -> int | None:
        return len(self.files)

    def rows(self) -> Iterator[Row]:
        base = self.path if self.path.is_dir() else self.path.parent
        for file in self.files:
            rel = shown_path(file.relative_to(base).as_posix())
            rel = rel[: -len(".txt")] if rel.lower().endswith(".txt") else rel
            try:
                with open(file, "rb") as fh:
                    raw = fh.read(self.max_bytes + 1)
            except OSError as exc:
                yield Quarantined(f"cannot read file: {exc.strerror}", b"", rel, rel)
                continue
            if len(raw) > self.max_bytes:
                yield Quarantined(_too_long(self.max_bytes, "file"), raw[:1000], rel, rel)
                continue
            try:
                content = _decode(raw, self.encoding)
            except UnicodeDecodeError as exc:
                yield Quarantined(f"file is not valid {self.encoding}: {exc.reason}", raw[:10_000], rel, rel)
                continue
            title, self.where = "", rel
            if self.first_line_title:
                head, *rest = _NEWLINE_TEXT.split(content.lstrip(), maxsplit=1)
                title, content = head.strip(), "".join(rest)
            yield FileRow(id=rel, title=title, text=content, path=shown_path(file.as_posix()))


@dataclass
class FolderEntry:
    """One thing found in an input folder: a file to read in ``fmt``, or why it cannot be read."""

    path: Path
    rel: str  # path relative to the folder: where its rows and quarantine entries say they come from
    fmt: str | None = None
    problem: str | None = None


OUTSIDE_LINK = "symbolic link to a file or folder outside the input folder (input.follow_symlinks: false)"


def list_folder(root: Path, declared: str = "auto", follow_symlinks: bool = False,
                outside: Counter[str] | None = None) -> list[FolderEntry]:
    """Everything in ``root``, recursively, in sorted order (so row numbers are stable between runs).

    Files are read as ``declared`` when a format is declared (whatever their extension), else by their
    extension (case-insensitive); a file without a known one is then an entry with a problem ("not an
    input file"), as are broken links, FIFOs and other special files, folders that cannot be listed and
    links that loop back to a folder above them: each becomes one quarantine entry, never a
    silent skip. Symbolic links are followed when they stay inside ``root``; a link that leads
    outside it (to a private file elsewhere, say) is followed only with ``follow_symlinks``, else
    it is counted in ``outside`` under :data:`OUTSIDE_LINK` and not read.
    """
    entries: list[FolderEntry] = []
    declared = declared if declared not in ("auto", "hf_dataset") else None
    real_root = os.path.realpath(root)

    def visit(folder: Path, above: frozenset[tuple[int, int]]) -> None:
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            entries.append(FolderEntry(folder, _rel(folder, root), problem=f"cannot list folder: {exc.strerror}"))
            return
        for child in children:
            path, rel = Path(child.path), _rel(Path(child.path), root)
            if not follow_symlinks and child.is_symlink() and os.path.exists(path) and \
                    os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
                if outside is not None:
                    outside[OUTSIDE_LINK] += 1
                continue
            try:
                st = os.stat(path)
            except OSError as exc:
                kind = "broken symbolic link" if child.is_symlink() else "cannot read"
                entries.append(FolderEntry(path, rel, problem=f"{kind}: {rel} ({exc.strerror})"))
                continue
            if stat.S_ISDIR(st.st_mode):
                if (st.st_dev, st.st_ino) in above:
                    entries.append(FolderEntry(path, rel, problem=f"symbolic link loop: {rel} leads back to a "
                                               "folder that contains it"))
                else:
                    visit(path, above | {(st.st_dev, st.st_ino)})
            elif not stat.S_ISREG(st.st_mode):
                entries.append(FolderEntry(path, rel, problem=f"not a regular file ({_kind(st.st_mode)}): {rel}"))
            elif (fmt := declared or format_of_name(child.name)) is not None:
                entries.append(FolderEntry(path, rel, fmt))
            else:
                entries.append(FolderEntry(path, rel, problem=f"not an input file: {rel} (input files end in "
                                           f"{_SUFFIX_LIST}; set input.format to read every file as one format)"))

    st = os.stat(root)
    visit(root, frozenset({(st.st_dev, st.st_ino)}))
    return entries


def _rel(path: Path, root: Path) -> str:
    return shown_path(path.relative_to(root).as_posix())


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
             (stat.S_ISSOCK, "socket"))
    return next((name for test, name in kinds if test(mode)), "special file")


def _no_inputs_message(root: Path, entries: list[FolderEntry], outside: int) -> str:
    links = (f" {outside} symbolic link{'s' if outside > 1 else ''} in it lead{'' if outside > 1 else 's'} outside "
             f"it and {'are' if outside > 1 else 'is'} not read: set input.follow_symlinks: true to read them."
             if outside else "")
    if not entries:
        return f"Input folder {root} {'holds no input file of its own' if outside else 'is empty'}; check input.path." \
            + links
    found = Counter(
        f"{Path(e.rel).suffix.lower() or '(no extension)'} file" if e.problem.startswith("not an input file")
        else e.problem.split(":")[0] for e in entries
    )
    listed = ", ".join(f"{n} {what}{'s' if n > 1 else ''}" for what, n in found.most_common())
    return (f"Input folder {root} holds {listed} and no {_SUFFIX_LIST} files; check input.path "
            "(or set input.format to read its files as one format)." + links)


class FolderReader:
    """A folder of input files, each read by the reader for its format, rows numbered across all of them.

    Row numbers run on from one file to the next, so a resumed run skips by row index exactly as
    for a single file; everything that is not a readable input file is one quarantine entry.
    Records a file's reader reads past without making a row (a WARC file's redirects, images...)
    are summed in :attr:`skipped`.
    """

    def __init__(self, path: Path, config: InputConfig) -> None:
        self.path = path
        self.config = config
        self._skipped: Counter[str] = Counter()  # the counts of the files read to their end
        self._current = None  # the reader of the file being read
        self._warcs_done = 0  # WARC files read to their end (for bytes_progress)
        self._outside: Counter[str] = Counter()  # links leading out of the folder, not read (see list_folder)
        try:
            self.entries = list_folder(path, config.format, config.follow_symlinks, self._outside)
        except OSError as exc:
            raise InputError(f"Cannot list input folder {path}: {exc.strerror}.") from None
        if not any(e.fmt for e in self.entries):
            raise InputError(_no_inputs_message(path, self.entries, self._outside[OUTSIDE_LINK]))
        if self._outside:
            log.warning("input folder %s: %d symbolic links lead outside it and are not read (set "
                        "input.follow_symlinks: true to read them)", path, self._outside[OUTSIDE_LINK])

    def estimate_total(self) -> int | None:
        total = 0
        for entry in self.entries:
            if entry.fmt in ("csv", "parquet", "warc"):
                return None  # CSV and WARC cannot be counted without parsing; Parquet footers are read when needed
            if entry.fmt == "jsonl":
                count = file_reader(entry, self.path, self.config).estimate_total()
                if count is None:
                    return None
                total += count
            else:
                total += 1
        return total

    @property
    def where(self) -> str | None:
        """The row last yielded, as its file's reader names it."""
        return getattr(self._current, "where", None)

    @property
    def skipped(self) -> dict[str, int]:
        """Records read past so far, by reason, over every file (see :attr:`WarcReader.skipped`), and the links
        out of the folder that were not followed."""
        return dict(self._outside + self._skipped + Counter(getattr(self._current, "skipped", {})))

    def bytes_progress(self) -> tuple[int, int] | None:
        """(bytes read, bytes in all) over the folder's WARC files, whose rows cannot be counted ahead;
        None without WARC files. A file counts as read once its reader is done with it."""
        warcs = [e for e in self.entries if e.fmt == "warc"]
        if not warcs:
            return None
        sizes = {e.path: _size(e.path) for e in warcs}
        done = sum(sizes[e.path] for e in warcs[: self._warcs_done])
        if isinstance(self._current, WarcReader):
            done += self._current.bytes_read()
        return done, sum(sizes.values())

    def rows(self) -> Iterator[Row]:
        self._skipped, self._current, self._warcs_done = Counter(), None, 0
        for entry in self.entries:
            if entry.problem is not None:
                yield Quarantined(entry.problem, b"", entry.rel)
                continue
            try:
                self._current = file_reader(entry, self.path, self.config)
                yield from self._current.rows()
            except InputError as exc:  # an unreadable file among readable ones
                yield Quarantined(f"cannot read file: {exc}", b"", entry.rel)
            self._skipped.update(getattr(self._current, "skipped", {}))
            self._warcs_done += entry.fmt == "warc"
            self._current = None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def bytes_progress(reader) -> Callable[[], tuple[int, int] | None] | None:
    """For inputs whose rows cannot be counted ahead (WARC files): a function giving (bytes read, bytes in
    all), which the progress bar shows instead of a row total; None for other readers."""
    if isinstance(reader, WarcReader):
        return lambda: (reader.bytes_read(), reader.size())
    if isinstance(reader, FolderReader) and any(e.fmt == "warc" for e in reader.entries):
        return reader.bytes_progress
    return None


def file_reader(entry: FolderEntry, root: Path, config: InputConfig):
    """The reader for one file of an input folder (ids and sources relative to ``root``)."""
    cap = config.max_line_bytes
    if entry.fmt == "jsonl":
        return JsonlReader(entry.path, config.encoding, cap, name=entry.rel)
    if entry.fmt == "csv":
        return CsvReader(entry.path, config.encoding, cap, config.csv_delimiter, name=entry.rel)
    if entry.fmt == "parquet":
        return ParquetReader(entry.path, config.batch_size, name=entry.rel)
    if entry.fmt == "html":
        return HtmlReader(root, [entry.path], cap, config.html_favor)
    if entry.fmt == "warc":
        return WarcReader(entry.path, entry.rel, cap, config.html_favor)
    return TxtFolderReader(root, config.encoding, config.txt_first_line_title and not config.raw_pages,
                           files=[entry.path], max_bytes=cap)


class HfDatasetReader:
    """A dataset saved with ``Dataset.save_to_disk`` (or a DatasetDict with ``input.split``)."""

    def __init__(self, path: Path, split: str | None, batch_size: int = 1024) -> None:
        require("hf", f"Input {path} (a saved Hugging Face dataset)")
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError, OSError) as exc:  # (pyarrow's errors are OSError and ValueError)
            raise InputError(f"Cannot load saved Hugging Face dataset {shown_path(str(path))}: {exc} (its files are "
                             "read whole or not at all: an .arrow file cut short or damaged gives no row).") from None
        if isinstance(ds, datasets.DatasetDict):
            if split is None and len(ds) == 1:
                split = next(iter(ds))
            if split not in ds:
                raise InputError(f"Dataset {path} has splits {sorted(ds)}; set input.split to one of them.")
            ds = ds[split]
        self.dataset = ds
        self.batch_size = batch_size

    def estimate_total(self) -> int | None:
        return len(self.dataset)

    def rows(self) -> Iterator[Row]:
        for chunk in self.dataset.iter(batch_size=self.batch_size):
            keys = list(chunk)
            for values in zip(*(chunk[k] for k in keys), strict=True):
                yield dict(zip(keys, values, strict=True))


def open_reader(config: InputConfig):
    """The reader for the configured input; fails fast (InputError) if it cannot be opened.

    Only regular files and folders are accepted: a FIFO, ``/dev/stdin`` or a device would block or
    could not be read a second time, and a resumed run re-reads its input.
    """
    path = config.path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"Input {path} does not exist; check input.path (relative paths start at {Path.cwd()}).") \
            from None
    except OSError as exc:
        raise InputError(f"Cannot open input {path}: {exc.strerror}.") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise InputError(
            f"input.path {path} is a {_kind(st.st_mode)}; input.path must be a regular file or a folder; save the "
            "stream to a file first: vnnews needs to re-read input to resume."
        )
    fmt = detect_format(path, config.format, config.follow_symlinks)
    if fmt == "hf_dataset":
        return HfDatasetReader(path, config.split, config.batch_size)
    if fmt == "folder":
        return FolderReader(path, config)
    return file_reader(FolderEntry(path, shown_path(path.name), fmt), path.parent, config)


def read_batches(config: InputConfig, reader=None, start: int = 0) -> Iterator[Batch]:
    """Records in batches of ``input.batch_size``, with unparseable or invalid rows quarantined.

    ``start`` skips that many input rows (a resumed run re-reads but does not reprocess them);
    batch boundaries stay multiples of ``batch_size`` from the start of the input.
    """
    reader = reader or open_reader(config)
    configured = dict(text_field=config.text_field, title_field=config.title_field, id_field=config.id_field)
    txt = dict(text_field="text", title_field="title", id_field="id")
    rows = islice(reader.rows(), start, config.limit)
    batch = Batch(start=start)
    for index, row in enumerate(rows, start=start):
        if index >= config.max_rows:
            raise InputError(
                f"Input {config.path} has more than input.max_rows={config.max_rows:,} rows; "
                "split it or raise input.max_rows."
            )
        if isinstance(row, Quarantined):
            batch.quarantined.append(row)
        else:
            # Rows from these readers are valid Unicode, except JSONL rows with \uD8xx escapes.
            where = getattr(reader, "where", None) or f"row {index + 1}"  # file:line where the reader knows it
            item = to_record(row, source=where, strings_checked=not isinstance(row, EscapedRow),
                             prefix=config.renamed_field_prefix,
                             **(txt if isinstance(row, FileRow) else configured))
            (batch.quarantined if isinstance(item, Quarantined) else batch.records).append(item)
        if batch.size >= config.batch_size:
            yield batch
            batch = Batch(start=index + 1)
    if batch.size:
        yield batch


def counted_batches(config: InputConfig, progress: ProgressSettings, label: str) -> Iterator[Batch]:
    """:func:`read_batches`, counted by a progress bar or log lines (rows, with an ETA when they can be counted)."""
    reader = open_reader(config)
    total = reader.estimate_total() if progress.mode != "off" else None
    if total is not None and config.limit is not None:
        total = min(total, config.limit)
    bar = progress.start(total, label)
    try:
        for batch in read_batches(config, reader):
            yield batch
            bar.update(batch.size)
    finally:
        bar.close()
