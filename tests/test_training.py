import json

from pipeline.config import EvaluateConfig, TrainConfig, load_config
from pipeline.topic import load_topic_model
from pipeline.topic.training import evaluate, train
from tests.conftest import write_jsonl


def _train_config(data_path, out):
    return load_config(TrainConfig, data={
        "data": {"path": str(data_path)}, "output_dir": str(out), "validation_split": 0.2, "seed": 3,
        "model": {"max_features": 5000},
    })


def test_train_writes_model_metrics_plot_and_card(vntc_subset, tmp_path):
    metrics = train(_train_config(vntc_subset, tmp_path / "m"), config_path="cfg.yaml")
    out = tmp_path / "m"
    for name in ("config.json", "weights.safetensors", "metrics.json", "confusion_matrix.png",
                 "README.md"):
        assert (out / name).is_file(), name
    assert metrics["n"] == 200 and metrics["n_train"] == 800
    assert metrics["accuracy"] > 0.6  # 10 topics from 80 articles each; chance is 0.1
    assert set(metrics["per_class"]) == set(load_topic_model(out).classes_)
    assert "vnnews train cfg.yaml" in (out / "README.md").read_text(encoding="utf-8")


def test_training_is_deterministic_given_seed(vntc_subset, tmp_path):
    a = train(_train_config(vntc_subset, tmp_path / "a"))
    b = train(_train_config(vntc_subset, tmp_path / "b"))
    assert a["per_class"] == b["per_class"]
    weights = [(tmp_path / d / "weights.safetensors").read_bytes() for d in "ab"]
    assert weights[0] == weights[1]


def test_evaluate_reports_labels_the_model_never_saw(vntc_subset, tmp_path):
    train(_train_config(vntc_subset, tmp_path / "m"))
    rows = [json.loads(x) for x in vntc_subset.read_text(encoding="utf-8").splitlines()[:30]]
    rows.append({"id": "new", "label": "Du lịch", "text": "Du khách đến vịnh Hạ Long ngày càng đông."})
    rows.append({"id": "nolabel", "text": "Không có nhãn."})
    data = write_jsonl(tmp_path / "eval.jsonl", rows)
    cfg = load_config(EvaluateConfig, data={"model": str(tmp_path / "m"), "data": {"path": str(data)},
                                            "output_dir": str(tmp_path / "report")})
    metrics = evaluate(cfg)
    assert metrics["unseen_labels"] == ["Du lịch"]
    assert metrics["per_class"]["Du lịch"]["f1"] == 0.0
    assert metrics["n"] == 31 and metrics["skipped_rows"] == 1
    assert (tmp_path / "report" / "metrics.json").is_file()
    assert (tmp_path / "report" / "confusion_matrix.png").stat().st_size > 10_000


def test_cross_validation_reports_mean_std_and_per_class(vntc_subset, tmp_path):
    config = load_config(TrainConfig, data={
        "data": {"path": str(vntc_subset)}, "output_dir": str(tmp_path / "m"), "validation_split": 0.2, "seed": 3,
        "cv_folds": 3, "model": {"max_features": 5000, "calibration_folds": 0},
    })
    cv = train(config)["cv"]
    assert cv["folds"] == 3 and len(cv["accuracy_per_fold"]) == 3
    assert 0.6 < cv["accuracy_mean"] <= 1.0 and cv["accuracy_std"] >= 0.0
    assert len(cv["per_class_f1_mean"]) == 10
    assert "3-fold cross-validation" in (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
