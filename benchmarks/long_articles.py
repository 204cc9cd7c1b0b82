"""How long are real articles for a 1,024-token model, and what does `long_input: chunk` cost?

Counts tokens of VietNews dev bodies with a seq2seq tokenizer, then plans sentence-aligned
windows exactly as the summarizer does (:func:`pipeline.summarize.chunking.plan_chunks`) and
reports how many articles need chunking, how many windows they take, and how much text each
``max_chunks`` cap leaves unread. With ``--time K`` it also summarizes the K longest articles
with a CTranslate2 model in truncate mode and in both chunk modes, and prints the time ratio.

    .venv/bin/python benchmarks/long_articles.py --model /tmp/vnnews-speed-vit5-base/ct2-int8 --time 8

The default model is the ViT5-base-shaped one that ``benchmarks/summarize_speed.py`` builds
(its tokenizer has ViT5's vocabulary size and was trained on VietNews). Random weights say
nothing about summary quality, so this measures work, not ROUGE.
"""

from __future__ import annotations

import gzip
import json
import statistics
import time
from pathlib import Path

from common import SHARED_DATA, argument_parser

from pipeline.config import SummarizeConfig
from pipeline.summarize.chunking import plan_chunks
from pipeline.summarize.ct2 import Ct2Summarizer

DEV = SHARED_DATA / "vietnews" / "dev.jsonl.gz"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--model", type=Path, default=Path("/tmp/vnnews-speed-vit5-base/ct2-int8"))
    parser.add_argument("--data", type=Path, default=DEV)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--time", type=int, default=0, help="time the K longest articles in each mode")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()

    with gzip.open(args.data, "rt", encoding="utf-8") as fh:
        bodies = [json.loads(line)["body"] for _, line in zip(range(args.limit), fh, strict=False)]
    config = SummarizeConfig(kind="abstractive", backend="ctranslate2", model=str(args.model), device="cpu",
                             max_input_tokens=args.window, num_beams=args.beams, max_new_tokens=args.new_tokens,
                             min_new_tokens=args.new_tokens, no_repeat_ngram_size=0, compute_type="int8",
                             long_input="chunk", max_chunks=64)
    summarizer = Ct2Summarizer(config)
    lengths = summarizer._token_counts(bodies)
    long_idx = [i for i, n in enumerate(lengths) if n > args.window]
    print(f"{len(bodies)} VietNews dev bodies, tokenizer of {args.model}: tokens mean {statistics.mean(lengths):.0f}, "
          f"median {statistics.median(lengths):.0f}, p95 {sorted(lengths)[int(0.95 * len(lengths))]}, "
          f"max {max(lengths)}; {len(long_idx)} ({100 * len(long_idx) / len(bodies):.1f} %) exceed {args.window}")
    if long_idx:
        budget = summarizer.chunk_budget()
        windows = [len(plan_chunks(bodies[i], summarizer.sentence_token_counts, budget, 64).chunks) for i in long_idx]
        over_tokens = sum(lengths[i] - args.window for i in long_idx)
        print(f"truncate: drops {over_tokens} tokens ({100 * over_tokens / sum(lengths):.2f} % of all text)")
        for cap in (1, 2, 3, 4, 8):
            cut = sum(w > cap for w in windows)
            print(f"chunk, max_chunks={cap}: {cut} of {len(long_idx)} long articles still cut; "
                  f"windows per long article mean {statistics.mean(min(w, cap) for w in windows):.2f}")
    if args.time:
        longest = [bodies[i] for i in sorted(range(len(bodies)), key=lambda i: -lengths[i])[: args.time]]
        seconds = {}
        for mode, merge in (("truncate", "summarize"), ("chunk", "join"), ("chunk", "summarize")):
            run = Ct2Summarizer(config.model_copy(update={"long_input": mode, "chunk_merge": merge, "max_chunks": 4}))
            run.summarize(longest[:1])
            started = time.perf_counter()
            run.summarize(longest)
            seconds[f"{mode}/{merge}"] = time.perf_counter() - started
        base = seconds["truncate/summarize"]
        print(f"the {args.time} longest articles, {args.beams} beams, {args.new_tokens} tokens, int8:")
        for name, s in seconds.items():
            print(f"  {name:<20} {s:6.1f} s  ({s / base:.2f}x truncate)")


if __name__ == "__main__":
    main()
