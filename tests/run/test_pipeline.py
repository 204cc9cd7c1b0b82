"""The Pipeline object (pipeline/run/pipeline.py) on tiny stages: order, quarantine, spared records,
positions, the config hash, and which stages a config builds."""

from __future__ import annotations

import logging

from pipeline.config import JobConfig, load_config
from pipeline.io.paths import OutputPaths
from pipeline.run.processing import build_stages
from pipeline.stages import QUARANTINE_KEY, SKIP_MODELS_KEY, RunStart, Stage
from tests.conftest import job
from tests.run.tiny_stages import TinyStage, pipeline_of


def _record(key: str, text: str) -> dict:
    return {"id": key, "title": f"Tin {key}", "text": text, "_position": 1}  # (a mark of the API: never written)


def test_tiny_stages_are_stages():
    assert isinstance(TinyStage("a", []), Stage)


def test_stages_run_in_order_each_on_the_records_the_earlier_ones_kept(tmp_path, monkeypatch):
    events: list[tuple] = []
    pipe = pipeline_of(monkeypatch, job(tmp_path, tmp_path / "in.jsonl"),
                       [TinyStage("a", events, reject="xấu"), TinyStage("b", events)])
    batch = pipe.process_batch([_record("1", "tốt"), _record("2", "bài xấu"), _record("3", "tốt")])
    assert [event[:3] for event in events] == [("a", "call", ["1", "2", "3"]), ("b", "call", ["1", "3"])]
    assert [row["id"] for row in batch.records] == ["1", "3"]
    assert all(row["trail"] == ["a", "b"] for row in batch.records)
    [rejected] = batch.quarantined
    assert (rejected.reason, rejected.source, rejected.id) == ("rejected by a", "a", "2")
    assert rejected.raw["trail"] == ["a"] and QUARANTINE_KEY not in rejected.raw  # as the stage left it
    # what a sink receives: the config hash stamped, no internal "_" fields, no text unless asked for
    assert all(row["config_hash"] == pipe.config_hash for row in batch.records)
    assert not any(key.startswith("_") or key == "text" for row in batch.records for key in row)
    assert set(pipe.timings) == {"a", "b"}


def test_spared_records_skip_the_later_stages_and_keep_their_place(tmp_path, monkeypatch):
    events: list[tuple] = []
    pipe = pipeline_of(monkeypatch, job(tmp_path, tmp_path / "in.jsonl", output={"include_text": True}),
                       [TinyStage("a", events, spare="bản sao"), TinyStage("b", events)])
    batch = pipe.process_batch([_record("1", "tốt"), _record("2", "bản sao"), _record("3", "tốt")])
    assert events[1][:3] == ("b", "call", ["1", "3"])
    assert [(row["id"], row["trail"]) for row in batch.records] == [("1", ["a", "b"]), ("2", ["a"]), ("3", ["a", "b"])]
    assert SKIP_MODELS_KEY not in batch.records[1] and batch.records[1]["text"] == "bản sao"


def test_process_keeps_input_order_and_says_why_rows_were_left_out(tmp_path, monkeypatch, caplog):
    pipe = pipeline_of(monkeypatch, job(tmp_path, tmp_path / "in.jsonl"), [TinyStage("a", [], reject="xấu")])
    rows = [{"id": "1", "text": "tốt"}, {"id": "2"}, {"id": "3", "text": "xấu"}, {"id": "4", "text": "tốt"}]
    with caplog.at_level(logging.WARNING, logger="pipeline.run.pipeline"):
        assert [row["id"] for row in pipe.process(rows)] == ["1", "4"]
    assert "skipped 2 (row 2): missing text field 'text'" in caplog.text
    assert "skipped 3 (a): rejected by a" in caplog.text  # a stage's rejection names the stage


def test_config_hash_follows_stage_settings_not_paths_or_batch_sizes(tmp_path, monkeypatch):
    def config_hash(data, setting=0):
        return pipeline_of(monkeypatch, data, [TinyStage("a", [], setting=setting)]).config_hash

    here = config_hash(job(tmp_path, tmp_path / "in.jsonl"))
    assert config_hash(job(tmp_path / "elsewhere", tmp_path / "other.jsonl", input={"batch_size": 7})) == here
    assert config_hash(job(tmp_path, tmp_path / "in.jsonl"), setting=1) != here
    assert config_hash(job(tmp_path, tmp_path / "in.jsonl", output={"include_text": True})) != here


def test_start_tells_every_stage_what_the_run_holds(tmp_path, monkeypatch):
    events: list[tuple] = []
    stages = [TinyStage("a", events), TinyStage("b", events)]
    pipe = pipeline_of(monkeypatch, job(tmp_path, tmp_path / "in.jsonl"), stages)
    pipe.start(RunStart("upsert", "url", OutputPaths(tmp_path / "out.jsonl"), lambda: iter([{"url": "old"}]), tuple))
    assert events == [("a", "start", "upsert", "url"), ("b", "start", "upsert", "url")]
    assert all(stage.existing == [{"url": "old"}] and stage.committed == [] for stage in stages)


def test_build_stages_follows_the_config(tmp_path):
    def names(**sections) -> list[str]:
        config = load_config(JobConfig, data=job(tmp_path, tmp_path / "in", **sections))
        return [stage.name for stage in build_stages(config)]

    lead = {"method": "lead_title"}
    assert names(classify={"enabled": False}, summarize=lead) == ["normalize", "summarize"]
    assert names(dedup={"enabled": True}, classify={"enabled": False}, summarize=lead) == [
        "normalize", "dedup", "summarize"]
    assert names(normalize={"enabled": False}, classify={"enabled": False}, summarize={"enabled": False}) == []
