"""How the topic model does on news from another era and other newsrooms than VNTC's (2005-2006).

Scores one or more model directories on:

- VNTC validation: the stratified split of ``configs/train_topic.yaml`` (seed 13, 10 %), which the
  shipped models did not train on;
- VietNews dev, tuning part: the ~1/3 of ``benchmarks/data/vietnews_dev_topics.csv`` (2016-2019
  articles labelled by hand with VNTC's topics, see docs/topic-labelling.md) that may be used to
  choose settings;
- VietNews dev, held-out part (the other ~2/3), only with ``--held-out``: scored once, at the end.

Articles are given to the model as a job would: title, then lead and body (``classifier_input``),
cleaned like the normalize stage. Rows labelled ``none`` are left out and counted. ``--speed``
also times the models on the same texts, interleaved, and prints the median per-repeat ratio to
the first model.

    .venv/bin/python benchmarks/topic_cross_era.py                      # shipped model; ~20 s
    .venv/bin/python benchmarks/topic_cross_era.py --models models/topic-tfidf-vntc /tmp/new --speed
    .venv/bin/python benchmarks/topic_cross_era.py --held-out           # the once-at-the-end score
"""

from __future__ import annotations

import csv
import gzip
import json
import statistics
import time
from pathlib import Path

from common import ROOT, SHARED_DATA, argument_parser
from vietnews_topic_sample import split_of

from pipeline.config import TrainConfig, load_config
from pipeline.reports.metrics import classification_metrics
from pipeline.stages.classify import classifier_input
from pipeline.text.normalize import clean_text
from pipeline.topic import load_topic_model

LABELS = ROOT / "benchmarks" / "data" / "vietnews_dev_topics.csv"


def vietnews_labelled(part: str) -> tuple[list[str], list[str], int]:
    """Texts and labels of one part (``tuning`` / ``held_out``) of the labelled VietNews dev sample."""
    with open(LABELS, encoding="utf-8") as fh:
        labels = {row["id"]: row["label"] for row in csv.DictReader(fh) if split_of(row["id"]) == part}
    texts, truth, none = [], [], 0
    with gzip.open(SHARED_DATA / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        for row in map(json.loads, fh):
            label = labels.get(row["id"])
            if label is None:
                continue
            if label == "none":
                none += 1
                continue
            record = {"title": clean_text(row["title"]), "text": clean_text(f"{row['abstract']}\n{row['body']}")}
            texts.append(classifier_input(record))
            truth.append(label)
    return texts, truth, none


def vntc_validation(config: TrainConfig) -> tuple[list[str], list[str]]:
    """The config's stratified validation split of VNTC train (what `vnnews train` holds out)."""
    from sklearn.model_selection import train_test_split

    with gzip.open(config.data.path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    labels = [r[config.data.label_field] for r in rows]
    _, val_idx = train_test_split(range(len(rows)), test_size=config.validation_split, random_state=config.seed,
                                  stratify=labels)
    return [clean_text(rows[i][config.data.text_field]) for i in val_idx], [labels[i] for i in val_idx]


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--models", nargs="+", default=[str(ROOT / "models" / "topic-tfidf-vntc")])
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_topic.yaml"),
                        help="train config whose VNTC validation split is scored")
    parser.add_argument("--held-out", action="store_true", help="also score the held-out part (once, at the end)")
    parser.add_argument("--speed", action="store_true", help="time the models on the same texts, interleaved")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    config = load_config(TrainConfig, args.config, [])
    if not config.data.path.is_absolute():
        config.data.path = ROOT / config.data.path
    sets = {"VNTC validation (2005-06)": vntc_validation(config)}
    parts = ["tuning"] + (["held_out"] if args.held_out else [])
    for part in parts:
        texts, truth, none = vietnews_labelled(part)
        sets[f"VietNews dev {part} (2016-19)"] = (texts, truth)
        print(f"VietNews dev {part}: {len(texts)} labelled articles scored, {none} labelled 'none' left out")
    models = {name: load_topic_model(name) for name in args.models}
    print(f"\n{'data':<32} {'model':<28} {'n':>5} {'accuracy':>8} {'macro-F1':>8}")
    for data_name, (texts, truth) in sets.items():
        for name, model in models.items():
            m = classification_metrics(truth, model.predict(texts), model.classes_)
            print(f"{data_name:<32} {Path(name).name:<28} {m['n']:5d} {m['accuracy']:8.4f} {m['macro_f1']:8.4f}")
    if args.speed:
        texts = [t for texts, _ in sets.values() for t in texts]
        seconds = {name: [] for name in models}
        for _ in range(args.repeats):  # interleaved: each repeat times every model once, in turn
            for name, model in models.items():
                time.sleep(0.3)
                started = time.perf_counter()
                model.predict_proba(texts)
                seconds[name].append(time.perf_counter() - started)
        first = args.models[0]
        print(f"\nspeed on {len(texts)} articles, {args.repeats} interleaved repeats")
        for name in models:
            ratios = [a / b for a, b in zip(seconds[first], seconds[name], strict=True)]
            print(f"{Path(name).name:<28} best {len(texts) / min(seconds[name]):9.0f} articles/s, "
                  f"median per-repeat speed ratio to {Path(first).name}: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
