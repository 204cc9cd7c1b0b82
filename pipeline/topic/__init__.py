"""Topic classifiers: model kinds behind one interface, loaded from a model directory by its kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import ModelNotFoundError
from pipeline.modelfiles import BadModelFile, json_object
from pipeline.topic.tfidf_linear import TfidfLinearClassifier
from pipeline.topic.transformer import TransformerClassifier

MODEL_KINDS: dict[str, type] = {"tfidf_linear": TfidfLinearClassifier, "transformer": TransformerClassifier}
TopicModel = TfidfLinearClassifier | TransformerClassifier


def build_topic_model(settings: dict[str, Any], seed: int) -> TopicModel:
    """An unfitted model from a config's ``model`` section (its ``kind`` picks the class)."""
    settings = dict(settings)
    kind = settings.pop("kind")
    return MODEL_KINDS[kind](**settings, seed=seed)


MODEL_FOLDER = (
    "A topic model folder, as `vnnews train` writes it, holds config.json (kind, classes, settings) and "
    "weights.safetensors (kind tfidf_linear) or hf/ (kind transformer: config.json, tokenizer files and "
    "model.safetensors, as save_pretrained writes them). Train one with `vnnews train configs/train_topic.yaml`, "
    "or point classify.model at such a folder."
)


def load_topic_model(directory: str | Path) -> TopicModel:
    """Load a topic model directory written by ``vnnews train`` (its ``config.json`` names the kind).

    Whatever the folder holds instead (nothing, a pickle, files cut short, another kind of model),
    the error is the model error naming the folder and what it must hold.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelNotFoundError(f"No topic model at {directory}: there is no such folder. {MODEL_FOLDER}")
    try:
        kind = json_object(directory / "config.json").get("kind")
        if kind not in MODEL_KINDS:
            raise BadModelFile(f"config.json names a kind of model this version does not know (known kinds: "
                               f"{', '.join(MODEL_KINDS)})")
        return MODEL_KINDS[kind].load(directory)
    except BadModelFile as exc:
        raise ModelNotFoundError(f"Cannot use the topic model in {directory}: {exc}. {MODEL_FOLDER}") from None
