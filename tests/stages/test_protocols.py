"""Every stage implements the Stage protocol and every sink the Sink protocol: the runners call
their methods without probing for them."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from pipeline.config import ClassifyConfig, DedupConfig, NormalizeConfig, SummarizeConfig
from pipeline.io.writers import CsvSink, JsonlSink, ParquetSink, Sink, SqlSink
from pipeline.stages import Stage
from pipeline.stages.classify import ClassifyStage
from pipeline.stages.dedup import DedupStage
from pipeline.stages.normalize import NormalizeStage
from pipeline.stages.summarize import SummarizeStage

STAGE_METHODS = ("__call__", "describe", "fingerprint", "start", "finish")
SINK_METHODS = ("exists", "signature", "read_rows", "commit")


def _protocol_methods(protocol) -> set[str]:
    return {name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")} | (
        {"__call__"} if "__call__" in vars(protocol) else set()
    )


def _same_parameters(cls, protocol, name: str) -> None:
    ours = list(inspect.signature(getattr(cls, name)).parameters)
    declared = list(inspect.signature(getattr(protocol, name)).parameters)
    assert ours[: len(declared)] == declared, f"{cls.__name__}.{name}{ours} vs {protocol.__name__}.{name}{declared}"


def test_the_protocols_declare_what_the_runners_call():
    assert _protocol_methods(Stage) == set(STAGE_METHODS)
    assert _protocol_methods(Sink) == set(SINK_METHODS)


@pytest.mark.parametrize("cls", [NormalizeStage, DedupStage, ClassifyStage, SummarizeStage])
def test_stage_classes_define_every_protocol_method(cls):
    for name in STAGE_METHODS:
        assert name in vars(cls), f"{cls.__name__} lacks {name}"
        _same_parameters(cls, Stage, name)
    assert isinstance(cls.name, str)


def test_stage_instances_satisfy_the_protocol():
    stages = [
        NormalizeStage(NormalizeConfig()),
        ClassifyStage(ClassifyConfig()),  # the shipped topic model
        SummarizeStage(SummarizeConfig()),  # the shipped learned extractive model
        SummarizeStage(SummarizeConfig(method="lead_title")),
        DedupStage(DedupConfig(enabled=True)),
    ]
    for stage in stages:
        assert isinstance(stage, Stage), type(stage).__name__
        stage.finish()
    assert stages[0].fingerprint() is None  # no model files: the hash of finished jobs is unchanged
    assert all(isinstance(stage.fingerprint(), str) for stage in stages[1:])


@pytest.mark.parametrize("cls", [JsonlSink, CsvSink, ParquetSink, SqlSink])
def test_sink_classes_define_every_protocol_method(cls):
    for name in SINK_METHODS:
        assert callable(getattr(cls, name, None)), f"{cls.__name__} lacks {name}"
        _same_parameters(cls, Sink, name)


def test_sink_instances_satisfy_the_protocol(tmp_path: Path):
    sinks = [JsonlSink(tmp_path / "a.jsonl"), CsvSink(tmp_path / "a.csv"), ParquetSink(tmp_path / "a.parquet"),
             SqlSink(f"sqlite:///{tmp_path / 'a.db'}", "articles")]
    for sink in sinks:
        assert isinstance(sink, Sink), type(sink).__name__
        assert not sink.exists()
        sink.commit("overwrite", lambda: [{"id": "1", "title": "t", "run_id": "r1"}], "id", "r1")
        assert [row["id"] for row in sink.read_rows()] == ["1"]
        assert sink.signature() is not None
