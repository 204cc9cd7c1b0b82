"""`vnnews train` and `vnnews evaluate` for topic classifiers.

Training is deterministic given ``seed``: the stratified validation split, the SVM and the
calibration folds all take it. The model directory gets the model files, ``metrics.json``,
``confusion_matrix.png`` and a ``README.md`` model card with the command that rebuilt it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import (
    AdaptationConfig,
    EvaluateConfig,
    InputConfig,
    LabelledDataConfig,
    LabelsConfig,
    TrainConfig,
    UnlabeledDataConfig,
    resolve_model_path,
)
from pipeline.errors import ConfigError, InputError, OutputError
from pipeline.extras import check_topic_evaluate, check_topic_train
from pipeline.io.readers import counted_batches
from pipeline.progress import ProgressSettings
from pipeline.provenance import package_versions
from pipeline.reports.metrics import calibration_metrics, classification_metrics, format_table, plot_confusion_matrix
from pipeline.reports.training_data import training_overlap
from pipeline.stages.classify import classifier_input
from pipeline.text.normalize import clean_text
from pipeline.topic import build_topic_model, load_topic_model
from pipeline.topic.tfidf_linear import TfidfLinearClassifier

log = logging.getLogger(__name__)


@dataclass
class LabelledData:
    texts: list[str]
    labels: list[str]
    ids: list[str]
    skipped: int


def load_labelled(config: LabelledDataConfig, progress: ProgressSettings | None = None) -> LabelledData:
    """Texts (title + text, cleaned like the normalize stage does) and labels; bad rows are counted."""
    input_config = InputConfig(
        path=config.path, format=config.format, text_field=config.text_field,
        title_field=config.title_field, id_field="id", batch_size=4096, limit=config.limit,
    )
    data = LabelledData([], [], [], 0)
    for batch in counted_batches(input_config, progress or ProgressSettings(), f"read {config.path.name}"):
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


def apply_labels(data: LabelledData, config: LabelsConfig, section: str = "labels") -> dict[str, Any]:
    """Rename/merge (``map``), then ``drop`` and ``keep`` labels, in place; returns what changed.

    Every label the section names must occur in the data (``map`` keys before mapping, ``drop`` and
    ``keep`` entries after it): otherwise a :class:`ConfigError` names the key, since a misspelled
    label would silently train another taxonomy.
    """
    if not config.active:
        return {}
    present = set(data.labels)
    missing = [old for old in config.map if old not in present]
    if missing:
        raise ConfigError(_absent(f"{section}.map", missing, present))
    mapped = [config.map.get(label, label) for label in data.labels]
    after = set(mapped)
    for key, names in ((f"{section}.drop", config.drop), (f"{section}.keep", config.keep or [])):
        missing = [name for name in names if name not in after]
        if missing:
            raise ConfigError(_absent(key, missing, after, mapped=bool(config.map)))
    keep = set(config.keep) if config.keep is not None else after
    use = [i for i, label in enumerate(mapped) if label in keep and label not in config.drop]
    if not use:
        raise ConfigError(f"{section}: no labelled rows are left after drop/keep.")
    changed = sum(1 for old, new in zip(data.labels, mapped, strict=True) if old != new)
    data.texts = [data.texts[i] for i in use]
    data.ids = [data.ids[i] for i in use]
    data.labels = [mapped[i] for i in use]
    counts = dict(zip(*np.unique(data.labels, return_counts=True), strict=True))
    return {"relabelled_rows": changed, "dropped_rows": len(mapped) - len(use),
            "labels": {str(k): int(v) for k, v in counts.items()}}


def _absent(key: str, names: list[str], present: set[str], mapped: bool = False) -> str:
    where = "after labels.map" if mapped else "in the data"
    shown = ", ".join(repr(n) for n in names)
    known = ", ".join(repr(n) for n in sorted(present))
    return f"{key}: {shown} never occurs {where} (labels there: {known})."


def load_unlabeled(config: UnlabeledDataConfig, progress: ProgressSettings | None = None) -> list[str]:
    """Articles as the classifier reads them (title, lead, text; cleaned like the normalize stage), in a list."""
    texts = list(UnlabeledArticles(config, progress))
    if not texts:
        raise InputError(f"No unlabeled articles in {config.path} (text field '{config.text_field}').")
    return texts


class UnlabeledArticles:
    """The unlabeled articles of an ``adaptation.data`` section as the classifier reads them (title, lead,
    text; cleaned like the normalize stage), read from the file again on every pass.

    Fitting reads them once for the vocabulary and once per self-training round; reading the file each
    time, rather than holding every text, keeps training's memory to the features it needs. ``len()``
    is the number of articles (known after the first complete pass; counted by one if asked before).
    """

    def __init__(self, config: UnlabeledDataConfig, progress: ProgressSettings | None = None) -> None:
        self.config = config
        self.progress = progress or ProgressSettings()
        self.count: int | None = None

    def check(self) -> None:
        """Raise :class:`InputError` unless the file holds at least one article (reads its first batch only)."""
        for _ in self._read(ProgressSettings()):
            return
        raise InputError(f"No unlabeled articles in {self.config.path} (text field '{self.config.text_field}').")

    def __len__(self) -> int:
        if self.count is None:
            self.count = sum(1 for _ in self._read(ProgressSettings()))
        return self.count

    def __iter__(self) -> Iterator[str]:
        count = 0
        for text in self._read(self.progress):
            count += 1
            yield text
        self.count = count

    def _read(self, progress: ProgressSettings) -> Iterator[str]:
        config = self.config
        input_config = InputConfig(
            path=config.path, format=config.format, text_field=config.text_field, title_field=config.title_field,
            id_field=None, batch_size=4096, limit=config.limit,
        )
        for batch in counted_batches(input_config, progress, f"read {config.path.name}"):
            for record in batch.records:
                text = record["text"]
                lead = record.get(config.lead_field) if config.lead_field else None
                if isinstance(lead, str) and lead.strip():
                    text = f"{lead}\n{text}"
                yield classifier_input({"title": clean_text(record.get("title") or ""), "text": clean_text(text)})


def fit_topic_model(
    model, texts: Iterable[str], labels: list[str], adaptation: AdaptationConfig | None,
    unlabeled: Iterable[str] | None, progress: ProgressSettings | None = None,
) -> None:
    """Fit, with the adaptation settings and unlabeled articles (a list or :class:`UnlabeledArticles`) when
    the config has them.

    A tfidf_linear model shows its fitting steps (vocabulary, features, SVM, temperature, self-training
    rounds) as progress; a transformer model's Trainer shows its own.
    """
    settings = adaptation.model_dump(exclude={"data"}) if adaptation is not None else {}
    if not isinstance(model, TfidfLinearClassifier):
        model.fit(list(texts), labels, **({"unlabeled": unlabeled, **settings} if adaptation is not None else {}))
        return
    total = model.fit_steps(unlabeled is not None and adaptation is not None, settings.get("rounds", 0))
    bar = (progress or ProgressSettings()).start(total, "fit", unit="steps")
    try:
        if adaptation is None:
            model.fit(texts, labels, on_step=lambda: bar.update(1))
        else:
            model.fit(texts, labels, unlabeled=unlabeled, on_step=lambda: bar.update(1), **settings)
    finally:
        bar.close()


def _write_metrics(directory: Path, metrics: dict[str, Any], y_true, y_pred, title: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    plot_confusion_matrix(y_true, y_pred, metrics["labels"], directory / "confusion_matrix.png", title)


def _model_settings(config: TrainConfig, for_cv: bool = False) -> dict[str, Any]:
    settings = config.model.model_dump()
    if for_cv and settings["kind"] == "tfidf_linear" and config.adaptation is None:
        # the temperature does not change accuracy, so CV folds skip it, unless self-training's
        # probability threshold needs it to pick the same pseudo-labels as the model does
        settings["calibration_folds"] = 0
    return settings


def cross_validate(config: TrainConfig, data: LabelledData, unlabeled: Iterable[str] | None = None) -> dict[str, Any]:
    """Stratified k-fold accuracy and macro-F1 (mean, std, per fold) and mean per-class F1, on all data.

    Each fold is trained as the model is, adaptation included.
    """
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
    scores = []
    bar = _progress(config).start(config.cv_folds, "cross-validation", unit="folds")
    for k, (fit_idx, test_idx) in enumerate(folds.split(data.texts, data.labels)):
        model = build_topic_model(_model_settings(config, for_cv=True), config.seed)
        fit_texts, fit_labels = [data.texts[i] for i in fit_idx], [data.labels[i] for i in fit_idx]
        fit_topic_model(model, fit_texts, fit_labels, config.adaptation, unlabeled)
        truth = [data.labels[i] for i in test_idx]
        scores.append(classification_metrics(truth, model.predict([data.texts[i] for i in test_idx]), model.classes_))
        log.info("fold %d/%d: accuracy %.4f, macro-F1 %.4f", k + 1, config.cv_folds, scores[-1]["accuracy"],
                 scores[-1]["macro_f1"])
        bar.update(1)
    bar.close()
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


def _progress(config: TrainConfig) -> ProgressSettings:
    return ProgressSettings(config.progress, config.log_every_seconds)


def check_output_dir(directory: Path, overwrite: bool) -> None:
    """Refuse, before any work, to replace a model already in ``directory`` unless ``overwrite`` says so."""
    if not overwrite and (directory / "config.json").exists():
        raise OutputError(
            f"output_dir {directory} already holds a model (its config.json); training would replace it. Pass "
            f"--overwrite to replace it, or write the new model elsewhere (--set output_dir={directory}-new)."
        )


def train(config: TrainConfig, config_path: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Fit on a stratified train split, measure on the held-out split, save model + card + metrics.

    A model already in ``output_dir`` is replaced only with ``overwrite`` (:func:`check_output_dir`).
    """
    check_topic_train(config)
    check_output_dir(config.output_dir, overwrite)
    from sklearn.model_selection import train_test_split

    progress = _progress(config)
    data = load_labelled(config.data, progress)
    label_changes = apply_labels(data, config.labels)
    unlabeled = None
    if config.adaptation is not None:
        unlabeled = UnlabeledArticles(config.adaptation.data, progress)
        unlabeled.check()
    train_idx, val_idx = train_test_split(
        range(len(data.texts)), test_size=config.validation_split, random_state=config.seed, stratify=data.labels
    )
    n_train = len(train_idx)
    train_labels = [data.labels[i] for i in train_idx]
    val_texts = [data.texts[i] for i in val_idx]
    val_labels = [data.labels[i] for i in val_idx]
    # The training texts go to fit as an iterator over a list nothing else holds, and (without
    # cross-validation, which needs them again) data keeps none: fit drops them once it has their features.
    train_texts = iter([data.texts[i] for i in train_idx])
    if config.cv_folds < 2:
        data.texts = []
    model = build_topic_model(_model_settings(config), config.seed)
    started = time.perf_counter()
    fit_topic_model(model, train_texts, train_labels, config.adaptation, unlabeled, progress)
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    predicted = model.predict(val_texts)
    predict_seconds = time.perf_counter() - started
    metrics = classification_metrics(val_labels, predicted, model.classes_)
    metrics.update(
        split="validation",
        validation_split=config.validation_split,
        seed=config.seed,
        n_train=n_train,
        train_seconds=round(train_seconds, 2),
        predict_articles_per_second=round(len(val_texts) / predict_seconds, 1),
        temperature=model.temperature_,
        calibration=calibration_metrics(model.predict_proba(val_texts), val_labels, model.classes_),
    )
    if label_changes:
        metrics["labels_config"] = label_changes
    if unlabeled is not None:
        metrics["adaptation"] = {"unlabeled_articles": len(unlabeled), "rounds": getattr(model, "adaptation_", [])}
    if config.cv_folds >= 2:
        metrics["cv"] = cross_validate(config, data, unlabeled)
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
    data_lines = ""
    if config.labels.active:
        changes = metrics.get("labels_config", {})
        data_lines += (
            f"- Labels (`labels:`): map {json.dumps(config.labels.map, ensure_ascii=False)}, "
            f"drop {config.labels.drop}, keep {config.labels.keep}: "
            f"{changes.get('relabelled_rows', 0)} rows relabelled, {changes.get('dropped_rows', 0)} left out\n"
        )
    adaptation = metrics.get("adaptation")
    if config.adaptation is not None and adaptation:
        a = config.adaptation
        added = ", ".join(str(r["pseudo_labelled"]) for r in adaptation["rounds"]) or "none"
        data_lines += (
            f"- Adaptation (`adaptation:`): {adaptation['unlabeled_articles']} unlabeled articles from "
            f"`{a.data.path}`; vocabulary and idf over both sets: {a.vocabulary}; {a.rounds} self-training "
            f"round(s), threshold {a.threshold}, max per class {a.max_per_class}, weight {a.weight}; "
            f"pseudo-labelled articles per round: {added}\n"
        )
    return f"""# {name}

{KIND_DESCRIPTIONS.get(config.model.kind, config.model.kind)}

## Data
- Training file: `{config.data.path}` (text field `{config.data.text_field}`, label field `{config.data.label_field}`)
- Split: stratified, {metrics['n_train']} articles for training, {metrics['n']} held out for validation
  (share {config.validation_split}, seed {config.seed})
{data_lines}
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
    check_topic_evaluate(config)
    model_path = resolve_model_path(config.model)
    warnings = training_overlap(model_path, config.data.path)
    for warning in warnings:
        log.warning("%s", warning)
    model = load_topic_model(model_path)
    data = load_labelled(config.data)
    label_changes = apply_labels(data, config.labels)
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
        **({"labels_config": label_changes} if label_changes else {}),
        articles_per_second=round(len(data.texts) / seconds, 1) if seconds else None,
        calibration=calibration_metrics(proba, data.labels, model.classes_),
    )
    if warnings:
        metrics["warnings"] = warnings
    _write_metrics(config.output_dir, metrics, data.labels, predicted, f"{model_path.name} on {config.data.path.name}")
    from pipeline.reports.html import topic_examples, write_topic_report

    examples = topic_examples(data.ids, data.texts, data.labels, predicted, proba.max(axis=1).tolist(), n=10)
    write_topic_report(config.output_dir, metrics, examples)
    return metrics


__all__ = ["UnlabeledArticles", "apply_labels", "evaluate", "fit_topic_model", "format_table", "load_labelled",
           "load_unlabeled", "train"]
