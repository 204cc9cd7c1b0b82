"""Fine-tuned Hugging Face encoders (PhoBERT-style) as topic classifiers.

Why: a pretrained encoder reads word order and context that bag-of-n-grams cannot; on a GPU it
is the most accurate option, on 2 CPU cores it is far slower than ``tfidf_linear``. Any encoder
that ``AutoModelForSequenceClassification`` knows works; PhoBERT was pre-trained on
word-segmented text (``Hà_Nội``), so ``word_segment`` joins words with underthesea first.

Training uses ``datasets`` + ``Trainer``: class-weighted cross-entropy, a linear schedule with
warm-up, early stopping on macro-F1 of a held-out share of the training split, and a softmax
temperature fitted on that share's logits. Saved without pickle: ``config.json`` (kind, classes,
settings, temperature) beside ``hf/`` (``save_pretrained``: safetensors + tokenizer).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import TrainConfig, TransformerConfig
from pipeline.errors import ModelNotFoundError, first_line
from pipeline.hub import load_source, local_dir, missing_model_message, resolve_device
from pipeline.modelfiles import BadModelFile, check_hf_folder, json_object, saved_classes, saved_number, saved_settings
from pipeline.params import Params, field_defaults
from pipeline.topic.tfidf_linear import fit_temperature

KIND = "transformer"
FORMAT_VERSION = 1
HF_DIR = "hf"
# The settings' defaults are the config section's (what `vnnews train` uses), the seed the train job's.
_D = field_defaults(TransformerConfig) | {"seed": field_defaults(TrainConfig)["seed"]}

log = logging.getLogger(__name__)


def segment_words(texts: list[str]) -> list[str]:
    """Vietnamese word segmentation, words joined by '_' (``Hà Nội`` -> ``Hà_Nội``), as PhoBERT expects."""
    from underthesea import word_tokenize

    return [word_tokenize(text, format="text") for text in texts]


class TransformerClassifier(Params):
    """Fine-tunes an encoder; the scikit-learn contract (settings in ``__init__``, ``fit`` returns self)."""

    def __init__(
        self,
        model: str = _D["model"],
        word_segment: bool = _D["word_segment"],
        max_length: int = _D["max_length"],
        learning_rate: float = _D["learning_rate"],
        epochs: float = _D["epochs"],
        batch_size: int = _D["batch_size"],
        weight_decay: float = _D["weight_decay"],
        warmup_ratio: float = _D["warmup_ratio"],
        class_weight: str | None = _D["class_weight"],
        early_stopping_patience: int = _D["early_stopping_patience"],
        early_stopping_split: float = _D["early_stopping_split"],
        eval_steps: int | None = _D["eval_steps"],
        device: str = _D["device"],
        seed: int = _D["seed"],
    ) -> None:
        self.model = model
        self.word_segment = word_segment
        self.max_length = max_length
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.class_weight = class_weight
        self.early_stopping_patience = early_stopping_patience
        self.early_stopping_split = early_stopping_split
        self.eval_steps = eval_steps
        self.device = device
        self.seed = seed

    # -- helpers ----------------------------------------------------------------------------
    def _prepare(self, texts: list[str]) -> list[str]:
        return segment_words(list(texts)) if self.word_segment else list(texts)

    def _torch_device(self):
        import torch

        return torch.device(resolve_device(self.device))

    def _dataset(self, texts: list[str], y: np.ndarray | None):
        from datasets import Dataset

        columns: dict[str, Any] = {"text": self._prepare(texts)}
        if y is not None:
            columns["labels"] = [int(v) for v in y]
        encoded = Dataset.from_dict(columns).map(
            lambda batch: self.tokenizer_(batch["text"], truncation=True, max_length=self.max_length),
            batched=True,
            remove_columns=["text"],
        )
        return encoded

    # -- learning ---------------------------------------------------------------------------
    def fit(self, texts: list[str], labels: list[str]) -> TransformerClassifier:
        """Fine-tune on (texts, labels); hold out ``early_stopping_split`` for early stopping + temperature."""
        source = load_source(self.model, "model.model")  # before torch's import: an unreachable hub fails at once
        import torch
        from sklearn.metrics import f1_score
        from sklearn.model_selection import train_test_split
        from transformers import (
            AutoModelForSequenceClassification,
            AutoTokenizer,
            DataCollatorWithPadding,
            EarlyStoppingCallback,
            TrainingArguments,
            set_seed,
        )

        set_seed(self.seed)
        self.classes_ = sorted({str(label) for label in labels})
        y = np.searchsorted(self.classes_, np.asarray(labels, dtype=str))
        index = np.arange(len(texts))
        counts = np.bincount(y, minlength=len(self.classes_))
        stratify = y if counts.min() >= 2 else None
        fit_idx, hold_idx = train_test_split(
            index, test_size=self.early_stopping_split, random_state=self.seed, stratify=stratify
        )
        local = local_dir(source)
        try:
            if local is not None:
                check_hf_folder(local)  # a local encoder is read from safetensors only, never unpickled
            self.tokenizer_ = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
            self.model_ = AutoModelForSequenceClassification.from_pretrained(
                source,
                trust_remote_code=False,
                num_labels=len(self.classes_),
                id2label=dict(enumerate(self.classes_)),
                label2id={c: i for i, c in enumerate(self.classes_)},
                use_safetensors=True if local is not None else None,
            )
        except BadModelFile as exc:
            raise ModelNotFoundError(missing_model_message(self.model, str(exc), "model.model")) from None
        except Exception as exc:  # from_pretrained reads a folder of any files: whatever it raises is that folder
            reason = f"{type(exc).__name__}: {first_line(exc)}"
            raise ModelNotFoundError(missing_model_message(self.model, reason, "model.model")) from None
        train_set = self._dataset([texts[i] for i in fit_idx], y[fit_idx])
        hold_set = self._dataset([texts[i] for i in hold_idx], y[hold_idx])
        weights = None
        if self.class_weight == "balanced":
            fit_counts = np.maximum(np.bincount(y[fit_idx], minlength=len(self.classes_)), 1)
            weights = torch.tensor(len(fit_idx) / (len(self.classes_) * fit_counts), dtype=torch.float32)

        def metrics(prediction) -> dict[str, float]:
            predicted = np.asarray(prediction.predictions).argmax(axis=1)
            return {"macro_f1": float(f1_score(prediction.label_ids, predicted, average="macro"))}

        strategy = "steps" if self.eval_steps else "epoch"
        with tempfile.TemporaryDirectory(prefix="vnnews-transformer-") as scratch:
            args = TrainingArguments(
                output_dir=scratch,
                learning_rate=self.learning_rate,
                num_train_epochs=self.epochs,
                per_device_train_batch_size=self.batch_size,
                per_device_eval_batch_size=self.batch_size,
                weight_decay=self.weight_decay,
                warmup_steps=self.warmup_ratio,
                lr_scheduler_type="linear",
                eval_strategy=strategy,
                save_strategy=strategy,
                eval_steps=self.eval_steps,
                save_steps=self.eval_steps,
                save_total_limit=2,
                save_only_model=True,
                load_best_model_at_end=self.early_stopping_patience > 0,
                metric_for_best_model="macro_f1",
                greater_is_better=True,
                logging_strategy=strategy,
                logging_steps=self.eval_steps,
                report_to="none",
                disable_tqdm=True,
                seed=self.seed,
                data_seed=self.seed,
                use_cpu=self._torch_device().type == "cpu",
            )
            callbacks = [EarlyStoppingCallback(self.early_stopping_patience)] if self.early_stopping_patience else []
            trainer = _WeightedTrainer(
                model=self.model_,
                args=args,
                train_dataset=train_set,
                eval_dataset=hold_set,
                processing_class=self.tokenizer_,
                data_collator=DataCollatorWithPadding(self.tokenizer_),
                compute_metrics=metrics,
                callbacks=callbacks,
                class_weights=weights,
            )
            trainer.train()
            self.model_ = trainer.model
        self.model_.eval()
        hold_logits = self._logits([texts[i] for i in hold_idx])
        self.temperature_ = fit_temperature(hold_logits, y[hold_idx]) if len(hold_idx) else 1.0
        return self

    # -- inference --------------------------------------------------------------------------
    def _logits(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        import torch

        device = self._torch_device()
        self.model_.to(device)
        texts = self._prepare(texts)
        size = batch_size or max(self.batch_size, 32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths pad less
        out = np.zeros((len(texts), len(self.classes_)), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(texts), size):
                rows = order[start : start + size]
                batch = self.tokenizer_(
                    [texts[i] for i in rows], truncation=True, max_length=self.max_length, padding=True,
                    return_tensors="pt",
                ).to(device)
                out[rows] = self.model_(**batch).logits.float().cpu().numpy()
        return out

    def decision_function(self, texts: list[str]) -> np.ndarray:
        return self._logits(list(texts))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities (rows sum to 1), columns in ``classes_`` order."""
        from scipy.special import softmax  # (0.06 s to import: not at the start of every job that loads this module)

        return softmax(self._logits(list(texts)) / self.temperature_, axis=1)

    def predict(self, texts: list[str]) -> list[str]:
        return [self.classes_[i] for i in self._logits(list(texts)).argmax(axis=1)]

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """``config.json`` (kind, classes, temperature, settings) and ``hf/`` from ``save_pretrained``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model_.save_pretrained(directory / HF_DIR, safe_serialization=True)
        self.tokenizer_.save_pretrained(directory / HF_DIR)
        config = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "classes": self.classes_,
            "temperature": self.temperature_,
        }
        (directory / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TransformerClassifier:
        """Rebuild from :meth:`save`'s files (``from_pretrained`` on ``hf/``, safetensors only, never remote code)."""
        directory = Path(directory)
        config = json_object(directory / "config.json")
        if config.get("kind") != KIND:
            raise BadModelFile(f"config.json is not a {KIND} model's")
        model = cls(**saved_settings(config, TransformerConfig))
        classes = saved_classes(config)
        temperature = saved_number(config, "temperature", positive=True)
        check_hf_folder(directory / HF_DIR)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            model.tokenizer_ = AutoTokenizer.from_pretrained(directory / HF_DIR, trust_remote_code=False)
            model.model_ = AutoModelForSequenceClassification.from_pretrained(
                directory / HF_DIR, trust_remote_code=False, use_safetensors=True
            )
        except Exception as exc:  # from_pretrained reads a folder of any files: whatever it raises is that folder
            raise BadModelFile(f"{HF_DIR}/ cannot be loaded ({type(exc).__name__}: {first_line(exc)})") from None
        if model.model_.config.num_labels != len(classes):
            raise BadModelFile(f"{HF_DIR}/ has {model.model_.config.num_labels} outputs for {len(classes)} classes")
        model.model_.eval()
        model.classes_ = list(classes)
        model.temperature_ = temperature
        return model


def _weighted_trainer_class():
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        """A Trainer whose cross-entropy weighs classes (rare topics count as much as common ones)."""

        def __init__(self, *args, class_weights=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.class_weights = class_weights

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch

            if self.class_weights is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            weight = self.class_weights.to(outputs.logits.device)
            loss = torch.nn.functional.cross_entropy(outputs.logits.float(), labels, weight=weight)
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer


def _WeightedTrainer(**kwargs):  # a factory named like the class it builds (transformers loads lazily)
    return _weighted_trainer_class()(**kwargs)
