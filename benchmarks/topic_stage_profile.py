"""Where the normalize and classify stages spend their time, part by part, per article.

The "where the remaining time goes" numbers in docs/topic-model.md: each part is timed alone on the same batch
(best and median of ``--repeats`` runs, microseconds per article, wall clock, both cores for the
compiled kernels), so the parts show which of them is worth work. They do not add up exactly to
the stage totals (caches, thread wake-ups), which are timed too.

    .venv/bin/python benchmarks/topic_stage_profile.py                 # VNTC sample, ~1 min
    .venv/bin/python benchmarks/topic_stage_profile.py --data vietnews # titled VietNews dev articles
"""

from __future__ import annotations

import gc
import gzip
import itertools
import json
import time
from collections.abc import Callable

import numpy as np
from common import ROOT, SHARED_DATA, argument_parser

from pipeline.config import JobConfig, load_config
from pipeline.stages import QUARANTINE_KEY
from pipeline.stages.classify import ClassifyStage, classifier_input
from pipeline.stages.normalize import NormalizeStage
from pipeline.text.scan import encode_batch, kernel_threads, scan, scan_tables

DATA = SHARED_DATA


def load_records(which: str, limit: int) -> list[dict]:
    """Raw records as a reader yields them: every 10th VNTC article (no title) or VietNews dev."""
    if which == "vietnews":
        with gzip.open(DATA / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
            rows = (json.loads(line) for line in fh)
            return [{"id": r["id"], "title": r["title"], "text": r["body"]} for r in itertools.islice(rows, limit)]
    with gzip.open(DATA / "vntc" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = (json.loads(line) for line in itertools.islice(fh, 0, None, 10))
        return [{"id": r["id"], "title": None, "text": r["text"]} for r in itertools.islice(rows, limit)]


def timed(fn: Callable[[], object], n: int, repeats: int) -> tuple[float, float]:
    """Best and median microseconds per article over ``repeats`` calls (a short pause before each)."""
    values = []
    for _ in range(repeats):
        time.sleep(0.1)
        started = time.perf_counter()
        fn()
        values.append((time.perf_counter() - started) / n * 1e6)
    return min(values), float(np.median(values))


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--data", choices=["vntc", "vietnews"], default="vntc")
    parser.add_argument("--limit", type=int, default=3376)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--job", default=str(ROOT / "configs" / "quickstart.yaml"))
    args = parser.parse_args()

    job = load_config(JobConfig, args.job)
    normalize, classify = NormalizeStage(job.normalize), ClassifyStage(job.classify)
    records = load_records(args.data, args.limit)
    live = [r for r in normalize([dict(r) for r in records]) if QUARANTINE_KEY not in r]
    classify([dict(r) for r in live[:64]])  # compile / load everything once
    texts = [r["text"] for r in records]
    inputs = [classifier_input(r) for r in live]
    model = classify.model
    vectorizer = model.vectorizer_
    cp, offsets = encode_batch(texts)
    n = len(texts)
    status, counts = np.empty(n, dtype=np.uint8), np.empty((n, 4), dtype=np.int64)
    tables = scan_tables()
    coef = np.ascontiguousarray(model.coef_[: vectorizer.n_features], dtype=np.float32)
    intercept = np.ascontiguousarray(model.intercept_, dtype=np.float32)
    input_cp, input_offsets = encode_batch(inputs)
    gc.collect()
    gc.freeze()

    parts = {
        "normalize stage (total)": (lambda batch: normalize(batch), True),
        "  encode texts to UTF-16": (lambda: encode_batch(texts), False),
        "  scan kernel (clean flags, letter counts)": (
            lambda: scan(cp, offsets, *tables, status, counts, kernel_threads()), False),
        "classify stage (total)": (lambda batch: classify(batch), True),
        "  classifier input strings": (lambda: [classifier_input(r) for r in live], False),
        "  model predict_proba": (lambda: model.predict_proba(inputs), False),
        "    encode inputs to UTF-16": (lambda: encode_batch(inputs), False),
        "    n-gram kernel (fused tf-idf x weights)": (
            lambda: vectorizer.scores(input_cp, input_offsets, coef, intercept), False),
    }
    print(f"{n} {args.data} articles ({sum(bool(r['title']) for r in records)} titled), "
          f"{kernel_threads()} threads; us per article, best / median of {args.repeats}")
    for name, (fn, takes_records) in parts.items():
        count = n if name.startswith(("normalize", "  encode texts", "  scan")) else len(live)
        if takes_records:  # fresh records each call (made outside the clock, as a reader would)
            source = records if name.startswith("normalize") else live
            batches = iter([[dict(r) for r in source] for _ in range(args.repeats)])
            best, median = timed(lambda fn=fn, batches=batches: fn(next(batches)), count, args.repeats)
        else:
            best, median = timed(fn, count, args.repeats)
        print(f"  {name:<46} {best:6.2f} / {median:6.2f}")


if __name__ == "__main__":
    main()
