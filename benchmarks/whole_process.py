"""Whole `vnnews run` processes against what a user would write by hand: each side a subprocess, timed
from start to exit (reading, models, writing included), interleaved in one run; the ratio is the median
of the per-repeat ratios (by-hand seconds / vnnews seconds: above 1.0 means vnnews is faster).

Targets (``--target``, default all):

- ``topic``: the quickstart job with only normalize + classify (``summarize.enabled=false``) over VNTC
  train (33,759 articles; ``--copies N`` repeats it) against ``benchmarks/byhand/topic.py`` (read JSONL,
  underthesea_core ``TextClassifier.predict_batch``, write JSONL). The underthesea model is trained once
  on VNTC train with its recipe (TF-IDF 1-2-grams, 20,000 features, LinearSVC) and saved in the work folder.
- ``quickstart``: ``configs/quickstart.yaml`` (normalize + topic + learned extractive summary) over the
  first ``--articles`` (10,000) VietNews train articles (``id``, ``title``, ``text`` = ``body``) against
  ``benchmarks/byhand/quickstart.py`` (underthesea ``sent_tokenize``, Lead-2, the classifier above).
- ``memory``: peak RSS (``os.wait4``'s ``ru_maxrss``) of topic-only runs over 100,000, 200,000 and
  1,000,000 articles made by repeating VNTC train with new ids (written to the work folder: ~3 GB).
- ``startup``: ``vnnews --help``, and a 10-article job (the quickstart's samples): seconds from process
  start to the end of the first batch, and to exit.

    .venv/bin/python benchmarks/whole_process.py --target topic --repeats 5     # ~2 minutes on 2 cores
    .venv/bin/python benchmarks/whole_process.py --target quickstart --repeats 3
    .venv/bin/python benchmarks/whole_process.py --target memory                # ~10 minutes
    .venv/bin/python benchmarks/whole_process.py --target startup
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, SHARED_DATA, argument_parser

PYTHON = sys.executable
VNNEWS = str(Path(sys.executable).parent / "vnnews")
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
TOPIC_ONLY = ["--set", "summarize.enabled=false", "--set", "input.title_field=null"]

# Runs the CLI in this process and prints the wall-clock time when the first batch is done (the
# runner's first throughput point after the start): time to first batch, interpreter start included.
FIRST_BATCH_DRIVER = """
import sys, time
from pipeline.run.job import Job
original = Job.add_point
def add_point(self, rows_done):
    if rows_done > 0 and not getattr(add_point, "seen", False):
        add_point.seen = True
        print(f"FIRST_BATCH {time.time()!r} {time.process_time()!r}", file=sys.stderr, flush=True)
    return original(self, rows_done)
Job.add_point = add_point
from pipeline.cli import main
sys.argv = ["vnnews", *sys.argv[1:]]
main()
"""


def run(command: list, quiet: bool = True, env: dict | None = None) -> dict:
    """Run ``command`` to its end: wall seconds, CPU seconds (user + system) and peak RSS in MiB."""
    command = [str(part) for part in command]
    started = time.time()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE if quiet else None, text=True, env=env)
    err = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n{err[-2000:]}")
    first = [line.split()[1:] for line in err.splitlines() if line.startswith("FIRST_BATCH ")]
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "first_batch": float(first[0][0]) - started if first else None,
            "first_batch_cpu": float(first[0][1]) if first else None}


def vntc_jsonl(work: Path, copies: int = 1, rows: int | None = None) -> Path:
    """VNTC train as plain JSONL; ``copies`` times over, or ``rows`` rows (repeats get new ids). Streamed:
    this process stays small, since a child's peak RSS can include its parent's at the fork."""
    name = f"vntc_{rows}.jsonl" if rows else f"vntc_x{copies}.jsonl"
    path = work / name
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    written, round_ = 0, 0
    with open(tmp, "w", encoding="utf-8") as out:
        while written < (rows or float("inf")) and (rows or round_ < copies):
            with gzip.open(SHARED_DATA / "vntc" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
                for line in fh:
                    if rows and written >= rows:
                        break
                    if round_:
                        row = json.loads(line)
                        row["id"] = f"{row['id']}#{round_}"
                        line = json.dumps(row, ensure_ascii=False) + "\n"
                    out.write(line)
                    written += 1
            round_ += 1
    tmp.rename(path)
    return path


def vietnews_jsonl(work: Path, articles: int) -> Path:
    """The first ``articles`` VietNews train articles as the reader's fields: id, title, text (the body)."""
    path = work / f"vietnews_{articles}.jsonl"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with gzip.open(SHARED_DATA / "vietnews" / "train.jsonl.gz", "rt", encoding="utf-8") as fh, \
            open(tmp, "w", encoding="utf-8") as out:
        for i, line in enumerate(fh):
            if i >= articles:
                break
            row = json.loads(line)
            out.write(json.dumps({"id": row["id"], "title": row["title"], "text": row["body"]},
                                 ensure_ascii=False) + "\n")
    tmp.rename(path)
    return path


TRAIN_UNDERTHESEA = """
import gzip, json, sys
from underthesea_core import TextClassifier
texts, labels = [], []
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as fh:
    for line in fh:
        row = json.loads(line)
        texts.append(row["text"])
        labels.append(row["label"])
model = TextClassifier(max_features=20000, ngram_range=(1, 2), c=1.0)
model.fit(texts, labels)
model.save(sys.argv[2])
"""


def underthesea_model(work: Path) -> Path:
    """underthesea_core's TextClassifier trained on VNTC train with underthesea's recipe, saved once
    (in a child process, so this one stays small)."""
    path = work / "underthesea_vntc.bin"
    if not path.exists():
        subprocess.run([PYTHON, "-c", TRAIN_UNDERTHESEA, str(SHARED_DATA / "vntc" / "train.jsonl.gz"), str(path)],
                       check=True)
    return path


def ours(input_path: Path, output: Path, *extra: str) -> list:
    """The job's command line (the config a Path: a baseline side reads its own checkout's config)."""
    return [VNNEWS, "run", QUICKSTART, "-q", "--set", f"input.path={input_path}",
            "--set", f"output.path={output}", "--set", "runner.resume=false", *extra]


def compare(name: str, ours_cmd: list[str], theirs_cmd: list[str], repeats: int, rows: int,
            baseline: Path | None = None, names: tuple[str, str] = ("vnnews", "by hand")) -> None:
    """Alternate the sides (the order turns every repeat); print medians and the median per-repeat ratio.

    ``names``: what the two sides are called in the table (the ratio is the second's seconds over the first's).

    ``baseline``: a checkout of another vnnews version (``git archive <commit> | tar -x -C DIR``), run as a
    third side with the same arguments and this venv (for before/after numbers in one run).
    """
    first, second = names
    sides = [(first, ours_cmd, None), (second, theirs_cmd, None)]
    if baseline is not None:
        env = {**os.environ, "PYTHONPATH": str(baseline)}
        base_cmd = [PYTHON, "-c", "import sys; sys.path[0] = sys.argv.pop(1); from pipeline.cli import main; main()",
                    str(baseline), *(str(baseline / a.relative_to(ROOT)) if isinstance(a, Path) else a
                                     for a in ours_cmd[1:])]
        sides.append((f"vnnews {baseline.name}", base_cmd, env))
    for _, cmd, env in sides:  # warm the page cache and the compiled-kernel caches of every side
        run(cmd, env=env)
    results: dict[str, list[dict]] = {side: [] for side, _, _ in sides}
    for i in range(repeats):
        for side, cmd, env in sides[i % len(sides):] + sides[:i % len(sides)]:
            results[side].append(run(cmd, env=env))
    ratios = [t["wall"] / o["wall"] for o, t in zip(results[first], results[second], strict=True)]
    print(f"\n{name}: {rows:,} articles, {repeats} repeats, whole processes")
    print(f"{'side':<16} {'median s':>9} {'articles/s':>11} {'CPU s':>7} {'peak RSS MiB':>13}   wall s per repeat")
    for side, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rss = max(r["rss_mib"] for r in runs)
        print(f"{side:<16} {wall:9.2f} {rows / wall:11,.0f} {cpu:7.2f} {rss:13.0f}   "
              + " ".join(f"{r['wall']:.2f}" for r in runs))
    print(f"speed ratio {first} / {second} (median of per-repeat ratios): {statistics.median(ratios):.2f} "
          f"(per repeat: {' '.join(f'{r:.2f}' for r in ratios)})")
    for side in list(results)[2:]:
        before = [t["wall"] / o["wall"] for o, t in zip(results[side], results[second], strict=True)]
        print(f"speed ratio {side} / {second}: {statistics.median(before):.2f} "
              f"(per repeat: {' '.join(f'{r:.2f}' for r in before)})")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--target", choices=["topic", "quickstart", "memory", "startup", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--copies", type=int, default=1, help="topic: VNTC train repeated this many times")
    parser.add_argument("--articles", type=int, default=10_000, help="quickstart: VietNews articles")
    parser.add_argument("--sizes", default="100000,200000,1000000", help="memory: input sizes")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="topic, quickstart: also time the vnnews checked out in this folder (before/after)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vnnews-whole-process"),
                        help="folder for inputs, outputs and the underthesea model")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    targets = ["startup", "topic", "quickstart", "memory"] if args.target == "all" else [args.target]

    if "startup" in targets:
        helps = [run([VNNEWS, "--help"]) for _ in range(max(args.repeats, 5))]
        walls = " ".join(f"{h['wall']:.3f}" for h in helps)
        print(f"vnnews --help: median {statistics.median(h['wall'] for h in helps):.3f} s, "
              f"{statistics.median(h['cpu'] for h in helps):.3f} CPU s (runs: {walls})")
        samples = ROOT / "samples" / "articles.jsonl"
        for label, extra in (("quickstart job", []), ("topic-only job", TOPIC_ONLY[:2])):
            runs = [run([PYTHON, "-c", FIRST_BATCH_DRIVER, "run", str(QUICKSTART), "-q", "--set",
                         f"input.path={samples}", "--set", f"output.path={work / 'startup' / 'out.jsonl'}",
                         "--set", "runner.resume=false", *extra]) for _ in range(max(args.repeats, 3))]
            firsts = " ".join(f"{r['first_batch']:.2f}" for r in runs)
            med = {k: statistics.median(r[k] for r in runs) for k in ("first_batch", "first_batch_cpu", "wall", "cpu")}
            print(f"10-article {label}: first batch done {med['first_batch']:.2f} s after process start "
                  f"({med['first_batch_cpu']:.2f} CPU s), exit {med['wall']:.2f} s ({med['cpu']:.2f} CPU s) "
                  f"(medians; first batch per run: {firsts})")

    if "topic" in targets or "quickstart" in targets:
        model = underthesea_model(work)
    if "topic" in targets:
        source = vntc_jsonl(work, args.copies)
        with open(source, "rb") as fh:
            rows = sum(1 for _ in fh)
        compare("topic-only job (normalize + classify) vs underthesea classifier script",
                ours(source, work / "topic" / "out.jsonl", *TOPIC_ONLY),
                [PYTHON, str(ROOT / "benchmarks" / "byhand" / "topic.py"), str(model), str(source),
                 str(work / "topic_byhand.jsonl")], args.repeats, rows, args.baseline)
    if "quickstart" in targets:
        source = vietnews_jsonl(work, args.articles)
        compare("quickstart job (normalize + topic + learned extractive) vs by-hand Lead-2 + classifier script",
                ours(source, work / "quickstart" / "out.jsonl"),
                [PYTHON, str(ROOT / "benchmarks" / "byhand" / "quickstart.py"), str(model), str(source),
                 str(work / "quickstart_byhand.jsonl")], args.repeats, args.articles, args.baseline)
    if "memory" in targets:
        print("\ntopic-only runs, peak RSS (ru_maxrss of the process)")
        print(f"{'articles':>10} {'peak RSS MiB':>13} {'wall s':>8} {'articles/s':>11}")
        for size in (int(s) for s in args.sizes.split(",")):
            source = vntc_jsonl(work, rows=size)
            result = run(ours(source, work / "memory" / f"out_{size}.jsonl", *TOPIC_ONLY))
            print(f"{size:>10,} {result['rss_mib']:13.0f} {result['wall']:8.1f} {size / result['wall']:11,.0f}")


if __name__ == "__main__":
    main()
