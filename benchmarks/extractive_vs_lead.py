"""Extractive summarizer vs Lead-k on VietNews dev, ROUGE F1 with both tokenizers.

    .venv/bin/python benchmarks/extractive_vs_lead.py [--limit 2000] [--k 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

from pipeline.summarize.extractive import LeadTitleSummarizer
from pipeline.summarize.rouge import rouge_scores
from pipeline.text import clean_text, split_sentences

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "vietnews" / "dev.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEV)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--k", type=int, default=2, help="sentences per summary")
    args = parser.parse_args()

    with gzip.open(args.data, "rt", encoding="utf-8") as fh:
        articles = [json.loads(line) for _, line in zip(range(args.limit), fh, strict=False)]
    references = [a["abstract"] for a in articles]
    summarizer = LeadTitleSummarizer(args.k)
    started = time.perf_counter()
    ours = [summarizer.summarize(clean_text(a["title"]), clean_text(a["body"])) for a in articles]
    seconds = time.perf_counter() - started
    lead = [" ".join(split_sentences(clean_text(a["body"]))[: args.k]) for a in articles]

    print(f"{len(articles)} VietNews dev articles, {args.k} sentences; ROUGE F1 x100 (R1 / R2 / RL)")
    print(f"{'system':<22} {'Vietnamese-aware':>22} {'rouge-score default':>22}")
    for name, preds in ((f"lead-{args.k}", lead), ("lead_title (ours)", ours)):
        vi = rouge_scores(references, preds, vietnamese=True)
        ascii_ = rouge_scores(references, preds, vietnamese=False)
        fmt = " / ".join
        print(f"{name:<22} {fmt(f'{v:5.2f}' for v in vi.values()):>22} {fmt(f'{v:5.2f}' for v in ascii_.values()):>22}")
    print(f"lead_title speed: {len(articles) / seconds:.0f} articles/s (sentence split included)")


if __name__ == "__main__":
    main()
