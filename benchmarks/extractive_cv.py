"""K-fold cross-validation of the learned extractive summarizer on VietNews train_sample (never dev).

For each fold, train the committed config's model (corpus vectors included) on the other folds
and score its summaries (and Lead-2's) on this fold with the Vietnamese-aware ROUGE; the scores
are pooled over all held-out articles. Rows: Lead-2, the committed config and, with ``--whole``,
the same model with whole sentences only (``trim_clauses: false``). The folds are seeded with
the config's seed, so runs at different commits score the same splits.

    .venv/bin/python benchmarks/extractive_cv.py                 # 5 folds of train_sample's 5,000 articles
    .venv/bin/python benchmarks/extractive_cv.py --limit 1000    # a quick run
    .venv/bin/python benchmarks/extractive_cv.py --set model.min_sentence_syllables=8   # a variant
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from common import ROOT, SHARED_DATA, argument_parser
from sklearn.model_selection import KFold

from pipeline.config import SummaryTrainConfig, load_config
from pipeline.errors import ConfigError
from pipeline.summarize.data import load_pairs
from pipeline.summarize.learned import LearnedExtractiveSummarizer
from pipeline.summarize.rouge import rouge_scores
from pipeline.text.normalize import split_sentences

SAMPLE = SHARED_DATA / "vietnews" / "train_sample.jsonl.gz"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_summary_extractive.yaml"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N articles")
    parser.add_argument("--data", default=str(SAMPLE), help="the articles to cross-validate on")
    parser.add_argument("--whole", action="store_true", help="also the model scoring whole sentences only")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, as `vnnews train --set` (repeatable)")
    args = parser.parse_args()
    try:
        config = load_config(SummaryTrainConfig, args.config, args.overrides)  # KEY=VALUE strings, as `vnnews --set`
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    if config.model.kind != "learned_extractive":
        raise SystemExit(f"{args.config}: model.kind must be learned_extractive, not {config.model.kind}")

    pairs = load_pairs(config.data.model_copy(update={"path": Path(args.data)}))
    n = min(len(pairs.texts), args.limit or len(pairs.texts))
    documents = list(zip(pairs.titles[:n], pairs.texts[:n], strict=True))
    references = pairs.references[:n]
    settings = config.model.model_dump(exclude={"kind"})
    variants = {"committed config": settings}
    if args.whole:
        variants["whole sentences"] = settings | {"trim_clauses": False}

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

    print(f"\n{n} articles of {Path(args.data).name}, {args.folds}-fold CV, "
          "Vietnamese-aware ROUGE F1 x100 (R1 / R2 / RL)")
    for name, preds in predictions.items():
        scores = rouge_scores(references, preds, vietnamese=True)
        print(f"{name:<18} " + " / ".join(f"{v:5.2f}" for v in scores.values()))


if __name__ == "__main__":
    main()
