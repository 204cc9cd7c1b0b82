"""Does the topic model reuse the normalize stage's encoding? Paired A/B of the two ways to read a batch.

A job's batch goes through NormalizeStage (whose compiled scan encodes every title and text to
code points) and then the topic model. The model can be handed either

* ``joined``: one string per article, ``title + "\\n" + text`` (``classifier_input``, what every
  model kind accepts), which it must encode again, or
* ``fields``: titles and texts apart (``predict_proba(texts, titles)``, the tf-idf model, what
  ClassifyStage does), which copies the code points the scan already made.

Both give the same probabilities (checked here). Each repeat times normalize + model on fresh
records for both variants back to back, so the median of the per-repeat ratios is steady on a
shared machine even when absolute speeds are not.

    .venv/bin/python benchmarks/topic_stage_encoding.py                   # VietNews dev (titled), ~1 min
    .venv/bin/python benchmarks/topic_stage_encoding.py --data vntc       # VNTC sample (no titles)
"""

from __future__ import annotations

import argparse
import gc
import gzip
import itertools
import json
import time
from pathlib import Path

import numpy as np

from pipeline.config import JobConfig, load_config
from pipeline.stages import QUARANTINE_KEY
from pipeline.stages.classify import classifier_input
from pipeline.stages.normalize import NormalizeStage
from pipeline.topic import load_topic_model

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def load_records(which: str, limit: int) -> list[dict]:
    """Raw records as a reader yields them: VietNews dev (title + body) or every 10th VNTC article (no title)."""
    if which == "vietnews":
        with gzip.open(DATA / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
            rows = (json.loads(line) for line in fh)
            return [{"id": r["id"], "title": r["title"], "text": r["body"]} for r in itertools.islice(rows, limit)]
    with gzip.open(DATA / "vntc" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = (json.loads(line) for line in itertools.islice(fh, 0, None, 10))
        return [{"id": r["id"], "title": None, "text": r["text"]} for r in itertools.islice(rows, limit)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["vietnews", "vntc"], default="vietnews")
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--job", default=str(ROOT / "configs" / "quickstart.yaml"))
    args = parser.parse_args()

    job = load_config(JobConfig, args.job)
    normalize, model = NormalizeStage(job.normalize), load_topic_model(job.classify.model)
    records = load_records(args.data, args.limit)

    def joined(batch: list[dict]) -> np.ndarray:
        live = [r for r in normalize(batch) if QUARANTINE_KEY not in r]
        return model.predict_proba([classifier_input(r) for r in live])

    def fields(batch: list[dict]) -> np.ndarray:
        live = [r for r in normalize(batch) if QUARANTINE_KEY not in r]
        return model.predict_proba([r["text"] for r in live], [r.get("title") or "" for r in live])

    variants = {"joined": joined, "fields": fields}
    first = {name: fn([dict(r) for r in records]) for name, fn in variants.items()}  # also compiles the kernels
    assert np.array_equal(first["joined"], first["fields"]), "the two ways of reading must agree"
    gc.collect()
    gc.freeze()
    micros: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            batch = [dict(r) for r in records]  # fresh records, made outside the clock
            time.sleep(0.2)  # let the other variant's worker threads go idle
            started = time.perf_counter()
            fn(batch)
            micros[name].append((time.perf_counter() - started) / len(records) * 1e6)
    titled = sum(bool(r["title"]) for r in records)
    print(f"{len(records)} {args.data} articles ({titled} with a title), normalize + topic model, "
          f"best / median of {args.repeats} repeats")
    for name, values in micros.items():
        print(f"  {name:<7} {min(values):6.2f} / {np.median(values):6.2f} us per article")
    ratio = np.median(np.array(micros["joined"]) / np.array(micros["fields"]))
    print(f"median per-repeat speed-up of 'fields' over 'joined': {ratio:.3f}x")


if __name__ == "__main__":
    main()
