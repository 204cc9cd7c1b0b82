"""The classify stage: adds ``topic``, ``topic_score`` and optionally ``topic_top_k``."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.config import ClassifyConfig, resolve_model_path
from pipeline.io.records import Record
from pipeline.provenance import directory_fingerprint
from pipeline.stages import RunStart
from pipeline.topic import load_topic_model


def classifier_input(record: Record) -> str:
    """What the topic model reads: title and text together (VNTC's text starts with its title)."""
    title = record.get("title") or ""
    return f"{title}\n{record['text']}" if title else record["text"]


class ClassifyStage:
    """Predicts each article's topic with a model directory made by ``vnnews train``."""

    name = "classify"

    def __init__(self, config: ClassifyConfig) -> None:
        self.config = config
        self.model_path = resolve_model_path(config.model)
        self.model = load_topic_model(self.model_path)
        self._fingerprint: str | None = None

    def describe(self) -> dict[str, Any]:
        classes = list(self.model.classes_)
        return {"model": str(self.config.model), "fingerprint": self.fingerprint(), "classes": classes}

    def fingerprint(self) -> str:
        """Changes when the model directory's files change (e.g. after retraining)."""
        if self._fingerprint is None:
            self._fingerprint = directory_fingerprint(self.model_path)
        return self._fingerprint

    def start(self, run: RunStart) -> None:
        """Nothing to prepare: each batch is processed on its own."""

    def finish(self) -> None:
        """Nothing to report at the end of a run."""

    def __call__(self, records: list[Record]) -> list[Record]:
        """Topic, score and top-k for every record; the arithmetic is done on whole arrays."""
        if not records:
            return records
        size = self.config.batch_size
        inputs = [classifier_input(r) for r in records]
        proba = np.vstack([self.model.predict_proba(inputs[i : i + size]) for i in range(0, len(inputs), size)])
        classes = np.array([*self.model.classes_, None], dtype=object)  # index -1: below min_score
        rows = np.arange(len(records))
        best = proba.argmax(axis=1)
        score = proba[rows, best]
        label_index = best
        if self.config.min_score is not None:
            label_index = np.where(score < self.config.min_score, -1, best)
        topics = classes[label_index].tolist()
        scores = round6(score).tolist()
        for record, topic, value in zip(records, topics, scores, strict=True):
            record["topic"] = topic
            record["topic_score"] = value
        if self.config.top_k:
            order = np.argsort(-proba, axis=1)[:, : self.config.top_k]
            labels = classes[order].tolist()
            values = round6(np.take_along_axis(proba, order, axis=1)).tolist()
            for record, row_labels, row_values in zip(records, labels, values, strict=True):
                pairs = zip(row_labels, row_values, strict=True)
                record["topic_top_k"] = [{"label": lab, "score": val} for lab, val in pairs]
        return records


def round6(values: np.ndarray) -> np.ndarray:
    """``round(float(v), 6)`` of every value, bit for bit, without a Python call per value.

    ``np.round`` scales by 1e6, rounds to an integer and divides; the division is correctly
    rounded, so it lands on the same double as Python's decimal rounding whenever the scaled
    value is not within rounding error of a tie (x.5). Those few values take Python's ``round``.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.round(values, 6)
    scaled = values * 1e6
    near_tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for index in zip(*np.nonzero(near_tie), strict=True):
        out[index] = round(float(values[index]), 6)
    return out
