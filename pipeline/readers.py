"""Streaming readers: JSONL (optionally gzipped), CSV, Parquet, folders of .txt, saved HF datasets.

Each reader yields input rows one at a time (never the whole file), so memory stays flat however
large the input. A row that cannot even be parsed (bad JSON, undecodable bytes) is yielded as a
:class:`~pipeline.records.Quarantined` entry with its raw bytes, so nothing vanishes silently.
:func:`read_batches` maps rows to records with the configured field names and groups them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from pipeline.config import InputConfig
from pipeline.errors import InputError
from pipeline.records import Batch, Quarantined, to_record

Row = dict[str, Any] | Quarantined

_HF_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")


def detect_format(path: Path, declared: str = "auto") -> str:
    """The input format: as declared, or from the extension / folder contents."""
    if declared != "auto":
        return declared
    if path.is_dir():
        return "hf_dataset" if any((path / m).exists() for m in _HF_MARKERS) else "txt"
    name = path.name.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".jsonl.gz", "jsonl"), (".json", "jsonl"), (".ndjson", "jsonl"),
                        (".csv", "csv"), (".csv.gz", "csv"), (".parquet", "parquet"), (".txt", "txt")):
        if name.endswith(suffix):
            return fmt
    raise InputError(
        f"Cannot tell the format of input {path} from its name; set input.format to one of "
        "jsonl, csv, parquet, txt, hf_dataset."
    )


def _open_binary(path: Path) -> io.BufferedIOBase:
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
        return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    except OSError as exc:
        raise InputError(f"Cannot open input {path}: {exc.strerror or exc}.") from None


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _decode(raw: bytes, encoding: str) -> str:
    """Decode one file or line; a UTF-16 byte-order mark wins over the configured encoding."""
    if raw[:2] in _UTF16_BOMS:
        return raw.decode("utf-16")
    text = raw.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


class JsonlReader:
    """One JSON object per line; blank lines are skipped, every other bad line is quarantined.

    Lines are read with a size cap so a file without newlines cannot exhaust memory. A UTF-16 file
    (recognised by its byte-order mark, as Windows tools write it) is decoded as such.
    """

    def __init__(self, path: Path, encoding: str = "utf-8", max_line_bytes: int = 20_000_000) -> None:
        self.path = path
        self.encoding = encoding
        self.max_line_bytes = max_line_bytes

    def estimate_total(self) -> int | None:
        """Newlines in the file: the row count for progress and ETA (blank lines make it a slight overestimate)."""
        with _open_binary(self.path) as fh:
            try:
                if fh.read(2) in _UTF16_BOMS:
                    return None
                count, last = 0, b"\n"
                for block in iter(lambda: fh.read(1 << 20), b""):
                    count += block.count(b"\n")
                    last = block[-1:]
            except (EOFError, OSError, zlib.error):  # corrupt gzip: rows() quarantines the damage
                return None
            return count + (last != b"\n")

    def _lines(self, fh) -> Iterator[tuple[int, bytes | str, bool]]:
        """(line number, raw line, too long?) for every line of the file."""
        head = fh.read(2)
        if head in _UTF16_BOMS:
            text = io.TextIOWrapper(fh, encoding="utf-16-le" if head == b"\xff\xfe" else "utf-16-be",
                                    errors="surrogateescape")
            for lineno, line in enumerate(text, start=1):
                yield lineno, line, False
            return
        lineno, pending = 0, head
        while True:
            line = pending + fh.readline(self.max_line_bytes + 1 - len(pending))
            pending = b""
            if not line:
                return
            lineno += 1
            if len(line) > self.max_line_bytes and not line.endswith(b"\n"):
                while (rest := fh.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
                yield lineno, line[:1000], True
                continue
            yield lineno, line, False

    def rows(self) -> Iterator[Row]:
        with _open_binary(self.path) as fh:
            try:
                for lineno, raw, too_long in self._lines(fh):
                    source = f"{self.path.name}:{lineno}"
                    if too_long:
                        yield Quarantined(
                            f"line is longer than input.max_line_bytes={self.max_line_bytes:,}", raw, source
                        )
                        continue
                    if not raw.strip():
                        continue
                    if isinstance(raw, str):
                        line = raw.lstrip("\ufeff")
                        if _has_surrogates(line):
                            yield Quarantined("line is not valid UTF-16", line.encode("utf-8", "surrogateescape"),
                                              source)
                            continue
                    else:
                        try:
                            line = _decode(raw, self.encoding)
                        except UnicodeDecodeError as exc:
                            yield Quarantined(f"line is not valid {self.encoding}: {exc.reason}", raw, source)
                            continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield Quarantined(f"invalid JSON: {exc.msg} (column {exc.colno})", line, source)
                        continue
                    except RecursionError:
                        yield Quarantined("invalid JSON: nested too deeply", line[:1000], source)
                        continue
                    if not isinstance(obj, dict):
                        yield Quarantined(f"expected a JSON object, got {type(obj).__name__}", line, source)
                        continue
                    yield obj
            except (EOFError, OSError, zlib.error, UnicodeError) as exc:  # truncated gzip, broken UTF-16
                yield Quarantined(f"input ends abruptly or cannot be decoded: {exc}", b"", f"{self.path.name}:end")


class CsvReader:
    """CSV with a header row; quoted fields may contain newlines and quotes."""

    def __init__(self, path: Path, encoding: str = "utf-8") -> None:
        self.path = path
        self.encoding = encoding

    def estimate_total(self) -> int | None:
        return None  # rows may span lines; counting would mean parsing twice

    def rows(self) -> Iterator[Row]:
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        encoding = "utf-8-sig" if self.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else self.encoding
        line_num = 0
        try:
            with _open_binary(self.path) as probe:
                if probe.read(2) in _UTF16_BOMS:
                    encoding = "utf-16"
            with io.TextIOWrapper(_open_binary(self.path), encoding=encoding, errors="surrogateescape",
                                  newline="") as fh:
                reader = csv.DictReader(fh)
                for row in reader:
                    line_num = reader.line_num
                    source = f"{self.path.name}:{line_num}"
                    if None in row:
                        yield Quarantined("row has more fields than the header", _row_text(row), source)
                    elif any(isinstance(v, str) and _has_surrogates(v) for v in row.values()):
                        yield Quarantined(f"row is not valid {self.encoding}", _row_text(row), source)
                    else:
                        yield row
        except csv.Error as exc:
            yield Quarantined(f"malformed CSV: {exc}", "", f"{self.path.name}:{line_num}")
        except (EOFError, OSError, zlib.error, UnicodeError) as exc:  # truncated gzip, broken UTF-16
            yield Quarantined(f"input ends abruptly or cannot be decoded: {exc}", "", f"{self.path.name}:{line_num}")


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _row_text(row: dict[Any, Any]) -> str:
    values = [v for k, v in row.items() if k is not None] + list(row.get(None) or [])
    return json.dumps(values, ensure_ascii=False, default=str).encode("utf-8", "surrogateescape").decode(
        "utf-8", "backslashreplace"
    )


class ParquetReader:
    """Parquet read in record batches; the schema's columns become fields."""

    def __init__(self, path: Path, batch_size: int = 1024) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.batch_size = batch_size
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise InputError(f"Cannot read Parquet input {path}: {exc}") from None

    def estimate_total(self) -> int | None:
        return self._file.metadata.num_rows

    def rows(self) -> Iterator[Row]:
        for batch in self._file.iter_batches(batch_size=self.batch_size):
            yield from batch.to_pylist()


class TxtFolderReader:
    """A folder of ``.txt`` files (searched recursively, in sorted order), one article per file.

    The id is the file's path relative to the folder, without extension; with
    ``first_line_title`` the first non-empty line is the title and the rest the text.
    """

    def __init__(self, path: Path, encoding: str = "utf-8", first_line_title: bool = True,
                 files: list[Path] | None = None) -> None:
        self.path = path
        self.encoding = encoding
        self.first_line_title = first_line_title
        if files is None:
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*.txt") if p.is_file())
        self.files = files  # a subset when a distributed runner reads the folder file by file

    def estimate_total(self) -> int | None:
        return len(self.files)

    def rows(self) -> Iterator[Row]:
        base = self.path if self.path.is_dir() else self.path.parent
        for file in self.files:
            rel = file.relative_to(base).with_suffix("").as_posix()
            try:
                raw = file.read_bytes()
            except OSError as exc:
                yield Quarantined(f"cannot read file: {exc.strerror}", b"", rel, rel)
                continue
            try:
                content = _decode(raw, self.encoding)
            except UnicodeDecodeError as exc:
                yield Quarantined(f"file is not valid {self.encoding}: {exc.reason}", raw[:10_000], rel, rel)
                continue
            title = ""
            if self.first_line_title:
                head, _, rest = content.lstrip().partition("\n")
                title, content = head.strip(), rest
            yield {"id": rel, "title": title, "text": content, "path": file.as_posix()}


class HfDatasetReader:
    """A dataset saved with ``Dataset.save_to_disk`` (or a DatasetDict with ``input.split``)."""

    def __init__(self, path: Path, split: str | None, batch_size: int = 1024) -> None:
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise InputError(f"Cannot load saved Hugging Face dataset {path}: {exc}") from None
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
    """The reader for the configured input; fails fast (InputError) if it cannot be opened."""
    path = config.path
    if not path.exists():
        raise InputError(f"Input {path} does not exist; check input.path (relative paths start at {Path.cwd()}).")
    fmt = detect_format(path, config.format)
    if fmt == "jsonl":
        return JsonlReader(path, config.encoding, config.max_line_bytes)
    if fmt == "csv":
        return CsvReader(path, config.encoding)
    if fmt == "parquet":
        return ParquetReader(path, config.batch_size)
    if fmt == "txt":
        return TxtFolderReader(path, config.encoding, config.txt_first_line_title and not config.raw_pages)
    return HfDatasetReader(path, config.split, config.batch_size)


def read_batches(config: InputConfig, reader=None, start: int = 0) -> Iterator[Batch]:
    """Records in batches of ``input.batch_size``, with unparseable or invalid rows quarantined.

    ``start`` skips that many input rows (a resumed run re-reads but does not reprocess them);
    batch boundaries stay multiples of ``batch_size`` from the start of the input.
    """
    reader = reader or open_reader(config)
    txt = isinstance(reader, TxtFolderReader)
    fields = dict(
        text_field="text" if txt else config.text_field,
        title_field="title" if txt else config.title_field,
        id_field="id" if txt else config.id_field,
    )
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
            item = to_record(row, source=f"row {index + 1}", **fields)
            (batch.quarantined if isinstance(item, Quarantined) else batch.records).append(item)
        if batch.size >= config.batch_size:
            yield batch
            batch = Batch(start=index + 1)
    if batch.size:
        yield batch
