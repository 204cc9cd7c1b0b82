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
import zlib
from collections import Counter
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

from pipeline.errors import InputError
from pipeline.io.html import parse_page
from pipeline.io.records import FileRow, Quarantined

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DRAIN_BLOCK = 1 << 16


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
    """warcio's ``ArchiveIterator`` over ``fh``, which sets ``ended_cleanly`` once it is exhausted.

    warcio ends quietly where a gzip member or a record's headers are cut off. The end is clean
    when the last gzip member's end-of-stream marker was read, or, in a plain .warc, when the last
    complete record ends at the end of the file (``offset``: where warcio's next record would start).
    """
    from warcio.archiveiterator import ArchiveIterator

    size = os.fstat(fh.fileno()).st_size

    class CheckedIterator(ArchiveIterator):
        ended_cleanly = False

        def close(self) -> None:
            if self.reader is not None:
                decompressor = self.reader.decompressor
                self.ended_cleanly = self.offset >= size if decompressor is None else getattr(decompressor, "eof", True)
            super().close()

    return CheckedIterator(fh)


class WarcReader:
    """The HTML pages of one WARC file, in record order; other records are counted in :attr:`skipped`.

    The row id and ``url`` are the record's ``WARC-Target-URI`` (what was fetched); the page's own
    canonical link goes to ``canonical_url`` when it differs. Quarantine entries are named
    ``<file>:record <n>`` (n counts every record of the file, from 1). A file damaged part-way
    (truncated gzip, a record cut short) gives its rows up to the damage plus one entry for the rest.
    """

    def __init__(self, path: Path, name: str | None = None, max_bytes: int = 20_000_000,
                 favor: str = "balanced") -> None:
        self.path = path
        self.name = name or path.name
        self.max_bytes = max_bytes
        self.favor = favor
        self.skipped: Counter[str] = Counter()  # reason -> records read past, for the manifest
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
        from warcio.exceptions import ArchiveLoadFailed

        number = 0
        records = _checked_iterator(fh)
        try:
            for number, record in enumerate(records, start=1):
                source = f"{self.name}:record {number}"
                complete = record.rec_headers.get_header("Content-Length") is not None  # (else cut in its headers)
                row = self._row(record, source) if complete else None
                if not (complete and _drain(record.raw_stream)):
                    yield Quarantined(f"WARC file ends abruptly inside record {number}", b"", source,
                                      record.rec_headers.get_header("WARC-Target-URI"))
                    return
                if row is not None:
                    yield row
        except (ArchiveLoadFailed, OSError, EOFError, zlib.error, ValueError, AttributeError) as exc:
            # (AttributeError: warcio's parser on a record cut inside its headers)
            yield self._damaged(number + 1, exc)
            return
        if not records.ended_cleanly:
            yield Quarantined(f"WARC file ends abruptly after record {number}", b"",
                              f"{self.name}:record {number + 1}")

    def _damaged(self, number: int, exc: Exception) -> Quarantined:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if "non-chunked gzip" in reason:
            reason += " (the file is gzipped as a whole; `warcio recompress` gzips it one record per member)"
        return Quarantined(f"WARC file is damaged from record {number} on: {reason}", b"",
                           f"{self.name}:record {number}")

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
        return FileRow(id=url, path=self.path.as_posix(), url=url,
                       canonical_url=canonical if canonical and canonical != url else None,
                       warc_date=record.rec_headers.get_header("WARC-Date"), **page)
