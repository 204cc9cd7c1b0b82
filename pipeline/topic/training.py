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

import numpy as np

from pipeline.config import EvaluateConfig, InputConfig, LabelledDataConfig, TrainConfig, resolve_model_path
from pipeline.errors import InputError
from pipeline.io.readers import read_batches
from pipeline.provenance import package_versions
from pipeline.reports.metrics import calibration_metrics, classification_metrics, format_table, plot_confusion_matrix
from pipeline.stages.classify import classifier_input
from pipeline.text.normalize import clean_text
from pipeline.topic import build_topic_model, load_topic_model

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


def _model_settings(config: TrainConfig, for_cv: bool = False) -> dict[str, Any]:
    settings = config.model.model_dump()
    if for_cv and settings["kind"] == "tfidf_linear":
        settings["calibration_folds"] = 0  # the temperature does not change accuracy; CV folds skip it
    return settings


def cross_validate(config: TrainConfig, data: LabelledData) -> dict[str, Any]:
    """Stratified k-fold accuracy and macro-F1 (mean, std, per fold) and mean per-class F1, on all data."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
    scores = []
    for k, (fit_idx, test_idx) in enumerate(folds.split(data.texts, data.labels)):
        model = build_topic_model(_model_settings(config, for_cv=True), config.seed)
        model.fit([data.texts[i] for i in fit_idx], [data.labels[i] for i in fit_idx])
        truth = [data.labels[i] for i in test_idx]
        scores.append(classification_metrics(truth, model.predict([data.texts[i] for i in test_idx]), model.classes_))
        log.info("fold %d/%d: accuracy %.4f, macro-F1 %.4f", k + 1, config.cv_folds, scores[-1]["accuracy"],
                 scores[-1]["macro_f1"])
    accuracy = np.array([s["accuracy"] for s in scores])
    macro_f1 = np.array([s["macro_f1"] for s in scores])
    labels = scores[0]["per_class"].keys()
    return {
        "folds": config.cv_folds,
        "accuracy_mean": float(accuracy.mean()),
        "accuracy_std": float(accuracy.std()),
        "macro_f1_mean": float(macro_f1.mean()),
        "macro_f1_std": float(macro_f1.std()),
        "accuracy_per_fold": accuracy.round(4).tolist(),
        "macro_f1_per_fold": macro_f1.round(4).tolist(),
        "per_class_f1_mean": {lab: float(np.mean([s["per_class"][lab]["f1"] for s in scores])) for lab in labels},
    }


MODEL_FILES = ("config.json", "vocabulary.json", "weights.safetensors", "hf")


def _clear_model_files(directory: Path) -> None:
    """Remove a previous model's files (of any kind or format) so none outlives a retrain."""
    import shutil

    for name in MODEL_FILES:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def train(config: TrainConfig, config_path: str | None = None) -> dict[str, Any]:
    """Fit on a stratified train split, measure on the held-out split, save model + card + metrics."""
    from sklearn.model_selection import train_test_split

    data = load_labelled(config.data)
    train_idx, val_idx = train_test_split(
        range(len(data.texts)), test_size=config.validation_split, random_state=config.seed, stratify=data.labels
    )
    train_texts = [data.texts[i] for i in train_idx]
    train_labels = [data.labels[i] for i in train_idx]
    model = build_topic_model(_model_settings(config), config.seed)
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
        calibration=calibration_metrics(model.predict_proba(val_texts), val_labels, model.classes_),
    )
    if config.cv_folds >= 2:
        metrics["cv"] = cross_validate(config, data)
    out = config.output_dir
    _clear_model_files(out)
    model.save(out)
    _write_metrics(out, metrics, val_labels, predicted, f"{out.name}: validation")
    command = f"vnnews train {config_path}" if config_path else "vnnews train <config>"
    (out / "README.md").write_text(model_card(config, metrics, command), encoding="utf-8")
    (out / "train_config.json").write_text(
        json.dumps(config.model_dump(mode="json"), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return metrics


KIND_DESCRIPTIONS = {
    "tfidf_linear": (
        "Topic classifier for Vietnamese news: TF-IDF over lower-cased syllable (and optionally character)\n"
        "n-grams, computed by a compiled vectorizer, and a linear SVM, with probabilities from a softmax whose\n"
        "temperature was fitted on out-of-fold margins.\n"
        "Stored without pickle: `config.json`, `weights.safetensors` (n-gram hashes, idf, weights)."
    ),
    "transformer": (
        "Topic classifier for Vietnamese news: a fine-tuned Hugging Face encoder (class-weighted loss, early\n"
        "stopping on macro-F1), with probabilities from a temperature-scaled softmax.\n"
        "Stored without pickle: `config.json` and `hf/` (`save_pretrained`, safetensors)."
    ),
}


def model_card(config: TrainConfig, metrics: dict[str, Any], command: str) -> str:
    """A Markdown model card: what the model is, its data, its numbers and how to rebuild it."""
    name = config.name or config.output_dir.name
    rows = "\n".join(
        f"| {lab} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for lab, m in metrics["per_class"].items()
    )
    params = "\n".join(f"- `{k}`: {v}" for k, v in config.model.model_dump().items())
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    cv = metrics.get("cv")
    cv_lines = (
        f"- {cv['folds']}-fold cross-validation on all {metrics['n_train'] + metrics['n']} articles: accuracy "
        f"**{cv['accuracy_mean']:.4f}** ± {cv['accuracy_std']:.4f}, macro-F1 **{cv['macro_f1_mean']:.4f}** "
        f"± {cv['macro_f1_std']:.4f}\n"
        if cv
        else ""
    )
    calib = metrics.get("calibration") or {}
    calib_line = (
        f"- Calibration (validation): expected calibration error {calib['ece']:.4f}, log loss {calib['log_loss']:.4f}"
        f" (temperature {metrics['temperature']:.3f})\n"
        if calib
        else ""
    )
    return f"""# {name}

{KIND_DESCRIPTIONS.get(config.model.kind, config.model.kind)}

## Data
- Training file: `{config.data.path}` (text field `{config.data.text_field}`, label field `{config.data.label_field}`)
- Split: stratified, {metrics['n_train']} articles for training, {metrics['n']} held out for validation
  (share {config.validation_split}, seed {config.seed})

## Validation metrics
- Accuracy: **{metrics['accuracy']:.4f}**
- Macro-F1: **{metrics['macro_f1']:.4f}**
{cv_lines}{calib_line}- Training time: {metrics['train_seconds']} s; prediction:
  {metrics['predict_articles_per_second']} articles/s (vectorize + predict, one process)

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
    started = time.perf_counter()
    proba = np.vstack([
        model.predict_proba(data.texts[start : start + config.batch_size])
        for start in range(0, len(data.texts), config.batch_size)
    ])
    seconds = time.perf_counter() - started
    predicted = [model.classes_[i] for i in proba.argmax(axis=1)]
    metrics = classification_metrics(data.labels, predicted, model.classes_)
    metrics.update(
        model=str(config.model),
        data=str(config.data.path),
        skipped_rows=data.skipped,
        articles_per_second=round(len(data.texts) / seconds, 1) if seconds else None,
        calibration=calibration_metrics(proba, data.labels, model.classes_),
    )
    _write_metrics(config.output_dir, metrics, data.labels, predicted, f"{model_path.name} on {config.data.path.name}")
    from pipeline.reports.html import topic_examples, write_topic_report

    examples = topic_examples(data.ids, data.texts, data.labels, predicted, proba.max(axis=1).tolist(), n=10)
    write_topic_report(config.output_dir, metrics, examples)
    return metrics


__all__ = ["evaluate", "format_table", "load_labelled", "train"]
