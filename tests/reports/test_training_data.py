"""Which training files of a model an evaluation file is: the same file, a copy, or the adaptation data."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.reports.training_data import training_overlap


def _model(tmp_path: Path, config: dict) -> Path:
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    (model / "train_config.json").write_text(json.dumps(config), encoding="utf-8")
    return model


def test_training_overlap(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    labelled = tmp_path / "data" / "train.jsonl"
    labelled.write_text('{"text": "a", "label": "x"}\n', encoding="utf-8")
    unlabeled = tmp_path / "data" / "news.jsonl"
    unlabeled.write_text('{"text": "b"}\n', encoding="utf-8")
    other = tmp_path / "data" / "test.jsonl"
    other.write_text('{"text": "c", "label": "x"}\n', encoding="utf-8")
    # paths as `vnnews train` recorded them: relative to where it ran (here: the folder holding models/)
    model = _model(tmp_path, {"data": {"path": "data/train.jsonl"}, "validation_split": 0.2,
                              "adaptation": {"data": {"path": str(unlabeled)}}})
    monkeypatch.chdir(tmp_path / "data")  # evaluation runs elsewhere: found beside models/ all the same
    [warning] = training_overlap(model, labelled)
    assert "was trained on (data.path" in warning and "80% of its rows" in warning
    [warning] = training_overlap(model, unlabeled)
    assert "pseudo-labels from (without labels) (adaptation.data.path" in warning
    assert training_overlap(model, other) == []
    assert training_overlap(tmp_path, labelled) == []  # no train_config.json: nothing to compare


def test_a_separate_validation_file_means_no_share(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("{}\n", encoding="utf-8")
    model = _model(tmp_path, {"data": {"path": str(data)}, "validation": {"path": "dev.jsonl"},
                              "validation_split": 0.1})
    [warning] = training_overlap(model, data)
    assert "% of its rows" not in warning
