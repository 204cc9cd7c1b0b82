"""A learned extractive summarizer: gradient-boosted trees score sentences, the best are kept in order.

Why: with no model download possible, the quickstart still needs good summaries. The newsroom's
own lead paragraph (VietNews ``abstract``) says which sentences matter: each training sentence is
labelled with its ROUGE against the abstract, and a regressor learns that score from cheap
features (:mod:`pipeline.summarize.features`): position, length, overlap with the title and the
rest of the article, and statistics learned from the unlabeled training articles (corpus idf and
LSA vectors, :mod:`pipeline.summarize.embeddings`). With ``trim_clauses`` the candidates are each
sentence whole and without its leading or trailing clause (:mod:`pipeline.summarize.clauses`),
each labelled by its own ROUGE, so the same trees decide whether a trimmed version scores better.
At run time the ``max_sentences`` best-scored candidates (at most one per sentence) are kept in
article order.

Saved without pickle: ``config.json`` (settings, feature names, tree layout),
``trees.safetensors`` (every tree's children, split features, thresholds and leaf values, read
from scikit-learn's histogram gradient boosting's tree node arrays at training time), and the
corpus vectors (``vocabulary.json``, ``vectors.safetensors``). The trees are evaluated here with
numpy, so loading needs neither scikit-learn nor the training code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import LearnedExtractiveConfig, SummaryTrainConfig
from pipeline.errors import ModelNotFoundError
from pipeline.modelfiles import BadModelFile, json_object, load_arrays, saved_number, saved_settings
from pipeline.params import Params, field_defaults
from pipeline.summarize import kernels
from pipeline.summarize.clauses import WHOLE, candidate_text
from pipeline.summarize.embeddings import CorpusVectors
from pipeline.summarize.features import FEATURE_NAMES, Candidate, batch_candidate_features, candidate_features
from pipeline.text.normalize import split_sentences, syllables
from pipeline.text.scan import kernel_threads

KIND = "learned_extractive"
FORMAT_VERSION = 3
TARGETS = ("rouge_mean", "rouge1", "rouge2")
_MIN_CHUNK = 32  # articles per thread: smaller batches are scored in one call
# The settings' defaults are the config section's (what `vnnews train` uses), the seed the train job's.
_D = field_defaults(LearnedExtractiveConfig) | {"seed": field_defaults(SummaryTrainConfig)["seed"]}


def sentence_targets(sentences: Sequence[str], reference: str, target: str = "rouge_mean") -> np.ndarray:
    """Each sentence's ROUGE F1 (Vietnamese-aware) against the reference; ``rouge_mean`` averages R1 and R2."""
    from pipeline.summarize.rouge import VietnameseTokenizer, ngram_f1

    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    tokenize = VietnameseTokenizer().tokenize
    ref = tokenize(reference)
    values = []
    for sentence in sentences:
        tokens = tokenize(sentence)
        r1 = ngram_f1(ref, tokens, 1) if target != "rouge2" else 0.0
        r2 = ngram_f1(ref, tokens, 2) if target != "rouge1" else 0.0
        values.append({"rouge1": r1, "rouge2": r2, "rouge_mean": (r1 + r2) / 2}[target])
    return np.asarray(values, dtype=np.float32)


_worker_model: LearnedExtractiveSummarizer | None = None


def _init_worker(model: LearnedExtractiveSummarizer) -> None:
    global _worker_model
    _worker_model = model


def _featurize(item: tuple[str, str, str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Feature rows and ROUGE labels of one training article's candidates (None without a sentence)."""
    title, text, reference = item
    model = _worker_model
    assert model is not None
    sentences = split_sentences(text)
    if not sentences:
        return None
    candidates, rows = candidate_features(title, sentences, model.vectors_, model.trim_clauses)
    return rows, sentence_targets([c.text for c in candidates], reference, model.target)


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
        max_depth: int | None = _D["max_depth"],
        max_leaf_nodes: int = _D["max_leaf_nodes"],
        min_samples_leaf: int = _D["min_samples_leaf"],
        min_sentence_syllables: int = _D["min_sentence_syllables"],
        target: str = _D["target"],
        trim_clauses: bool = _D["trim_clauses"],
        embedding_dim: int = _D["embedding_dim"],
        embedding_terms: int = _D["embedding_terms"],
        embedding_min_df: int = _D["embedding_min_df"],
        n_jobs: int = _D["n_jobs"],
        seed: int = _D["seed"],
    ) -> None:
        self.max_sentences = max_sentences
        self.max_syllables = max_syllables
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.min_sentence_syllables = min_sentence_syllables
        self.target = target
        self.trim_clauses = trim_clauses
        self.embedding_dim = embedding_dim
        self.embedding_terms = embedding_terms
        self.embedding_min_df = embedding_min_df
        self.n_jobs = n_jobs
        self.seed = seed

    # -- training -----------------------------------------------------------------------------
    def fit(self, documents: Sequence[tuple[str, str]], references: Sequence[str],
            on_article: Callable[[], None] | None = None) -> LearnedExtractiveSummarizer:
        """Learn the corpus vectors from the articles, label every candidate by its ROUGE, then fit the trees.

        The corpus vectors (:class:`~pipeline.summarize.embeddings.CorpusVectors`) see only the
        training articles' titles and bodies, never the references. With ``n_jobs`` > 1 the
        articles are split into sentences and featurized by that many worker processes (the
        result does not depend on it). ``on_article`` is called after each article is featurized
        (the longest phase), for progress and ETA.
        """
        counted = on_article or (lambda: None)
        started = time.perf_counter()
        self.fit_vectors(syllables(title + "\n" + text) for title, text in documents)
        self.timings_ = {"vectors_seconds": round(time.perf_counter() - started, 1)}
        started = time.perf_counter()
        work = [(title, text, reference) for (title, text), reference in zip(documents, references, strict=True)]
        results = []
        if self.n_jobs > 1 and len(work) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(self.n_jobs, initializer=_init_worker, initargs=(self,)) as pool:
                for result in pool.map(_featurize, work, chunksize=64):
                    results.append(result)
                    counted()
        else:
            _init_worker(self)
            for item in work:
                results.append(_featurize(item))
                counted()
        kept = [r for r in results if r is not None]
        X, y = np.concatenate([x for x, _ in kept]), np.concatenate([y for _, y in kept])
        self.timings_["featurize_seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        self.fit_features(X, y)
        self.timings_["trees_seconds"] = round(time.perf_counter() - started, 1)
        return self

    def fit_vectors(self, token_lists: Iterable[Sequence[str]]) -> LearnedExtractiveSummarizer:
        """Fit the corpus idf and LSA vectors on unlabeled articles (one syllable list each)."""
        self.vectors_ = CorpusVectors.fit(
            token_lists,
            dim=self.embedding_dim,
            max_terms=self.embedding_terms,
            min_df=self.embedding_min_df,
            seed=self.seed,
        )
        return self

    def fit_features(self, X: np.ndarray, y: np.ndarray) -> LearnedExtractiveSummarizer:
        """Fit the trees on a precomputed feature matrix (rows from :func:`candidate_features`) and targets.

        scikit-learn's histogram gradient boosting: it bins each feature once, so millions of
        candidates (the whole VietNews training split) fit in minutes; fixed rounds, no early stopping.
        """
        from sklearn.ensemble import HistGradientBoostingRegressor

        if X.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} features, got {X.shape[1]}")
        model = HistGradientBoostingRegressor(
            max_iter=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            early_stopping=False,
            random_state=self.seed,
        )
        model.fit(X, y)
        self._set_trees([predictors[0].nodes for predictors in model._predictors], model._baseline_prediction)
        self.n_training_sentences_ = len(y)
        return self

    def _set_trees(self, trees: list[np.ndarray], baseline: Any) -> None:
        """Pack the trees' node arrays flat; child indices become global node indices (-1 = leaf).

        Leaf values are stored as scikit-learn keeps them, already multiplied by the learning rate.
        Feature importances are each feature's share of the total split gain.
        """
        offsets = np.cumsum([0] + [len(t) for t in trees])
        self.left_ = np.concatenate(
            [np.where(t["is_leaf"], -1, t["left"].astype(np.int64) + o) for t, o in zip(trees, offsets, strict=False)]
        )
        self.right_ = np.concatenate(
            [np.where(t["is_leaf"], -1, t["right"].astype(np.int64) + o) for t, o in zip(trees, offsets, strict=False)]
        )
        self.feature_ = np.concatenate([t["feature_idx"] for t in trees]).astype(np.int64)
        self.threshold_ = np.concatenate([t["num_threshold"] for t in trees]).astype(np.float64)
        self.value_ = np.concatenate([np.where(t["is_leaf"], t["value"], 0.0) for t in trees]).astype(np.float64)
        self.roots_ = offsets[:-1].astype(np.int64)
        self.baseline_ = float(np.ravel(baseline)[0])
        gains = np.zeros(len(FEATURE_NAMES))
        for t in trees:
            inner = ~t["is_leaf"].astype(bool)
            np.add.at(gains, t["feature_idx"][inner], np.maximum(t["gain"][inner], 0.0))
        self.feature_importances_ = (gains / gains.sum() if gains.sum() else gains).tolist()
        self._lay_out_trees()

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted ROUGE of each feature row (the boosted sum over all trees, compiled)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if self._complete is not None:
            return kernels.predict_complete(X, *self._complete, self.baseline_)
        return kernels.predict_nodes(
            X, self.left_, self.right_, self.feature_, self.threshold_, self.value_, self.roots_, self.baseline_
        )

    def _lay_out_trees(self) -> None:
        """Trees no deeper than ``kernels.COMPLETE_MAX_DEPTH`` are also kept as complete trees (faster to score)."""
        depth = kernels.tree_depth(self.left_, self.right_, self.roots_)
        self._complete = None
        if depth <= kernels.COMPLETE_MAX_DEPTH:
            arrays = (self.left_, self.right_, self.feature_, self.threshold_, self.value_, self.roots_)
            self._complete = (*kernels.complete_trees(*arrays, depth), depth)

    def _scores(self, features: np.ndarray) -> np.ndarray:
        scores = self.predict(features)
        lengths = features[:, FEATURE_NAMES.index("length")]
        return np.where(lengths < self.min_sentence_syllables, scores - 1e3, scores)

    def select(self, title: str, sentences: list[str], k: int | None = None) -> list[int]:
        """Indices of the chosen sentences, in article order (see :meth:`select_candidates`)."""
        return [c.sentence for c in self.select_candidates(title, sentences, k)]

    def select_candidates(self, title: str, sentences: list[str], k: int | None = None) -> list[Candidate]:
        """The best candidates of one article in article order (see :meth:`select_batch`)."""
        return self.select_batch([title], [sentences], k)[0]

    def select_batch(
        self, titles: list[str], sentence_lists: list[list[str]], k: int | None = None
    ) -> list[list[Candidate]]:
        """Per article, the best candidates in article order: at most ``k``, one per sentence, within ``max_syllables``.

        Candidates are taken in score order; one whose sentence is already used is skipped, and so
        is one that would push the summary past ``max_syllables`` (a shorter, lower-ranked one may
        still fit). The best candidate is always kept. ROUGE F1 rewards summaries about as long as
        the reference, which is why a budget helps. Articles of at most ``k`` sentences (and no
        budget) are returned whole.
        """
        return [
            [Candidate(i, trim, candidate_text(sentences[i], trim)) for i, trim in chosen]
            if chosen is not None
            else [Candidate(i, WHOLE, s) for i, s in enumerate(sentences)]
            for sentences, chosen in zip(sentence_lists, self._choices(titles, sentence_lists, k), strict=True)
        ]

    def _choices(
        self, titles: list[str], sentence_lists: list[list[str]], k: int | None
    ) -> list[list[tuple[int, int]] | None]:
        """Per article its chosen (sentence, trim) pairs in article order, or None where it is kept whole.

        The features of the scored articles are computed and scored by compiled kernels that release
        the GIL, in as many chunks (threads) as the CPUs this process may run on, like the topic
        model's kernels (:func:`pipeline.text.scan.kernel_threads`).
        """
        k = self.max_sentences if k is None else k
        budget = self.max_syllables
        scored = [a for a, sentences in enumerate(sentence_lists) if len(sentences) > k or budget is not None]
        out: list[list[tuple[int, int]] | None] = [None] * len(sentence_lists)
        if not scored:
            return out
        n_chunks = max(1, min(kernel_threads(), len(scored) // _MIN_CHUNK))
        chunks = [scored[c * len(scored) // n_chunks : (c + 1) * len(scored) // n_chunks] for c in range(n_chunks)]

        def score(chunk: list[int]) -> tuple[Any, np.ndarray]:
            batch = batch_candidate_features(
                [titles[a] for a in chunk], [sentence_lists[a] for a in chunk], self.vectors_, self.trim_clauses
            )
            return batch, self._scores(batch.features)

        if n_chunks == 1:
            results = [score(scored)]
        else:
            with ThreadPoolExecutor(n_chunks) as pool:
                results = list(pool.map(score, chunks))
        for chunk, (batch, scores) in zip(chunks, results, strict=True):
            lengths = batch.features[:, FEATURE_NAMES.index("length")]
            sentence, trim = batch.sentence.tolist(), batch.trim.tolist()
            for b, a in enumerate(chunk):
                lo, hi = int(batch.offsets[b]), int(batch.offsets[b + 1])
                chosen = self._choose(scores[lo:hi], lengths[lo:hi], batch.sentence[lo:hi], k, budget)
                out[a] = sorted((sentence[lo + j], trim[lo + j]) for j in chosen)
        return out

    def _choose(
        self, scores: np.ndarray, lengths: np.ndarray, sentence: np.ndarray, k: int, budget: int | None
    ) -> list[int]:
        """Positions of the chosen candidates among one article's (see :meth:`select_batch`)."""
        chosen: list[int] = []
        used: set[int] = set()
        total = 0.0
        for j in np.lexsort((np.arange(len(scores)), -scores)).tolist():
            if len(chosen) >= k:
                break
            if chosen and lengths[j] < self.min_sentence_syllables:
                break  # only captions and datelines are left (they score last)
            if int(sentence[j]) in used or (chosen and budget is not None and total + lengths[j] > budget):
                continue
            chosen.append(j)
            used.add(int(sentence[j]))
            total += lengths[j]
        return chosen

    def summarize(self, title: str, text: str) -> str:
        return self.summarize_batch([title], [text])[0]

    def summarize_batch(self, titles: list[str], texts: list[str]) -> list[str]:
        """Summaries of many articles: sentences split one article at a time, features and scores per batch."""
        sentence_lists = [split_sentences(text) for text in texts]
        return [
            " ".join(candidate_text(sentences[i], trim) for i, trim in chosen)
            if chosen is not None
            else " ".join(sentences)
            for sentences, chosen in zip(sentence_lists, self._choices(titles, sentence_lists, None), strict=True)
        ]

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
        self.vectors_.save(directory)
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, max_sentences: int | None = None, max_syllables: int | None = None
    ) -> LearnedExtractiveSummarizer:
        """Load a directory written by :meth:`save`; ``max_sentences``/``max_syllables`` override the saved ones.

        Every setting and array is checked before the compiled kernels see them: a folder that is
        not such a model (empty, a pickle, files cut short or edited) is the model error (exit 3).
        """
        directory = Path(directory)
        try:
            model = cls._load(directory)
        except BadModelFile as exc:
            raise ModelNotFoundError(
                f"Cannot use the learned extractive summarizer in {directory}: {exc}. Its folder, as `vnnews train "
                "configs/train_summary_extractive.yaml` writes it, holds config.json, trees.safetensors, "
                "vocabulary.json and vectors.safetensors. Point summarize.extractive_model at such a folder, or set "
                "summarize.method=lead_title (no model files)."
            ) from None
        if max_sentences is not None:
            model.max_sentences = max_sentences
        if max_syllables is not None:
            model.max_syllables = max_syllables
        return model

    @classmethod
    def _load(cls, directory: Path) -> LearnedExtractiveSummarizer:
        if not directory.is_dir():
            raise BadModelFile("there is no such folder")
        config = json_object(directory / "config.json")
        if config.get("kind") != KIND:
            raise BadModelFile(f"config.json is not a {KIND} model's")
        if config.get("feature_names") != list(FEATURE_NAMES):
            raise BadModelFile("it was trained on different features than this version computes; retrain it")
        if config.get("format_version") != FORMAT_VERSION:
            raise BadModelFile(f"its format_version is not {FORMAT_VERSION}, which this version reads; retrain it")
        model = cls(**saved_settings(config, LearnedExtractiveConfig))
        baseline = saved_number(config, "baseline")
        arrays = load_arrays(directory / "trees.safetensors", {
            "left": ("int64", 1), "right": ("int64", 1), "feature": ("int64", 1), "threshold": ("float64", 1),
            "value": ("float64", 1), "roots": ("int64", 1)})
        _check_trees(arrays)
        model.vectors_ = CorpusVectors.load(directory)
        model.left_, model.right_ = arrays["left"], arrays["right"]
        model.feature_, model.threshold_ = arrays["feature"], arrays["threshold"]
        model.value_, model.roots_ = arrays["value"], arrays["roots"]
        model.baseline_ = baseline
        model._lay_out_trees()
        return model


def _check_trees(arrays: dict[str, np.ndarray]) -> None:
    """The kernels index with these arrays unchecked: every index must be in range and every child after its
    parent (so a walk from a root always ends at a leaf)."""
    left, right, feature, roots = arrays["left"], arrays["right"], arrays["feature"], arrays["roots"]
    nodes = len(left)
    inner = left >= 0
    ids = np.arange(nodes)
    if not (len(right) == len(feature) == len(arrays["threshold"]) == len(arrays["value"]) == nodes) or \
            not len(roots) or not ((roots >= 0) & (roots < nodes)).all() or not np.array_equal(inner, right >= 0) or \
            not ((left[inner] > ids[inner]) & (left[inner] < nodes) & (right[inner] > ids[inner])
                 & (right[inner] < nodes)).all() or \
            not ((feature[inner] >= 0) & (feature[inner] < len(FEATURE_NAMES))).all() or \
            not np.isfinite(arrays["threshold"]).all() or not np.isfinite(arrays["value"]).all():
        raise BadModelFile("trees.safetensors does not hold well-formed trees")
