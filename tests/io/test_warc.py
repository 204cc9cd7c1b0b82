"""WARC files as input (input.format: warc): what becomes a row, what is skipped and counted, damage, a real run.

The WARC files are written here with warcio, around the project's own pages in samples/pages
(never a newspaper's page), with the records a crawl holds besides articles: requests, warcinfo,
redirects, a 404, an image, robots.txt.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.config import InputConfig, JobConfig
from pipeline.errors import ConfigError, InputError
from pipeline.io.html import decode_page
from pipeline.io.readers import FolderReader, detect_format, format_of_name, open_reader, read_batches
from pipeline.io.records import Quarantined
from tests.conftest import ROOT

PAGES = ROOT / "samples" / "pages"
EXPECTED_FILE = ROOT / "tests" / "fixtures" / "pages_expected.json"
EXPECTED = {k: v for k, v in json.loads(EXPECTED_FILE.read_text(encoding="utf-8")).items()
            if not k.startswith("_")}
VNNEWS = str(Path(sys.executable).parent / "vnnews")
SONG_XANH = EXPECTED["bao-a-le-hoi.html"]["url"]
CRAWLED = SONG_XANH + "?utm_source=rss"  # fetched with a tracking parameter: the canonical link differs
NONG_SAN = "http://nongsan.example.vn/ca-phe.html"  # bao-d-nong-san.html has no canonical link
DATE = "2026-11-20T03:04:05Z"
# What the crawl below reads past, by reason (one warcinfo, a request per response, 3 non-pages, 2 redirects, a 404).
SKIPPED = {"request record": 9, "warcinfo record": 1, "HTTP 301": 1, "HTTP 302": 1, "HTTP 404": 1,
           "content type image/jpeg": 1, "content type text/plain": 1, "content type application/pdf": 1}


def _response(writer: WARCWriter, uri: str, body: bytes, status: str = "200 OK",
              content_type: str | None = "text/html; charset=utf-8") -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(uri, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
    writer.write_record(writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http,
                                                  warc_headers_dict={"WARC-Date": DATE}))


def without_meta_charset(raw: bytes) -> bytes:
    """bao-d-nong-san.html (Windows-1258) with its <meta> charset taken out: only the HTTP header says it."""
    head, _, tail = raw.partition(b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1258">')
    assert tail, "the fixture page changed"
    return head + tail


def write_crawl(path: Path, compress: bool = True) -> Path:
    """A small crawl: three article pages, a page without article text, and what a crawl holds besides."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=compress)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        _response(writer, CRAWLED, (PAGES / "bao-a-le-hoi.html").read_bytes())
        _response(writer, "https://songxanh.example.vn/old", b"", "301 Moved Permanently")
        _response(writer, "https://songxanh.example.vn/robots.txt", b"User-agent: *\n", content_type="text/plain")
        _response(writer, "https://songxanh.example.vn/anh.jpg", b"\xff\xd8\xff\xe0" + bytes(64),
                  content_type="image/jpeg")
        _response(writer, NONG_SAN, without_meta_charset((PAGES / "bao-d-nong-san.html").read_bytes()),
                  content_type="text/html; charset=windows-1258")
        _response(writer, "https://songxanh.example.vn/mat", b"<html><body>Not found</body></html>", "404 Not Found")
        _response(writer, "https://songxanh.example.vn/menu", b"<html><body><nav><a href='/'>Trang chu</a></nav>"
                  b"</body></html>", content_type="application/xhtml+xml")
        _response(writer, "https://songxanh.example.vn/tai-lieu.pdf", b"%PDF-1.7", content_type="application/pdf")
        _response(writer, "https://songxanh.example.vn/x", b"", "302 Found")
    return path


def write_two_pages(path: Path) -> Path:
    """A second crawl file: two more article pages (and their requests), fetched at their canonical URLs."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for name in ("bao-b-giao-thong.html", "bao-e-suc-khoe.html"):
            _response(writer, EXPECTED[name]["url"], (PAGES / name).read_bytes())
    return path


def _no_path(row):
    """A row or entry without what names its file, to compare two copies of a WARC file."""
    return (row.reason, row.id) if isinstance(row, Quarantined) else {**row, "path": None}


def _rows(path: Path, **settings) -> list:
    return list(open_reader(InputConfig(path=path, **settings)).rows())


@pytest.mark.parametrize("name", ["CC-NEWS-20261120.warc.gz", "a.warc", "b.WARC.GZ"])
def test_warc_names_are_detected(tmp_path, name):
    assert format_of_name(name) == "warc"
    file = tmp_path / name
    file.write_bytes(b"")
    assert detect_format(file) == "warc"


def test_pages_become_rows_and_the_rest_is_counted(tmp_path):
    reader = open_reader(InputConfig(path=write_crawl(tmp_path / "crawl.warc.gz")))
    rows = list(reader.rows())
    assert [r.id if isinstance(r, Quarantined) else r["id"] for r in rows] == [CRAWLED, NONG_SAN, "https://songxanh.example.vn/menu"]
    song_xanh, nong_san, menu = rows
    want = EXPECTED["bao-a-le-hoi.html"]
    assert (song_xanh["url"], song_xanh["canonical_url"], song_xanh["warc_date"]) == (CRAWLED, SONG_XANH, DATE)
    assert (song_xanh["title"], song_xanh["author"], song_xanh["published"], song_xanh["site"]) == \
        (want["title"], want["byline"], want["published"], "Báo Sông Xanh")
    assert song_xanh["text"].startswith(want["lead"]) and all(p in song_xanh["text"] for p in want["body"])
    assert (nong_san["url"], nong_san["canonical_url"]) == (NONG_SAN, None)
    assert isinstance(menu, Quarantined)
    assert (menu.reason, menu.source, menu.id) == ("no article text found in page", "crawl.warc.gz:record 15",
                                                   "https://songxanh.example.vn/menu")
    assert reader.skipped == SKIPPED


def test_a_page_reads_the_same_from_a_warc_and_from_a_file(tmp_path):
    (page,) = _rows(PAGES / "bao-c-hoi-thi.html")
    with open(tmp_path / "one.warc", "wb") as fh:
        _response(WARCWriter(fh, gzip=False), page["url"], (PAGES / "bao-c-hoi-thi.html").read_bytes())
    (row,) = _rows(tmp_path / "one.warc")
    assert row == {**page, "path": (tmp_path / "one.warc").as_posix(), "canonical_url": None, "warc_date": DATE}


def test_charset_from_the_http_header_comes_first(tmp_path):
    raw = without_meta_charset((PAGES / "bao-d-nong-san.html").read_bytes())
    assert "Giá cà phê tăng" in decode_page(raw, "windows-1258")
    mislabelled = raw.replace(b"<head>", b'<head><meta charset="iso-8859-1">', 1)  # latin-1 decodes any bytes
    assert "Giá cà phê tăng" not in decode_page(mislabelled)
    assert "Giá cà phê tăng" in decode_page(mislabelled, "windows-1258")  # the server's word wins, as in browsers
    nong_san = next(r for r in _rows(write_crawl(tmp_path / "crawl.warc")) if r["id"] == NONG_SAN)
    assert nong_san["title"].startswith("Giá cà phê tăng") and "cà phê nhân" in nong_san["text"]


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_a_truncated_warc_gives_its_rows_up_to_the_damage(tmp_path, keep):
    whole = write_crawl(tmp_path / "whole.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    full = _rows(tmp_path / "whole.warc.gz")
    rows = _rows(cut)
    *good, last = rows
    assert [_no_path(r) for r in good] == [_no_path(r) for r in full[: len(good)]]
    assert isinstance(last, Quarantined) and last.reason.startswith("WARC file")
    assert last.source.startswith("cut.warc.gz:record ")


def test_a_warc_gzipped_as_a_whole_is_quarantined_with_the_fix(tmp_path):
    plain = write_crawl(tmp_path / "crawl.warc", compress=False)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    last = _rows(whole)[-1]
    assert isinstance(last, Quarantined) and "warcio recompress" in last.reason


def test_resume_skips_rows_by_index(tmp_path):
    folder = tmp_path / "crawl"
    folder.mkdir()
    write_crawl(folder / "a.warc.gz")
    write_crawl(folder / "b.warc")
    config = InputConfig(path=folder, batch_size=2)
    everything = [r["id"] for b in read_batches(config) for r in b.records]
    reader = FolderReader(folder, config)
    resumed = [r["id"] for b in read_batches(config, reader, start=4) for r in b.records]
    assert everything == [CRAWLED, NONG_SAN] * 2
    assert resumed == [NONG_SAN]  # rows 0-2 are a.warc.gz's (its menu page quarantined), 3-5 b.warc's
    assert reader.skipped == {k: 2 * n for k, n in SKIPPED.items()}  # counted over the whole input all the same


def test_raw_pages_is_refused_for_warc():
    with pytest.raises((ConfigError, ValueError), match="raw_pages"):
        JobConfig.model_validate({"input": {"path": "crawl.warc.gz", "format": "warc", "raw_pages": True},
                                  "output": {"path": "out.jsonl"}})


def test_vnnews_run_over_a_folder_of_warc_files(tmp_path):
    """The command line: pages as rows (id = target URI), quarantine, skipped counts in the manifest, a rerun."""
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_crawl(crawl / "CC-NEWS-1.warc.gz")
    write_two_pages(crawl / "CC-NEWS-2.warc.gz")
    out = tmp_path / "out" / "news.jsonl"
    cfg = {"input": {"path": str(crawl)}, "output": {"path": str(out)},
           "classify": {"model": "models/topic-tfidf-vntc"},
           "summarize": {"kind": "extractive", "method": "lead_title", "max_sentences": 1},
           "runner": {"progress": "off"}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")

    def vnnews() -> subprocess.CompletedProcess:
        return subprocess.run([VNNEWS, "run", str(tmp_path / "job.yaml")], capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)

    proc = vnnews()
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    want_ids = {CRAWLED, NONG_SAN, EXPECTED["bao-b-giao-thong.html"]["url"], EXPECTED["bao-e-suc-khoe.html"]["url"]}
    assert set(rows) == want_ids
    assert all(row["url"] == rid and row["warc_date"] == DATE and row["topic"] for rid, row in rows.items())
    quarantine = [json.loads(line) for line in out.with_name("news.quarantine.jsonl").read_text().splitlines()]
    assert [(q["id"], q["reason"]) for q in quarantine] == [("https://songxanh.example.vn/menu",
                                                             "no article text found in page")]
    manifest = json.loads(out.with_name("news.manifest.json").read_text(encoding="utf-8"))
    assert manifest["skipped"] == {**SKIPPED, "request record": SKIPPED["request record"] + 2}
    assert (manifest["counts"]["read"], manifest["counts"]["written"], manifest["counts"]["quarantined"]) == (5, 4, 1)
    assert f"skipped {sum(manifest['skipped'].values())} records" in " ".join(proc.stdout.split())
    runs = [json.loads(line) for line in out.with_name("news.runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert runs[-1]["skipped"] == manifest["skipped"]
    report = out.with_name("news.report.html").read_text(encoding="utf-8")
    assert f"Skipped input records ({sum(manifest['skipped'].values())}" in report and "HTTP 301" in report

    again = vnnews()
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout


def test_bytes_read_reach_the_file_size(tmp_path):
    """What the progress bar shows for WARC input: bytes read, over one file or a folder of them."""
    from pipeline.io.readers import bytes_progress

    crawl = tmp_path / "crawl"
    crawl.mkdir()
    one = write_crawl(crawl / "a.warc.gz")
    two = write_two_pages(crawl / "b.warc.gz")
    size = one.stat().st_size + two.stat().st_size
    reader = open_reader(InputConfig(path=crawl))
    position = bytes_progress(reader)
    assert position() == (0, size)
    seen = [position()[0] for _ in reader.rows()]
    assert seen == sorted(seen) and 0 < seen[0] < size
    assert position() == (size, size)
    single = open_reader(InputConfig(path=one))
    list(single.rows())
    assert bytes_progress(single)() == (one.stat().st_size,) * 2
    assert bytes_progress(open_reader(InputConfig(path=PAGES))) is None  # a folder of pages is counted by rows


def test_a_warc_without_pages_says_why_and_exits_4(tmp_path):
    """0 rows from a crawl of redirects and robots.txt: exit 4 naming what its records were, no output written."""
    crawl = tmp_path / "redirects.warc.gz"
    with open(crawl, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        _response(writer, "https://songxanh.example.vn/old", b"", "301 Moved Permanently")
        _response(writer, "https://songxanh.example.vn/robots.txt", b"User-agent: *\n", content_type="text/plain")
    out = tmp_path / "out" / "news.jsonl"
    cfg = {"input": {"path": str(crawl)}, "output": {"path": str(out)}, "runner": {"progress": "off"},
           "summarize": {"method": "lead_title"}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = subprocess.run([VNNEWS, "run", str(tmp_path / "job.yaml")], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 4, (proc.stdout, proc.stderr)
    message = " ".join(proc.stderr.split())
    assert "gave 0 rows: it holds 4 records and none of them is an HTML page with HTTP status 200" in message
    assert "request record (2); HTTP 301 (1); content type text/plain (1)" in message
    assert "Traceback" not in proc.stderr and not out.exists()



def test_an_empty_crawl_says_it_holds_no_record(tmp_path):
    """A .warc.gz that is a gzip stream of nothing (a crawl that fetched nothing): exit 4 in a sentence of its own,
    with no list of skipped records, and the output left as it was."""
    from pipeline import Pipeline
    from tests.conftest import job

    crawl = tmp_path / "nothing.warc.gz"
    crawl.write_bytes(gzip.compress(b""))
    with pytest.raises(InputError) as caught:
        Pipeline.from_dict(job(tmp_path, crawl, classify={"enabled": False}, summarize={"enabled": False})).run()
    assert str(caught.value) == (
        f"Input {crawl} gave 0 rows: it holds no WARC record at all, so no HTML page with HTTP status 200. Check "
        "input.path (a crawl of pages, not of robots.txt or redirects?); the output was left as it was.")
    assert not (tmp_path / "out" / "results.jsonl").exists()

def test_a_crawl_without_pages_names_its_eight_most_common_kinds_of_record(tmp_path):
    """Many kinds of skipped record: the exit-4 message lists the eight most common with their counts, no more."""
    from pipeline import Pipeline
    from tests.conftest import job

    statuses = ["301 Moved Permanently", "302 Found", "303 See Other", "307 Temporary Redirect",
                "308 Permanent Redirect", "400 Bad Request", "403 Forbidden", "404 Not Found", "410 Gone",
                "500 Internal Server Error"]
    crawl = tmp_path / "errors.warc.gz"
    with open(crawl, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for n, status in enumerate(statuses):  # 10 records of the first status, 9 of the next, ...
            for i in range(len(statuses) - n):
                _response(writer, f"https://songxanh.example.vn/{n}/{i}", b"", status)
    with pytest.raises(InputError) as caught:
        Pipeline.from_dict(job(tmp_path, crawl, classify={"enabled": False}, summarize={"enabled": False})).run()
    listed = "request record (55); " + "; ".join(f"HTTP {s.split()[0]} ({10 - n})" for n, s in enumerate(statuses[:7]))
    assert f"it holds 110 records and none of them is an HTML page with HTTP status 200 (skipped: {listed})." in \
        str(caught.value)


# --- a damaged record among good ones: the records before and after it are read --------------------------------

def _five_pages(compress: bool) -> bytes:
    """Five article pages (each fixture page once), one record each, no other record."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=compress)
    for i, page in enumerate(sorted(PAGES.iterdir())):
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(f"https://x.example.vn/{i}", "response", http_headers=http,
                                                      payload=io.BytesIO(page.read_bytes())))
    return buf.getvalue()


def _with_length(data: bytes, compress: bool, record: int, length: bytes | None, delta: int = 0) -> bytes:
    """``data`` with the Content-Length of record ``record`` (from 0) replaced by ``length`` (or changed by
    ``delta``); in a .warc.gz the record's gzip member is written again around it."""
    import re

    def change(block: bytes) -> bytes:
        m = re.search(rb"Content-Length: (\d+)", block)
        return block[:m.start(1)] + (length or str(int(m.group(1)) + delta).encode()) + block[m.end(1):]

    if compress:
        starts = [m.start() for m in re.finditer(rb"\x1f\x8b\x08", data)] + [len(data)]
        a, b = starts[record], starts[record + 1]
        return data[:a] + gzip.compress(change(gzip.decompress(data[a:b]))) + data[b:]
    starts = [m.start() for m in re.finditer(rb"WARC/1\.[01]\r\n", data)]
    return data[:starts[record]] + change(data[starts[record]:])


def _damage(kind: str, data: bytes, compress: bool) -> bytes:
    import re

    if kind.startswith("length "):
        value = kind.split(" ", 1)[1]
        if value in ("+5000", "-500"):
            return _with_length(data, compress, 2, None, int(value))
        return _with_length(data, compress, 2, value.encode())
    starts = [m.start() for m in re.finditer(rb"\x1f\x8b\x08" if compress else rb"WARC/1\.[01]\r\n", data)]
    third, fourth = starts[2], starts[3]
    if kind == "bad header line":
        return data[:third] + b"WARX/1.0" + data[third + 8:]
    if kind == "garbage between records":
        return data[:third] + b"\x00garbage\r\n\r\n" + data[third:]
    assert kind == "truncated member" and compress
    return data[:third] + data[third:fourth][: (fourth - third) // 2] + data[fourth:]


DAMAGE = ["length 99999999999999999999999999", "length 18446744073709551616", "length -5", "length abc",
          "length 1e3", "length +5000", "length -500", "bad header line", "garbage between records"]


@pytest.mark.parametrize(("kind", "compress"), [(k, c) for k in DAMAGE for c in (False, True)]
                         + [("truncated member", True)])
def test_a_damaged_record_costs_that_record_only(tmp_path, kind, compress):
    path = tmp_path / ("crawl.warc.gz" if compress else "crawl.warc")
    path.write_bytes(_damage(kind, _five_pages(compress), compress))
    rows = _rows(path)
    entries = [r for r in rows if isinstance(r, Quarantined)]
    ids = [r["id"] for r in rows if not isinstance(r, Quarantined)]
    assert len(entries) == 1, [e.reason for e in entries]
    (entry,) = entries
    assert entry.reason.startswith("WARC file is damaged at record 3 (byte "), entry.reason
    assert "reading goes on with the next record" in entry.reason and entry.source == f"{path.name}:record 3"
    kept = {f"https://x.example.vn/{i}" for i in (0, 1, 3, 4)}
    assert kept <= set(ids) and set(ids) <= kept | {"https://x.example.vn/2"}  # record 3 whole only when left as is
    assert "https://x.example.vn/2" in ids if kind == "garbage between records" else "https://x.example.vn/2" not in ids


@pytest.mark.parametrize("compress", [False, True], ids=["warc", "warc.gz"])
def test_a_damaged_last_record_says_nothing_follows(tmp_path, compress):
    path = tmp_path / "crawl.warc"
    path.write_bytes(_with_length(_five_pages(compress), compress, 4, b"99999999999999999999999999"))
    rows = _rows(path)
    assert [r["id"] for r in rows[:4]] == [f"https://x.example.vn/{i}" for i in range(4)]
    assert "nothing readable follows it" in rows[4].reason and len(rows) == 5


def test_vnnews_run_keeps_the_pages_around_an_overflowing_content_length(tmp_path):
    """The issue's case through the command line: a Content-Length beyond 64 bits in the middle of a crawl."""
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(_with_length(_five_pages(True), True, 2, b"99999999999999999999999999"))
    out = tmp_path / "out" / "news.jsonl"
    cfg = {"input": {"path": str(path)}, "output": {"path": str(out)}, "runner": {"progress": "off"},
           "classify": {"enabled": False}, "summarize": {"enabled": False}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = subprocess.run([VNNEWS, "run", str(tmp_path / "job.yaml"), "-q"], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert ids == [f"https://x.example.vn/{i}" for i in (0, 1, 3, 4)]
    (entry,) = map(json.loads, out.with_name("news.quarantine.jsonl").read_text(encoding="utf-8").splitlines())
    assert entry["source"] == "crawl.warc.gz:record 3" and "a length in its headers is too large" in entry["reason"]
