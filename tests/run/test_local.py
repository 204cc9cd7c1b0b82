"""The local runner (pipeline/run/local.py) in process, on tiny stages: rows once and in order, quarantine
reasons, stage start/finish, resuming from the run state, and when checkpoints save finished batches."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from pipeline.config import InputConfig, JobConfig, load_config
from pipeline.errors import ConfigError, Interrupted
from pipeline.io.paths import OutputPaths, check_paths
from pipeline.run.job import READ_SETTINGS_EXCLUDE, Points, read_settings_hash
from pipeline.run.local import run_local as run_job
from tests.conftest import job, write_jsonl
from tests.run.tiny_stages import TinyStage, pipeline_of

# 10 rows in batches of 3: a4 is rejected by stage "a", a7 has no text (quarantined by the reader).
ROWS = [{"id": f"a{i}", "title": f"Tin {i}", "text": f"Nội dung bài {i}" + (" xấu" if i == 4 else ""),
         "pad": "x" * 2000} for i in range(10)]
del ROWS[7]["text"]
WRITTEN = ["a0", "a1", "a2", "a3", "a5", "a6", "a8", "a9"]


def _data(tmp_path: Path, rows: list[dict] = ROWS, **sections) -> dict:
    path = tmp_path / "in.jsonl"
    if not path.exists():
        write_jsonl(path, rows)
    data = job(tmp_path, path, input={"batch_size": 3}, output={"report": False})
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    return data


def _stages(events: list, **a_settings) -> list[TinyStage]:
    return [TinyStage("a", events, reject="xấu", **a_settings), TinyStage("b", events)]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _calls(events: list, name: str = "a") -> list[list[str]]:
    return [event[2] for event in events if event[:2] == (name, "call")]


def test_rows_come_out_once_in_input_order_and_the_rest_with_their_reason(tmp_path, monkeypatch):
    summary = run_job(pipeline_of(monkeypatch, _data(tmp_path), _stages([])))
    rows = _lines(Path(summary.output))
    assert [row["id"] for row in rows] == WRITTEN
    assert all(row["trail"] == ["a", "b"] and row["run_id"] == summary.run_id for row in rows)
    assert {row["config_hash"] for row in rows} == {summary.config_hash}
    quarantine = _lines(Path(summary.quarantine))
    assert [(q["id"], q["reason"]) for q in quarantine] == [
        ("a4", "rejected by a"), ("a7", "missing text field 'text'")]
    assert quarantine[0]["source"] == "a" and quarantine[0]["raw"]["pad"] == "x" * 2000
    assert (summary.read, summary.written, summary.quarantined, summary.resumed_from) == (10, 8, 2, 0)
    assert summary.quarantine_reasons == {"rejected by a": 1, "missing text field 'text'": 1}
    assert not (OutputPaths(Path(summary.output)).state / "parts").exists() or not any(
        (OutputPaths(Path(summary.output)).state / "parts").iterdir())  # parts go once the output is committed


def test_the_summary_previews_the_first_ten_rows_computed_in_input_order(tmp_path, monkeypatch):
    """What `vnnews run` shows as its table: rows written (never quarantined ones), across batches, ten at most."""
    rows = [{"id": f"p{i}", "text": f"Bài {i}" + (" xấu" if i == 2 else "")} for i in range(25)]
    summary = run_job(pipeline_of(monkeypatch, _data(tmp_path, rows), _stages([])))
    assert summary.written == 24
    assert [row["id"] for row in summary.preview] == ["p0", "p1", *[f"p{i}" for i in range(3, 11)]]
    assert summary.preview[0]["trail"] == ["a", "b"]  # the row as written


def test_stages_start_once_before_the_first_batch_and_finish_once_after_the_commit(tmp_path, monkeypatch):
    events: list[tuple] = []
    a, b = _stages(events)
    run_job(pipeline_of(monkeypatch, _data(tmp_path), [a, b]))
    assert [event[:2] for event in events] == [("a", "start"), ("b", "start"), *[("a", "call"), ("b", "call")] * 4,
                                               ("a", "finish"), ("b", "finish")]
    assert events[0] == ("a", "start", "overwrite", "id") and a.existing == [] and a.committed == []

    again: list[tuple] = []  # the same job again: up to date, no stage is started, called or finished
    assert run_job(pipeline_of(monkeypatch, _data(tmp_path), _stages(again))).up_to_date and again == []

    write_jsonl(tmp_path / "in.jsonl", [*ROWS, {"id": "a10", "text": "Bài mới"}])  # a new input: a new run
    a2, _ = stages = _stages(later := [])
    summary = run_job(pipeline_of(monkeypatch, _data(tmp_path), stages))
    assert not summary.up_to_date and summary.written == 9
    assert [event[:2] for event in later].count(("a", "start")) == 1 and later[-1] == ("b", "finish")
    assert [row["id"] for row in a2.existing] == WRITTEN  # start() reads what the output held before


@pytest.mark.parametrize(("exception", "raised"), [
    (KeyboardInterrupt(), Interrupted), (RuntimeError("bug"), RuntimeError)])
def test_a_stopped_run_keeps_its_finished_batches_and_the_rerun_resumes_after_them(
        tmp_path, monkeypatch, exception, raised):
    """Stopped on its third batch (Ctrl-C, or an error), with no checkpoint due: the two finished batches are
    saved as the run stops, and the same job again processes only the rows after them."""
    events: list[tuple] = []
    pipe = pipeline_of(monkeypatch, _data(tmp_path, runner={"checkpoint_seconds": 3600}),
                       _stages(events, interrupt_on=3, exception=exception))
    with pytest.raises(raised) as stopped:
        run_job(pipe)
    if raised is Interrupted:
        assert "rows before 6 are saved" in str(stopped.value)
    assert _calls(events) == [["a0", "a1", "a2"], ["a3", "a4", "a5"]]
    first_run = pipe.config_hash, json.loads((tmp_path / "out" / "results.state" / "state.json").read_text())["run_id"]

    resumed: list[tuple] = []
    a, b = _stages(resumed)
    summary = run_job(pipeline_of(monkeypatch, _data(tmp_path, runner={"checkpoint_seconds": 3600}), [a, b]))
    assert summary.resumed_from == 6 and (summary.config_hash, summary.run_id) == first_run
    assert _calls(resumed) == [["a6", "a8"], ["a9"]]  # a7 was quarantined by the reader
    assert [row["id"] for row in a.committed] == ["a0", "a1", "a2", "a3", "a5"]  # what start() is told was saved
    rows = _lines(Path(summary.output))
    assert [row["id"] for row in rows] == WRITTEN and {row["run_id"] for row in rows} == {summary.run_id}
    assert (summary.read, summary.written, summary.quarantined) == (10, 8, 2)
    assert [q["id"] for q in _lines(Path(summary.quarantine))] == ["a4", "a7"]


def test_resume_false_starts_a_stopped_run_over(tmp_path, monkeypatch):
    with pytest.raises(Interrupted):
        run_job(pipeline_of(monkeypatch, _data(tmp_path, runner={"checkpoint_seconds": 0}),
                            _stages([], interrupt_on=3)))
    events: list[tuple] = []
    summary = run_job(pipeline_of(monkeypatch, _data(tmp_path, runner={"resume": False}), _stages(events)))
    assert summary.resumed_from == 0 and len(_calls(events)) == 4 and summary.written == 8


def _part_ranges(stems: list[str]) -> list[tuple[int, int]]:
    return [tuple(int(n) for n in stem.split("-")[:2]) for stem in stems]


@pytest.mark.parametrize(("seconds", "megabytes", "parts_at_each_call"), [
    (0, 32, [[], [(0, 3)], [(0, 3), (3, 6)], [(0, 3), (3, 6), (6, 9)]]),  # a part after every batch
    (3600, 32, [[], [], [], []]),  # nothing due: the batches wait in memory until the input ends
    (3600, 8 / 1024, [[], [], [(0, 6)], [(0, 6)]]),  # ~6.5 KB a batch: a part once two batches reach 8 KB
])
def test_checkpoints_by_time_and_size_decide_which_finished_batches_are_on_disk(
        tmp_path, monkeypatch, seconds, megabytes, parts_at_each_call):
    """What a kill at each batch would lose: the batches finished since the last part file."""
    events: list[tuple] = []
    parts = tmp_path / "out" / "results.state" / "parts"
    stages = [TinyStage("a", events, parts_dir=parts)]
    data = _data(tmp_path, runner={"checkpoint_seconds": seconds, "checkpoint_mb": megabytes})
    summary = run_job(pipeline_of(monkeypatch, data, stages))
    assert [_part_ranges(event[3]) for event in events if event[1] == "call"] == parts_at_each_call
    assert summary.written == 9  # (no stage rejects here)


def test_every_reader_setting_is_in_the_state_identity():
    """A new InputConfig field enters the identity without anyone listing it (only path and batch_size are out)."""
    assert {"path", "batch_size"} == READ_SETTINGS_EXCLUDE
    base = InputConfig(path=Path("in.jsonl"))
    changed = {"format": "csv", "text_field": "body", "title_field": None, "id_field": None, "raw_pages": True,
               "txt_first_line_title": False, "split": "test", "encoding": "cp1258", "limit": 3, "max_rows": 9,
               "max_line_bytes": 5_000, "csv_delimiter": ";",
               "html_favor": "precision", "follow_symlinks": True, "renamed_field_prefix": "src_"}
    assert set(changed) == set(InputConfig.model_fields) - READ_SETTINGS_EXCLUDE, "add the new field here"
    for name, value in changed.items():
        assert read_settings_hash(base.model_copy(update={name: value})) != read_settings_hash(base), name
    assert read_settings_hash(base.model_copy(update={"batch_size": 7, "path": Path("x.jsonl")})) \
        == read_settings_hash(base)


def test_outputs_that_would_destroy_or_feed_the_input_are_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    cases = [(tmp_path / "a.jsonl", tmp_path / "a.jsonl", "would destroy the input"),
             (tmp_path / "a.quarantine.jsonl", tmp_path / "a.jsonl", "is a side file"),
             (folder, folder / "out" / "a.jsonl", "inside the input folder")]
    for inp, out, message in cases:
        config = load_config(JobConfig, data={"input": {"path": str(inp)}, "output": {"path": str(out)}})
        with pytest.raises(ConfigError, match=message):
            check_paths(config)
    beside = {"input": {"path": str(folder)}, "output": {"path": str(tmp_path / "a.jsonl")}}
    check_paths(load_config(JobConfig, data=beside))  # an output beside the input folder is fine


def test_throughput_points_stay_few_and_spread_over_a_long_run():
    """The manifest's throughput points (one per batch) are thinned to at most 2 * limit, evenly spread, first
    and last kept, so a run of a million rows does not grow its memory or manifest with them."""
    points = Points(limit=100)
    points.append([0.0, 0])  # models loaded
    for batch in range(1, 10_001):
        points.add([batch * 0.5, batch * 64])
    points.close()
    assert 100 <= len(points) <= 202
    assert points[0] == [0.0, 0] and points[-1] == [5000.0, 640_000]
    gaps = [b[1] - a[1] for a, b in itertools.pairwise(points[1:-1])]
    assert len(set(gaps)) == 1  # evenly spread


@pytest.mark.parametrize("limit", [1 << 16, 2])
def test_an_upsert_rerun_processes_only_changed_rows_whether_the_known_rows_fit_in_memory_or_not(
        tmp_path, monkeypatch, limit):
    """The output's keys and hashes go to a private SQLite file past ``KnownRows.memory_limit``: same verdicts."""
    from pipeline.run.keys import KnownRows

    monkeypatch.setattr(KnownRows, "memory_limit", limit)
    run_job(pipeline_of(monkeypatch, _data(tmp_path, output={"mode": "upsert", "report": False}), _stages([])))
    changed = [dict(row) for row in ROWS]
    changed[1]["text"] += " (cập nhật)"  # new text: processed again
    changed[2]["pad"] = "y"  # another input field: refreshed without model work
    (tmp_path / "in.jsonl").unlink()
    events: list[tuple] = []
    summary = run_job(pipeline_of(monkeypatch, _data(tmp_path, changed, output={"mode": "upsert", "report": False}),
                                  _stages(events)))
    assert [call for call in _calls(events) if call] == [["a1"], ["a4"]]  # (a4 was rejected: not in the output)
    counts = (summary.read, summary.written, summary.refreshed, summary.unchanged, summary.quarantined)
    assert counts == (10, 2, 1, 6, 2)  # (written: the processed and the refreshed row)
    rows = {row["id"]: row for row in _lines(Path(summary.output))}
    assert sorted(rows) == sorted(WRITTEN) and rows["a2"]["pad"] == "y"
