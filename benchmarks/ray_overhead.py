"""Local runner vs Ray runner (local Ray, 2 actors) on the same input and config, in one run.

    .venv/bin/python benchmarks/ray_overhead.py [--articles 2000] [--actors 2]

Input: VietNews dev articles (title + body), repeated to the requested count with fresh ids.
Config: the quickstart's stages (normalize, classify, learned extractive summary). Ray's start-up
(`ray.init`, about 5 s) is timed separately: it is paid once per cluster, not per job.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from pathlib import Path

from common import SHARED_DATA, argument_parser

from pipeline import Pipeline

DEV = SHARED_DATA / "vietnews" / "dev.jsonl.gz"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    with gzip.open(DEV, "rt", encoding="utf-8") as fh:
        source = [json.loads(line) for line in fh]
    tmp = Path(tempfile.mkdtemp(prefix="vnnews-ray-bench-"))
    path = tmp / "in.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for i in range(args.articles):
            a = source[i % len(source)]
            out.write(json.dumps({"id": f"a{i}", "title": a["title"], "text": a["body"]}, ensure_ascii=False) + "\n")

    def config(name: str, **runner) -> dict:
        return {"input": {"path": str(path), "batch_size": args.batch_size},
                "output": {"path": str(tmp / name / "out.jsonl")}, "runner": {"progress": "off", **runner}}

    started = time.perf_counter()
    local = Pipeline.from_dict(config("local")).run()
    local_s = time.perf_counter() - started

    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - started
    started = time.perf_counter()
    remote = Pipeline.from_dict(config("ray", kind="ray", ray={"actors": args.actors})).run()
    ray_s = time.perf_counter() - started
    ray.shutdown()

    assert (local.written, local.quarantined) == (remote.written, remote.quarantined)
    print(f"{args.articles} articles, batch {args.batch_size}, 2 CPUs")
    print(f"{'runner':<28} {'seconds':>8} {'articles/s':>11}")
    print(f"{'local':<28} {local_s:8.1f} {args.articles / local_s:11.1f}")
    print(f"{f'ray, {args.actors} actors (job only)':<28} {ray_s:8.1f} {args.articles / ray_s:11.1f}")
    print(f"{'ray start-up (ray.init)':<28} {init_s:8.1f}")
    print(f"ray / local throughput: {local_s / ray_s:.2f}x (job only), {local_s / (ray_s + init_s):.2f}x with start-up")


if __name__ == "__main__":
    main()
