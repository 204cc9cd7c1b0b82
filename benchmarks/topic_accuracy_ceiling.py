"""How much of the topic model's remaining error is label noise in VNTC itself (evidence for a ceiling).

Trains the committed config on its own split (seed, 10 % stratified validation) and reports:

- exact duplicates in VNTC train (same letters after lower-casing, digits and punctuation
  dropped) and how many of them carry different labels: the same article filed under two topics;
- for each validation article, its nearest training article by TF-IDF cosine; how many validation
  errors have a near-copy (cosine >= 0.8) in training with another label, and how often the model
  predicted exactly that label (it learned the copy; the validation label disagrees);
- the most confused pairs of classes.

    .venv/bin/python benchmarks/topic_accuracy_ceiling.py     # about 1 minute on 2 cores
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict

import numpy as np
from common import ROOT, argument_parser

from pipeline.config import TrainConfig, load_config
from pipeline.reports.metrics import classification_metrics
from pipeline.topic import build_topic_model
from pipeline.topic.ngrams import NgramTfidfVectorizer
from pipeline.topic.training import load_labelled

LETTERS = re.compile(r"[^\W\d_]+")


def exact_duplicates(texts: list[str], labels: np.ndarray) -> tuple[int, int, int]:
    """(groups of identical articles, articles in them, groups whose copies carry different labels)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        key = hashlib.blake2b(" ".join(LETTERS.findall(text.lower())).encode(), digest_size=16).digest()
        groups[key].append(i)
    dups = [g for g in groups.values() if len(g) > 1]
    return len(dups), sum(map(len, dups)), sum(len(set(labels[g])) > 1 for g in dups)


def nearest_training_article(train_texts: list[str], val_texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Index and cosine of each validation article's nearest training article (full 1-2-gram TF-IDF)."""
    vec = NgramTfidfVectorizer(ngram_max=2, min_df=1, max_df=1.0)
    train_x = vec.fit_transform(train_texts)
    val_x = vec.transform(val_texts)
    best = np.zeros(len(val_texts), dtype=np.int64)
    cosine = np.zeros(len(val_texts), dtype=np.float32)
    train_t = train_x.T.tocsr()
    for start in range(0, len(val_texts), 1000):
        sims = (val_x[start : start + 1000] @ train_t).toarray()
        best[start : start + 1000] = sims.argmax(axis=1)
        cosine[start : start + 1000] = sims.max(axis=1)
    return best, cosine


def main() -> None:
    from sklearn.model_selection import train_test_split

    parser = argument_parser(__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_topic.yaml"))
    parser.add_argument("--near", type=float, default=0.8, help="cosine at which two articles count as copies")
    args = parser.parse_args()
    config = load_config(TrainConfig, args.config)
    data = load_labelled(config.data)
    labels = np.asarray(data.labels)
    n_groups, n_articles, n_conflicting = exact_duplicates(data.texts, labels)
    print(f"exact duplicates in VNTC train: {n_groups} groups ({n_articles} articles), "
          f"{n_conflicting} of the groups carry different labels")

    train_idx, val_idx = train_test_split(np.arange(len(labels)), test_size=config.validation_split,
                                          random_state=config.seed, stratify=labels)
    model = build_topic_model(config.model.model_dump() | {"calibration_folds": 0}, config.seed)
    model.fit([data.texts[i] for i in train_idx], labels[train_idx].tolist())
    val_texts = [data.texts[i] for i in val_idx]
    predicted = np.asarray(model.predict(val_texts))
    truth = labels[val_idx]
    metrics = classification_metrics(truth.tolist(), predicted.tolist(), model.classes_)
    wrong = predicted != truth
    print(f"validation: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
          f"{wrong.sum()} errors of {len(truth)}")

    nearest, cosine = nearest_training_article([data.texts[i] for i in train_idx], val_texts)
    copy_label = labels[train_idx][nearest]
    copy = cosine >= args.near
    conflicting = copy & (copy_label != truth)
    print(f"validation articles with a training copy (cosine >= {args.near}): {copy.sum()}; "
          f"copy labelled differently: {conflicting.sum()}; of those the model got wrong: "
          f"{(conflicting & wrong).sum()}, predicting the copy's label: "
          f"{(conflicting & (predicted == copy_label)).sum()}")
    print(f"errors explained by relabelled copies: {(conflicting & wrong).sum()} of {wrong.sum()} "
          f"({(conflicting & wrong).sum() / max(wrong.sum(), 1):.1%})")
    print("most confused pairs (true -> predicted):")
    for (true, pred), count in Counter(zip(truth[wrong], predicted[wrong], strict=True)).most_common(8):
        print(f"  {count:4d}  {true} -> {pred}")
    print("per-class F1: " + ", ".join(f"{lab} {m['f1']:.3f}" for lab, m in metrics["per_class"].items()))


if __name__ == "__main__":
    main()
