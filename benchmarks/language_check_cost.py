"""What the language check costs the topic-only job: normalize + classify, with and without it.

Both variants run in the same process on the same records (every 10th VNTC train article by
default, or VietNews dev), alternating round by round so machine noise hits both alike; each round
times the normalize stage on fresh record copies (made outside the clock, as a reader would) and
the classify stage on what normalize kept, in batches of ``--batch`` records. Reports the median
and best microseconds per article and the throughput ratio (with / without).

    .venv/bin/python benchmarks/language_check_cost.py                  # ~1 min
    .venv/bin/python benchmarks/language_check_cost.py --data vietnews
"""

from __future__ import annotations

import gc
import time

import numpy as np
from common import ROOT, argument_parser
from topic_stage_profile import load_records  # the same sample as the stage profile

from pipeline.config import JobConfig, load_config
from pipeline.stages import QUARANTINE_KEY
from pipeline.stages.classify import ClassifyStage
from pipeline.stages.normalize import NormalizeStage


def run(normalize: NormalizeStage, classify: ClassifyStage, batches: list[list[dict]]) -> float:
    """Seconds for normalize + classify over fresh copies of the batches."""
    copies = [[dict(r) for r in batch] for batch in batches]
    started = time.perf_counter()
    for batch in copies:
        classify([r for r in normalize(batch) if QUARANTINE_KEY not in r])
    return time.perf_counter() - started


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--data", choices=["vntc", "vietnews"], default="vntc")
    parser.add_argument("--limit", type=int, default=3376)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--job", default=str(ROOT / "configs" / "quickstart.yaml"))
    args = parser.parse_args()

    job = load_config(JobConfig, args.job)
    classify = ClassifyStage(job.classify)
    stages = {"with check": NormalizeStage(job.normalize.model_copy(update={"language_check": True})),
              "without": NormalizeStage(job.normalize.model_copy(update={"language_check": False}))}
    records = load_records(args.data, args.limit)
    batches = [records[i : i + args.batch] for i in range(0, len(records), args.batch)]
    for normalize in stages.values():
        run(normalize, classify, batches[:1])  # compile, load the models and the identifier
    gc.collect()
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(args.repeats):
        for name, normalize in stages.items():
            time.sleep(0.1)
            times[name].append(run(normalize, classify, batches) / len(records) * 1e6)
    print(f"{len(records)} {args.data} articles, batches of {args.batch}, {args.repeats} interleaved rounds")
    for name, values in times.items():
        print(f"  {name:<11} median {np.median(values):7.1f} us/article, best {min(values):7.1f}")
    ratio = np.median(times["without"]) / np.median(times["with check"])
    print(f"  throughput with / without the check: {ratio:.3f} (median); "
          f"{min(times['without']) / min(times['with check']):.3f} (best)")


if __name__ == "__main__":
    main()
