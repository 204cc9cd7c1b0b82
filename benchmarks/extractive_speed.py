"""Speed of the learned extractive summarizer against the one shipped at an earlier commit, in one process.

The earlier version's feature code and model files are read from git (``git show REV:...``) into
a temporary directory; its trees are evaluated with the same numpy walk it shipped with. Both
summarize the same VietNews dev articles with one candidate kept (the quickstart's setting),
interleaved over several repeats; the table gives each repeat's articles per second and the
median of the per-repeat ratios (new / old), the number to read on a shared machine. Sentence
splitting is included, as in ``summarize()``.

    .venv/bin/python benchmarks/extractive_speed.py                       # against 1efca0d, 500 articles x 5
    .venv/bin/python benchmarks/extractive_speed.py --rev main --articles 200 --repeats 3
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, SHARED_DATA, argument_parser

from pipeline.summarize.learned import LearnedExtractiveSummarizer
from pipeline.text.normalize import clean_text, split_sentences

MODEL = "models/summary-extractive-vietnews"


def _git_show(rev: str, path: str) -> bytes:
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True).stdout


class OldSummarizer:
    """The earlier commit's features and trees (format 2: leaf values times the learning rate), k = 1."""

    def __init__(self, rev: str, workdir: Path) -> None:
        from safetensors.numpy import load_file

        source = workdir / "old_features.py"
        source.write_bytes(_git_show(rev, "pipeline/summarize/features.py"))
        spec = importlib.util.spec_from_file_location("old_features", source)
        self.features = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.features)  # type: ignore[union-attr]
        (workdir / "trees.safetensors").write_bytes(_git_show(rev, f"{MODEL}/trees.safetensors"))
        config = json.loads(_git_show(rev, f"{MODEL}/config.json"))
        arrays = load_file(str(workdir / "trees.safetensors"))
        self.left, self.right, self.feature = arrays["left"], arrays["right"], arrays["feature"]
        self.threshold, self.value, self.roots = arrays["threshold"], arrays["value"], arrays["roots"]
        self.baseline, self.params = config["baseline"], config["params"]
        self.length = config["feature_names"].index("length")

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


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--rev", default="1efca0d", help="the commit whose shipped summarizer is the baseline")
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", type=Path, default=ROOT / MODEL, help="the new model directory")
    args = parser.parse_args()

    with gzip.open(SHARED_DATA / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(args.articles), fh, strict=False)]
    docs = [(clean_text(r["title"]), clean_text(r["body"])) for r in rows]
    new = LearnedExtractiveSummarizer.load(args.model, max_sentences=1)
    with tempfile.TemporaryDirectory() as tmp:
        old = OldSummarizer(args.rev, Path(tmp))
        systems = {f"shipped at {args.rev}": old, "working tree": new}
        for summarizer in systems.values():  # warm-up: underthesea's model, numpy
            summarizer.summarize(*docs[0])
        rates: dict[str, list[float]] = {name: [] for name in systems}
        for _ in range(args.repeats):
            for name, summarizer in systems.items():
                started = time.perf_counter()
                for title, text in docs:
                    summarizer.summarize(title, text)
                rates[name].append(len(docs) / (time.perf_counter() - started))
    old_name, new_name = systems
    ratios = [n / o for n, o in zip(rates[new_name], rates[old_name], strict=True)]
    print(f"{len(docs)} VietNews dev articles x {args.repeats} repeats, one candidate kept; articles/s per repeat")
    for name, values in rates.items():
        print(f"{name:<22} " + " ".join(f"{v:6.1f}" for v in values))
    print(f"speed ratio new / old: median {statistics.median(ratios):.2f} (per repeat: "
          + ", ".join(f"{r:.2f}" for r in ratios) + ")")


if __name__ == "__main__":
    main()
