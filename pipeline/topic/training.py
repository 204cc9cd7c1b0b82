"""`vnnews train` and `vnnews evaluate` for topic classifiers.

Training is deterministic given ``seed``: the stratified validation split, the SVM and the
calibration folds all take it. The model directory gets the model files, ``metrics.json``,
``confusion_matrix.png`` and a ``README.md`` model card with the command that rebuilt it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import EvaluateConfig, InputConfig, LabelledDataConfig, TrainConfig, resolve_model_path
from pipeline.errors import InputError
from pipeline.readers import read_batches
from pipeline.reports import classification_metrics, format_table, plot_confusion_matrix
from pipeline.runner import package_versions
from pipeline.stages.classify import classifier_input
from pipeline.text import clean_text
from pipeline.topic import load_topic_model
from pipeline.topic.tfidf_linear import TfidfLinearClassifier

log = logging.getLogger(__name__)


@dataclass
class LabelledData:
    texts: list[str]
    labels: list[str]
    ids: list[str]
    skipped: int


def load_labelled(config: LabelledDataConfig) -> LabelledData:
    """Texts (title + text, cleaned like the normalize stage does) and labels; bad rows are counted."""
    input_config = InputConfig(
        path=config.path, format=config.format, text_field=config.text_field,
        title_field=config.title_field, id_field="id", batch_size=4096, limit=config.limit,
    )
    data = LabelledData([], [], [], 0)
    for batch in read_batches(input_config):
        data.skipped += len(batch.quarantined)
        for record in batch.records:
            label = record.get(config.label_field)
            if not isinstance(label, str) or not label.strip():
                data.skipped += 1
                continue
            record["title"] = clean_text(record["title"])
            record["text"] = clean_text(record["text"])
            data.texts.append(classifier_input(record))
            data.labels.append(label.strip())
            data.ids.append(record["id"])
    if not data.texts:
        raise InputError(f"No labelled rows in {config.path} (label field '{config.label_field}').")
    if data.skipped:
        log.warning("skipped %d rows of %s without usable text or label", data.skipped, config.path)
    return data


def _write_metrics(directory: Path, metrics: dict[str, Any], y_true, y_pred, title: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    plot_confusion_matrix(y_true, y_pred, metrics["labels"], directory / "confusion_matrix.png", title)


def train(config: TrainConfig, config_path: str | None = None) -> dict[str, Any]:
    """Fit on a stratified train split, measure on the held-out split, save model + card + metrics."""
    from sklearn.model_selection import train_test_split

    data = load_labelled(config.data)
    train_idx, val_idx = train_test_split(
        range(len(data.texts)), test_size=config.validation_split, random_state=config.seed, stratify=data.labels
    )
    train_texts = [data.texts[i] for i in train_idx]
    train_labels = [data.labels[i] for i in train_idx]
    params = config.model.model_dump(exclude={"kind"})
    model = TfidfLinearClassifier(**params, seed=config.seed)
    started = time.perf_counter()
    model.fit(train_texts, train_labels)
    train_seconds = time.perf_counter() - started

    val_texts = [data.texts[i] for i in val_idx]
    val_labels = [data.labels[i] for i in val_idx]
    started = time.perf_counter()
    predicted = model.predict(val_texts)
    predict_seconds = time.perf_counter() - started
    metrics = classification_metrics(val_labels, predicted, model.classes_)
    metrics.update(
        split="validation",
        validation_split=config.validation_split,
        seed=config.seed,
        n_train=len(train_texts),
        train_seconds=round(train_seconds, 2),
        predict_articles_per_second=round(len(val_texts) / predict_seconds, 1),
        temperature=model.temperature_,
    )
    out = config.output_dir
    model.save(out)
    _write_metrics(out, metrics, val_labels, predicted, f"{out.name}: validation")
    command = f"vnnews train {config_path}" if config_path else "vnnews train <config>"
    (out / "README.md").write_text(model_card(config, metrics, command), encoding="utf-8")
    (out / "train_config.json").write_text(
        json.dumps(config.model_dump(mode="json"), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return metrics


def model_card(config: TrainConfig, metrics: dict[str, Any], command: str) -> str:
    """A Markdown model card: what the model is, its data, its numbers and how to rebuild it."""
    name = config.name or config.output_dir.name
    rows = "\n".join(
        f"| {lab} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for lab, m in metrics["per_class"].items()
    )
    params = "\n".join(f"- `{k}`: {v}" for k, v in config.model.model_dump().items())
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    return f"""# {name}

Topic classifier for Vietnamese news: TF-IDF over lower-cased syllable n-grams and a linear SVM,
with probabilities from a softmax whose temperature was fitted on out-of-fold margins.
Stored without pickle: `config.json`, `vocabulary.json`, `weights.safetensors`.

## Data
- Training file: `{config.data.path}` (text field `{config.data.text_field}`, label field `{config.data.label_field}`)
- Split: stratified, {metrics['n_train']} articles for training, {metrics['n']} held out for validation
  (share {config.validation_split}, seed {config.seed})

## Validation metrics
- Accuracy: **{metrics['accuracy']:.4f}**
- Macro-F1: **{metrics['macro_f1']:.4f}**
- Training time: {metrics['train_seconds']} s; prediction: {metrics['predict_articles_per_second']} articles/s
  (vectorize + predict, one process)

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

![confusion matrix](confusion_matrix.png)

## Settings
{params}

## Rebuild
```
{command}
```
Built {datetime.now(UTC).date().isoformat()} with {versions}.
"""


def evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Score a model directory on a labelled file; writes metrics.json and the confusion matrix."""
    model_path = resolve_model_path(config.model)
    model = load_topic_model(model_path)
    data = load_labelled(config.data)
    predicted: list[str] = []
    started = time.perf_counter()
    for start in range(0, len(data.texts), config.batch_size):
        predicted.extend(model.predict(data.texts[start : start + config.batch_size]))
    seconds = time.perf_counter() - started
    metrics = classification_metrics(data.labels, predicted, model.classes_)
    metrics.update(
        model=str(config.model),
        data=str(config.data.path),
        skipped_rows=data.skipped,
        articles_per_second=round(len(data.texts) / seconds, 1) if seconds else None,
    )
    _write_metrics(config.output_dir, metrics, data.labels, predicted, f"{model_path.name} on {config.data.path.name}")
    return metrics


__all__ = ["evaluate", "format_table", "load_labelled", "train"]
