"""Topic classifiers: model kinds behind one interface, loaded from a model directory by its kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import ModelNotFoundError
from pipeline.topic.tfidf_linear import TfidfLinearClassifier
from pipeline.topic.transformer import TransformerClassifier

MODEL_KINDS: dict[str, type] = {"tfidf_linear": TfidfLinearClassifier, "transformer": TransformerClassifier}
TopicModel = TfidfLinearClassifier | TransformerClassifier


def build_topic_model(settings: dict[str, Any], seed: int) -> TopicModel:
    """An unfitted model from a config's ``model`` section (its ``kind`` picks the class)."""
    settings = dict(settings)
    kind = settings.pop("kind")
    return MODEL_KINDS[kind](**settings, seed=seed)


def load_topic_model(directory: str | Path) -> TopicModel:
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
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelNotFoundError(f"Topic model {directory} is incomplete or corrupt: {exc}.") from None
