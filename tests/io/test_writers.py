import csv
import json
import sqlite3
from pathlib import Path

import pytest

from pipeline.config import OutputConfig
from pipeline.errors import OutputError
from pipeline.io.writers import (
    JsonlRows,
    commit,
    commit_quarantine,
    detect_output_format,
    dumps,
    dumps_bytes,
    open_sink,
    side_path,
    with_previous_fields,
)

ROWS = [
    {"id": "a", "title": "Một", "topic": "Thể thao", "topic_score": 0.9, "summary": "Tóm tắt.",
     "topic_top_k": [{"label": "Thể thao", "score": 0.9}], "views": 1, "run_id": "r1"},
    {"id": "b", "title": "Hai", "topic": None, "topic_score": 0.2, "summary": "Khác.", "extra": "chỉ ở dòng này",
     "run_id": "r1"},
]


def _commit(path: Path, rows=ROWS, mode="overwrite", run_id="r1"):
    sink = open_sink(OutputConfig(path=path, mode=mode))
    commit(sink, mode, lambda: iter(rows), "id", run_id)
    return sink


def test_jsonl_sink(tmp_path):
    sink = _commit(tmp_path / "r.jsonl")
    assert list(sink.read_rows()) == ROWS


def test_csv_sink_has_union_of_columns(tmp_path):
    _commit(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "title", "topic", "topic_score", "topic_top_k", "summary", "views", "run_id",
                             "extra"]
    assert json.loads(rows[0]["topic_top_k"]) == ROWS[0]["topic_top_k"]
    assert rows[1]["extra"] == "chỉ ở dòng này" and rows[0]["extra"] == ""
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_parquet_sink_types_and_conflicting_column(tmp_path):
    import pyarrow.parquet as pq

    rows = [*ROWS, {"id": "c", "title": "Ba", "topic": "X", "topic_score": 1.0, "summary": "", "views": "nhiều"}]
    _commit(tmp_path / "r.parquet", rows)
    table = pq.read_table(tmp_path / "r.parquet")
    data = table.to_pylist()
    assert [r["id"] for r in data] == ["a", "b", "c"]
    assert data[0]["topic_top_k"] == ROWS[0]["topic_top_k"]
    assert str(table.schema.field("topic_score").type) == "double"
    assert [r["views"] for r in data] == ["1", None, '"nhiều"']  # int vs str: kept as JSON text


def test_sqlite_sink(tmp_path):
    _commit(tmp_path / "r.db")
    conn = sqlite3.connect(tmp_path / "r.db")
    rows = conn.execute("SELECT id, topic, topic_score, record FROM articles ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("a", "Thể thao", 0.9), ("b", None, 0.2)]
    assert json.loads(rows[1][3])["extra"] == "chỉ ở dòng này"


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet", "db"])
def test_modes_overwrite_append_upsert(tmp_path, suffix):
    path = tmp_path / f"r.{suffix}"
    _commit(path, ROWS[:1])
    update = [{**ROWS[0], "summary": "Mới.", "run_id": "r2"}, {**ROWS[1], "run_id": "r2"}]
    sink = _commit(path, update, mode="upsert", run_id="r2")
    rows = {r["id"]: r for r in sink.read_rows()}
    assert sorted(rows) == ["a", "b"] and rows["a"]["summary"] == "Mới."
    if suffix != "db":
        _commit(path, [{**ROWS[1], "id": "c", "run_id": "r3"}], mode="append", run_id="r3")
        assert [r["id"] for r in sink.read_rows()] == ["a", "b", "c"]
        _commit(path, [{**ROWS[1], "id": "c", "run_id": "r3"}], mode="append", run_id="r3")  # a repeated commit
        assert [r["id"] for r in sink.read_rows()] == ["a", "b", "c"]
    _commit(path, ROWS[1:], mode="overwrite", run_id="r4")
    assert [r["id"] for r in sink.read_rows()] == ["b"]


def test_sqlite_upsert_keeps_created_at(tmp_path):
    path = tmp_path / "r.db"
    _commit(path, ROWS[:1])
    created = sqlite3.connect(path).execute("SELECT created_at FROM articles").fetchone()[0]
    _commit(path, [{**ROWS[0], "summary": "Mới.", "run_id": "r2"}], mode="upsert", run_id="r2")
    row = sqlite3.connect(path).execute("SELECT created_at, summary, run_id FROM articles").fetchone()
    assert row == (created, "Mới.", "r2")  # the row is the new run's; only created_at is kept


def test_sql_rows_read_back_in_commit_order_within_one_second(tmp_path, monkeypatch):
    """Two commits in the same second (a clock that moves 0.1 s between them): the older commit's rows still read
    back first. A table's order must not depend on whether its commits crossed a second boundary."""
    import datetime as dt

    from pipeline.io import writers

    ticks = iter(dt.datetime(2026, 12, 1, 8, 0, 0, 100_000 * i, tzinfo=dt.UTC) for i in range(1, 10))

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return next(ticks)

    monkeypatch.setattr(writers, "datetime", Clock)
    path = tmp_path / "r.db"
    _commit(path, [{**ROWS[1], "id": "z-old"}], run_id="r0")
    sink = _commit(path, ROWS, mode="upsert")
    assert [r["id"] for r in sink.read_rows()] == ["z-old", "a", "b"]


def test_sqlite_refuses_append(tmp_path):
    with pytest.raises(OutputError, match="upsert"):
        open_sink(OutputConfig(path=tmp_path / "r.db", mode="append"))


def test_quarantine_file_modes(tmp_path):
    path = side_path(tmp_path / "day.jsonl", "quarantine.jsonl")
    assert path == tmp_path / "day.quarantine.jsonl"
    first = [{"id": None, "reason": "invalid JSON", "source": "f:1", "raw": "{", "run_id": "r1"}]
    commit_quarantine(path, "overwrite", lambda: iter(first), "r1")
    second = [{**first[0], "run_id": "r2"}]
    commit_quarantine(path, "append", lambda: iter(second), "r2")
    commit_quarantine(path, "append", lambda: iter(second), "r2")  # repeated after a crash: no duplicate
    assert [json.loads(x)["run_id"] for x in path.read_text(encoding="utf-8").splitlines()] == ["r1", "r2"]


def test_unwritable_output_and_unknown_extension(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="Cannot write"):
        open_sink(OutputConfig(path=blocker / "sub" / "r.jsonl"))
    with pytest.raises(OutputError, match=r"output\.format"):
        detect_output_format(Path("out.xlsx"))


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet", "db"])
def test_signature_follows_the_committed_rows(tmp_path, suffix):
    path = tmp_path / f"r.{suffix}"
    sink = open_sink(OutputConfig(path=path))
    assert sink.signature() in (None, [0, None])  # nothing committed yet (SQLite: empty table)
    commit(sink, "overwrite", lambda: iter(ROWS), "id", "r1")
    first = sink.signature()
    assert first is not None and first == sink.signature()
    commit(sink, "overwrite", lambda: iter(ROWS[:1]), "id", "r2")
    assert sink.signature() != first


def test_with_previous_fields_takes_model_fields_of_the_same_key(tmp_path):
    sink = _commit(tmp_path / "r.jsonl")
    refreshed = [{"id": "a", "title": "raw title", "views": 2, "run_id": "r2"}]
    rows = list(with_previous_fields(sink, "id", lambda: iter(refreshed), ("title", "topic", "summary"))())
    assert rows == [{"id": "a", "title": "Một", "views": 2, "run_id": "r2", "topic": "Thể thao",
                     "summary": "Tóm tắt."}]
    with pytest.raises(OutputError, match="no longer in the output"):
        with_previous_fields(sink, "id", lambda: iter([{"id": "gone"}]), ("topic",))


def test_directory_output_is_refused(tmp_path):
    (tmp_path / "out.jsonl").mkdir()
    for fmt in ("auto", "jsonl", "csv"):
        with pytest.raises(OutputError, match="is a directory"):
            open_sink(OutputConfig(path=tmp_path / "out.jsonl", format=fmt))


def test_parquet_keeps_fields_holding_empty_objects_as_json_text(tmp_path):
    """Parquet cannot store a struct without fields: such a column (at any depth) is written as JSON text."""
    import pyarrow.parquet as pq

    from pipeline.io.writers import ParquetSink

    rows = [{"id": "a", "meta": {}, "deep": [{"x": {}}]}, {"id": "b", "meta": {}, "deep": []}]
    sink = ParquetSink(tmp_path / "out.parquet")
    sink.replace(lambda: rows)
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [(r["meta"], r["deep"]) for r in table] == [("{}", '[{"x": {}}]'), ("{}", "[]")]


def test_jsonl_lines_hold_the_values_python_s_json_would_write():
    """orjson writes the JSONL lines; each must parse to what json.dumps(default=str) would have written,
    non-ASCII unescaped: numpy floats as numbers, dates as str() text, NaN as null, and values orjson
    refuses (a non-string key, a 70-bit integer) through the standard library."""
    import datetime
    import decimal

    import numpy as np

    rows = [
        {**ROWS[0], "when": datetime.datetime(2026, 11, 30, 8, 5), "day": datetime.date(2026, 11, 30),
         "price": decimal.Decimal("1.50"), "f64": np.float64(0.25), "f32": np.float32(0.5), "i64": np.int64(3),
         "nan": float("nan"), "inf": [float("inf")], "tiny": 1e-05, "big": 1e16, "neg": -0.0},
        {"id": "c", 1: "a non-string key"},
        {"id": "d", "huge": 2**70},
    ]
    for row in rows:
        line = dumps_bytes(row)
        assert b"\n" not in line  # one row, one line
        assert json.loads(line) == json.loads(dumps(row))
    assert "Thể thao".encode() in dumps_bytes(rows[0])  # non-ASCII written as itself, not escaped
    assert json.loads(dumps_bytes(rows[0]))["when"] == "2026-11-30 08:05:00"
    assert json.loads(dumps_bytes(rows[0]))["nan"] is None and json.loads(dumps_bytes(rows[0]))["f64"] == 0.25
    assert dumps(ROWS[0]).startswith('{"id": "a", ')  # JSON inside CSV/Parquet/SQL keeps Python's layout


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet", "db"])
@pytest.mark.parametrize("mode", ["overwrite", "append", "upsert"])
def test_rows_given_as_jsonl_lines_commit_like_rows_given_as_dicts(tmp_path, suffix, mode):
    """A run hands its rows over as JSONL lines (JsonlRows); every sink and mode must end with the same rows."""
    if suffix == "db" and mode == "append":
        return
    lines = JsonlRows(lambda: [b"".join(dumps_bytes(r) + b"\n" for r in ROWS[:1]), dumps_bytes(ROWS[1]) + b"\n"])
    results = []
    for name, rows in (("dicts", lambda: iter(ROWS)), ("lines", lines)):
        path = tmp_path / name / f"out.{suffix}"
        sink = open_sink(OutputConfig(path=path, mode=mode))
        commit(sink, "overwrite", lambda: iter([{**ROWS[1], "id": "old", "run_id": "r0"}]), "id", "r0")
        commit(sink, mode, rows, "id", "r1")
        commit(sink, mode, rows, "id", "r1")  # a repeated commit (killed before the state was marked) adds nothing
        results.append([{k: v for k, v in r.items() if k not in ("created_at", "updated_at")}
                        for r in sink.read_rows()])
    assert results[0] == results[1]
    expected = ["a", "b"] if mode == "overwrite" else ["old", "a", "b"]
    assert sorted(r["id"] for r in results[0]) == sorted(expected)
