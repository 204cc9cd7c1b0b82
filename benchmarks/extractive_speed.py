"""Speed of the learned extractive summarizer against the one shipped at an earlier commit, in one process.

The earlier version is rebuilt from git (``previous_summarizer.py``). Both
summarize the same VietNews dev articles with one candidate kept (the quickstart's setting),
interleaved over several repeats; the table gives each repeat's articles per second and the
median of the per-repeat ratios (new / old), the number to read on a shared machine. Sentence
splitting is included; a summarizer with ``summarize_batch`` gets batches of 512 articles (the
quickstart's batch size), as the summarize stage calls it. The earlier version splits sentences
with today's splitter (it is imported from the working tree), so the ratio is the summarizer's alone.

    .venv/bin/python benchmarks/extractive_speed.py                       # against the docs' baseline model, 500 x 5
    .venv/bin/python benchmarks/extractive_speed.py --rev main --articles 200 --repeats 3
"""

from __future__ import annotations

import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT, SHARED_DATA, argument_parser
from previous_summarizer import BASELINE_BEFORE, MODEL, PreviousSummarizer, baseline_rev

from pipeline.summarize.learned import LearnedExtractiveSummarizer
from pipeline.text.normalize import clean_text

BATCH = 512  # configs/quickstart.yaml's runner.batch_size


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--rev", default=None, help="the commit whose shipped summarizer is the baseline "
                        f"(default: main as of {BASELINE_BEFORE}, docs/summarizer.md's baseline model)")
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", type=Path, default=ROOT / MODEL, help="the new model directory")
    args = parser.parse_args()
    args.rev = args.rev or baseline_rev()

    with gzip.open(SHARED_DATA / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(args.articles), fh, strict=False)]
    docs = [(clean_text(r["title"]), clean_text(r["body"])) for r in rows]
    new = LearnedExtractiveSummarizer.load(args.model, max_sentences=1)
    with tempfile.TemporaryDirectory() as tmp:
        old = PreviousSummarizer(args.rev, Path(tmp))
        systems = {f"shipped at {args.rev}": old, "working tree": new}
        for summarizer in systems.values():  # warm-up: underthesea's model, numpy
            summarizer.summarize(*docs[0])
        rates: dict[str, list[float]] = {name: [] for name in systems}
        for _ in range(args.repeats):
            for name, summarizer in systems.items():
                started = time.perf_counter()
                if hasattr(summarizer, "summarize_batch"):  # a batch at a time, as the stage calls it
                    for b in range(0, len(docs), BATCH):
                        summarizer.summarize_batch(*map(list, zip(*docs[b : b + BATCH], strict=True)))
                else:
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
