"""Topic classifiers: model kinds behind one interface, loaded from a model directory by its kind."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.errors import ModelNotFoundError
from pipeline.topic.tfidf_linear import TfidfLinearClassifier

MODEL_KINDS = {"tfidf_linear": TfidfLinearClassifier}


def load_topic_model(directory: str | Path) -> TfidfLinearClassifier:
    """Load a topic model directory written by ``vnnews train`` (its ``config.json`` names the kind)."""
    directory = Path(directory)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ModelNotFoundError(
            f"No topic model at {directory} (expected {config_file}). Train one with "
            "`vnnews train configs/train_topic.yaml`, or point classify.model at a model directory."
        )
    try:
        kind = json.loads(config_file.read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"Topic model config {config_file} is unreadable: {exc}.") from None
    if kind not in MODEL_KINDS:
        raise ModelNotFoundError(f"Topic model {directory} has kind {kind!r}; known kinds: {sorted(MODEL_KINDS)}.")
    try:
        return MODEL_KINDS[kind].load(directory)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelNotFoundError(f"Topic model {directory} is incomplete or corrupt: {exc}.") from None
