"""Real articles, `vnnews run` SIGKILLed at random instants and run again until it finishes: rows lost, rows twice.

The quickstart job (normalize, topic, learned summary) over the first ``--articles`` VietNews train
articles, with a few bad lines among them, into a JSONL file or a SQLite table. Each round starts the
job and SIGKILLs it after a random share of one whole run's time (measured first, uncounted), so kills
land while reading, computing, saving parts or committing; a run that finishes before its kill is
checked and the job starts over, until ``--kills`` runs were killed mid-run; then one run to the end.
Checks every input row is exactly once in the output or the quarantine after every finished run, and
that a last rerun is "up to date".

    .venv/bin/python benchmarks/kill_storm.py --articles 30000 --kills 12 --format jsonl
    .venv/bin/python benchmarks/kill_storm.py --articles 30000 --kills 12 --format sqlite
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, argument_parser
from whole_process import vietnews_jsonl

VNNEWS = str(Path(sys.executable).parent / "vnnews")
BAD_LINES = ['{"id": "bad-json", "text": ', '{"id": "no-text"}', '{"id": "empty", "text": "  "}', "[1, 2]"]


def make_input(work: Path, articles: int) -> tuple[Path, set[str]]:
    source = vietnews_jsonl(work, articles)
    rows = [line for line in source.read_text(encoding="utf-8").split("\n") if line]  # (texts hold U+2028)
    path = work / f"storm_{articles}.jsonl"
    step = max(1, len(rows) // (len(BAD_LINES) + 1))
    with open(path, "w", encoding="utf-8") as out:
        for i, line in enumerate(rows):
            out.write(line + "\n")
            if i % step == step - 1 and i // step < len(BAD_LINES):
                out.write(BAD_LINES[i // step] + "\n")
    return path, {json.loads(line)["id"] for line in rows}


def output_ids(output: Path, fmt: str) -> list[str]:
    if fmt == "sqlite":
        with sqlite3.connect(output) as db:
            return [row[0] for row in db.execute("SELECT id FROM articles")]
    return [json.loads(line)["id"] for line in output.read_bytes().split(b"\n") if line]


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--articles", type=int, default=30000)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--format", choices=["jsonl", "sqlite"], default="jsonl")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        input_path, ids = make_input(work, args.articles)
        output = work / "out" / ("news.db" if args.format == "sqlite" else "news.jsonl")
        command = [VNNEWS, "run", str(ROOT / "configs" / "quickstart.yaml"), "-q",
                   "--set", f"input.path={input_path}", "--set", f"output.path={output}",
                   "--set", "output.report=false", "--set", "runner.progress=off"]
        if args.format == "sqlite":
            command += ["--set", "output.table=articles"]  # (a .db path is a SQLite database)
        started = time.monotonic()  # one whole run, uncounted: how long a run takes here
        probe = [f"output.path={work / 'probe' / output.name}" if arg.startswith("output.path=") else arg
                 for arg in command]
        subprocess.run(probe, check=True)
        whole = time.monotonic() - started
        landed = finished = 0
        while landed < args.kills:  # a run that finishes before its kill is checked, then the job starts over
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(rng.uniform(0.0, whole))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                landed += 1
            _, err = proc.communicate()
            if proc.returncode not in (0, -signal.SIGKILL):
                sys.exit(f"a run failed with exit {proc.returncode}: {err}")
            if proc.returncode == 0:
                finished += 1
                check(output, args.format, ids)
                shutil.rmtree(output.parent)
        final = subprocess.run(command, capture_output=True, text=True)
        if final.returncode != 0:
            sys.exit(f"the last run failed with exit {final.returncode}: {final.stderr}")
        out, quarantine = check(output, args.format, ids)
        manifest = json.loads(output.with_name(f"{output.stem}.manifest.json").read_text(encoding="utf-8"))
        again = subprocess.run([arg for arg in command if arg != "-q"], capture_output=True, text=True)
        up_to_date = again.returncode == 0 and "up to date" in again.stderr
        print(f"{args.format}: {len(ids):,} articles + {len(BAD_LINES)} bad lines, one run {whole:.1f} s; "
              f"{landed} runs killed mid-run, {finished} finished before their kill (each checked, then started "
              f"over), then one to the end")
        print(f"  output rows {len(out):,} (distinct {len(set(out)):,}), quarantined {len(quarantine)}; lost 0, "
              f"duplicated 0 after every finished run; last run resumed from row {manifest['resumed_from_row']:,}; "
              f"rerun {'up to date' if up_to_date else 'NOT up to date'}")
        if not up_to_date:
            sys.exit("FAILED: the rerun of a finished job was not up to date")


def check(output: Path, fmt: str, ids: set[str]) -> tuple[list[str], list[bytes]]:
    """Every input row exactly once in the output or the quarantine; exits with the numbers otherwise."""
    out = output_ids(output, fmt)
    quarantine = [line for line in output.with_name(f"{output.stem}.quarantine.jsonl").read_bytes().split(b"\n")
                  if line]
    if ids != set(out) or len(out) != len(set(out)) or len(quarantine) != len(BAD_LINES):
        sys.exit(f"FAILED: lost {len(ids - set(out)):,}, duplicated {len(out) - len(set(out)):,}, unexpected "
                 f"{len(set(out) - ids):,}, quarantined {len(quarantine)} of {len(BAD_LINES)}")
    return out, quarantine

if __name__ == "__main__":
    main()
