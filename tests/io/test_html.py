"""HTML pages as input (input.format: html): the reader on the project's own test pages, and a real `vnnews run`.

The pages under samples/pages are the project's own writing in the layouts of Vietnamese
newspapers; tests/fixtures/pages_expected.json says what each should give (see benchmarks/html_extraction.py).
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import InputConfig, JobConfig
from pipeline.errors import ConfigError
from pipeline.io.html import HtmlReader, decode_page, extract, looks_like_name
from pipeline.io.readers import detect_format, format_of_name, open_reader, read_batches
from pipeline.io.records import Quarantined
from tests.conftest import ROOT

PAGES = ROOT / "samples" / "pages"
EXPECTED_FILE = ROOT / "tests" / "fixtures" / "pages_expected.json"
EXPECTED = {k: v for k, v in json.loads(EXPECTED_FILE.read_text(encoding="utf-8")).items()
            if not k.startswith("_")}
VNNEWS = str(Path(sys.executable).parent / "vnnews")

ENGLISH = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Harbour ferry returns after repairs</title></head><body><nav><a href="/">Home</a> <a href="/city">City</a></nav>
<article><h1>Harbour ferry returns after repairs</h1>
<p>The old harbour ferry made its first crossing in three months on Monday morning, carrying commuters who had been
taking a long detour around the bay while its engine was rebuilt at the shipyard.</p>
<p>Passengers said the boat felt quieter than before, and the operator promised that the timetable would return to
a departure every twenty minutes by the end of the week, once the crew had finished their safety drills.</p>
<p>The council said it would review the cost of the repairs next month and decide whether a second boat is needed to
keep the service running during future maintenance.</p></article><footer>City Desk</footer></body></html>"""


def _rows(path: Path, **settings) -> list:
    return list(open_reader(InputConfig(path=path, **settings)).rows())


@pytest.mark.parametrize("name", ["a.html", "A.HTM", "day/a.html.gz", "b.htm.gz"])
def test_html_names_are_detected(tmp_path, name):
    assert format_of_name(name) == "html"
    page = tmp_path / Path(name).name
    page.write_text("<html></html>")
    assert detect_format(page) == "html"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_page_gives_its_article(name):
    want = EXPECTED[name]
    (row,) = _rows(PAGES / name)
    assert row["title"] == want["title"]
    assert row["url"] == want["url"]
    assert row["id"] == (want["url"] or Path(name).stem)  # no url: the path without extension, as for .txt
    assert (row["published"], row["published_source"]) == (want["published"], want["published_source"])
    assert row["author"] == want["byline"]
    assert row["text"].startswith(want["lead"])
    assert all(paragraph in row["text"] for paragraph in want["body"])
    assert [s for s in want["boilerplate"] if s in row["text"]] == []


def test_site_comes_from_the_page_or_is_missing():
    (row,) = _rows(PAGES / "bao-a-le-hoi.html")
    assert row["site"] == "Báo Sông Xanh"


def test_declared_windows_1258_is_decoded_and_composed():
    raw = (PAGES / "bao-d-nong-san.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    html = decode_page(raw)
    assert "Giá cà phê tăng" in html  # NFC: the separate tone marks of Windows-1258 are composed


def test_gzipped_page_reads_like_the_page(tmp_path):
    page = tmp_path / "bao-c-hoi-thi.html.gz"
    page.write_bytes(gzip.compress((PAGES / "bao-c-hoi-thi.html").read_bytes()))
    (plain,) = _rows(PAGES / "bao-c-hoi-thi.html")
    assert _rows(page) == [{**plain, "path": page.as_posix()}]


def test_a_page_without_url_is_named_by_its_path_in_the_folder(tmp_path):
    (tmp_path / "2026" / "11").mkdir(parents=True)
    shutil.copy(PAGES / "bao-d-nong-san.html", tmp_path / "2026" / "11" / "ca-phe.HTM")
    (row,) = _rows(tmp_path)
    assert row["id"] == "2026/11/ca-phe"


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "page is empty"),
    (b"  \n\t ", "page is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "page is binary, not HTML text"),
    (b"<html><head><title>x</title></head><body><nav><a href='/'>Trang ch\xe1\xbb\xa7</a></nav></body></html>",
     "no article text found in page"),
    (("<html><body><h1>Thể thao</h1><ul>" + "".join(f"<li><a href='/{i}'>Đội tuyển thắng trận thứ {i}</a></li>"
                                                    for i in range(30)) + "</ul></body></html>").encode(),
     "no article text found in page"),
])
def test_junk_pages_are_quarantined_with_a_reason(tmp_path, content, reason):
    page = tmp_path / "junk.html"
    page.write_bytes(content)
    (row,) = HtmlReader(tmp_path, [page]).rows()
    assert isinstance(row, Quarantined)
    assert (row.reason, row.source, row.id) == (reason, "junk.html", "junk")


def test_pages_sit_beside_other_inputs_in_a_folder(tmp_path):
    shutil.copy(PAGES / "bao-a-le-hoi.html", tmp_path)
    (tmp_path / "note.txt").write_text("Tiêu đề\nNội dung bài viết bằng tiếng Việt.", encoding="utf-8")
    (batch,) = read_batches(InputConfig(path=tmp_path, text_field="body", id_field="key"))
    assert [r["id"] for r in batch.records] == [EXPECTED["bao-a-le-hoi.html"]["url"], "note"]
    assert batch.records[0]["author"] == "Minh Anh"  # input.*_field name the fields of data files, not of pages


def test_lead_with_a_credit_and_byline_prefix_are_cleaned():
    page = extract(
        "<html><body><h1>Tiêu đề bài</h1><h2 class='sapo'>(Báo Mẫu) - Một câu dẫn đủ dài để làm sapo cho bài viết "
        "thử nghiệm này.</h2><div class='content'><p>" + "Đoạn thân bài có nội dung đầy đủ và dài. " * 8
        + "</p><p style='text-align:right'><strong>Bài và ảnh: Ngọc Mai</strong></p></div></body></html>"
    )
    assert page["text"].startswith("Một câu dẫn đủ dài")
    assert page["author"] == "Ngọc Mai" and "Ngọc Mai" not in page["text"]


@pytest.mark.parametrize(("line", "name"), [
    ("Minh Anh", True), ("N. Huyền", True), ("Bài: Lan Hương", True), ("Đọc thêm", False),
    ("Giá vàng hôm nay giảm", False), ("Cập nhật: 09/11/2026", False), ("Video", False), ("Theo Tuổi Trẻ", False),
    ("Xem thêm bài viết cùng chủ đề", False),
])
def test_looks_like_name(line, name):
    assert looks_like_name(line) is name


def test_raw_pages_is_refused_for_html():
    with pytest.raises((ConfigError, ValueError), match="raw_pages"):
        JobConfig.model_validate({"input": {"path": "pages", "format": "html", "raw_pages": True},
                                  "output": {"path": "out.jsonl"}})


def test_vnnews_run_over_a_folder_of_pages(tmp_path):
    """The command line over pages: rows with their fields, junk quarantined, every stage run."""
    pages = tmp_path / "pages"
    shutil.copytree(PAGES, pages, ignore=shutil.ignore_patterns("*.json"))
    (pages / "empty.html").write_bytes(b"")
    (pages / "logo.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    (pages / "english.htm").write_text(ENGLISH, encoding="utf-8")
    out = tmp_path / "out" / "pages.jsonl"
    cfg = {"input": {"path": str(pages)}, "output": {"path": str(out), "include_text": True},
           "classify": {"model": "models/topic-tfidf-vntc"},
           "summarize": {"kind": "extractive", "method": "lead_title", "max_sentences": 1},
           "runner": {"progress": "off"}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run([VNNEWS, "run", str(tmp_path / "job.yaml"), "-q"], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert set(rows) == {want["url"] or Path(name).stem for name, want in EXPECTED.items()}
    for name, want in EXPECTED.items():
        row = rows[want["url"] or Path(name).stem]
        assert (row["title"], row["author"], row["published"]) == (want["title"], want["byline"], want["published"])
        assert row["text"].startswith(want["lead"]) and row["topic"] and row["summary"]
    quarantine = {q["source"]: q["reason"] for q in map(json.loads, out.with_name("pages.quarantine.jsonl")
                                                        .read_text(encoding="utf-8").splitlines())}
    assert quarantine["empty.html"] == "page is empty"
    assert quarantine["logo.html"] == "page is binary, not HTML text"
    assert "not Vietnamese" in next(reason for source, reason in quarantine.items() if source not in
                                    ("empty.html", "logo.html"))
    counts = json.loads(out.with_name("pages.manifest.json").read_text(encoding="utf-8"))["counts"]
    assert (counts["read"], counts["written"], counts["quarantined"]) == (len(EXPECTED) + 3, len(EXPECTED), 3)


_BODY = "<p>" + "Người dân trong xã đã cùng nhau sửa lại con đường đất dẫn ra cánh đồng trước mùa mưa. " * 3 + "</p>"


def _page(head: str = "", before: str = "", footer: str = "") -> str:
    return (f"<html><head><meta charset='utf-8'><title>Sửa đường ra đồng</title>{head}</head><body>"
            f"<article><h1>Sửa đường ra đồng</h1>{before}{_BODY}</article><footer>{footer}</footer></body></html>")


@pytest.mark.parametrize("name, page, published, source", [
    ("only a copyright footer", _page(footer="© 2026 Báo Làng. Bản quyền thuộc về tòa soạn."), None, None),
    ("copyright spelled out", _page(footer="Copyright 2025 Báo Làng"), None, None),
    ("meta tag", _page('<meta property="article:published_time" content="2025-03-14T09:30:00+07:00">',
                       footer="© 2026 Báo Làng"), "2025-03-14", "metadata"),
    ("date in the url", _page('<link rel="canonical" href="https://baolang.example.vn/2025/03/14/duong-ra-dong.htm">',
                              footer="© 2026 Báo Làng"), "2025-03-14", "url"),
    ("date in the text", _page(before="<p>Cập nhật: 09/11/2025</p>", footer="© 2026 Báo Làng"), "2025-11-09", "text"),
])
def test_published_says_where_it_comes_from_and_never_guesses_from_a_footer(name, page, published, source):
    """A footer's copyright year used to become published = YEAR-01-01; now published is null without a date."""
    row = extract(page)
    assert (row["published"], row["published_source"]) == (published, source), name
