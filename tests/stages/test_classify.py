"""The classify stage's contract (top_k, min_score) and probabilities that mean what they say."""

import json

import numpy as np

from pipeline.config import ClassifyConfig
from pipeline.reports.metrics import calibration_metrics
from pipeline.stages.classify import ClassifyStage
from pipeline.topic.tfidf_linear import TfidfLinearClassifier

ARTICLES = [
    {"id": "a", "title": "Đội tuyển thắng trận chung kết", "text": "Cầu thủ ghi hai bàn, huấn luyện viên khen ngợi."},
    {"id": "b", "title": "Giá vàng tăng", "text": "Ngân hàng nhà nước điều chỉnh lãi suất, chứng khoán giảm điểm."},
    {"id": "c", "title": "Chuyện hôm nay", "text": "Một ngày bình thường."},
]


def test_top_k_and_min_score_keep_the_score():
    stage = ClassifyStage(ClassifyConfig(top_k=3, min_score=0.8))
    rows = stage([dict(r) for r in ARTICLES])
    for row in rows:
        scores = [item["score"] for item in row["topic_top_k"]]
        assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0 + 1e-6
        assert row["topic_score"] == scores[0]
        assert (row["topic"] is None) == (row["topic_score"] < 0.8)  # the score is written either way
    assert rows[2]["topic"] is None  # "an ordinary day" has no clear topic
    sure = ClassifyStage(ClassifyConfig(top_k=0, min_score=None))([dict(r) for r in ARTICLES])
    assert sure[0]["topic"] == "Thể thao" and sure[1]["topic"] == "Kinh doanh"
    assert "topic_top_k" not in sure[0]


def test_probabilities_are_calibrated_on_held_out_articles(vntc_subset):
    rows = [json.loads(line) for line in vntc_subset.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(rows))
    train, held = [rows[i] for i in order[:800]], [rows[i] for i in order[800:]]
    clf = TfidfLinearClassifier(max_features=20000).fit([r["text"] for r in train], [r["label"] for r in train])
    proba = clf.predict_proba([r["text"] for r in held])
    calibration = calibration_metrics(proba, [r["label"] for r in held], clf.classes_)
    raw = calibration_metrics(
        np.exp(clf.decision_function([r["text"] for r in held])) / np.exp(
            clf.decision_function([r["text"] for r in held])).sum(axis=1, keepdims=True),
        [r["label"] for r in held], clf.classes_)
    assert calibration["ece"] < 0.1
    assert calibration["log_loss"] < raw["log_loss"]  # the fitted temperature beats the raw margins
