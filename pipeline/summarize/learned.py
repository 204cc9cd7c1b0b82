"""A learned extractive summarizer: gradient-boosted trees score sentences, the best are kept in order.

Why: with no model download possible, the quickstart still needs good summaries. The newsroom's
own lead paragraph (VietNews ``abstract``) says which sentences matter: each training sentence is
labelled with its ROUGE against the abstract, and a regressor learns that score from cheap
features (:mod:`pipeline.summarize.features`). With ``trim_clauses`` the candidates are each
sentence whole and without its leading or trailing clause (:mod:`pipeline.summarize.clauses`),
each labelled by its own ROUGE, so the same trees decide whether a trimmed version scores better.
At run time the ``max_sentences`` best-scored candidates (at most one per sentence) are kept in
article order.

Saved without pickle: ``config.json`` (settings, feature names, tree layout) and
``trees.safetensors`` (every tree's children, split features, thresholds and leaf values, as
exposed by scikit-learn's public ``tree_`` attributes), evaluated here with numpy. Loading
therefore needs neither scikit-learn nor the training code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import LearnedExtractiveConfig, SummaryTrainConfig
from pipeline.errors import ModelNotFoundError
from pipeline.params import Params, field_defaults
from pipeline.summarize.features import FEATURE_NAMES, Candidate, candidate_features
from pipeline.text.normalize import split_sentences

KIND = "learned_extractive"
FORMAT_VERSION = 2
TARGETS = ("rouge_mean", "rouge1", "rouge2")
# The settings' defaults are the config section's (what `vnnews train` uses), the seed the train job's.
_D = field_defaults(LearnedExtractiveConfig) | {"seed": field_defaults(SummaryTrainConfig)["seed"]}


def sentence_targets(sentences: Sequence[str], reference: str, target: str = "rouge_mean") -> np.ndarray:
    """Each sentence's ROUGE F1 (Vietnamese-aware) against the reference; ``rouge_mean`` averages R1 and R2."""
    from rouge_score import rouge_scorer

    from pipeline.summarize.rouge import VietnameseTokenizer

    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"], use_stemmer=False, tokenizer=VietnameseTokenizer())
    values = []
    for sentence in sentences:
        scores = scorer.score(reference, sentence)
        r1, r2 = scores["rouge1"].fmeasure, scores["rouge2"].fmeasure
        values.append({"rouge1": r1, "rouge2": r2, "rouge_mean": (r1 + r2) / 2}[target])
    return np.asarray(values, dtype=np.float32)


class LearnedExtractiveSummarizer(Params):
    """Sentence scorer with the scikit-learn contract; ``summarize`` keeps the best sentences in order.

    ``fit`` takes ``(title, text)`` pairs and their reference summaries; learned state ends in ``_``.
    """

    def __init__(
        self,
        max_sentences: int = _D["max_sentences"],
        max_syllables: int | None = _D["max_syllables"],
        n_estimators: int = _D["n_estimators"],
        learning_rate: float = _D["learning_rate"],
        max_depth: int = _D["max_depth"],
        subsample: float = _D["subsample"],
        min_sentence_syllables: int = _D["min_sentence_syllables"],
        target: str = _D["target"],
        trim_clauses: bool = _D["trim_clauses"],
        seed: int = _D["seed"],
    ) -> None:
        self.max_sentences = max_sentences
        self.max_syllables = max_syllables
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.min_sentence_syllables = min_sentence_syllables
        self.target = target
        self.trim_clauses = trim_clauses
        self.seed = seed

    # -- training -----------------------------------------------------------------------------
    def fit(self, documents: Sequence[tuple[str, str]], references: Sequence[str]) -> LearnedExtractiveSummarizer:
        """Label every candidate (sentence or trimmed sentence) by its ROUGE with the reference, then fit."""
        features, targets = [], []
        for (title, text), reference in zip(documents, references, strict=True):
            sentences = split_sentences(text)
            if not sentences:
                continue
            candidates, rows = candidate_features(title, sentences, self.trim_clauses)
            features.append(rows)
            targets.append(sentence_targets([c.text for c in candidates], reference, self.target))
        return self.fit_features(np.concatenate(features), np.concatenate(targets))

    def fit_features(self, X: np.ndarray, y: np.ndarray) -> LearnedExtractiveSummarizer:
        """Fit on a precomputed feature matrix (rows from :func:`sentence_features`) and targets."""
        from sklearn.ensemble import GradientBoostingRegressor

        if X.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} features, got {X.shape[1]}")
        model = GradientBoostingRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            random_state=self.seed,
        )
        model.fit(X, y)
        self._set_trees([est.tree_ for est in model.estimators_[:, 0]], float(np.ravel(model.init_.constant_)[0]))
        self.n_training_sentences_ = len(y)
        self.feature_importances_ = [float(v) for v in model.feature_importances_]
        return self

    def _set_trees(self, trees: list[Any], baseline: float) -> None:
        """Pack the trees into flat arrays; child indices become global node indices (-1 = leaf)."""
        offsets = np.cumsum([0] + [t.node_count for t in trees])
        left = np.concatenate(
            [np.where(t.children_left >= 0, t.children_left + o, -1) for t, o in zip(trees, offsets, strict=False)]
        )
        right = np.concatenate(
            [np.where(t.children_right >= 0, t.children_right + o, -1) for t, o in zip(trees, offsets, strict=False)]
        )
        self.left_ = left.astype(np.int64)
        self.right_ = right.astype(np.int64)
        self.feature_ = np.concatenate([t.feature for t in trees]).astype(np.int64)
        self.threshold_ = np.concatenate([t.threshold for t in trees]).astype(np.float64)
        self.value_ = np.concatenate([t.value.reshape(-1) for t in trees]).astype(np.float64)
        self.roots_ = offsets[:-1].astype(np.int64)
        self.baseline_ = baseline

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted ROUGE of each feature row (the boosted sum over all trees)."""
        X = np.asarray(X, dtype=np.float32)
        if len(X) == 0:
            return np.zeros(0)
        rows = np.arange(len(X))
        nodes = np.repeat(self.roots_[:, None], len(X), axis=1)  # (trees, samples)
        while True:
            left = self.left_[nodes]
            inner = left >= 0
            if not inner.any():
                break
            go_left = X[rows[None, :], np.where(inner, self.feature_[nodes], 0)] <= self.threshold_[nodes]
            nodes = np.where(inner, np.where(go_left, left, self.right_[nodes]), nodes)
        return self.baseline_ + self.learning_rate * self.value_[nodes].sum(axis=0)

    def _scores(self, features: np.ndarray) -> np.ndarray:
        scores = self.predict(features)
        lengths = features[:, FEATURE_NAMES.index("length")]
        return np.where(lengths < self.min_sentence_syllables, scores - 1e3, scores)

    def select(self, title: str, sentences: list[str], k: int | None = None) -> list[int]:
        """Indices of the chosen sentences, in article order (see :meth:`select_candidates`)."""
        return [c.sentence for c in self.select_candidates(title, sentences, k)]

    def select_candidates(self, title: str, sentences: list[str], k: int | None = None) -> list[Candidate]:
        """The best candidates in article order: at most ``k``, one per sentence, within ``max_syllables``.

        Candidates are taken in score order; one whose sentence is already used is skipped, and so
        is one that would push the summary past ``max_syllables`` (a shorter, lower-ranked one may
        still fit). The best candidate is always kept. ROUGE F1 rewards summaries about as long as
        the reference, which is why a budget helps. Articles of at most ``k`` sentences (and no
        budget) are returned whole.
        """
        k = self.max_sentences if k is None else k
        budget = self.max_syllables
        if len(sentences) <= k and budget is None:
            return [Candidate(i, 0, s) for i, s in enumerate(sentences)]
        candidates, features = candidate_features(title, sentences, self.trim_clauses)
        scores = self._scores(features)
        lengths = features[:, FEATURE_NAMES.index("length")]
        chosen: list[int] = []
        used: set[int] = set()
        total = 0.0
        for j in sorted(range(len(candidates)), key=lambda j: (-scores[j], j)):
            if len(chosen) >= k:
                break
            if chosen and lengths[j] < self.min_sentence_syllables:
                break  # only captions and datelines are left (they score last)
            if candidates[j].sentence in used or (chosen and budget is not None and total + lengths[j] > budget):
                continue
            chosen.append(j)
            used.add(candidates[j].sentence)
            total += lengths[j]
        return sorted((candidates[j] for j in chosen), key=lambda c: c.sentence)

    def summarize(self, title: str, text: str) -> str:
        return " ".join(c.text for c in self.select_candidates(title, split_sentences(text)))

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "feature_names": list(FEATURE_NAMES),
            "baseline": self.baseline_,
            "n_trees": len(self.roots_),
            "n_training_sentences": getattr(self, "n_training_sentences_", None),
            "feature_importances": dict(zip(FEATURE_NAMES, getattr(self, "feature_importances_", []), strict=False)),
        }
        (directory / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        arrays = {
            "left": self.left_,
            "right": self.right_,
            "feature": self.feature_,
            "threshold": self.threshold_,
            "value": self.value_,
            "roots": self.roots_,
        }
        save_file(arrays, str(directory / "trees.safetensors"))
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, max_sentences: int | None = None, max_syllables: int | None = None
    ) -> LearnedExtractiveSummarizer:
        """Load a directory written by :meth:`save`; ``max_sentences``/``max_syllables`` override the saved ones."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        config_file, trees_file = directory / "config.json", directory / "trees.safetensors"
        if not config_file.is_file() or not trees_file.is_file():
            raise ModelNotFoundError(
                f"No learned extractive summarizer at {directory} (expected config.json and trees.safetensors). "
                "Rebuild it with `vnnews train configs/train_summary_extractive.yaml`, point "
                "summarize.extractive_model at a model directory, or set summarize.method=lead_title."
            )
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
            if config.get("kind") != KIND:
                raise ValueError(f"kind is {config.get('kind')!r}, not {KIND!r}")
            if config.get("feature_names") != list(FEATURE_NAMES):
                raise ValueError("it was trained on different features than this version computes; retrain it")
            arrays = load_file(str(trees_file))
            model = cls(**config["params"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelNotFoundError(f"Learned extractive summarizer {directory} is unusable: {exc}.") from None
        model.left_, model.right_ = arrays["left"], arrays["right"]
        model.feature_, model.threshold_ = arrays["feature"], arrays["threshold"]
        model.value_, model.roots_ = arrays["value"], arrays["roots"]
        model.baseline_ = float(config["baseline"])
        if max_sentences is not None:
            model.max_sentences = max_sentences
        if max_syllables is not None:
            model.max_syllables = max_syllables
        return model
