"""Corpus vectors for the learned summarizer: syllable and syllable-bigram idf and LSA embeddings.

Why: position and word overlap cannot tell which sentence carries an article's main point when it
sits deep in the article or restates the title in other words. Statistics learned from the
unlabeled news corpus can: corpus idf says which syllables are specific, and latent semantic
analysis (a truncated SVD of the corpus's TF-IDF matrix, terms = syllables and adjacent syllable
pairs, which is what most Vietnamese words are) places terms that occur in the same articles close
together, so a sentence vector (the idf-weighted sum of its terms' vectors) can be compared with
the article's and the title's vectors even when they share no word.

LSA and not word2vec: scikit-learn is already a dependency, the randomized SVD is seeded and
deterministic on any number of cores, and it fits the whole VietNews training split in minutes on
two cores. Stored without pickle: ``vocabulary.json`` (the terms, in row order) and
``vectors.safetensors`` (``idf`` float32, ``vectors`` float16, one row per term, unit length).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from pipeline.modelfiles import BadModelFile, load_arrays, read_json

VOCABULARY_FILE = "vocabulary.json"
VECTORS_FILE = "vectors.safetensors"


def terms(tokens: Sequence[str]) -> list[str]:
    """Syllables, then each adjacent pair joined by a space (the terms the vectors cover)."""
    return [*tokens, *(f"{a} {b}" for a, b in pairwise(tokens))]


class CorpusVectors:
    """Term idf and unit-length term vectors learned from a corpus; ``index`` maps a term to its row."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray, vectors: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.index = {t: i for i, t in enumerate(vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        # Terms outside the vocabulary are rarer than any term in it: they get the largest idf and no vector.
        self.unknown_idf = float(self.idf.max()) if len(self.idf) else 1.0
        # Row -1 of the padded tables is an unknown term: the largest idf, a zero vector.
        self.idf_padded = np.append(self.idf, np.float32(self.unknown_idf))
        self.weighted_padded = np.vstack([self.vectors * self.idf[:, None], np.zeros((1, self.dim), np.float32)])
        self._keys: tuple[np.ndarray, np.ndarray] | None = None

    def keys(self) -> tuple[np.ndarray, np.ndarray]:
        """The vocabulary as a hash table of 64-bit term keys (:func:`~pipeline.summarize.kernels.vocabulary_keys`)."""
        if self._keys is None:
            from pipeline.summarize.kernels import vocabulary_keys

            self._keys = vocabulary_keys(self.vocabulary)
        return self._keys

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """Row of every known term of ``tokens`` (syllables and syllable pairs); unknown terms are skipped."""
        get = self.index.get
        return np.fromiter((i for i in map(get, terms(tokens)) if i is not None), dtype=np.int64)

    def rows(self, terms_: Sequence[str]) -> np.ndarray:
        """Row of each term, -1 where it is unknown (row -1 of the padded tables)."""
        get = self.index.get
        return np.fromiter((get(t, -1) for t in terms_), dtype=np.int64, count=len(terms_))

    def embed(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """One idf-weighted sum of term vectors per token list, scaled to unit length (zeros when empty)."""
        ids = [self.ids(t) for t in token_lists]
        return self.embed_ids(ids)

    def embed_ids(self, ids: Sequence[np.ndarray]) -> np.ndarray:
        """:meth:`embed` for precomputed rows (``ids``), summed with one ``np.add.reduceat`` over all lists."""
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        sizes = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        nonempty = sizes > 0
        if nonempty.any():
            flat = np.concatenate([i for i in ids if len(i)])
            starts = np.concatenate([[0], np.cumsum(sizes[nonempty])[:-1]])
            out[nonempty] = np.add.reduceat(self.weighted_padded[flat], starts, axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)

    # -- training -----------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        dim: int,
        max_terms: int,
        min_df: int,
        seed: int,
    ) -> CorpusVectors:
        """Idf and LSA vectors from documents given as syllable lists (one list per article).

        The settings come from the learned summarizer's (``embedding_*`` in its config section).

        Keeps the ``max_terms`` most frequent terms seen in at least ``min_df`` documents, weighs
        sublinear TF-IDF, and takes the right singular vectors of a seeded randomized truncated SVD
        (scikit-learn ``TruncatedSVD``) as term vectors, each scaled to unit length.
        """
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            analyzer=terms, min_df=min_df, max_features=max_terms, sublinear_tf=True, dtype=np.float32
        )
        matrix = vectorizer.fit_transform(token_lists)
        vocabulary = vectorizer.get_feature_names_out().tolist()
        n_components = max(1, min(dim, len(vocabulary) - 1, matrix.shape[0] - 1))
        svd = TruncatedSVD(n_components=n_components, algorithm="randomized", n_iter=5, random_state=seed)
        svd.fit(matrix)
        vectors = svd.components_.T.astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        return cls(vocabulary, vectorizer.idf_.astype(np.float32), vectors.astype(np.float16))

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        from safetensors.numpy import save_file

        directory = Path(directory)
        (directory / VOCABULARY_FILE).write_text(json.dumps(self.vocabulary, ensure_ascii=False), encoding="utf-8")
        save_file(
            {"idf": self.idf.astype(np.float32), "vectors": self.vectors.astype(np.float16)},
            str(directory / VECTORS_FILE),
        )

    @classmethod
    def load(cls, directory: str | Path) -> CorpusVectors:
        """The vectors :meth:`save` wrote; :class:`~pipeline.modelfiles.BadModelFile` if they are not whole."""
        directory = Path(directory)
        vocabulary = read_json(directory / VOCABULARY_FILE)
        if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary):
            raise BadModelFile(f"{VOCABULARY_FILE} is not a list of terms")
        arrays = load_arrays(directory / VECTORS_FILE, {"idf": ("float32", 1), "vectors": ("float16", 2)})
        if len(vocabulary) != len(arrays["idf"]) or len(vocabulary) != len(arrays["vectors"]):
            raise BadModelFile(f"{VOCABULARY_FILE} and {VECTORS_FILE} disagree on the number of terms")
        return cls(vocabulary, arrays["idf"], arrays["vectors"])
