"""Extractive summarizers vs Lead-k on VietNews, ROUGE F1 with both tokenizers, speed in one run.

    .venv/bin/python benchmarks/extractive_vs_lead.py --data holdout   # the training config's hold-out
    .venv/bin/python benchmarks/extractive_vs_lead.py --data dev       # VietNews dev (2,000 articles)

``holdout`` is the seeded share of the whole ``train.jsonl.gz`` that ``vnnews train
configs/train_summary_extractive.yaml --set data.limit=null`` would hold out (the same
``split_pairs``), less the articles the committed config trains on (it reads the first
``data.limit`` rows) and those also in ``train_sample`` (the previous model trained on those). Rows: Lead-1, Lead-2,
lead_title (2 sentences), the summarizer shipped at ``--rev`` (rebuilt from git), the shipped
learned model with 1 candidate (the quickstart default), the same scoring whole sentences only,
and with 2. Speed is summarize() only (sentence splitting included), measured back to back in
this process, so compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from pathlib import Path

from common import ROOT, SHARED_DATA, argument_parser
from previous_summarizer import BASELINE_BEFORE, PreviousSummarizer, baseline_rev

from pipeline.config import SummaryTrainConfig, load_config
from pipeline.summarize.extractive import LeadTitleSummarizer
from pipeline.summarize.learned import LearnedExtractiveSummarizer
from pipeline.summarize.rouge import rouge_scores
from pipeline.summarize.training import split_pairs
from pipeline.text.normalize import clean_text, split_sentences

DEV = SHARED_DATA / "vietnews" / "dev.jsonl.gz"
SAMPLE = SHARED_DATA / "vietnews" / "train_sample.jsonl.gz"
MODEL = ROOT / "models" / "summary-extractive-vietnews"
TRAIN_CONFIG = ROOT / "configs" / "train_summary_extractive.yaml"


def _dev(limit: int) -> tuple[list[str], list[str], list[str]]:
    with gzip.open(DEV, "rt", encoding="utf-8") as fh:
        articles = [json.loads(line) for _, line in zip(range(limit), fh, strict=False)]
    return (
        [clean_text(a["title"]) for a in articles],
        [clean_text(a["body"]) for a in articles],
        [a["abstract"] for a in articles],
    )


def _holdout(limit: int) -> tuple[list[str], list[str], list[str]]:
    """The seeded share of the whole ``train.jsonl.gz`` that neither the shipped nor the previous model trained on."""
    config = load_config(SummaryTrainConfig, TRAIN_CONFIG, [f"data.path={SHARED_DATA / 'vietnews' / 'train.jsonl.gz'}"])
    trained, _ = split_pairs(config)  # what `vnnews train` trains on (data.limit applies)
    _, held_out = split_pairs(config.model_copy(update={"data": config.data.model_copy(update={"limit": None})}))
    assert held_out is not None
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        seen = {json.loads(line)["id"] for line in fh} | set(trained.ids)
    keep = [i for i, id_ in enumerate(held_out.ids) if id_ not in seen][:limit]
    return [held_out.titles[i] for i in keep], [held_out.texts[i] for i in keep], [held_out.references[i] for i in keep]


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--data", choices=["dev", "holdout"], default="dev")
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--rev", default=None, help="the commit whose shipped summarizer is compared "
                        f"(default: main as of {BASELINE_BEFORE}, docs/summarizer.md's baseline model)")
    parser.add_argument("--limit", type=int, default=5000)
    args = parser.parse_args()
    args.rev = args.rev or baseline_rev()

    titles, bodies, references = (_dev if args.data == "dev" else _holdout)(args.limit)
    split_sentences(bodies[0])  # load underthesea before timing

    systems: dict[str, list[str]] = {}
    speed: dict[str, float] = {}
    for k in (1, 2):
        systems[f"lead-{k}"] = [" ".join(split_sentences(b)[:k]) for b in bodies]
    whole_only = LearnedExtractiveSummarizer.load(args.model, max_sentences=1)
    whole_only.trim_clauses = False
    with tempfile.TemporaryDirectory() as tmp:
        summarizers = {
            "lead_title (k=2)": LeadTitleSummarizer(2),
            f"shipped at {args.rev}": PreviousSummarizer(args.rev, Path(tmp)),
            "learned (k=1, default)": LearnedExtractiveSummarizer.load(args.model, max_sentences=1),
            "learned (k=1, no trim)": whole_only,
            "learned (k=2)": LearnedExtractiveSummarizer.load(args.model, max_sentences=2),
        }
        for name, summarizer in summarizers.items():
            started = time.perf_counter()
            systems[name] = [summarizer.summarize(t, b) for t, b in zip(titles, bodies, strict=True)]
            speed[name] = len(bodies) / (time.perf_counter() - started)

    print(f"{len(bodies)} VietNews {args.data} articles; ROUGE F1 x100 (R1 / R2 / RL)")
    print(f"{'system':<24} {'Vietnamese-aware':>22} {'rouge-score default':>22} {'articles/s':>11}")
    for name, preds in systems.items():
        vi = rouge_scores(references, preds, vietnamese=True)
        ascii_ = rouge_scores(references, preds, vietnamese=False)
        fmt = " / ".join
        rate = f"{speed[name]:.0f}" if name in speed else "-"
        print(
            f"{name:<24} {fmt(f'{v:5.2f}' for v in vi.values()):>22} "
            f"{fmt(f'{v:5.2f}' for v in ascii_.values()):>22} {rate:>11}"
        )
    default, previous = speed["learned (k=1, default)"], speed[f"shipped at {args.rev}"]
    print(f"learned / lead_title speed ratio: {default / speed['lead_title (k=2)']:.2f}; "
          f"learned / shipped at {args.rev}: {default / previous:.2f} (same process, back to back)")


if __name__ == "__main__":
    main()
