"""WARC files (``.warc``, ``.warc.gz``) as input: the HTML pages a crawl saved, one row each.

Common Crawl's CC-NEWS publishes news as WARC files, which hold much more than articles: the
crawler's requests, metadata and warcinfo records, redirects, error pages, robots.txt, images.
Only ``response`` records with HTTP status 200 and an HTML content type become rows; each is
decoded (HTTP charset, else the page's ``<meta>`` charset) and extracted exactly like a saved
HTML page (:func:`pipeline.io.html.parse_page`), so rows have the same fields, plus ``warc_date``
and ``canonical_url``. Everything else is not a row but is counted by reason in
:attr:`WarcReader.skipped`, which the runner writes into the manifest: nothing is dropped silently,
and a crawl's many non-article records do not count as quarantined input.

Records are read with `warcio <https://github.com/webrecorder/warcio>`_ (see docs/warc.md for why).
"""

from __future__ import annotations

import os
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

from pipeline.errors import InputError
from pipeline.io.html import parse_page
from pipeline.io.records import FileRow, Quarantined, shown_path

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DRAIN_BLOCK = 1 << 16
_SCAN_BLOCK = 1 << 16  # bytes looked through at a time for the next record after a damaged one
_INT64_MAX = 2**63 - 1
_MEMBER = re.compile(rb"(\x1f\x8b\x08)")  # where a gzip member may begin
_HEADER_LINE = re.compile(rb"\n(WARC/1\.[01]\r?\n)")  # where a record of a plain .warc may begin
# What warcio raises on bytes that are not what a WARC file should hold at that point.
_PARSE_ERRORS = (OSError, EOFError, zlib.error, ValueError, AttributeError, OverflowError, IndexError, KeyError,
                 TypeError)


def _content_type(value: str | None) -> tuple[str | None, str | None]:
    """(media type in lower case, charset) of an HTTP ``Content-Type`` value; None for what is missing."""
    if not value or not value.strip():
        return None, None
    header = Message()
    header["content-type"] = value
    charset = header.get_param("charset")
    return header.get_content_type(), charset.strip() if isinstance(charset, str) and charset.strip() else None


def _drain(stream) -> bool:
    """Read ``stream`` (a record's remaining bytes) to its end; False when the file ends before it.

    warcio stops quietly at a truncated record, so a damaged file is noticed here: a record whose
    block is shorter than its ``Content-Length`` is the end of what can be read.
    """
    while stream.read(_DRAIN_BLOCK):
        pass
    return getattr(stream, "limit", 0) <= 0


def _checked_iterator(fh):
    """warcio's ``ArchiveIterator`` over ``fh`` from where it stands, which sets ``ended_cleanly`` once exhausted.

    warcio ends quietly where a gzip member or a record's headers are cut off. The end is clean
    when the last gzip member's end-of-stream marker was read, or, in a plain .warc, when the last
    complete record ends at the end of the file (``offset``: where warcio's next record would start).
    warcio's warning about a record not followed by its blank lines goes to ``err_count`` only,
    never to stderr (the reader quarantines that record itself).
    """
    from warcio.archiveiterator import ArchiveIterator

    size = os.fstat(fh.fileno()).st_size

    class CheckedIterator(ArchiveIterator):
        ended_cleanly = False
        INC_RECORD = ""

        def close(self) -> None:
            if self.reader is not None:
                decompressor = self.reader.decompressor
                self.ended_cleanly = self.offset >= size if decompressor is None else getattr(decompressor, "eof", True)
            super().close()

    return CheckedIterator(fh)


def _length_problem(value: str | None, start: int, size: int, gzipped: bool) -> str | None:
    """Why a record's ``Content-Length`` cannot be trusted, or None: missing, not a decimal number, beyond 64
    bits, or (in a plain .warc, where it counts bytes of the file) reaching past the end of the file."""
    if value is None:
        return "it has no Content-Length"
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > _INT64_MAX:
        return f"its Content-Length is not a length ({' '.join(value.split())[:40]!r})"
    if not gzipped and int(text) > size - start:
        return f"its Content-Length ({int(text):,} bytes) reaches past the end of the file"
    return None


def _next_start(fh, after: int, gzipped: bool) -> int | None:
    """The offset of the first record that begins after byte ``after``, or None: a gzip member whose first bytes
    decompress to a WARC header line (.warc.gz), or a ``WARC/1.x`` line after a line break (.warc)."""
    pattern = _MEMBER if gzipped else _HEADER_LINE
    pos, tail = after + 1, b""
    while True:
        fh.seek(pos)
        block = fh.read(_SCAN_BLOCK)
        if not block:
            return None
        data, base = tail + block, pos - len(tail)
        for match in pattern.finditer(data):
            found = base + match.start(1)
            if found > after and (not gzipped or _member_holds_record(fh, found)):
                return found
        tail, pos = data[-16:], pos + len(block)


def _member_holds_record(fh, offset: int) -> bool:
    """Whether the bytes at ``offset`` are a gzip member that starts with a WARC header line."""
    fh.seek(offset)
    try:
        head = zlib.decompressobj(31).decompress(fh.read(_SCAN_BLOCK), 4096)
    except zlib.error:
        return False
    return head.lstrip(b"\r\n").startswith(b"WARC/1.")


class WarcReader:
    """The HTML pages of one WARC file, in record order; other records are counted in :attr:`skipped`.

    The row id and ``url`` are the record's ``WARC-Target-URI`` (what was fetched); the page's own
    canonical link goes to ``canonical_url`` when it differs. Quarantine entries are named
    ``<file>:record <n>`` (n counts every record of the file, from 1). A damaged record is one entry
    that says which bytes were skipped, and the records after it are read (see :meth:`_records`); a file
    cut short gives its rows up to the cut plus one entry.
    """

    def __init__(self, path: Path, name: str | None = None, max_bytes: int = 20_000_000,
                 favor: str = "balanced") -> None:
        self.path = path
        self.name = name or shown_path(path.name)
        self.max_bytes = max_bytes
        self.favor = favor
        self.skipped: Counter[str] = Counter()  # reason -> records read past, for the manifest
        self.where: str | None = None  # the record last read (see pipeline.io.readers.JsonlReader)
        self._fh = None  # the open file while rows() reads it
        self._finished = False

    def estimate_total(self) -> int | None:
        return None  # how many records are HTML pages is known only once the file is read

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def bytes_read(self) -> int:
        """How far into the file (compressed bytes) reading has come: progress where rows cannot be counted."""
        if self._finished:
            return self.size()
        try:
            return self._fh.tell() if self._fh is not None else 0
        except (OSError, ValueError):
            return 0

    def rows(self) -> Iterator[FileRow | Quarantined]:
        self.skipped = Counter()  # a resumed run reads the file again from the start
        try:  # (opened apart from the with below, so that only a file that cannot be opened is an InputError)
            fh = open(self.path, "rb")  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"Cannot open input {self.path}: {exc.strerror or exc}.") from None
        self._fh, self._finished = fh, False
        with fh:
            yield from self._records(fh)
        self._fh, self._finished = None, True

    def _records(self, fh) -> Iterator[FileRow | Quarantined]:
        """Every record's row or entry; after a damaged record, reading goes on at the next record found.

        A damaged record (its ``Content-Length`` invalid, or not where the next record begins, its
        headers unreadable, its gzip member broken) is one entry that names it and the bytes skipped;
        the file is then searched for the next record (:func:`_next_start`) and read on from there.
        """
        from warcio.exceptions import ArchiveLoadFailed

        size = os.fstat(fh.fileno()).st_size
        gzipped = fh.read(2) == b"\x1f\x8b"
        number, offset = 0, 0
        while offset is not None:
            fh.seek(offset)
            records = _checked_iterator(fh)
            start, offset, inside = offset, None, False
            try:
                for record in records:
                    number, start, inside = number + 1, records.offset, True
                    source = f"{self.name}:record {number}"
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    problem = _length_problem(record.rec_headers.get_header("Content-Length"), start, size, gzipped)
                    row = None if problem else self._row(record, source)
                    if problem is None and not _drain(record.raw_stream):
                        problem = "its data ends before its Content-Length"
                    if problem is None:
                        errors = records.err_count
                        records.read_to_end()  # the blank lines after the record, counted in err_count if missing
                        if records.err_count > errors:
                            problem = "it does not end where its Content-Length says (no blank line after it)"
                    if problem is not None:
                        offset = _next_start(fh, start, gzipped)
                        what = "ends abruptly inside" if offset is None and problem.startswith("its data") \
                            else "is damaged at"
                        yield Quarantined(self._skipped_bytes(f"WARC file {what} record {number} (byte {start:,}): "
                                                              f"{problem}", start, offset, size), b"", source, uri)
                        break
                    inside = False
                    if row is not None:
                        self.where = source
                        yield row
                else:
                    if not records.ended_cleanly:
                        yield Quarantined(f"WARC file ends abruptly after record {number}", b"",
                                          f"{self.name}:record {number + 1}")
            except (ArchiveLoadFailed, *_PARSE_ERRORS) as exc:
                # (where the record that failed began; warcio's offset is no number to trust in a file gzipped whole)
                number, start = number + (not inside), min(max(start, records.offset), size)
                offset = _next_start(fh, start, gzipped)
                yield Quarantined(self._skipped_bytes(self._damaged(number, start, exc), start, offset, size), b"",
                                  f"{self.name}:record {number}")

    @staticmethod
    def _skipped_bytes(what: str, start: int, offset: int | None, size: int) -> str:
        if offset is None:
            return f"{what}; nothing readable follows it (bytes {start:,} to {size:,} skipped)"
        return f"{what}; bytes {start:,} to {offset:,} skipped, reading goes on with the next record"

    @staticmethod
    def _damaged(number: int, start: int, exc: Exception) -> str:
        reason = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in " ".join(str(exc).split()))
        reason = reason[:120] or type(exc).__name__  # (warcio quotes the line it could not read: kept short)
        if isinstance(exc, OverflowError):
            reason = f"a length in its headers is too large ({reason})"
        if "non-chunked gzip" in reason:
            reason = ("the file is gzipped as a whole, not one record per gzip member (`warcio recompress` "
                      "gzips it one record per member)")
        return f"WARC file is damaged at record {number} (byte {start:,}): {reason}"

    def _row(self, record, source: str) -> FileRow | Quarantined | None:
        """The record's row or quarantine entry; None (and a count in :attr:`skipped`) when it is not a page."""
        if record.rec_type != "response":
            self.skipped[f"{record.rec_type} record"] += 1
            return None
        if record.http_headers is None:
            self.skipped["response without HTTP headers"] += 1
            return None
        status = record.http_headers.get_statuscode()
        if status != "200":
            self.skipped[f"HTTP {status}"] += 1
            return None
        media, charset = _content_type(record.http_headers.get_header("Content-Type"))
        if media not in HTML_TYPES:
            self.skipped[f"content type {media}" if media else "no content type"] += 1
            return None
        uri = record.rec_headers.get_header("WARC-Target-URI")
        try:
            raw = record.content_stream().read(self.max_bytes + 1)
        except (OSError, EOFError, zlib.error, ValueError) as exc:  # a broken Content-Encoding (gzip, brotli)
            return Quarantined(f"cannot decode the page's HTTP body: {exc}", b"", source, uri)
        page = parse_page(raw, self.max_bytes, self.favor, source, uri, charset)
        if isinstance(page, Quarantined):
            return page
        canonical = page.pop("url")
        url = uri or canonical  # (a response record without a target URI breaks the WARC standard)
        return FileRow(id=url, path=shown_path(self.path.as_posix()), url=url,
                       canonical_url=canonical if canonical and canonical != url else None,
                       warc_date=record.rec_headers.get_header("WARC-Date"), **page)
