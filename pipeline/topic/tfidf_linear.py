"""TF-IDF over syllable n-grams + a linear SVM, with temperature-scaled probabilities.

Why this design: Vietnamese words are one to three syllables, so syllable 1-2-grams capture most
compounds (``Hà Nội``, ``bóng đá``) without a word segmenter that is 100x slower than the
classifier. A linear SVM is the strongest fast model on such features; its margins are turned
into probabilities by a softmax with one temperature fitted on out-of-fold margins (temperature
scaling: it keeps the ranking, so accuracy is unchanged, and makes ``topic_score`` mean something).

Saved without pickle: ``config.json`` (settings, classes, temperature), ``vocabulary.json``
(terms in column order) and ``weights.safetensors`` (idf, coef, intercept).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from pipeline.text import set_tone_style

KIND = "tfidf_linear"
FORMAT_VERSION = 1
TOKEN_PATTERN = r"(?u)\w+"  # keeps one-letter syllables such as "ở", "ý" that sklearn's default drops


class TfidfLinearClassifier:
    """A topic classifier with the scikit-learn contract (settings in ``__init__``, ``fit`` returns self).

    >>> clf = TfidfLinearClassifier(min_df=1).fit(["bóng đá thắng", "giá vàng tăng"] * 5, ["sport", "biz"] * 5)
    >>> clf.predict(["đội bóng đá"])
    ['sport']
    """

    def __init__(
        self,
        ngram_max: int = 2,
        max_features: int = 60_000,
        min_df: int = 2,
        max_df: float = 0.5,
        sublinear_tf: bool = True,
        C: float = 0.5,
        class_weight: str | None = "balanced",
        calibration_folds: int = 3,
        tone_style: str = "new",
        seed: int = 13,
    ) -> None:
        self.ngram_max = ngram_max
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.C = C
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.tone_style = tone_style
        self.seed = seed

    # -- settings ---------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {
            "ngram_max": self.ngram_max,
            "max_features": self.max_features,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "sublinear_tf": self.sublinear_tf,
            "C": self.C,
            "class_weight": self.class_weight,
            "calibration_folds": self.calibration_folds,
            "tone_style": self.tone_style,
            "seed": self.seed,
        }

    def _make_vectorizer(self, vocabulary: dict[str, int] | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            lowercase=True,
            token_pattern=TOKEN_PATTERN,
            ngram_range=(1, self.ngram_max),
            max_features=self.max_features,
            min_df=self.min_df,
            max_df=self.max_df,
            sublinear_tf=self.sublinear_tf,
            dtype=np.float32,
            vocabulary=vocabulary,
        )

    def _make_svm(self):
        from sklearn.svm import LinearSVC

        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.seed)

    def _prepare(self, texts: list[str]) -> list[str]:
        """One tone-mark convention at training and prediction time (VNTC writes hóa, VietNews hoá)."""
        return [set_tone_style(t, self.tone_style) for t in texts]

    # -- learning ---------------------------------------------------------------------------
    def fit(self, texts: list[str], labels: list[str]) -> TfidfLinearClassifier:
        """Learn vocabulary, idf and weights, then the probability temperature from out-of-fold margins."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        y = np.asarray(labels)
        self.vectorizer_ = self._make_vectorizer()
        X = self.vectorizer_.fit_transform(self._prepare(texts))
        self.svm_ = self._make_svm().fit(X, y)
        self.classes_ = [str(c) for c in self.svm_.classes_]
        self.temperature_ = 1.0
        min_class = int(np.min(np.unique(y, return_counts=True)[1]))
        folds = min(self.calibration_folds, min_class)
        if folds >= 2 and len(self.classes_) > 1:
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
            margins = cross_val_predict(self._make_svm(), X, y, cv=cv, method="decision_function")
            self.temperature_ = fit_temperature(_as_2d(margins), np.searchsorted(self.svm_.classes_, y))
        return self

    # -- inference --------------------------------------------------------------------------
    def decision_function(self, texts: list[str]) -> np.ndarray:
        return _as_2d(self.svm_.decision_function(self.vectorizer_.transform(self._prepare(texts))))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities (rows sum to 1), columns in ``classes_`` order."""
        return softmax(self.decision_function(texts) / self.temperature_, axis=1)

    def predict(self, texts: list[str]) -> list[str]:
        return [self.classes_[i] for i in self.decision_function(texts).argmax(axis=1)]

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write config.json, vocabulary.json and weights.safetensors (no pickle)."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        vocab = self.vectorizer_.vocabulary_
        terms = [""] * len(vocab)
        for term, index in vocab.items():
            terms[index] = term
        config = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "classes": self.classes_,
            "temperature": self.temperature_,
            "token_pattern": TOKEN_PATTERN,
        }
        (directory / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        (directory / "vocabulary.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        coef = np.ascontiguousarray(self.svm_.coef_, dtype=np.float32)
        intercept = np.ascontiguousarray(np.atleast_1d(self.svm_.intercept_), dtype=np.float32)
        save_file(
            {"idf": self.vectorizer_.idf_.astype(np.float32), "coef": coef, "intercept": intercept},
            str(directory / "weights.safetensors"),
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TfidfLinearClassifier:
        """Rebuild a fitted classifier from :meth:`save`'s files."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if config.get("kind") != KIND:
            raise ValueError(f"{directory} holds a {config.get('kind')!r} model, not {KIND!r}")
        model = cls(**config["params"])
        terms = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
        weights = load_file(str(directory / "weights.safetensors"))
        model.vectorizer_ = model._make_vectorizer(vocabulary={t: i for i, t in enumerate(terms)})
        model.vectorizer_.idf_ = weights["idf"]
        model.svm_ = model._make_svm()
        model.svm_.coef_ = weights["coef"]
        model.svm_.intercept_ = weights["intercept"]
        model.svm_.classes_ = np.asarray(config["classes"])
        model.classes_ = list(config["classes"])
        model.temperature_ = float(config["temperature"])
        return model


def _as_2d(margins: np.ndarray) -> np.ndarray:
    """Binary SVMs return one margin per row; make it two columns (negative, positive class)."""
    margins = np.asarray(margins, dtype=np.float64)
    return np.column_stack([-margins, margins]) / 2 if margins.ndim == 1 else margins


def fit_temperature(margins: np.ndarray, y_index: np.ndarray) -> float:
    """The softmax temperature minimizing the negative log-likelihood of the true classes."""

    def nll(log_t: float) -> float:
        logp = log_softmax(margins / np.exp(log_t), axis=1)
        return float(-logp[np.arange(len(y_index)), y_index].mean())

    result = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded")
    return float(np.exp(result.x))
