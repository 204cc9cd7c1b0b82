import json

import numpy as np
import pytest

from pipeline.errors import ModelNotFoundError
from pipeline.topic import load_topic_model
from pipeline.topic.tfidf_linear import TfidfLinearClassifier, fit_temperature
from tests.conftest import ROOT

TEXTS = {
    "Thể thao": ["Đội bóng đá thắng trận chung kết", "Cầu thủ ghi bàn phút cuối", "Huấn luyện viên đội tuyển"],
    "Kinh doanh": ["Giá vàng tăng mạnh hôm nay", "Doanh nghiệp xuất khẩu gạo", "Ngân hàng giảm lãi suất"],
    "Sức khỏe": ["Bệnh viện điều trị bệnh nhân", "Bác sĩ khuyến cáo tiêm vắc xin", "Phẫu thuật tim thành công"],
}


@pytest.fixture(scope="module")
def toy():
    texts, labels = [], []
    for label, items in TEXTS.items():
        for i in range(4):
            texts.extend(f"{t} lần {i}" for t in items)
            labels.extend([label] * len(items))
    return texts, labels


def test_fit_returns_self_and_learns_state(toy):
    clf = TfidfLinearClassifier(min_df=1, max_df=1.0)
    assert clf.fit(*toy) is clf
    assert clf.classes_ == sorted(TEXTS)
    assert clf.temperature_ > 0
    assert clf.predict(["đội bóng ghi bàn", "giá vàng hôm nay", "bác sĩ bệnh viện"]) == [
        "Thể thao", "Kinh doanh", "Sức khỏe"]


def test_probabilities_are_distributions(toy):
    clf = TfidfLinearClassifier(min_df=1, max_df=1.0).fit(*toy)
    proba = clf.predict_proba(["đội bóng", "ngân hàng", "không liên quan"])
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (proba >= 0).all() and (proba <= 1).all()


def test_save_load_roundtrip_without_pickle(toy, tmp_path):
    clf = TfidfLinearClassifier(min_df=1, max_df=1.0).fit(*toy)
    clf.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json",
                                                                   "weights.safetensors"]
    loaded = load_topic_model(tmp_path / "m")
    probe = ["đội bóng đá", "giá vàng", "bệnh viện", "hoà thuỷ khoẻ"]
    np.testing.assert_allclose(loaded.predict_proba(probe), clf.predict_proba(probe), rtol=1e-5)
    assert loaded.get_params() == clf.get_params()


def test_tone_style_applied_before_features(toy):
    clf = TfidfLinearClassifier(min_df=1, max_df=1.0, tone_style="new").fit(*toy)
    np.testing.assert_allclose(clf.predict_proba(["sức khoẻ"]), clf.predict_proba(["sức khỏe"]))


def test_temperature_recovers_sharpness():
    # Labels drawn from softmax(logits) are calibrated at T=1, so logits scaled by 3 need T=3.
    from scipy.special import softmax

    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(5000, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(logits, axis=1)])
    assert fit_temperature(logits * 3.0, y) == pytest.approx(3.0, rel=0.1)


def test_missing_and_unknown_models(tmp_path):
    with pytest.raises(ModelNotFoundError, match="vnnews train"):
        load_topic_model(tmp_path / "none")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text(json.dumps({"kind": "magic"}))
    with pytest.raises(ModelNotFoundError, match="known kinds"):
        load_topic_model(tmp_path / "odd")


def test_shipped_default_model_is_small_and_loads():
    model_dir = ROOT / "models" / "topic-tfidf-vntc"
    size = sum(p.stat().st_size for p in model_dir.iterdir())
    assert size < 8_000_000
    assert not list(model_dir.glob("*.pkl")) and not list(model_dir.glob("*.joblib"))
    model = load_topic_model(model_dir)
    assert len(model.classes_) == 10
    card = (model_dir / "README.md").read_text(encoding="utf-8")
    assert "vnnews train configs/train_topic.yaml" in card and "Macro-F1" in card


def test_title_features_make_the_first_line_count_more(toy):
    # One line about gold prices, then a body about football: without first-line features the body's
    # four football n-grams win; with them the title's vocabulary is also matched separately.
    probe = ["Giá vàng tăng mạnh\nĐội bóng đá thắng trận, cầu thủ ghi bàn"]
    plain = TfidfLinearClassifier(min_df=1, max_df=1.0).fit(*toy)
    titled = TfidfLinearClassifier(min_df=1, max_df=1.0, title_weight=1.5).fit(*toy)
    biz = plain.classes_.index("Kinh doanh")
    assert plain.predict(probe) == ["Thể thao"]
    assert titled.predict(probe) == ["Kinh doanh"]
    assert titled.predict_proba(probe)[0, biz] > plain.predict_proba(probe)[0, biz]
    # a text without a newline is its own title: both vectorizers read it
    assert titled.predict(["đội bóng ghi bàn", "bác sĩ bệnh viện"]) == ["Thể thao", "Sức khỏe"]


def test_title_model_roundtrip_and_version_2_models_still_load(toy, tmp_path):
    titled = TfidfLinearClassifier(min_df=1, max_df=1.0, title_weight=0.4).fit(*toy)
    titled.save(tmp_path / "t")
    loaded = load_topic_model(tmp_path / "t")
    probe = ["Giá vàng\nđội bóng đá", "bệnh viện", ""]
    np.testing.assert_allclose(loaded.decision_function(probe), titled.decision_function(probe), rtol=1e-5)
    assert loaded.get_params() == titled.get_params()
    assert loaded.coef_.shape[0] == titled.vectorizer_.n_features + titled.title_vectorizer_.n_features

    # a model written before title features existed (format 2, no title settings) reads as before
    plain = TfidfLinearClassifier(min_df=1, max_df=1.0).fit(*toy)
    plain.save(tmp_path / "v2")
    config = json.loads((tmp_path / "v2" / "config.json").read_text())
    config["format_version"] = 2
    for name in ("title_weight", "title_max_features"):
        del config["params"][name]
    (tmp_path / "v2" / "config.json").write_text(json.dumps(config))
    old = load_topic_model(tmp_path / "v2")
    assert old.title_vectorizer_ is None
    np.testing.assert_allclose(old.decision_function(probe), plain.decision_function(probe), rtol=1e-5)


def test_title_settings_are_validated():
    from pydantic import ValidationError

    from pipeline.config import TfidfLinearConfig

    assert TfidfLinearConfig(title_weight=0.4).title_weight == 0.4
    with pytest.raises(ValidationError):
        TfidfLinearConfig(title_weight=-0.1)
    with pytest.raises(ValidationError):
        TfidfLinearConfig(title_max_features=0)


# Unlabeled "recent" articles: words the labelled set never uses ("điện thoại thông minh", "bóng rổ",
# "tiền mã hoá") next to words it knows. Written for these tests.
RECENT = (
    [f"Cầu thủ bóng rổ ghi bàn, đội tuyển bóng rổ thắng lần {i}" for i in range(4)]
    + [f"Giá tiền mã hoá tăng mạnh, ngân hàng lo tiền mã hoá lần {i}" for i in range(4)]
    + [f"Bác sĩ bệnh viện khám điện thoại thông minh lần {i}" for i in range(2)]
)


def test_adaptation_vocabulary_counts_unlabeled_articles(toy):
    plain = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy)
    adapted = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=RECENT, rounds=0)
    assert adapted.vectorizer_.n_features > plain.vectorizer_.n_features
    assert plain.vectorizer_.transform(["rổ tiền mã hoá"]).nnz == 0
    assert adapted.vectorizer_.transform(["rổ tiền mã hoá"]).nnz > 0
    assert adapted.adaptation_ == []
    # vocabulary: false keeps the labelled vocabulary
    same = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=RECENT, vocabulary=False, rounds=0)
    np.testing.assert_array_equal(same.vectorizer_.keys_, plain.vectorizer_.keys_)


def test_self_training_learns_words_only_unlabeled_articles_use(toy):
    # Before: new words have weight 0 even when they are features. After one round, the confident
    # pseudo-labels ("bóng rổ" articles look like sport) teach the model the new words.
    probe = ["rổ", "tiền mã hoá"]
    vocab_only = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=RECENT, rounds=0)
    assert not np.any(vocab_only.decision_function(probe) - vocab_only.intercept_)
    adapted = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=RECENT, rounds=1, threshold=0.5)
    assert adapted.predict(probe) == ["Thể thao", "Kinh doanh"]
    (step,) = adapted.adaptation_
    assert step["round"] == 1 and step["pseudo_labelled"] == sum(step["per_class"].values()) >= 8
    assert step["per_class"]["Thể thao"] >= 4 and step["per_class"]["Kinh doanh"] >= 4


def test_self_training_threshold_and_cap(toy):
    capped = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=RECENT, threshold=0.34,
                                                               max_per_class=1)
    assert max(capped.adaptation_[0]["per_class"].values()) == 1
    # round 1 labels with the model fitted before it: exactly the articles it is sure enough of are added
    base = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=RECENT, rounds=0)
    confidence = base.predict_proba(RECENT).max(axis=1)
    lowest, next_lowest = np.unique(confidence)[:2]
    threshold = float((lowest + next_lowest) / 2)
    expected = int(np.sum(confidence >= threshold))
    assert 0 < expected < len(RECENT)
    strict = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=RECENT, threshold=threshold)
    assert strict.adaptation_[0]["pseudo_labelled"] == expected
    # the adapted model saves and loads like any other (the adaptation is in its weights)
    loaded_probe = ["bóng rổ thắng", "giá tiền mã hoá"]
    adapted = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=RECENT, threshold=0.5)
    np.testing.assert_allclose(adapted.predict_proba(loaded_probe),
                               TfidfLinearClassifier.load(adapted.save(_tmp_dir())).predict_proba(loaded_probe),
                               rtol=1e-6)


def _tmp_dir():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp()) / "m"


class _Text(str):
    """A text that counts how many of its kind are alive (the test's way to see what fit holds)."""

    live = 0
    peak = 0

    def __new__(cls, value):
        text = super().__new__(cls, value)
        cls.live += 1
        cls.peak = max(cls.peak, cls.live)
        return text

    def __del__(self):
        type(self).live -= 1


class _Articles:
    """Unlabeled articles made afresh on every pass, as training's file reader does."""

    def __init__(self, texts):
        self.texts = texts
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        return (_Text(t) for t in self.texts)


def test_fit_reads_unlabeled_articles_a_chunk_at_a_time_and_drops_the_labelled_texts(toy):
    """Training's memory: the unlabeled articles are read in passes (vocabulary, each round) and never held
    beyond one chunk; the labelled texts, handed over as an iterator, are gone once their features are."""
    texts, labels = toy
    unlabeled = _Articles([RECENT[i % len(RECENT)] + f" số {i}" for i in range(700)])
    alive = []
    _Text.live = _Text.peak = 0
    clf = TfidfLinearClassifier(min_df=2, max_df=1.0)
    clf._make_vectorizer = _small_chunks(clf._make_vectorizer, 100)
    clf.fit(iter([_Text(t) for t in texts]), labels, unlabeled=unlabeled, rounds=2, threshold=0.5,
            on_step=lambda: alive.append(_Text.live))
    assert unlabeled.passes == 3  # vocabulary, round 1, round 2
    assert len(alive) == TfidfLinearClassifier.fit_steps(True, 2)
    assert alive[1:] == [0] * (len(alive) - 1), alive  # from the features step on, no text is held
    # the labelled texts and two chunks of unlabeled ones (the one read while the one before is let go)
    assert len(texts) < _Text.peak <= len(texts) + 2 * 100
    assert clf.adaptation_[0]["pseudo_labelled"] > 0
    # the same model as from lists (every pass sees the same articles)
    same = TfidfLinearClassifier(min_df=2, max_df=1.0).fit(texts, labels, unlabeled=list(unlabeled.texts), rounds=2,
                                                           threshold=0.5)
    np.testing.assert_array_equal(clf.coef_, same.coef_)
    assert clf.adaptation_ == same.adaptation_ and clf.temperature_ == same.temperature_


def test_fit_refuses_unlabeled_articles_it_could_read_only_once(toy):
    with pytest.raises(TypeError, match="re-iterable"):
        TfidfLinearClassifier(min_df=2, max_df=1.0).fit(*toy, unlabeled=iter(RECENT))


def _small_chunks(make, size):
    def make_small(title=False):
        vectorizer = make(title=title)
        vectorizer.chunk_size = size
        return vectorizer

    return make_small
