import csv
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import OutputConfig
from pipeline.errors import ConfigError, OutputError
from pipeline.io.paths import OutputPaths
from pipeline.io.writers import (
    PARQUET_COLUMNS,
    DamagedOutput,
    JsonlRows,
    SqlSink,
    approx_bytes,
    batched,
    commit,
    commit_quarantine,
    detect_output_format,
    dumps,
    dumps_bytes,
    has_rows,
    is_temporary_of,
    open_sink,
    row_check,
    sniff_format,
    with_previous_fields,
    write_target,
    write_text_atomic,
)
from tests.conftest import ROOT

# A fault that loops for ever (a backwards read that never reaches the start) fails in seconds, not at CI's limit.
pytestmark = pytest.mark.timeout(60)

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


def test_parquet_sink_types_extra_fields_and_conflicting_column(tmp_path):
    """The pipeline's fields are typed columns; other fields one JSON object per row (extra_fields); a typed column
    whose types conflict is JSON text, named in the schema's metadata, and every row reads back as it was."""
    import pyarrow.parquet as pq

    rows = [*ROWS, {"id": "c", "title": "Ba", "topic": 7, "topic_score": 1.0, "summary": "", "views": "nhiều"}]
    sink = _commit(tmp_path / "r.parquet", rows)
    table = pq.read_table(tmp_path / "r.parquet")
    data = table.to_pylist()
    assert [r["id"] for r in data] == ["a", "b", "c"]
    assert data[0]["topic_top_k"] == ROWS[0]["topic_top_k"]
    assert str(table.schema.field("topic_score").type) == "double"
    assert "views" not in table.schema.names
    assert [json.loads(r["extra_fields"]) for r in data] == [{"views": 1}, {"extra": "chỉ ở dòng này"},
                                                              {"views": "nhiều"}]
    assert [r["topic"] for r in data] == ['"Thể thao"', None, "7"]  # str vs int: kept as JSON text
    assert json.loads(table.schema.metadata[b"vnnews"])["json_columns"] == ["topic"]
    back = list(sink.read_rows())
    assert [{k: v for k, v in r.items() if v is not None} for r in back] == \
        [{k: v for k, v in r.items() if v is not None} for r in rows]


def test_parquet_types_agree_across_row_groups(tmp_path, monkeypatch):
    """Types are taken over every row group, not the first: whole numbers in one group and fractions in a later
    one make a double column, text in one and numbers in another JSON text, and every row reads back."""
    import pyarrow.parquet as pq

    from pipeline.io.writers import ParquetSink

    monkeypatch.setattr(ParquetSink, "chunk_rows", 2)
    rows = [{"id": "a", "topic": "Thể thao", "topic_score": 1}, {"id": "b", "topic": "Kinh doanh", "topic_score": 0},
            {"id": "c", "topic": 7, "topic_score": 0.25}]
    sink = _commit(tmp_path / "r.parquet", rows)
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.num_rows == 3 and pq.ParquetFile(tmp_path / "r.parquet").num_row_groups == 2
    assert str(table.schema.field("topic_score").type) == "double" and table.column("topic_score").to_pylist() == \
        [1.0, 0.0, 0.25]
    assert json.loads(table.schema.metadata[b"vnnews"])["json_columns"] == ["topic"]
    assert list(sink.read_rows()) == rows


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
    path = OutputPaths(tmp_path / "day.jsonl").quarantine
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
    with pytest.raises(OutputError) as caught:
        open_sink(OutputConfig(path=blocker / "sub" / "r.jsonl"))
    assert str(caught.value) == f"Cannot write to output folder {blocker / 'sub'}: Not a directory."
    with pytest.raises(ConfigError, match=r"output\.format"):  # (exit 2: the config names no format)
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
    """Parquet cannot store a struct without fields: such a column (at any depth) is written as JSON text, and
    read back as the objects it held."""
    import pyarrow.parquet as pq

    from pipeline.io.writers import ParquetSink

    rows = [{"id": "a", "topic_top_k": {}, "title": [{"x": {}}], "meta": {}},
            {"id": "b", "topic_top_k": {}, "title": [], "meta": {}}]
    sink = ParquetSink(tmp_path / "out.parquet")
    sink.replace(lambda: rows)
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [(r["topic_top_k"], r["title"]) for r in table] == [("{}", '[{"x": {}}]'), ("{}", "[]")]
    assert list(sink.read_rows()) == rows


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
    for key, value in rows[0].items():  # each value alone too: in a row with a date, orjson's refusal of a value
        row = {key: value}  # would send the whole row through the standard library and hide a wrong answer
        assert json.loads(dumps_bytes(row)) == json.loads(dumps(row)), key


@pytest.mark.parametrize("row", [
    ROWS[0], ROWS[1], {"id": "x", "text": "chữ " * 500}, {f"f{i}": "v" for i in range(50)},
    {"id": "y", "tags": [[] for _ in range(20)], "meta": {"a": {"b": {}}}}, {"id": "z", "tags": ["a"] * 100},
], ids=["row", "row-with-none", "long-text", "many-short-texts", "nested", "long-list"])
def test_approx_bytes_is_near_the_json_length(row):
    """Batches are sized by approx_bytes: within a fifth of the row's JSON length in characters, for long texts
    and for rows of many small fields alike (where a wrong count per field adds up). (A number counts as 8.)"""
    assert abs(approx_bytes(row) - len(dumps_bytes(row).decode())) <= len(dumps_bytes(row).decode()) / 5


def test_csv_output_with_a_cell_beyond_128_kib_is_read_back_and_appended_to(tmp_path, default_csv_field_limit):
    rows = [ROWS[0], {**ROWS[1], "text": "Một bài rất dài. " * 20_000}]  # (the last: where a cut end is looked for)
    sink = _commit(tmp_path / "r.csv", rows)
    assert [r["text"] for r in sink.read_rows()] == ["", rows[1]["text"]]
    csv.field_size_limit(128 * 1024)
    _commit(tmp_path / "r.csv", [{**ROWS[1], "id": "c", "run_id": "r2"}], mode="append", run_id="r2")  # (reads the
    # last record first: a cut end is set aside before appending)
    assert [r["id"] for r in sink.read_rows()] == ["a", "b", "c"]


def test_blank_lines_in_a_csv_output_are_no_rows(tmp_path):
    """A CSV output edited by hand may hold blank lines (before the header, between rows): no row is lost."""
    sink = _commit(tmp_path / "r.csv")
    whole = (tmp_path / "r.csv").read_bytes()
    header, first, second = whole.split(b"\r\n", 2)
    (tmp_path / "r.csv").write_bytes(b"\r\n".join([b"", header, first, b"", b"", second]))
    assert [r["id"] for r in sink.read_rows()] == ["a", "b"]


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
        results.append(sorted(({k: v for k, v in r.items() if k not in ("created_at", "updated_at")}
                               for r in sink.read_rows()), key=lambda r: r["id"]))  # (a table's order: by time)
    assert results[0] == results[1]
    expected = ["a", "b"] if mode == "overwrite" else ["old", "a", "b"]
    assert sorted(r["id"] for r in results[0]) == sorted(expected)


# --- files written beside the output ---------------------------------------------------------------

@pytest.mark.parametrize(("name", "target", "expected"), [
    (".res[12].jsonl.k3j4h5g6.partial", "res[12].jsonl", True),
    (".res1.jsonl.k3j4h5g6.partial", "res[12].jsonl", False),
    (".res1.jsonl.k3j4h5g6.partial", "res?.jsonl", False),
    (".res1.jsonl.k3j4h5g6.partial", "res*.jsonl", False),
    (".a.jsonl.x.k3j4h5g6.partial", "a.jsonl", False),
    (".a.jsonl.k3j4h5g6.partial", "a.jsonl", True),
    (".a.jsonl.k3j4h5.partial", "a.jsonl", False),
])
def test_temporaries_are_recognised_by_name_never_by_pattern(name, target, expected):
    assert is_temporary_of(name, target) is expected


def test_write_target_follows_an_output_link_and_refuses_everything_else(tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_text("", encoding="utf-8")
    (tmp_path / "link.jsonl").symlink_to(real)
    assert write_target(tmp_path / "new.jsonl", follow_link=False) == tmp_path / "new.jsonl"
    assert write_target(tmp_path / "link.jsonl", follow_link=True) == real
    with pytest.raises(OutputError, match="never writes a side file through a link"):
        write_target(tmp_path / "link.jsonl", follow_link=False)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "to-fifo").symlink_to(tmp_path / "fifo")
    for path in (tmp_path / "fifo", tmp_path / "to-fifo"):
        with pytest.raises(OutputError, match="FIFO, not a regular file: vnnews replaces its output as a whole"):
            write_target(path, follow_link=True, role="output.path")
    # a side file's advice is to remove it, never to keep results elsewhere
    with pytest.raises(OutputError, match=r"FIFO, not a regular file: the run would replace it .* Remove it"):
        write_target(tmp_path / "fifo", follow_link=False)


def test_a_side_file_link_is_never_read_or_written(tmp_path):
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"run_id": "x", "password": "hunter2"}\n', encoding="utf-8")
    link = tmp_path / "day.quarantine.jsonl"
    link.symlink_to(secret)
    for write in (lambda: commit_quarantine(link, "append", lambda: iter([{"run_id": "r1"}]), "r1"),
                  lambda: commit_quarantine(link, "overwrite", lambda: iter([{"run_id": "r1"}]), "r1"),
                  lambda: write_text_atomic(link, "{}")):
        with pytest.raises(OutputError, match="symbolic link"):
            write()
    assert link.is_symlink() and "hunter2" in secret.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day.quarantine.jsonl", "secret.jsonl"]


@pytest.mark.parametrize("mode", [0o600, 0o751])
@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_a_replaced_output_keeps_its_mode_and_a_linked_one_its_link(tmp_path, suffix, mode):
    from pipeline.io.writers import current_umask

    real = tmp_path / "archive" / f"real.{suffix}"
    real.parent.mkdir()
    _commit(real)
    real.chmod(mode)  # (every permission bit kept, execute bits too, less what the umask takes)
    link = tmp_path / f"out.{suffix}"
    link.symlink_to(real)
    _commit(link, [{**ROWS[0], "run_id": "r2"}], run_id="r2")
    assert link.is_symlink() and stat.S_IMODE(real.stat().st_mode) == mode & ~current_umask()
    assert [r["id"] for r in open_sink(OutputConfig(path=real)).read_rows()] == ["a"]
    assert [p.name for p in real.parent.iterdir()] == [real.name]  # no temporary left


def test_sniff_format_tells_the_formats_apart(tmp_path):
    path = tmp_path / "f"
    cases = [(b"", ""), (b" \n", ""), (b'{"id": 1}\n', "jsonl"), (b"\xef\xbb\xbf{", "jsonl"), (b"id,title\r\n", "csv"),
             (b"PAR1....", "parquet"), (b"SQLite format 3\x00...", "sqlite"), (b"\x00\x01\x02", None),
             (b"\xff\xfe\x00x", None), (b"\x00" * 10, None), (b'{"id": 1}\n' + b"\x00" * 10, "jsonl"),
             (b"id,title\r\n" + b"\x00" * 10, "csv"),
             # a CSV header over 4 KiB (many extra fields) whose Vietnamese name is cut by the 4 KiB window: CSV
             (("a" * 4095 + "ư,b\r\n").encode("utf-8"), "csv"),
             # ... and one the window ends just after a whole character (all 4,096 bytes are read)
             (("a" * 4094 + "ư,b\r\n").encode("utf-8"), "csv"),
             # a 4-byte character cut after 3 bytes by the window: CSV; a bad byte 4 bytes before its end: not
             (("a" * 4093 + "😀,b\r\n").encode("utf-8"), "csv"), (b"a" * 4092 + b"\xff" + b"a" * 50, None),
             # a whole file of 4,095 bytes that ends with a bad byte: nothing was cut, so not CSV
             (b"a" * 4094 + b"\xff", None),
             # bytes that are no UTF-8 within a whole first line, in a file longer than the window: no CSV
             (b"id,title\xff\r\n" + b"x" * 5000, None)]
    for data, expected in cases:
        path.write_bytes(data)
        assert sniff_format(path) == expected, data
    assert sniff_format(tmp_path / "missing") == ""


def _written(path: Path, rows=ROWS) -> bytes:
    open_sink(OutputConfig(path=path)).replace(lambda: iter(rows))
    return path.read_bytes()


@pytest.fixture
def default_csv_field_limit():
    """The csv module's own limit on a cell (128 KiB), which the CSV readers must lift; it is process-wide."""
    before = csv.field_size_limit(128 * 1024)
    yield
    csv.field_size_limit(before)


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_cut_end_is_found_at_the_start_of_the_last_row(tmp_path, suffix, default_csv_field_limit):
    rows = [{**ROWS[0], "text": "Dòng một.\nDòng hai, có dấu phẩy." + " Dài." * 40_000},  # (a cell beyond 128 KiB)
            {**ROWS[1], "text": "Một\ndòng\nnữa."}]
    path = tmp_path / f"r.{suffix}"
    whole = _written(path, rows)
    sink = open_sink(OutputConfig(path=path))
    last = whole.rindex(b"\n", 0, len(whole) - 1) + 1 if suffix == "jsonl" else whole.rindex(b'\r\n"b",') + 2
    assert sink._cut(path) is None
    for end in range(last + 1, len(whole) - 1):  # every cut inside the last row (but before its line end)
        path.write_bytes(whole[:end])
        assert sink._cut(path) == last, whole[last:end]
    path.write_bytes(whole + b"\0" * 100)
    assert sink._cut(path) == len(whole)
    if suffix == "jsonl":  # a last line without its line end that is a whole row is kept
        path.write_bytes(whole[:-1])
        assert sink._cut(path) is None
    else:  # a last record ended by "\r" or "\n" alone is whole
        path.write_bytes(whole[:-1])
        assert sink._cut(path) is None
        path.write_bytes(whole[:-2] + b"\n")
        assert sink._cut(path) is None
        path.write_bytes(b"i")  # a header cut after its first byte
        assert sink._cut(path) == 0
        path.write_bytes(b"id,title\r\na,b\r\nc,d\re")  # a last record the csv module cannot parse: cut
        assert sink._cut(path) == len(b"id,title\r\na,b\r\n")
        path.write_bytes(b"id,title\r\na\rb\r\nc,d")  # damage inside the file: read_rows names it, not _cut
        assert sink._cut(path) is None
        path.write_bytes(b"id,title\r\na,b\r\nc\r\n")  # a short last record that ends its line: damage, not a cut
        assert sink._cut(path) is None


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_upsert_over_a_cut_output_sets_the_cut_row_aside(tmp_path, suffix, caplog):
    path = tmp_path / f"r.{suffix}"
    whole = _written(path)
    path.write_bytes(whole[:-7])
    with caplog.at_level("WARNING"):
        sink = open_sink(OutputConfig(path=path, mode="upsert"))
    (aside,) = tmp_path.glob(f"r.damaged-*.{suffix}")
    assert path.read_bytes() + aside.read_bytes() == whole[:-7]
    assert [r["id"] for r in sink.read_rows()] == ["a"] and str(aside) in caplog.text
    open_sink(OutputConfig(path=path, mode="upsert"))  # nothing more to set aside
    assert len(list(tmp_path.glob("r.damaged-*"))) == 1


@pytest.mark.parametrize(("suffix", "damage", "message"), [
    ("jsonl", b'{"id": "a"}\n{"id": \n{"id": "b"}\n', "line 2 is not JSON"),
    ("jsonl", b'{"id": "a"}\n[1, 2]\n', "line 2 is not a JSON object"),
    ("jsonl", b'{"id": "a"}\n{"id": "\xff"}\n', "line 2 is not JSON"),
    ("csv", b"id,title\r\na,b\r\nc\r\nd,e\r\n", "line 3 has 1 fields, the header 2"),
    ("csv", b"id,title\r\na,\xff\r\nd,e\r\n", "it is not UTF-8 text"),
])
def test_rows_damaged_inside_the_file_are_named_not_dropped(tmp_path, suffix, damage, message):
    path = tmp_path / f"r.{suffix}"
    path.write_bytes(damage)
    sink = open_sink(OutputConfig(path=path, mode="upsert"))
    with pytest.raises(OutputError, match=message):
        list(sink.read_rows())
    assert has_rows(sink)  # a damaged output has rows: a run that read nothing does not replace it


def test_parquet_cut_short_is_refused_before_any_work(tmp_path):
    path = tmp_path / "r.parquet"
    whole = _written(path)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(OutputError, match=r"not a whole Parquet file.*lost the footer.*Restore it from a backup"):
        open_sink(OutputConfig(path=path, mode="append"))
    open_sink(OutputConfig(path=path, mode="overwrite"))  # overwrite replaces it whatever it holds
    assert path.read_bytes() == whole[: len(whole) // 2]


@pytest.mark.parametrize("mode", ["overwrite", "upsert"])
def test_a_file_that_is_not_a_sqlite_database_is_never_written_into(tmp_path, mode):
    path = tmp_path / "r.db"
    path.write_bytes(b"id,title\r\na,b\r\n")
    with pytest.raises(OutputError, match=r"holds CSV text, not a SQLite database.*output.format: csv"):
        open_sink(OutputConfig(path=path, mode=mode))
    assert path.read_bytes() == b"id,title\r\na,b\r\n"


def test_a_damaged_sqlite_database_says_how_to_recover_it(tmp_path):
    path = tmp_path / "r.db"
    _commit(path, [{**ROWS[0], "id": f"r{i}", "summary": "x" * 500} for i in range(300)])
    path.write_bytes(path.read_bytes()[:12_000])
    with pytest.raises(OutputError, match=r"database disk image is malformed.*sqlite3 .*r\.db \.recover"):
        sink = open_sink(OutputConfig(path=path, mode="upsert"))
        sink.signature()
        list(sink.read_rows())


@pytest.mark.parametrize("read", ["exists", "signature", "read_rows"])
def test_a_sqlite_database_damaged_after_the_sink_opened_it_is_named_on_every_read(tmp_path, read):
    """Damage that lands while the sink is open (another program, a restore gone wrong): SQLite sees the changed
    header and reads the damaged schema page, and each read says so, with the recovery advice."""
    path = tmp_path / "r.db"
    _commit(path, [{**ROWS[0], "id": f"r{i}", "summary": "x" * 500} for i in range(300)])
    sink = open_sink(OutputConfig(path=path, mode="upsert"))
    data = bytearray(path.read_bytes()[:12_000])
    for at in (24, 40):  # the file change counter and the schema cookie: a writer other than this connection
        data[at:at + 4] = (int.from_bytes(data[at:at + 4], "big") + 1).to_bytes(4, "big")
    data[100:4096] = b"\xff" * 3996  # the schema table on page 1, after the 100-byte header
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedOutput, match=r"Cannot read table .*database disk image is malformed.*\.recover"):
        found = getattr(sink, read)()
        if read == "read_rows":
            list(found)


def test_quarantine_in_another_format_is_refused(tmp_path):
    path = tmp_path / "day.quarantine.jsonl"
    path.write_bytes(b"PAR1 not entries")
    with pytest.raises(OutputError, match=r"The quarantine file .* holds Parquet data, not JSON lines"):
        commit_quarantine(path, "upsert", lambda: iter([{"run_id": "r1"}]), "r1")


def test_a_temporary_file_that_cannot_be_made_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    """No inode left, a quota: the reason in words and the folder, not Python's "[Errno 28] ..." with the path."""
    from pipeline.io import writers

    def full(target):
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(writers, "_create_temporary", full)
    with pytest.raises(OutputError) as caught:
        _commit(tmp_path / "r.jsonl")
    assert str(caught.value) == f"Cannot write to {tmp_path}: No space left on device."


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_the_cut_end_is_found_when_the_last_line_end_begins_a_read_window(tmp_path, suffix):
    """The last line end is looked for in 64 KiB windows read backwards: one that is a window's first byte is found
    there, and the whole row before it is kept."""
    rows = [ROWS[0], {**ROWS[1], "text": "Dài. " * 30_000}]  # a last row longer than one window
    path = tmp_path / f"r.{suffix}"
    whole = _written(path, rows)
    last = whole.rindex(b"\n", 0, len(whole) - 1) + 1 if suffix == "jsonl" else whole.rindex(b'\r\n"b",') + 2
    sink = open_sink(OutputConfig(path=path))
    for end in (last - 2 + (1 << 16), last - 1 + (1 << 16), last + (1 << 16)):
        path.write_bytes(whole[:end])
        assert sink._cut(path) == last
    path.write_bytes(b"\n" + b"x" * (1 << 16))  # the only line end is the first byte, a window before the last one
    assert sink._cut(path) == 1
    path.write_bytes(b"x" * 10)  # no line end at all: the whole file is the cut row
    assert sink._cut(path) == 0
    path.write_bytes(b"\n" + b"x" * 100_000)  # the only line end two windows back
    assert sink._cut(path) == 1


def test_a_sql_record_nested_too_deep_to_read_is_named_as_damage(tmp_path):
    """A record edited into JSON nested beyond what the decoder follows: the damage named, never a traceback."""
    path = tmp_path / "r.db"
    sink = _commit(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE articles SET record = ? WHERE id = 'b'", ("[" * 100_000 + "]" * 100_000,))
    with pytest.raises(OutputError, match=r"Cannot read table articles at .*: a record is not JSON .*Mend or delete"):
        list(sink.read_rows())


@pytest.mark.parametrize(("name", "shown"), [("n" * 40, "'" + "n" * 40 + "'"), ("n" * 41, "'" + "n" * 39 + "...'")])
def test_a_field_name_in_a_refusal_is_shown_quoted_and_cut_after_40_characters(tmp_path, name, shown):
    check = row_check(OutputConfig(path=tmp_path / "out.csv"))
    assert check({"id": "a", name: "x\ud800"}).startswith(f"cannot be written to CSV: field {shown} holds a lone")


def test_a_sql_row_without_a_title_still_has_its_other_text_fields_checked(tmp_path):
    check = row_check(OutputConfig(path=tmp_path / "out.db"))
    assert check({"id": "a", "summary": "x\ud800"}).startswith("cannot be stored in SQLite: field 'summary' holds")
    assert check({"id": "a", "title": None, "summary": "ok"}) is None


def test_rows_are_batched_by_count_and_by_size_and_a_wide_row_goes_alone():
    sizes = [5, 5, 3, 3, 3, 20, 3]
    chunks = batched(((n, size) for n, size in enumerate(sizes)), max_rows=3, max_bytes=10)
    assert list(chunks) == [[0, 1], [2, 3, 4], [5], [6]]  # 10 bytes; 3 rows; a row over 10 bytes; the rest
    sizes = [10, 3, 3, 3, 5]  # a chunk after the first counts its bytes from 0 again: 9 is under 10
    assert list(batched(((n, size) for n, size in enumerate(sizes)), max_rows=5, max_bytes=10)) == [[0], [1, 2, 3, 4]]
    sizes = [10, 5, 5, 5]  # ... and 10 reaches it
    assert list(batched(((n, size) for n, size in enumerate(sizes)), max_rows=5, max_bytes=10)) == [[0], [1, 2], [3]]
    sizes = [4, 5, 1]  # the first chunk counts from 0 too: 9 is under 10, the third row reaches it
    assert list(batched(((n, size) for n, size in enumerate(sizes)), max_rows=5, max_bytes=10)) == [[0, 1, 2]]


def test_sql_rows_are_inserted_in_chunks_by_count_and_by_size(tmp_path, monkeypatch):
    import sqlalchemy as sa

    monkeypatch.setattr(SqlSink, "chunk_rows", 3)
    rows = [{**ROWS[1], "id": f"r{i}"} for i in range(7)]
    monkeypatch.setattr(SqlSink, "chunk_bytes", 2 * len(dumps(rows[0])) + 1)  # (ids of one length: one size)
    sink = open_sink(OutputConfig(path=tmp_path / "r.db"))
    inserts = []
    sa.event.listen(sink.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, params, context, many:
                    inserts.append(len(params) if many else 1) if statement.startswith("INSERT") else None)
    commit(sink, "overwrite", lambda: iter(rows), "id", "r1")
    assert inserts == [3, 3, 1]
    monkeypatch.setattr(SqlSink, "chunk_bytes", 2 * len(dumps(rows[0])))
    inserts.clear()
    commit(sink, "overwrite", lambda: iter(rows), "id", "r1")
    assert inserts == [2, 2, 2, 1] and sorted(r["id"] for r in sink.read_rows()) == [f"r{i}" for i in range(7)]
    monkeypatch.setattr(SqlSink, "chunk_bytes", 1 << 30)  # by count alone
    inserts.clear()
    commit(sink, "overwrite", lambda: iter(rows), "id", "r1")
    assert inserts == [3, 3, 1]


def test_a_table_of_the_same_name_made_by_someone_else_is_named_not_called_damaged(tmp_path):
    """A table ``articles`` with other columns (another program's): reading or writing it fails in one line that
    names the table; the database itself is not damaged, so the message must not say so."""
    path = tmp_path / "r.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE articles (id TEXT PRIMARY KEY, note TEXT)")
    sink = open_sink(OutputConfig(path=path, mode="upsert"))
    for action in (sink.signature, lambda: commit(sink, "upsert", lambda: iter(ROWS), "id", "r1")):
        with pytest.raises(OutputError, match=r"Cannot (read|write) table articles at .*r\.db: .*column") as caught:
            action()
        assert not isinstance(caught.value, DamagedOutput) and "damaged" not in str(caught.value)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM articles").fetchone() == (0,)


def test_an_output_of_unknown_bytes_that_its_mode_keeps_is_refused_with_no_format_to_set(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(OutputError, match=r"holds bytes of none of vnnews' output formats, not JSON lines: .* Give "
                                          r"output.path a new name") as caught:
        open_sink(OutputConfig(path=path, mode="append"))
    assert "Set output.format" not in str(caught.value)


def test_a_sql_outputs_path_only_places_side_files_so_a_folder_of_that_name_is_no_obstacle(tmp_path):
    (tmp_path / "news").mkdir()  # side files go beside it: news.articles.*
    sink = open_sink(OutputConfig(path=tmp_path / "news", format="sql", url=f"sqlite:///{tmp_path / 'x.db'}"))
    commit(sink, "overwrite", lambda: iter(ROWS), "id", "r1")
    assert [r["id"] for r in sink.read_rows()] == ["a", "b"]


def test_parquet_has_no_extra_fields_column_when_every_field_has_its_own(tmp_path):
    import pyarrow.parquet as pq

    rows = [{"id": "a", "title": "Một", "topic": "Thể thao"}, {"id": "b", "title": "Hai", "topic": None}]
    _commit(tmp_path / "r.parquet", rows)
    schema = pq.read_schema(tmp_path / "r.parquet")
    assert schema.names == ["id", "title", "topic"]
    assert json.loads(schema.metadata[b"vnnews"])["extra_fields"] is None
    one = [{"id": "a", "topic_top_k": {"label": "Thể thao"}}, {"id": "b", "topic_top_k": {"label": "Pháp luật"}}]
    _commit(tmp_path / "one.parquet", one)  # mappings of one field are a struct column, as mappings of more are
    assert str(pq.read_schema(tmp_path / "one.parquet").field("topic_top_k").type) == "struct<label: string>"
    every = [{name: "x" for name in PARQUET_COLUMNS}]  # a row with every typed column, and no other field
    _commit(tmp_path / "every.parquet", every)
    assert pq.read_schema(tmp_path / "every.parquet").names == list(PARQUET_COLUMNS)


def test_the_sql_table_keys_rows_by_id_and_never_holds_a_row_without_its_record_or_times(tmp_path):
    """What a data consumer of the table can rely on: ``id`` is the primary key, and every row has its JSON
    record and both times."""
    _commit(tmp_path / "r.db")
    columns = {name: (notnull, pk) for _, name, _, notnull, _, pk in
               sqlite3.connect(tmp_path / "r.db").execute("PRAGMA table_info(articles)")}
    assert columns["id"][1] == 1 and all(columns[c] == (1, 0) for c in ("created_at", "updated_at", "record"))
    assert all(columns[c] == (0, 0) for c in ("title", "topic", "topic_score", "summary", "run_id"))


@pytest.mark.parametrize("rows", [100, 3], ids=["while-writing", "at-the-last-flush"])
def test_a_write_that_fails_midway_is_one_line_and_leaves_the_previous_file(tmp_path, rows):
    """A write that fails (here the file size limit, which fails it as a full disk or a quota does), while the rows
    are written or when the last buffered ones are flushed: the reason in words, the previous output as it was, no
    temporary file left. In a process of its own: the limit is per process."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "old"}\n', encoding="utf-8")
    code = "\n".join([
        "import resource, signal, sys", "from pathlib import Path", "from pipeline.config import OutputConfig",
        "from pipeline.errors import OutputError", "from pipeline.io.writers import commit, open_sink",
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # (the write fails with EFBIG instead of a signal)",
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))",  # (3 rows stay in the write buffer until the end)
        f"sink = open_sink(OutputConfig(path=Path({str(path)!r})))",
        f"rows = [{{'id': f'r{{i}}', 'text': 'x' * 100}} for i in range({rows})]",
        "try:", "    commit(sink, 'overwrite', lambda: iter(rows), 'id', 'r1')",
        "except OutputError as exc:", "    print(exc)"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.startswith(f"Cannot write {path}: File too large. The previous r.jsonl is unchanged; "), done
    assert path.read_text(encoding="utf-8") == '{"id": "old"}\n' and [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]


def test_json_text_in_cells_and_records_writes_nan_and_infinities_as_null():
    """dumps (CSV cells, Parquet JSON columns, SQL records): strict JSON, never a bare NaN a strict parser rejects."""
    assert dumps({"x": float("nan"), "y": [float("inf"), 1.5], "z": "Hà Nội"}) == \
        '{"x": null, "y": [null, 1.5], "z": "Hà Nội"}'


def test_a_sql_output_on_a_sqlite_url_gets_sqlites_limits_not_postgresqls(tmp_path):
    check = row_check(OutputConfig(path=tmp_path / "side", format="sql", url=f"sqlite:///{tmp_path / 'x.db'}"))
    assert check({"id": "a", "title": "a\x00b", "topic": "t" * 5000}) is None  # (PostgreSQL would refuse both)
    assert check({"id": "a", "summary": "x\ud800"}).startswith("cannot be stored in SQLite: field 'summary'")
    assert check({"id": "a", "topic_score": 10**400}) == \
        "cannot be stored in SQLite: field 'topic_score' is an integer beyond a 64-bit float's range"


def test_rows_to_refresh_that_left_the_output_are_named_by_the_first_key(tmp_path):
    sink = _commit(tmp_path / "r.jsonl")
    refreshed = [{"id": "zz", "text": "x"}, {"id": "c", "text": "y"}, {"id": "a", "text": "z"}]
    with pytest.raises(OutputError, match=r"^2 rows to refresh \(e\.g\. id 'c'\) are no longer in the output"):
        with_previous_fields(sink, "id", lambda: iter(refreshed), ["topic"])


@pytest.mark.parametrize("taken_by", ["file", "link"])
def test_a_temporary_name_that_is_taken_is_drawn_again(tmp_path, monkeypatch, taken_by):
    """Another writer's temporary, or a link planted where the temporary goes: neither is opened or written
    through (the file is created new, never following a link); the next name is drawn."""
    from pipeline.io import writers

    names = iter(["taken000", "taken000", "free0000"])
    monkeypatch.setattr(writers.secrets, "token_hex", lambda n: next(names))
    _commit(tmp_path / "r.jsonl")  # takes .r.jsonl.taken000.partial, renamed over r.jsonl
    victim = tmp_path / "victim.txt"
    victim.write_text("another writer's", encoding="utf-8")
    taken = tmp_path / ".r.jsonl.taken000.partial"
    if taken_by == "file":
        taken.write_text("another writer's", encoding="utf-8")
    else:
        taken.symlink_to(victim)
    _commit(tmp_path / "r.jsonl", [{**ROWS[1], "run_id": "r2"}], run_id="r2")
    assert [r["id"] for r in open_sink(OutputConfig(path=tmp_path / "r.jsonl")).read_rows()] == ["b"]
    assert taken.read_text(encoding="utf-8") == victim.read_text(encoding="utf-8") == "another writer's"
    assert taken.is_symlink() == (taken_by == "link") and not (tmp_path / "r.jsonl").is_symlink()


def test_a_cell_that_starts_with_a_tab_or_a_line_end_is_a_formula_to_a_spreadsheet():
    from pipeline.io.writers import is_formula

    assert is_formula("\tchữ") and is_formula("\rchữ") and is_formula("=1+1") and is_formula("'@cmd")
    assert not is_formula("chữ") and not is_formula("-5") and not is_formula("")


def test_parquet_keeps_lists_of_mappings_with_other_fields_as_they_were(tmp_path):
    """Lists of mappings whose fields differ from row to row: a struct column would give a missing field back as
    None, so the column is JSON text and each row reads back as written."""
    rows = [{"id": "a", "topic_top_k": [{"label": "Thể thao", "score": 0.9}]},
            {"id": "b", "topic_top_k": [{"label": "Kinh doanh"}]}]
    sink = _commit(tmp_path / "r.parquet", rows)
    assert list(sink.read_rows()) == rows


def test_a_parquet_output_with_damaged_data_pages_is_named_as_damage(tmp_path):
    """Bytes overwritten inside the data (a bad disk, a copy gone wrong), footer intact: the damage in one line."""
    path = tmp_path / "r.parquet"
    sink = _commit(path, [{**ROWS[0], "id": f"r{i}", "text": "Dài. " * 40} for i in range(300)])
    data = bytearray(path.read_bytes())
    data[100:164] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(OutputError, match=r"is not a whole Parquet file \(Corrupt snappy compressed data\)"):
        list(sink.read_rows())


@pytest.mark.parametrize(("first", "second"), [
    ({"label": "Thể thao", "score": 0.9}, {"label": "Kinh doanh"}),
    ({"label": "Thể thao", "score": 0.9}, {"label": "Kinh doanh", "rank": 2}),
    ({"best": {"label": "Thể thao", "score": 0.9}}, {"best": {"label": "Kinh doanh"}}),  # one level down
], ids=["fewer", "others", "nested"])
def test_parquet_keeps_mappings_whose_fields_differ_from_row_to_row(tmp_path, first, second):
    """A mapping with fewer fields, other ones, or a mapping inside with fewer: a struct column would give them back
    changed (a missing field as None), so the column is JSON text and each row reads back as written."""
    rows = [{"id": "a", "topic_top_k": first}, {"id": "b", "topic_top_k": second}]
    sink = _commit(tmp_path / "r.parquet", rows)
    assert list(sink.read_rows()) == rows


def test_a_temporary_is_removed_when_its_handle_cannot_be_opened(tmp_path, monkeypatch):
    """A signal (or any failure) between creating the temporary and opening it: no temporary file is left."""
    from pipeline.io import writers

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writers.os, "fdopen", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _commit(tmp_path / "r.jsonl")
    assert list(tmp_path.iterdir()) == []



def test_two_cut_ends_set_aside_in_one_second_get_names_of_their_own(tmp_path, monkeypatch):
    import datetime as dt

    from pipeline.io import writers

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 12, 7, 8, 0, 0, tzinfo=dt.UTC)

    monkeypatch.setattr(writers, "datetime", Clock)
    path = tmp_path / "r.jsonl"
    for cut in (b'{"id": "a"}\n{"id": "b", "te', b'{"id": "a"}\n{"id": "c", "te'):
        path.write_bytes(cut)
        open_sink(OutputConfig(path=path, mode="upsert"))
    assert sorted(p.name for p in tmp_path.glob("r.damaged-*")) == \
        ["r.damaged-20261207T080000Z-1.jsonl", "r.damaged-20261207T080000Z.jsonl"]
    assert (tmp_path / "r.damaged-20261207T080000Z-1.jsonl").read_bytes() == b'{"id": "c", "te'


def test_a_path_that_cannot_be_looked_at_is_named_with_the_reason(tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(OutputError) as caught:
        write_target(tmp_path / "file" / "r.jsonl", follow_link=True, role="output.path")
    assert str(caught.value) == f"output.path {tmp_path / 'file' / 'r.jsonl'} cannot be used: Not a directory."


def _rows_then(action, rows=ROWS):
    """The rows, doing ``action`` before the last one: something that happens while the output is written."""
    def rows_factory():
        yield from rows[:-1]
        action()
        yield rows[-1]
    return rows_factory


def test_a_temporary_removed_while_it_is_written_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "r.jsonl"
    sink = open_sink(OutputConfig(path=path))
    with pytest.raises(OutputError, match=r"Cannot write .*: No such file or directory\. The previous r\.jsonl"):
        commit(sink, "overwrite", _rows_then(lambda: [p.unlink() for p in tmp_path.glob(".r.jsonl.*.partial")]),
               "id", "r1")
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_put_where_the_output_goes_during_the_write_is_left_and_the_temporary_removed(tmp_path):
    path = tmp_path / "r.jsonl"
    sink = open_sink(OutputConfig(path=path))
    with pytest.raises(OutputError, match="FIFO, not a regular file"):
        commit(sink, "overwrite", _rows_then(lambda: os.mkfifo(path)), "id", "r1")
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"] and stat.S_ISFIFO(path.lstat().st_mode)


def test_a_parquet_json_column_that_is_not_json_is_named_as_damage(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    table = pa.table({"id": ["a"], "topic_top_k": ["[1, "]})
    pq.write_table(table.replace_schema_metadata({"vnnews": json.dumps({"json_columns": ["topic_top_k"]})}), path)
    with pytest.raises(OutputError, match="a JSON column is not JSON"):
        list(open_sink(OutputConfig(path=path)).read_rows())

