"""The learned extractive summarizer as shipped at an earlier commit, rebuilt from git for comparisons.

Its feature code and model files are read with ``git show REV:...`` into a directory the caller
owns; its trees are evaluated with the numpy walk it shipped with (format 2: leaf values times
the learning rate). Only one candidate is kept (the quickstart's setting).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
from common import ROOT

from pipeline.text.normalize import split_sentences

MODEL = "models/summary-extractive-vietnews"
# The baseline the docs compare with (docs/summarizer.md): main as of this instant.
BASELINE_BEFORE = "2026-11-30 11:16:30 +0000"


def baseline_rev() -> str:
    """The commit of the docs' baseline summarizer: the last one before :data:`BASELINE_BEFORE`."""
    return subprocess.run(["git", "rev-list", "-1", f"--before={BASELINE_BEFORE}", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


def _git_show(rev: str, path: str) -> bytes:
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True).stdout


class PreviousSummarizer:
    """The earlier commit's features and trees (format 2: leaf values times the learning rate), k = 1."""

    def __init__(self, rev: str, workdir: Path) -> None:
        from safetensors.numpy import load_file

        # The earlier features module and the clause trims it imports, both as that commit had them.
        clauses = self._module(workdir, "previous_clauses", _git_show(rev, "pipeline/summarize/clauses.py"))
        features = _git_show(rev, "pipeline/summarize/features.py").decode("utf-8")
        features = features.replace("from pipeline.summarize.clauses import", "from previous_clauses import")
        sys.modules["previous_clauses"] = clauses
        self.features = self._module(workdir, "previous_features", features.encode("utf-8"))
        (workdir / "trees.safetensors").write_bytes(_git_show(rev, f"{MODEL}/trees.safetensors"))
        config = json.loads(_git_show(rev, f"{MODEL}/config.json"))
        arrays = load_file(str(workdir / "trees.safetensors"))
        self.left, self.right, self.feature = arrays["left"], arrays["right"], arrays["feature"]
        self.threshold, self.value, self.roots = arrays["threshold"], arrays["value"], arrays["roots"]
        self.baseline, self.params = config["baseline"], config["params"]
        self.length = config["feature_names"].index("length")

    @staticmethod
    def _module(workdir: Path, name: str, source: bytes) -> ModuleType:
        path = workdir / f"{name}.py"
        path.write_bytes(source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def _predict(self, X: np.ndarray) -> np.ndarray:
        rows = np.arange(len(X))
        nodes = np.repeat(self.roots[:, None], len(X), axis=1)
        while True:
            left = self.left[nodes]
            inner = left >= 0
            if not inner.any():
                break
            go_left = X[rows[None, :], np.where(inner, self.feature[nodes], 0)] <= self.threshold[nodes]
            nodes = np.where(inner, np.where(go_left, left, self.right[nodes]), nodes)
        return self.baseline + self.params["learning_rate"] * self.value[nodes].sum(axis=0)

    def summarize(self, title: str, text: str) -> str:
        sentences = split_sentences(text)
        if len(sentences) <= 1:
            return " ".join(sentences)
        candidates, X = self.features.candidate_features(title, sentences, self.params["trim_clauses"])
        scores = self._predict(X.astype(np.float32))
        scores = np.where(X[:, self.length] < self.params["min_sentence_syllables"], scores - 1e3, scores)
        return candidates[int(np.argmax(scores))].text
