"""How well the topic model carries over to a newspaper it never saw (leave one source out).

VNTC's articles come from four newspapers (VnExpress, Tuổi Trẻ, Thanh Niên, Người Lao Động) whose
topic mixes differ, so a model can learn "this byline means politics". For each held-out source
this trains on the other three and scores the held-out one, with the committed config's settings
(its ``adaptation:`` included, when it has one) and, with ``--no-filters``, also with the
outlet/date filters (``stop_syllables``, ``drop_digits``) switched off.

    .venv/bin/python benchmarks/topic_cross_source.py --holdout NLD TN   # ~10 min on 2 cores with adaptation
    .venv/bin/python benchmarks/topic_cross_source.py --set model.title_weight=0.4   # a variant, no file needed
"""

from __future__ import annotations

import gzip
import json

from common import ROOT, argument_parser

from pipeline.config import TrainConfig, load_config
from pipeline.errors import ConfigError
from pipeline.reports.metrics import classification_metrics
from pipeline.text.normalize import clean_text
from pipeline.topic import build_topic_model
from pipeline.topic.training import fit_topic_model, load_unlabeled


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_topic.yaml"))
    parser.add_argument("--holdout", nargs="+", default=["NLD", "TN"], help="sources to hold out, one at a time")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, as `vnnews train --set` (repeatable)")
    parser.add_argument("--no-filters", action="store_true", help="also train without the outlet/date filters")
    args = parser.parse_args()
    try:
        config = load_config(TrainConfig, args.config, args.overrides)  # KEY=VALUE strings, as `vnnews --set`
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    with gzip.open(config.data.path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    texts = [clean_text(r[config.data.text_field]) for r in rows]
    settings = config.model.model_dump() | {"calibration_folds": 0}
    variants = {"committed config": settings}
    if args.no_filters:
        variants["no outlet/date filters"] = settings | {"stop_syllables": [], "drop_digits": False}
    unlabeled = load_unlabeled(config.adaptation.data) if config.adaptation is not None else None
    print(f"{'held-out source':<16} {'variant':<24} {'n':>6} {'accuracy':>8} {'macro-F1':>8}")
    for source in args.holdout:
        fit = [i for i, r in enumerate(rows) if r["source"] != source]
        test = [i for i, r in enumerate(rows) if r["source"] == source]
        for name, variant in variants.items():
            model = build_topic_model(variant, config.seed)
            fit_labels = [rows[i][config.data.label_field] for i in fit]
            fit_topic_model(model, [texts[i] for i in fit], fit_labels, config.adaptation, unlabeled)
            truth = [rows[i][config.data.label_field] for i in test]
            m = classification_metrics(truth, model.predict([texts[i] for i in test]), model.classes_)
            print(f"{source:<16} {name:<24} {len(test):6d} {m['accuracy']:8.4f} {m['macro_f1']:8.4f}", flush=True)


if __name__ == "__main__":
    main()
