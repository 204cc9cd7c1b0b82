"""The SQL sink on SQLite and on a real PostgreSQL server: modes, schema, bound parameters, the job."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from pipeline import Pipeline
from pipeline.config import OutputConfig
from pipeline.errors import OutputError
from pipeline.io.writers import commit, open_sink
from tests.conftest import SAMPLES, job, unique_table

ROWS = [
    {"id": "a", "title": "Một", "topic": "Thể thao", "topic_score": 0.9, "summary": "Tóm tắt.", "run_id": "r1",
     "tags": ["x", {"y": 1}]},
    {"id": "b'); DROP TABLE x; --", "title": "'; DELETE FROM articles; --", "topic": None, "topic_score": 0.2,
     "summary": "Khác.", "run_id": "r1"},
]


def _sink(tmp_path, url, table, mode="overwrite"):
    return open_sink(OutputConfig(path=tmp_path / "side", format="sql", url=url, table=table, mode=mode))


def test_modes_and_created_at(tmp_path, sql_url):
    table = unique_table()
    sink = _sink(tmp_path, sql_url, table)
    commit(sink, "overwrite", lambda: iter(ROWS), "id", "r1")
    assert {r["id"]: r for r in sink.read_rows()}[ROWS[1]["id"]]["title"] == ROWS[1]["title"]
    engine = sa.create_engine(sql_url)
    with engine.connect() as conn:
        created = conn.execute(sa.text(f"SELECT created_at FROM {table} WHERE id = 'a'")).scalar()
    commit(sink, "upsert", lambda: iter([{**ROWS[0], "summary": "Mới.", "run_id": "r2"}]), "id", "r2")
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT created_at, summary, run_id, record FROM {table} WHERE id = 'a'")).one()
        count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
        indexes = sa.inspect(engine).get_indexes(table)
    assert (row[0], row[1], row[2], count) == (created, "Mới.", "r2", 2)
    assert json.loads(row[3])["tags"] == ["x", {"y": 1}]
    assert any(ix["column_names"] == ["topic"] for ix in indexes)
    commit(sink, "overwrite", lambda: iter(ROWS[1:]), "id", "r3")
    assert [r["id"] for r in sink.read_rows()] == [ROWS[1]["id"]]


def test_append_is_refused_and_bad_url_is_clear(tmp_path, sql_url):
    with pytest.raises(OutputError, match="upsert"):
        _sink(tmp_path, sql_url, unique_table(), mode="append")
    with pytest.raises(OutputError, match="Cannot write table"):
        _sink(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none", unique_table())


def test_job_writes_to_sql_and_upserts(tmp_path, sql_url):
    table = unique_table()
    cfg = job(tmp_path, SAMPLES, output={"format": "sql", "url": sql_url, "table": table, "mode": "upsert"})
    first = Pipeline.from_dict(cfg).run()
    assert first.written == 10
    cfg["runner"]["resume"] = False
    cfg["input"]["batch_size"] = 3
    second = Pipeline.from_dict(cfg).run()
    assert (second.written, second.unchanged) == (0, 10)
    with sa.create_engine(sql_url).connect() as conn:
        rows = conn.execute(sa.text(f"SELECT id, topic, config_hash FROM {table} ORDER BY id")).all()
    assert [r[0] for r in rows] == [f"sample-{i:03d}" for i in range(1, 11)]
    assert all(r[1] and r[2] == first.config_hash for r in rows)


def test_two_tables_behind_one_output_path_keep_their_own_side_files(tmp_path, sql_url):
    """Two jobs, one ``output.path`` and one database, two tables: each its own quarantine, run state and log."""
    tables = [unique_table(), unique_table()]
    path = tmp_path / "out" / "news"
    rows = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]
    summaries = []
    for table, part in zip(tables, (rows[:4], rows[4:]), strict=True):
        source = tmp_path / f"{table}.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part) + '{"id": "bad"\n',
                          encoding="utf-8")
        cfg = job(tmp_path, source, output={"path": str(path), "format": "sql", "url": sql_url, "table": table,
                                            "mode": "upsert"})
        summaries.append(Pipeline.from_dict(cfg).run())
    for table, summary, count in zip(tables, summaries, (4, 6), strict=True):
        assert (summary.written, summary.quarantined) == (count, 1)
        assert summary.quarantine == str(path.with_name(f"news.{table}.quarantine.jsonl"))
        assert len(path.with_name(f"news.{table}.quarantine.jsonl").read_text(encoding="utf-8").splitlines()) == 1
        assert path.with_name(f"news.{table}.state").is_dir()
    assert not path.with_name("news.quarantine.jsonl").exists()
