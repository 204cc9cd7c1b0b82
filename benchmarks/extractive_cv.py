"""K-fold cross-validation of the learned extractive summarizer on VietNews train_sample (never dev).

How the summarizer's settings are chosen without touching the dev file: for each fold, train the
committed config's model on the other folds and score its summaries (and Lead-2's) on this fold
with the Vietnamese-aware ROUGE; the scores are pooled over all held-out articles. Rows: Lead-2,
the model with whole sentences only (``trim_clauses: false``) and the committed config.

    .venv/bin/python benchmarks/extractive_cv.py                 # 5 folds, ~17 min on 2 cores
    .venv/bin/python benchmarks/extractive_cv.py --limit 1000    # a quick run
    .venv/bin/python benchmarks/extractive_cv.py --set model.min_sentence_syllables=8   # a variant
"""

from __future__ import annotations

import numpy as np
from common import ROOT, argument_parser
from sklearn.model_selection import KFold

from pipeline.config import SummaryTrainConfig, load_config
from pipeline.errors import ConfigError
from pipeline.summarize.data import load_pairs
from pipeline.summarize.learned import LearnedExtractiveSummarizer
from pipeline.summarize.rouge import rouge_scores
from pipeline.text.normalize import split_sentences


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_summary_extractive.yaml"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N articles")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, as `vnnews train --set` (repeatable)")
    args = parser.parse_args()
    try:
        config = load_config(SummaryTrainConfig, args.config, args.overrides)  # KEY=VALUE strings, as `vnnews --set`
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    if config.model.kind != "learned_extractive":
        raise SystemExit(f"{args.config}: model.kind must be learned_extractive, not {config.model.kind}")

    pairs = load_pairs(config.data)
    n = min(len(pairs.texts), args.limit or len(pairs.texts))
    documents = list(zip(pairs.titles[:n], pairs.texts[:n], strict=True))
    references = pairs.references[:n]
    settings = config.model.model_dump(exclude={"kind"})
    variants = {"whole sentences": settings | {"trim_clauses": False}, "committed config": settings}

    predictions: dict[str, list[str]] = {"lead-2": [""] * n} | {name: [""] * n for name in variants}
    folds = KFold(args.folds, shuffle=True, random_state=config.seed).split(np.arange(n))
    for fold, (fit_idx, test_idx) in enumerate(folds, start=1):
        for i in test_idx:
            predictions["lead-2"][i] = " ".join(split_sentences(documents[i][1])[:2])
        for name, params in variants.items():
            model = LearnedExtractiveSummarizer(**params, seed=config.seed)
            model.fit([documents[i] for i in fit_idx], [references[i] for i in fit_idx])
            for i in test_idx:
                predictions[name][i] = model.summarize(*documents[i])
        print(f"fold {fold}/{args.folds} done", flush=True)

    print(f"\n{n} train_sample articles, {args.folds}-fold CV, Vietnamese-aware ROUGE F1 x100 (R1 / R2 / RL)")
    for name, preds in predictions.items():
        scores = rouge_scores(references, preds, vietnamese=True)
        print(f"{name:<18} " + " / ".join(f"{v:5.2f}" for v in scores.values()))


if __name__ == "__main__":
    main()
