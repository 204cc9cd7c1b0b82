"""Extractive summarizers vs Lead-k on VietNews dev, ROUGE F1 with both tokenizers, speed in one run.

    .venv/bin/python benchmarks/extractive_vs_lead.py [--limit 2000]

Rows: Lead-1, Lead-2, lead_title (2 sentences), the shipped learned model with 1 sentence (the
quickstart default: whole or clause-trimmed), the same scoring whole sentences only, and with 2.
Speed is summarize() only (sentence splitting included), measured back to back in this process,
so compare the ratio, not the absolute numbers.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

from common import ROOT, SHARED_DATA, argument_parser

from pipeline.summarize.extractive import LeadTitleSummarizer
from pipeline.summarize.learned import LearnedExtractiveSummarizer
from pipeline.summarize.rouge import rouge_scores
from pipeline.text.normalize import clean_text, split_sentences

DEV = SHARED_DATA / "vietnews" / "dev.jsonl.gz"
MODEL = ROOT / "models" / "summary-extractive-vietnews"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--data", type=Path, default=DEV)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()

    with gzip.open(args.data, "rt", encoding="utf-8") as fh:
        articles = [json.loads(line) for _, line in zip(range(args.limit), fh, strict=False)]
    references = [a["abstract"] for a in articles]
    titles = [clean_text(a["title"]) for a in articles]
    bodies = [clean_text(a["body"]) for a in articles]
    split_sentences(bodies[0])  # load underthesea before timing

    systems: dict[str, list[str]] = {}
    speed: dict[str, float] = {}
    for k in (1, 2):
        systems[f"lead-{k}"] = [" ".join(split_sentences(b)[:k]) for b in bodies]
    whole_only = LearnedExtractiveSummarizer.load(args.model, max_sentences=1)
    whole_only.trim_clauses = False
    summarizers = {
        "lead_title (k=2)": LeadTitleSummarizer(2),
        "learned (k=1, default)": LearnedExtractiveSummarizer.load(args.model, max_sentences=1),
        "learned (k=1, no trim)": whole_only,
        "learned (k=2)": LearnedExtractiveSummarizer.load(args.model, max_sentences=2),
    }
    for name, summarizer in summarizers.items():
        started = time.perf_counter()
        systems[name] = [summarizer.summarize(t, b) for t, b in zip(titles, bodies, strict=True)]
        speed[name] = len(articles) / (time.perf_counter() - started)

    print(f"{len(articles)} VietNews dev articles; ROUGE F1 x100 (R1 / R2 / RL)")
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
    ratio = speed["learned (k=1, default)"] / speed["lead_title (k=2)"]
    print(f"learned / lead_title speed ratio: {ratio:.2f} (same process, back to back)")


if __name__ == "__main__":
    main()
