"""The `transformer` model kind: fine-tune -> save -> load -> predict with a tiny BERT the tests build.

The encoder's weights start random, so these tests check mechanics and that training moves the
model toward the labels of an easy toy set, never real accuracy.
"""

import json

import numpy as np
import pytest

from pipeline.config import TrainConfig, load_config
from pipeline.topic import load_topic_model
from pipeline.topic.training import train
from pipeline.topic.transformer import TransformerClassifier
from tests.conftest import write_jsonl

TOPICS = {
    "Thể thao": ["đội bóng thắng trận", "cầu thủ ghi bàn", "huấn luyện viên đội tuyển", "trận chung kết bóng đá"],
    "Kinh doanh": ["giá vàng tăng mạnh", "doanh nghiệp xuất khẩu gạo", "ngân hàng giảm lãi suất", "chứng khoán giảm"],
    "Sức khỏe": ["bác sĩ điều trị bệnh nhân", "bệnh viện tiêm vắc xin", "phẫu thuật tim", "thuốc chữa bệnh cúm"],
}


def toy_rows(repeats: int = 6) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for r in range(repeats):
        for label, items in TOPICS.items():
            for item in items:
                texts.append(f"{item} hôm nay lần {r}")
                labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, tiny_tokenizer):
    """A 1-layer BERT encoder (PhoBERT is a RoBERTa; any AutoModel encoder works the same way)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, pad_token_id=tiny_tokenizer.pad_token_id,
    )
    path = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


def _classifier(tiny_bert, **overrides) -> TransformerClassifier:
    settings = dict(model=str(tiny_bert), max_length=32, learning_rate=5e-3, epochs=6, batch_size=8,
                    early_stopping_patience=0, early_stopping_split=0.2, device="cpu", seed=1)
    settings.update(overrides)
    return TransformerClassifier(**settings)


def test_fit_save_load_predict(tiny_bert, tmp_path):
    texts, labels = toy_rows()
    clf = _classifier(tiny_bert)
    assert clf.fit(texts, labels) is clf
    assert clf.classes_ == sorted(TOPICS) and clf.temperature_ > 0
    accuracy = np.mean(np.array(clf.predict(texts)) == np.array(labels))
    assert accuracy > 0.6  # chance is 1/3; a tiny random encoder still learns this toy set
    clf.save(tmp_path / "m")
    assert (tmp_path / "m" / "hf" / "model.safetensors").is_file()
    assert not list((tmp_path / "m").rglob("*.bin")) and not list((tmp_path / "m").rglob("*.pkl"))
    loaded = load_topic_model(tmp_path / "m")
    assert isinstance(loaded, TransformerClassifier)
    probe = ["cầu thủ ghi bàn", "giá vàng", "bác sĩ"]
    proba = loaded.predict_proba(probe)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(proba, clf.predict_proba(probe), rtol=1e-4, atol=1e-6)


@pytest.fixture
def trainers(monkeypatch):
    """The Trainers that ``fit`` builds, kept for inspection after training."""
    from pipeline.topic import transformer

    built = []
    make = transformer._WeightedTrainer

    def spy(**kwargs):
        built.append(make(**kwargs))
        return built[-1]

    monkeypatch.setattr(transformer, "_WeightedTrainer", spy)
    return built


def _epochs_run(trainer) -> float:
    return max(entry["epoch"] for entry in trainer.state.log_history if "eval_macro_f1" in entry)


def test_early_stopping_stops_when_macro_f1_stops_improving(tiny_bert, trainers):
    """A learning rate too small to change any prediction: macro-F1 is flat from the first evaluation,
    so patience 1 stops after the second of five epochs; patience 0 trains all five."""
    texts, labels = toy_rows(2)
    _classifier(tiny_bert, epochs=5, learning_rate=1e-12, early_stopping_patience=1).fit(texts, labels)
    _classifier(tiny_bert, epochs=5, learning_rate=1e-12, early_stopping_patience=0).fit(texts, labels)
    stopped, full = trainers
    scores = [e["eval_macro_f1"] for e in stopped.state.log_history if "eval_macro_f1" in e]
    assert len(set(scores)) == 1  # flat, as intended
    assert _epochs_run(stopped) == 2.0 and stopped.state.global_step < full.state.global_step
    assert _epochs_run(full) == 5.0
    assert stopped.state.best_metric == scores[0]  # the best checkpoint was loaded at the end


def test_balanced_class_weights_are_inverse_class_frequencies(tiny_bert, trainers):
    import torch

    texts, labels = toy_rows(4)
    sport = [t for t, label in zip(texts, labels, strict=True) if label == "Thể thao"]
    texts, labels = texts + sport, labels + ["Thể thao"] * len(sport)  # one topic twice as frequent
    clf = _classifier(tiny_bert, epochs=1, class_weight="balanced").fit(texts, labels)
    _classifier(tiny_bert, epochs=1, class_weight=None).fit(texts, labels)
    weighted, plain = trainers
    y = np.asarray(weighted.train_dataset["labels"])  # the training part (the rest is held out)
    counts = np.bincount(y, minlength=len(clf.classes_))
    assert counts.min() != counts.max()
    expected = len(y) / (len(clf.classes_) * counts)  # n / (k * count): scikit-learn's "balanced"
    np.testing.assert_allclose(weighted.class_weights.numpy(), expected, rtol=1e-6)
    assert plain.class_weights is None
    # ...and the loss uses them: cross-entropy weighted per class, not the model's own (unweighted) loss.
    batch = weighted.data_collator([weighted.train_dataset[i] for i in range(8)])
    model = weighted.model.eval()
    with torch.no_grad():
        loss = weighted.compute_loss(model, dict(batch))
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    weight = torch.tensor(expected, dtype=torch.float32)
    manual = torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weight)
    unweighted = torch.nn.functional.cross_entropy(logits, batch["labels"])
    assert float(loss) == pytest.approx(float(manual), rel=1e-5)
    assert float(loss) != pytest.approx(float(unweighted), rel=1e-5)


def test_word_segmentation_joins_words():
    from pipeline.topic.transformer import segment_words

    assert "Hà_Nội" in segment_words(["Người dân Hà Nội đi làm"])[0]


def test_train_command_with_transformer_kind(tiny_bert, tmp_path):
    texts, labels = toy_rows()
    rows = [{"id": str(i), "text": t, "label": lab} for i, (t, lab) in enumerate(zip(texts, labels, strict=True))]
    data = write_jsonl(tmp_path / "toy.jsonl", rows)
    config = load_config(TrainConfig, data={
        "data": {"path": str(data)}, "output_dir": str(tmp_path / "model"), "validation_split": 0.2, "seed": 2,
        "model": {"kind": "transformer", "model": str(tiny_bert), "max_length": 32, "learning_rate": 5e-3,
                  "epochs": 4, "batch_size": 8, "early_stopping_patience": 0, "device": "cpu"},
    })
    metrics = train(config, config_path="toy.yaml")
    out = tmp_path / "model"
    for name in ("config.json", "metrics.json", "confusion_matrix.png", "README.md"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["kind"] == "transformer"
    assert metrics["n"] + metrics["n_train"] == len(texts) and "ece" in metrics["calibration"]
    assert "fine-tuned Hugging Face encoder" in (out / "README.md").read_text(encoding="utf-8")


def test_config_rejects_unknown_transformer_keys():
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.transformer\.max_lenght"):
        load_config(TrainConfig, data={"data": {"path": "x"}, "output_dir": "o",
                                       "model": {"kind": "transformer", "max_lenght": 10}})


def test_fine_tuning_is_deterministic_given_seed(tiny_bert):
    texts, labels = toy_rows(3)
    probe = ["cầu thủ ghi bàn", "giá vàng"]
    a = _classifier(tiny_bert, epochs=2).fit(texts, labels).predict_proba(probe)
    b = _classifier(tiny_bert, epochs=2).fit(texts, labels).predict_proba(probe)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
