import gzip
import json
import subprocess
import sys
from pathlib import Path

import yaml

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


# -- labels: and adaptation: through `vnnews train`, as a user runs it -------------------------------

VNNEWS = str(Path(sys.executable).parent / "vnnews")

# Short articles written for these tests (not taken from any newspaper), ten per topic.
_TOPIC_WORDS = {
    "Vi tính": ["phần mềm", "máy tính", "mạng internet", "ứng dụng điện thoại", "trình duyệt"],
    "Khoa học": ["nhà nghiên cứu", "kính thiên văn", "loài khủng long", "phòng thí nghiệm", "tế bào"],
    "Thể thao": ["đội tuyển", "huấn luyện viên", "trận chung kết", "cầu thủ", "bàn thắng"],
    "Kinh doanh": ["giá vàng", "doanh nghiệp", "cổ phiếu", "lãi suất ngân hàng", "xuất khẩu gạo"],
}


def _newsroom_file(tmp_path: Path) -> Path:
    rows = []
    for label, words in _TOPIC_WORDS.items():
        for i in range(10):
            a, b = words[i % 5], words[(i + 2) % 5]
            rows.append({"id": f"{label}-{i}", "category": label, "title": f"Tin {a} số {i}",
                         "body": f"Hôm nay {a} và {b} được nhắc đến nhiều. Chuyện {b} còn dài."})
    return write_jsonl(tmp_path / "newsroom.jsonl", rows)


def _vnnews_train(tmp_path: Path, data: dict) -> subprocess.CompletedProcess:
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return subprocess.run([VNNEWS, "train", str(cfg)], capture_output=True, text=True, timeout=300)


def _newsroom_job(tmp_path: Path, labels: dict) -> dict:
    return {"data": {"path": str(_newsroom_file(tmp_path)), "text_field": "body", "title_field": "title",
                     "label_field": "category"},
            "validation_split": 0.25, "seed": 5, "model": {"min_df": 1, "max_df": 1.0, "max_features": 1000},
            "labels": labels, "output_dir": str(tmp_path / "model")}


def test_train_maps_merges_and_drops_labels(tmp_path):
    labels = {"map": {"Vi tính": "Công nghệ", "Khoa học": "Công nghệ"}, "drop": ["Kinh doanh"]}
    proc = _vnnews_train(tmp_path, _newsroom_job(tmp_path, labels))
    assert proc.returncode == 0, proc.stderr
    model = load_topic_model(tmp_path / "model")
    assert model.classes_ == ["Công nghệ", "Thể thao"]
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["labels_config"] == {"relabelled_rows": 20, "dropped_rows": 10,
                                        "labels": {"Công nghệ": 20, "Thể thao": 10}}
    assert metrics["n"] + metrics["n_train"] == 30
    assert model.predict(["Cầu thủ ghi bàn thắng trong trận chung kết"]) == ["Thể thao"]
    assert "20 rows relabelled, 10 left out" in (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    # `vnnews evaluate` takes the same section, so the newsroom's test files keep their own labels
    cfg = tmp_path / "evaluate.yaml"
    cfg.write_text(yaml.safe_dump({
        "task": "topic", "model": str(tmp_path / "model"), "labels": labels, "output_dir": str(tmp_path / "eval"),
        "data": {"path": str(tmp_path / "newsroom.jsonl"), "text_field": "body", "title_field": "title",
                 "label_field": "category"}}, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run([VNNEWS, "evaluate", str(cfg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert evaluated["n"] == 30 and evaluated["unseen_labels"] == []
    assert evaluated["labels_config"]["dropped_rows"] == 10


def test_train_keeps_only_listed_labels(tmp_path):
    proc = _vnnews_train(tmp_path, _newsroom_job(tmp_path, {"keep": ["Thể thao", "Kinh doanh"]}))
    assert proc.returncode == 0, proc.stderr
    assert load_topic_model(tmp_path / "model").classes_ == ["Kinh doanh", "Thể thao"]


def test_label_that_never_occurs_is_an_error_naming_the_key(tmp_path):
    proc = _vnnews_train(tmp_path, _newsroom_job(tmp_path, {"map": {"Vi tinh": "Công nghệ"}}))
    assert proc.returncode == 2
    assert "labels.map: 'Vi tinh' never occurs in the data" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "model").exists()
    proc = _vnnews_train(tmp_path, _newsroom_job(tmp_path, {"map": {"Vi tính": "Công nghệ"}, "drop": ["Vi tính"]}))
    assert proc.returncode == 2
    assert "labels.drop: 'Vi tính' never occurs after labels.map" in proc.stderr + proc.stdout


def test_labels_kept_and_dropped_at_once_is_a_config_error(tmp_path):
    proc = _vnnews_train(tmp_path, _newsroom_job(tmp_path, {"keep": ["Thể thao"], "drop": ["Thể thao"]}))
    assert proc.returncode == 2
    assert "labels both kept and dropped: Thể thao" in proc.stderr + proc.stdout


def test_train_with_adaptation_on_unlabeled_recent_news(vntc_subset, shared_data, tmp_path):
    """A small-sample run of the shipped recipe: VNTC labels, VietNews (2016-2019) unlabeled articles."""
    unlabeled = tmp_path / "recent.jsonl"
    with gzip.open(shared_data / "vietnews" / "train_sample.jsonl.gz", "rt", encoding="utf-8") as fh:
        unlabeled.write_text("".join(line for _, line in zip(range(400), fh, strict=False)), encoding="utf-8")
    data = {"data": {"path": str(vntc_subset)}, "validation_split": 0.2, "seed": 3, "cv_folds": 2,
            "model": {"max_features": 5000},
            "adaptation": {"data": {"path": str(unlabeled), "text_field": "body", "lead_field": "abstract"},
                           "rounds": 2, "threshold": 0.6, "max_per_class": 30, "weight": 0.5},
            "output_dir": str(tmp_path / "model")}
    proc = _vnnews_train(tmp_path, data)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text(encoding="utf-8"))
    adaptation = metrics["adaptation"]
    assert adaptation["unlabeled_articles"] == 400
    assert [r["round"] for r in adaptation["rounds"]] == [1, 2]
    for r in adaptation["rounds"]:
        assert 0 < r["pseudo_labelled"] == sum(r["per_class"].values())
        assert max(r["per_class"].values()) <= 30
    assert metrics["accuracy"] > 0.6 and metrics["cv"]["folds"] == 2
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "README.md", "config.json", "confusion_matrix.png", "metrics.json", "train_config.json",
        "weights.safetensors"]
    assert "400 unlabeled articles" in (tmp_path / "model" / "README.md").read_text(encoding="utf-8")


def test_adaptation_needs_the_tfidf_kind(tmp_path):
    data = {"data": {"path": "x.jsonl"}, "output_dir": str(tmp_path / "m"), "model": {"kind": "transformer"},
            "adaptation": {"data": {"path": "y.jsonl"}}}
    proc = _vnnews_train(tmp_path, data)
    assert proc.returncode == 2
    assert "adaptation works with model.kind tfidf_linear" in proc.stderr + proc.stdout


def test_cv_folds_keep_calibration_when_self_training_needs_it(tmp_path):
    # self-training picks pseudo-labels by calibrated probability: without the temperature (T = 1)
    # a CV fold would pick other articles than the trained model does
    from pipeline.topic.training import _model_settings

    base = {"data": {"path": "x.jsonl"}, "output_dir": str(tmp_path), "model": {"calibration_folds": 3}}
    plain = load_config(TrainConfig, data=base)
    adapted = load_config(TrainConfig, data=base | {"adaptation": {"data": {"path": "y.jsonl"}}})
    assert _model_settings(plain, for_cv=True)["calibration_folds"] == 0
    assert _model_settings(adapted, for_cv=True)["calibration_folds"] == 3


def test_evaluate_warns_when_it_scores_the_training_file(tmp_path):
    """`vnnews evaluate` on the file the model was trained on (or a copy of it) says so, in its output and
    metrics.json; a file of other rows gets no warning."""
    proc = _vnnews_train(tmp_path, _newsroom_job(tmp_path, {}))
    assert proc.returncode == 0, proc.stderr
    newsroom = tmp_path / "newsroom.jsonl"
    copy = tmp_path / "copy" / "newsroom.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(newsroom.read_bytes())
    other = write_jsonl(tmp_path / "other.jsonl", [json.loads(line) for line in newsroom.read_text().splitlines()][:20])
    for data, warned in ((newsroom, True), (copy, True), (other, False)):
        cfg = tmp_path / "evaluate.yaml"
        cfg.write_text(yaml.safe_dump({
            "task": "topic", "model": str(tmp_path / "model"), "output_dir": str(tmp_path / "eval"),
            "data": {"path": str(data), "text_field": "body", "title_field": "title", "label_field": "category"}},
            allow_unicode=True), encoding="utf-8")
        proc = subprocess.run([VNNEWS, "evaluate", str(cfg)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
        assert ("WARNING: " in proc.stdout and "was trained on" in proc.stderr) is warned, (data, proc.stdout)
        assert bool(metrics.get("warnings")) is warned
        if warned:
            assert "75% of its rows trained the model" in metrics["warnings"][0]


def test_train_shows_each_phase_with_eta_and_never_replaces_a_model_silently(tmp_path):
    """Progress lines name each phase (reading, fitting steps) with an ETA; a second training into the same
    output_dir stops before any work (exit 5) unless --overwrite; the shipped model's config is refused too."""
    job = {**_newsroom_job(tmp_path, {}), "progress": "log", "log_every_seconds": 0.001}
    proc = _vnnews_train(tmp_path, job)
    assert proc.returncode == 0, proc.stderr
    assert "progress: read newsroom.jsonl: " in proc.stderr and "done in" in proc.stderr, proc.stderr
    assert "progress: fit: " in proc.stderr and "/4 steps" in proc.stderr and "ETA" in proc.stderr, proc.stderr
    weights = (tmp_path / "model" / "weights.safetensors").read_bytes()
    again = _vnnews_train(tmp_path, {**job, "seed": 6})
    assert again.returncode == 5 and "--overwrite" in again.stderr and "progress:" not in again.stderr, again.stderr
    assert (tmp_path / "model" / "weights.safetensors").read_bytes() == weights
    replaced = subprocess.run([VNNEWS, "train", str(tmp_path / "train.yaml"), "--overwrite"], capture_output=True,
                              text=True, timeout=300)
    assert replaced.returncode == 0, replaced.stderr
    root = Path(__file__).resolve().parents[2]
    shipped = root / "models" / "topic-tfidf-vntc" / "weights.safetensors"
    before = shipped.stat().st_mtime_ns
    proc = subprocess.run([VNNEWS, "train", "configs/train_topic.yaml"], capture_output=True, text=True, timeout=300,
                          cwd=root)
    assert proc.returncode == 5 and "already holds a model" in proc.stderr, proc.stderr
    assert shipped.stat().st_mtime_ns == before
