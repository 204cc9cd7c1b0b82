"""The classify stage: adds ``topic``, ``topic_score`` and optionally ``topic_top_k``."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.config import ClassifyConfig, resolve_model_path
from pipeline.records import Record
from pipeline.state import directory_fingerprint
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

    def describe(self) -> dict[str, Any]:
        classes = list(self.model.classes_)
        return {"model": str(self.config.model), "fingerprint": self.fingerprint(), "classes": classes}

    def fingerprint(self) -> str:
        """Changes when the model directory's files change (e.g. after retraining)."""
        if not hasattr(self, "_fingerprint"):
            self._fingerprint = directory_fingerprint(self.model_path)
        return self._fingerprint

    def __call__(self, records: list[Record]) -> list[Record]:
        classes = self.model.classes_
        size = self.config.batch_size
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            proba = self.model.predict_proba([classifier_input(r) for r in chunk])
            best = proba.argmax(axis=1)
            order = np.argsort(-proba, axis=1)[:, : self.config.top_k] if self.config.top_k else None
            for i, record in enumerate(chunk):
                score = float(proba[i, best[i]])
                below = self.config.min_score is not None and score < self.config.min_score
                record["topic"] = None if below else classes[best[i]]
                record["topic_score"] = round(score, 6)
                if order is not None:
                    record["topic_top_k"] = [
                        {"label": classes[j], "score": round(float(proba[i, j]), 6)} for j in order[i]
                    ]
        return records
