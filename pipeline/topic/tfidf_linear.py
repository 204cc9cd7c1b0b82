"""TF-IDF over syllable (and optional character) n-grams + a linear SVM, with calibrated probabilities.

Why this design: Vietnamese words are one to three syllables, so syllable 1-2-grams capture most
compounds (``Hà Nội``, ``bóng đá``) without a word segmenter, which runs hundreds of times slower
than the classifier (docs/topic-model.md, "Accuracy ceiling"). A linear SVM is the strongest fast
model on such features; its margins are turned into probabilities by a softmax with one temperature
fitted on out-of-fold margins (temperature scaling: it keeps the ranking, so accuracy is unchanged,
and makes ``topic_score`` mean something). Features come from
:class:`~pipeline.topic.ngrams.NgramTfidfVectorizer`, a compiled vectorizer that gives
scikit-learn's numbers (``tests/topic/test_ngrams.py``). With ``title_weight > 0`` a second, small
vectorizer reads only the first line (the title; VNTC's text and :func:`classifier_input` both start
with it) and its TF-IDF row, times ``title_weight``, is appended to the article's: the same n-gram
then counts more in a title than in the body (+0.4 points accuracy on VNTC in 5-fold CV), and
prediction stays one linear model (two fused kernel calls, the second over a short line).

``fit`` can also take unlabeled articles of the kind the model will read (recent news from other
newsrooms): their n-grams join the vocabulary and idf, and self-training adds those the model
labels confidently to the training set, so words the labelled corpus never used get weights.

Saved without pickle: ``config.json`` (settings, classes, temperature) and ``weights.safetensors``
(n-gram hashes in column order, idf, coef, intercept).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.config import AdaptationConfig, TfidfLinearConfig, TrainConfig
from pipeline.modelfiles import BadModelFile, json_object, load_arrays, saved_classes, saved_number, saved_settings
from pipeline.params import Params, field_defaults
from pipeline.text.scan import encode_batch
from pipeline.topic.ngrams import DocumentFrequencies, NgramTfidfVectorizer, chunked

if TYPE_CHECKING:  # (scipy.sparse takes 0.06 s to import: training and transform import it, prediction does not)
    import scipy.sparse as sp

KIND = "tfidf_linear"
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)  # 2 = no title features
# The settings' defaults are the config section's (what `vnnews train` uses), the seed the train job's.
_D = field_defaults(TfidfLinearConfig) | {"seed": field_defaults(TrainConfig)["seed"]}
_A = field_defaults(AdaptationConfig)  # fit's adaptation settings (the `adaptation:` section of `vnnews train`)


def first_lines(texts: list[str]) -> list[str]:
    """The first line of each text: its title when the text starts with one."""
    return [text.partition("\n")[0] for text in texts]


class TfidfLinearClassifier(Params):
    """A topic classifier with the scikit-learn contract (settings in ``__init__``, ``fit`` returns self).

    >>> clf = TfidfLinearClassifier(min_df=1).fit(["bóng đá thắng", "giá vàng tăng"] * 5, ["sport", "biz"] * 5)
    >>> clf.predict(["đội bóng đá"])
    ['sport']
    """

    def __init__(
        self,
        ngram_max: int = _D["ngram_max"],
        char_ngram_min: int = _D["char_ngram_min"],
        char_ngram_max: int = _D["char_ngram_max"],
        max_features: int | None = _D["max_features"],
        min_df: int = _D["min_df"],
        max_df: float = _D["max_df"],
        sublinear_tf: bool = _D["sublinear_tf"],
        drop_digits: bool = _D["drop_digits"],
        stop_syllables: tuple[str, ...] | list[str] = tuple(_D["stop_syllables"]),
        C: float = _D["C"],
        class_weight: str | None = _D["class_weight"],
        calibration_folds: int = _D["calibration_folds"],
        tone_style: str = _D["tone_style"],
        title_weight: float = _D["title_weight"],
        title_max_features: int = _D["title_max_features"],
        seed: int = _D["seed"],
    ) -> None:
        self.ngram_max = ngram_max
        self.char_ngram_min = char_ngram_min
        self.char_ngram_max = char_ngram_max
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.drop_digits = drop_digits
        self.stop_syllables = list(stop_syllables)
        self.C = C
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.tone_style = tone_style
        self.title_weight = title_weight
        self.title_max_features = title_max_features
        self.seed = seed

    # -- settings ---------------------------------------------------------------------------
    def _make_vectorizer(self, title: bool = False) -> NgramTfidfVectorizer:
        """The article vectorizer, or (``title``) the first-line one: same n-grams, own vocabulary.

        Titles are short, so no n-gram is frequent enough in them to be dropped by ``max_df``.
        """
        return NgramTfidfVectorizer(
            ngram_max=self.ngram_max,
            char_ngram_min=self.char_ngram_min,
            char_ngram_max=self.char_ngram_max,
            max_features=self.title_max_features if title else self.max_features,
            min_df=self.min_df,
            max_df=1.0 if title else self.max_df,
            sublinear_tf=self.sublinear_tf,
            tone_style=self.tone_style,
            drop_digits=self.drop_digits,
            stop_syllables=self.stop_syllables,
        )

    def _make_svm(self):
        from sklearn.svm import LinearSVC

        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.seed)

    # -- learning ---------------------------------------------------------------------------
    def fit(
        self,
        texts: Iterable[str],
        labels: list[str],
        unlabeled: Iterable[str] | None = None,
        *,
        vocabulary: bool = _A["vocabulary"],
        rounds: int = _A["rounds"],
        threshold: float = _A["threshold"],
        max_per_class: int | None = _A["max_per_class"],
        weight: float = _A["weight"],
        on_step: Callable[[], None] | None = None,
    ) -> TfidfLinearClassifier:
        """Learn vocabulary, idf and weights, then the probability temperature from out-of-fold margins.

        With ``unlabeled`` articles (domain adaptation, see :class:`~pipeline.config.AdaptationConfig`):
        ``vocabulary`` counts n-grams and idf over both sets, so words only the unlabeled articles use
        get features; then each of ``rounds`` rounds labels the unlabeled articles with the current
        model and refits on the labelled articles plus those labelled with a calibrated probability
        of at least ``threshold`` (at most ``max_per_class`` per topic, the most confident first),
        each weighing ``weight``. The temperature is then fitted on the labelled articles' out-of-fold
        margins only (pseudo-labels agree with the model by construction). ``adaptation_`` records
        how many articles each round added per topic.

        Memory: ``unlabeled`` is read in passes, a chunk of texts at a time (once for the vocabulary,
        once per round), so it may be any re-iterable, such as a reader that opens its file on each
        pass (a one-shot iterator is refused); only the features of the articles a round keeps are
        held. ``texts`` is read into a list of its own and dropped once its features are computed:
        given an iterator over a list nothing else holds, the labelled texts leave memory before the
        SVMs are fitted. The matrices the SVMs read are built in float64 (what the SVM converts them
        to) without a float32 copy beside them.

        ``on_step`` is called after each of the :meth:`fit_steps` steps (vocabulary, features, SVM,
        temperature, then one per round of self-training and the final temperature), for progress and ETA.
        """
        step = on_step or (lambda: None)
        y = np.asarray(labels)
        texts = list(texts)
        if isinstance(unlabeled, Iterator):
            raise TypeError("unlabeled must be re-iterable (a list, or a reader that starts over on each pass): "
                            "fit reads it once for the vocabulary and once per self-training round")
        self._fit_vocabularies(chain(texts, unlabeled if unlabeled is not None and vocabulary else ()))
        step()
        X = self._features(texts)
        del texts
        _release_freed_memory()
        step()
        self._set_weights(self._make_svm().fit(X, y))
        step()
        self.temperature_ = self._fit_temperature(X, y)
        step()
        self.adaptation_: list[dict] = []
        if unlabeled is None or rounds <= 0:
            return self
        n = len(y)
        for round_no in range(1, rounds + 1):
            rows, guessed = self._pseudo_labelled(unlabeled, threshold, max_per_class)
            y_all = np.concatenate([y, guessed])
            w_all = np.concatenate([np.ones(n), np.full(len(guessed), weight)])
            X_all = _stack_rows([X, *rows], np.float64)  # (the labelled rows live on in X_all during the fit)
            del X, rows
            _release_freed_memory()
            self._set_weights(self._make_svm().fit(X_all, y_all, sample_weight=w_all))
            X = _stack_rows([X_all[:n]], np.float32)
            if round_no < rounds:
                del X_all
            names, counts = np.unique(guessed, return_counts=True)
            self.adaptation_.append({"round": round_no, "pseudo_labelled": len(guessed),
                                     "per_class": {str(k): int(v) for k, v in zip(names, counts, strict=True)}})
            step()
        del X
        X_all = _stack_rows([X_all], np.float32)
        self.temperature_ = self._fit_temperature(X_all, y_all, w_all, n_scored=n)
        step()
        return self

    @staticmethod
    def fit_steps(unlabeled: bool, rounds: int) -> int:
        """How many times :meth:`fit` calls ``on_step``."""
        return 4 + (1 + rounds if unlabeled and rounds > 0 else 0)

    def _fit_vocabularies(self, texts: Iterable[str]) -> None:
        """The article vectorizer and (``title_weight > 0``) the first-line one, fitted in one pass over ``texts``."""
        self.vectorizer_ = self._make_vectorizer()
        self.title_vectorizer_ = self._make_vectorizer(title=True) if self.title_weight > 0 else None
        self._title_coef_cache = None
        frequencies, title_frequencies = DocumentFrequencies(), DocumentFrequencies()
        for chunk in chunked(texts, self.vectorizer_.chunk_size):
            self.vectorizer_.count(chunk, frequencies)
            if self.title_vectorizer_ is not None:
                self.title_vectorizer_.count(first_lines(chunk), title_frequencies)
        self.vectorizer_.fit_frequencies(frequencies)
        if self.title_vectorizer_ is not None:
            self.title_vectorizer_.fit_frequencies(title_frequencies)

    def _features(self, texts: list[str]) -> sp.csr_matrix:
        """The TF-IDF rows the linear model reads (article block, then the first-line block if any)."""
        import scipy.sparse as sp

        X = self.vectorizer_.transform(texts)
        if self.title_vectorizer_ is not None:
            titles = self.title_vectorizer_.transform(first_lines(texts))
            X = sp.hstack([X, titles * np.float32(self.title_weight)], format="csr")
        return X

    def _set_weights(self, svm) -> None:
        self.classes_ = [str(c) for c in svm.classes_]
        coef = np.atleast_2d(svm.coef_)
        intercept = np.atleast_1d(svm.intercept_)
        if coef.shape[0] == 1:  # binary: one margin; make it two columns (negative, positive class)
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        self.coef_ = np.ascontiguousarray(coef.T, dtype=np.float32)  # (features, classes): X @ coef_
        self.intercept_ = intercept.astype(np.float32)
        self._title_coef_cache = None

    def _pseudo_labelled(self, unlabeled: Iterable[str], threshold: float, max_per_class: int | None):
        """The feature rows of the unlabeled articles the current model labels with probability >= ``threshold``
        (at most ``max_per_class`` per topic, the most confident first), in reading order, and those labels.

        One pass over ``unlabeled``, a chunk at a time: only the kept rows are held.
        """
        blocks, guesses, confidences = [], [], []
        for chunk in chunked(unlabeled, self.vectorizer_.chunk_size):
            features = self._features(chunk)
            proba = _softmax(_as_2d(features @ self.coef_ + self.intercept_).astype(np.float64) / self.temperature_)
            confidence, guess = proba.max(axis=1), proba.argmax(axis=1)
            kept = np.flatnonzero(confidence >= threshold)
            blocks.append(features[kept])
            guesses.append(guess[kept])
            confidences.append(confidence[kept])
        guess = np.concatenate([np.empty(0, np.int64), *guesses])
        confidence = np.concatenate([np.empty(0), *confidences])
        if max_per_class is not None and blocks:
            keep = []
            for c in range(len(self.classes_)):
                rows = np.flatnonzero(guess == c)
                keep.append(rows[np.argsort(-confidence[rows], kind="stable")][:max_per_class])
            chosen = np.sort(np.concatenate(keep))
            blocks = [_stack_rows(blocks, np.float32)[chosen]]
            guess = guess[chosen]
        return blocks, np.asarray(self.classes_)[guess]

    def _fit_temperature(self, X, y, sample_weight=None, n_scored: int | None = None) -> float:
        """Temperature from out-of-fold margins; only the first ``n_scored`` rows (default all) are scored.

        The folds are those of scikit-learn's ``cross_val_predict`` with a stratified k-fold; each fold's
        training rows are converted to float64 (what the SVM reads) one fold at a time, so a float32 ``X``
        is never held in float64 whole.
        """
        from sklearn.model_selection import StratifiedKFold

        classes = np.unique(y)
        min_class = int(np.min(np.unique(y, return_counts=True)[1]))
        folds = min(self.calibration_folds, min_class)
        if folds < 2 or len(classes) < 2:
            return 1.0
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        margins = None
        for train, test in cv.split(np.zeros(len(y)), y):
            svm = self._make_svm()
            weights = None if sample_weight is None else sample_weight[train]
            fold_X = _stack_rows([X[train]], np.float64)
            _release_freed_memory()
            svm.fit(fold_X, y[train], sample_weight=weights)
            del fold_X
            fold = svm.decision_function(X[test])
            if margins is None:
                margins = np.empty((len(y), *fold.shape[1:]))
            margins[test] = fold
        n = len(y) if n_scored is None else n_scored
        return fit_temperature(_as_2d(margins)[:n], np.searchsorted(classes, y[:n]))

    # -- inference --------------------------------------------------------------------------
    def decision_function(self, texts: list[str]) -> np.ndarray:
        """Class margins, one row per text: one encode and one fused kernel call per vectorizer and chunk
        (the title vectorizer reads the first lines of the same code points)."""
        texts = list(texts)
        if self.title_vectorizer_ is None:
            return self.vectorizer_.transform_dot(texts, self.coef_, self.intercept_)
        n_body, size = self.vectorizer_.n_features, self.vectorizer_.chunk_size
        parts = [np.empty((0, len(self.classes_)), dtype=np.float32)]
        for start in range(0, len(texts), size):
            cp, offsets = encode_batch(texts[start : start + size])
            scores = self.vectorizer_.scores(cp, offsets, self.coef_[:n_body], self.intercept_)
            scores += self.title_vectorizer_.scores(cp, offsets, self._title_coef(), self._zero_intercept(),
                                                    first_line=True)
            parts.append(scores)
        return np.vstack(parts)

    def _title_coef(self) -> np.ndarray:
        """The first-line block of ``coef_`` times ``title_weight`` (cached: prediction calls this per batch)."""
        if getattr(self, "_title_coef_cache", None) is None:
            block = self.coef_[self.vectorizer_.n_features :] * np.float32(self.title_weight)
            self._title_coef_cache = np.ascontiguousarray(block, dtype=np.float32)
        return self._title_coef_cache

    def _zero_intercept(self) -> np.ndarray:
        return np.zeros(self.coef_.shape[1], dtype=np.float32)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities (rows sum to 1), columns in ``classes_`` order."""
        return _softmax(self.decision_function(texts).astype(np.float64) / self.temperature_)

    def predict(self, texts: list[str]) -> list[str]:
        return [self.classes_[i] for i in self.decision_function(texts).argmax(axis=1)]

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write config.json and weights.safetensors (no pickle)."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "classes": self.classes_,
            "temperature": self.temperature_,
            "n_features": int(self.vectorizer_.n_features),
        }
        (directory / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        tensors = {
            "ngram_hashes": np.ascontiguousarray(self.vectorizer_.keys_, dtype=np.uint64),
            "idf": np.ascontiguousarray(self.vectorizer_.idf_, dtype=np.float32),
            "coef": self.coef_,  # article features, then first-line features (if any), in column order
            "intercept": self.intercept_,
        }
        if self.title_vectorizer_ is not None:
            tensors["title_ngram_hashes"] = np.ascontiguousarray(self.title_vectorizer_.keys_, dtype=np.uint64)
            tensors["title_idf"] = np.ascontiguousarray(self.title_vectorizer_.idf_, dtype=np.float32)
        save_file(tensors, str(directory / "weights.safetensors"))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TfidfLinearClassifier:
        """Rebuild a fitted classifier from :meth:`save`'s files, every setting and array checked first
        (:class:`~pipeline.modelfiles.BadModelFile` says what is wrong)."""
        directory = Path(directory)
        config = json_object(directory / "config.json")
        if config.get("kind") != KIND:
            raise BadModelFile(f"config.json is not a {KIND} model's")
        if config.get("format_version") not in READABLE_VERSIONS:
            raise BadModelFile(
                f"its format_version is not {' or '.join(map(str, READABLE_VERSIONS))}, which this version "
                "reads; retrain it with `vnnews train`"
            )
        model = cls(**saved_settings(config, TfidfLinearConfig))
        classes = saved_classes(config)
        temperature = saved_number(config, "temperature", positive=True)
        shapes = {"ngram_hashes": ("uint64", 1), "idf": ("float32", 1), "coef": ("float32", 2),
                  "intercept": ("float32", 1)}
        if model.title_weight > 0:
            shapes |= {"title_ngram_hashes": ("uint64", 1), "title_idf": ("float32", 1)}
        weights = load_arrays(directory / "weights.safetensors", shapes)
        columns = len(weights["ngram_hashes"]) + len(weights.get("title_ngram_hashes", ()))
        if len(weights["idf"]) != len(weights["ngram_hashes"]) or \
                len(weights.get("title_idf", ())) != len(weights.get("title_ngram_hashes", ())) or \
                weights["coef"].shape != (columns, len(classes)) or weights["intercept"].shape != (len(classes),):
            raise BadModelFile("weights.safetensors does not match its config.json (array sizes disagree)")
        model.vectorizer_ = model._make_vectorizer()
        model.vectorizer_.keys_ = weights["ngram_hashes"]
        model.vectorizer_.idf_ = weights["idf"]
        model.vectorizer_._table = None
        model.title_vectorizer_ = None
        model._title_coef_cache = None
        if model.title_weight > 0:
            model.title_vectorizer_ = model._make_vectorizer(title=True)
            model.title_vectorizer_.keys_ = weights["title_ngram_hashes"]
            model.title_vectorizer_.idf_ = weights["title_idf"]
            model.title_vectorizer_._table = None
        model.coef_ = weights["coef"]
        model.intercept_ = weights["intercept"]
        model.classes_ = list(classes)
        model.temperature_ = temperature
        return model


def _release_freed_memory() -> None:
    """Hand the pages of freed heap memory back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Texts and the small matrices of a chunk are allocated on the C heap, which keeps what they free
    mapped; the large matrices an SVM reads are mapped afresh, so without this the process's peak
    would count both.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # (not glibc)
        pass


def _stack_rows(blocks: list[sp.csr_matrix], dtype) -> sp.csr_matrix:
    """The rows of CSR ``blocks`` one under another, as one CSR matrix of ``dtype`` with int32 indices and
    each row's columns sorted: what scikit-learn's conversion of a float32 matrix gives the SVM (the same
    numbers in the same order, so the same fit), built without a second copy of the whole matrix."""
    import scipy.sparse as sp

    n_rows = sum(b.shape[0] for b in blocks)
    nnz = sum(b.nnz for b in blocks)
    data, indices = np.empty(nnz, dtype=dtype), np.empty(nnz, dtype=np.int32)
    indptr = np.zeros(n_rows + 1, dtype=np.int32 if nnz < 2**31 else np.int64)
    row = pos = 0
    for block in blocks:
        rows, size = block.shape[0], block.nnz
        data[pos : pos + size] = block.data
        indices[pos : pos + size] = block.indices
        indptr[row + 1 : row + rows + 1] = block.indptr[1:] - block.indptr[0] + pos
        row, pos = row + rows, pos + size
    matrix = sp.csr_matrix((data, indices, indptr), shape=(n_rows, blocks[0].shape[1]))
    matrix.sort_indices()  # (in place)
    return matrix


def _as_2d(margins: np.ndarray) -> np.ndarray:
    """Binary SVMs return one margin per row; make it two columns (negative, positive class)."""
    margins = np.asarray(margins, dtype=np.float64)
    return np.column_stack([-margins, margins]) / 2 if margins.ndim == 1 else margins


def fit_temperature(margins: np.ndarray, y_index: np.ndarray) -> float:
    """The softmax temperature minimizing the negative log-likelihood of the true classes."""
    from scipy.optimize import minimize_scalar  # (scipy.optimize and .special take 0.3 s to import: training only)
    from scipy.special import log_softmax

    def nll(log_t: float) -> float:
        logp = log_softmax(margins / np.exp(log_t), axis=1)
        return float(-logp[np.arange(len(y_index)), y_index].mean())

    result = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded")
    return float(np.exp(result.x))


def _softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax, the same operations as ``scipy.special.softmax(x, axis=1)`` (so the same bits)
    without importing scipy.special, which a job that only predicts would otherwise pay for at start."""
    x_max = np.max(x, axis=1, keepdims=True)
    exp_x_shifted = np.exp(x - x_max)
    return exp_x_shifted / np.sum(exp_x_shifted, axis=1, keepdims=True)
