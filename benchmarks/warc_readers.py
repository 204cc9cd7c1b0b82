"""warcio against FastWARC: time to iterate a CC-NEWS-like WARC file and read its HTML pages.

    python -m venv /tmp/warcbench && /tmp/warcbench/bin/pip install warcio fastwarc
    /tmp/warcbench/bin/python benchmarks/warc_readers.py [samples/pages] [300]

Writes a ``.warc.gz`` the way CC-NEWS does (one gzip member per record) with warcio: N request and N
response records, every fifth response a 301 redirect, the others the project's own test pages,
each repeated four times to the size of a real article page. Then, for each library, iterates it
and reads the bodies of the HTTP 200 responses (best of 5 runs). FastWARC is not a dependency of
vnnews, hence the separate environment; docs/warc.md has the numbers and the choice.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

from common import ROOT, argument_parser
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def write_crawl(path: Path, pages: list[bytes], n: int) -> None:
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in range(n):
            uri = f"https://example.vn/a/{i}.html"
            request = io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")
            writer.write_record(writer.create_warc_record(uri, "request", payload=request))
            if i % 5 == 4:
                http, body = StatusAndHeaders("301 Moved", [("Location", uri + "x")], protocol="HTTP/1.1"), b""
            else:
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
                body = pages[i % len(pages)] * 4
            writer.write_record(writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http))


def with_warcio(path: Path) -> tuple[int, int]:
    from warcio.archiveiterator import ArchiveIterator

    pages = size = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type == "response" and record.http_headers.get_statuscode() == "200":
                size += len(record.content_stream().read())
                pages += 1
    return pages, size


def with_fastwarc(path: Path) -> tuple[int, int]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    pages = size = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, record_types=WarcRecordType.any_type, parse_http=True):
            if record.record_type == WarcRecordType.response and record.http_headers.status_code == 200:
                size += len(record.reader.read())
                pages += 1
    return pages, size


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "samples" / "pages", help="HTML pages")
    parser.add_argument("n", nargs="?", type=int, default=300, help="response records to write")
    args = parser.parse_args()
    folder, n = args.folder, args.n
    pages = [p.read_bytes() for p in sorted(folder.glob("*.html"))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.warc.gz"
        write_crawl(path, pages, n)
        print(f"{2 * n} records, {path.stat().st_size:,} bytes gzipped")
        for name, read in (("warcio", with_warcio), ("fastwarc", with_fastwarc)):
            read(path)  # warm up (imports, page cache)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                found, size = read(path)
                times.append(time.perf_counter() - start)
            print(f"{name}: {found} pages, {size:,} bytes, best of 5 {min(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
