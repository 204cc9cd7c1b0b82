import csv
import gzip
import json
import tracemalloc

import pytest

from pipeline.config import InputConfig
from pipeline.errors import InputError
from pipeline.readers import detect_format, open_reader, read_batches
from tests.conftest import write_jsonl

ROWS = [
    {"id": "a", "title": "Tiêu đề một", "text": "Nội dung thứ nhất.", "tags": ["x", "y"], "views": 10},
    {"id": "b", "title": "Tiêu đề hai", "text": "Nội dung\nthứ hai, có xuống dòng và \"ngoặc kép\".", "views": 3},
]


def _read(path, **kw):
    batches = list(read_batches(InputConfig(path=path, **kw)))
    records = [r for b in batches for r in b.records]
    quarantined = [q for b in batches for q in b.quarantined]
    return records, quarantined


def _core(records):
    return [(r["id"], r["title"], r["text"]) for r in records]


def test_jsonl_and_gzip_roundtrip(tmp_path):
    plain = write_jsonl(tmp_path / "a.jsonl", ROWS)
    zipped = tmp_path / "a.jsonl.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, zipped):
        records, bad = _read(path)
        assert _core(records) == [(r["id"], r["title"], r["text"]) for r in ROWS] and not bad
        assert records[0]["tags"] == ["x", "y"] and records[0]["views"] == 10


def test_jsonl_bad_lines_quarantined_with_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"id": "ok", "text": "t\xe1\xba\xa1i"}\n'
        b"{not json}\n"
        b"\n"
        b"[1, 2]\n"
        b'{"id": "latin", "text": "caf\xe9"}\n'
        b'{"id": "empty", "text": ""}\n'
    )
    records, bad = _read(path)
    assert [r["id"] for r in records] == ["ok"]
    reasons = {q.source: q.reason for q in bad}
    assert reasons["bad.jsonl:2"].startswith("invalid JSON")
    assert reasons["bad.jsonl:4"] == "expected a JSON object, got list"
    assert reasons["bad.jsonl:5"].startswith("line is not valid utf-8")
    assert any(q.reason == "field 'text' is empty" for q in bad)
    assert len(records) + len(bad) == 5  # the blank line is not a row


def test_jsonl_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(ROWS[0]).encode() + b"\r\n" + json.dumps(ROWS[1]).encode() + b"\r\n")
    records, bad = _read(path)
    assert len(records) == 2 and not bad


def test_csv_with_embedded_newlines_quotes_and_field_mapping(tmp_path):
    path = tmp_path / "a.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["uid", "headline", "body", "views"])
        writer.writeheader()
        for r in ROWS:
            writer.writerow({"uid": r["id"], "headline": r["title"], "body": r["text"], "views": r["views"]})
        fh.write("extra,row,with,too,many\n")
    records, bad = _read(path, text_field="body", title_field="headline", id_field="uid")
    assert _core(records) == [(r["id"], r["title"], r["text"]) for r in ROWS]
    assert records[0]["views"] == "10"  # CSV carries strings
    assert [q.reason for q in bad] == ["row has more fields than the header"]


def test_parquet_roundtrip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in ("id", "title", "text", "views")} for r in ROWS]), path)
    records, bad = _read(path)
    assert _core(records) == [(r["id"], r["title"], r["text"]) for r in ROWS] and not bad
    assert records[1]["views"] == 3


def test_txt_folder_first_line_is_title(tmp_path):
    folder = tmp_path / "txt"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.txt").write_text("Tiêu đề\nDòng một.\nDòng hai.", encoding="utf-8")
    (folder / "sub" / "two.txt").write_text("\nTiêu đề hai\n\nNội dung.", encoding="utf-8")
    (folder / "bad.txt").write_bytes(b"\xc3\x28 garbage \xff")
    (folder / "utf16.txt").write_bytes("Tiêu đề ba\nNội dung.".encode("utf-16"))
    records, bad = _read(folder)
    assert [(r["id"], r["title"]) for r in records] == [("one", "Tiêu đề"), ("sub/two", "Tiêu đề hai"),
                                                         ("utf16", "Tiêu đề ba")]
    assert records[0]["text"] == "Dòng một.\nDòng hai."
    assert bad[0].id == "bad" and "not valid utf-8" in bad[0].reason


def test_saved_hf_dataset_and_split(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list([{k: r[k] for k in ("id", "title", "text")} for r in ROWS])
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(tmp_path / "dd")
    records, _ = _read(tmp_path / "dd", split="test")
    assert _core(records) == [("a", "Tiêu đề một", "Nội dung thứ nhất.")]
    with pytest.raises(InputError, match=r"set input\.split"):
        open_reader(InputConfig(path=tmp_path / "dd"))


def test_missing_input_and_unknown_extension(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_reader(InputConfig(path=tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match=r"set input\.format"):
        detect_format(tmp_path / "file.xml")


def test_batches_and_limit(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", [{"id": i, "text": f"bài {i}"} for i in range(25)])
    batches = list(read_batches(InputConfig(path=path, batch_size=10, limit=23)))
    assert [b.size for b in batches] == [10, 10, 3]


def test_reading_is_streamed_memory_does_not_grow_with_input(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(30_000):
            fh.write(json.dumps({"id": i, "text": "Nội dung bài báo khá dài. " * 20}, ensure_ascii=False) + "\n")
    tracemalloc.start()
    count = sum(b.size for b in read_batches(InputConfig(path=path, batch_size=100)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 30_000
    assert path.stat().st_size > 15_000_000
    assert peak < 3_000_000  # one batch of 100 articles, not the 15+ MB file
