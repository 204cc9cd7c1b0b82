import csv
import json
import sqlite3

import pytest

from pipeline.config import OutputConfig
from pipeline.errors import OutputError
from pipeline.records import Quarantined
from pipeline.writers import QuarantineWriter, detect_output_format, open_writer, side_path

ROWS = [
    {"id": "a", "title": "Một", "topic": "Thể thao", "topic_score": 0.9, "summary": "Tóm tắt.",
     "topic_top_k": [{"label": "Thể thao", "score": 0.9}], "views": 1},
    {"id": "b", "title": "Hai", "topic": None, "topic_score": 0.2, "summary": "Khác.", "extra": "chỉ ở dòng này"},
]


def _write(path, rows=ROWS, batches=2):
    writer = open_writer(OutputConfig(path=path))
    for i in range(batches):
        writer.write(rows[i::batches])
    writer.close()


def test_jsonl_sink(tmp_path):
    _write(tmp_path / "r.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows == ROWS


def test_csv_sink_has_union_of_columns(tmp_path):
    _write(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "title", "topic", "topic_score", "topic_top_k", "summary", "views", "extra"]
    assert json.loads(rows[0]["topic_top_k"]) == ROWS[0]["topic_top_k"]
    assert rows[1]["extra"] == "chỉ ở dòng này" and rows[0]["extra"] == ""
    assert not list(tmp_path.glob(".*"))  # spool and temp files are gone


def test_parquet_sink_types_and_conflicting_column(tmp_path):
    import pyarrow.parquet as pq

    rows = [*ROWS, {"id": "c", "title": "Ba", "topic": "X", "topic_score": 1.0, "summary": "", "views": "nhiều"}]
    _write(tmp_path / "r.parquet", rows, batches=1)
    table = pq.read_table(tmp_path / "r.parquet")
    data = table.to_pylist()
    assert [r["id"] for r in data] == ["a", "b", "c"]
    assert data[0]["topic_top_k"] == ROWS[0]["topic_top_k"]
    assert str(table.schema.field("topic_score").type) == "double"
    assert [r["views"] for r in data] == ["1", None, '"nhiều"']  # int vs str: kept as JSON text


def test_sqlite_sink(tmp_path):
    _write(tmp_path / "r.db")
    conn = sqlite3.connect(tmp_path / "r.db")
    rows = conn.execute("SELECT id, topic, topic_score, record FROM articles ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("a", "Thể thao", 0.9), ("b", None, 0.2)]
    assert json.loads(rows[1][3])["extra"] == "chỉ ở dòng này"


def test_file_sink_is_atomic_abort_leaves_nothing(tmp_path):
    writer = open_writer(OutputConfig(path=tmp_path / "r.jsonl"))
    writer.write(ROWS)
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_quarantine_writer(tmp_path):
    q = QuarantineWriter(tmp_path / "day.jsonl")
    q.write([Quarantined("invalid JSON: x", b"{bad\xff", "f:1"),
             Quarantined("missing text field 'text'", {}, "r", "7")])
    q.close()
    assert q.path == side_path(tmp_path / "day.jsonl", "quarantine.jsonl") == tmp_path / "day.quarantine.jsonl"
    lines = [json.loads(x) for x in q.path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["raw"] == "{bad\\xff" and lines[1]["id"] == "7"
    assert q.reasons == {"invalid JSON": 1, "missing text field 'text'": 1}


def test_unknown_output_extension():
    from pathlib import Path

    with pytest.raises(OutputError, match=r"output\.format"):
        detect_output_format(Path("out.xlsx"))
