"""Kill-and-rerun: a real `vnnews run` subprocess, SIGKILLed at random instants, then rerun.

Checks the guarantees stated in docs/daily-job.md: every input row ends up
exactly once in the output or the quarantine, nothing is duplicated, finished batches are not
redone, and a repeated run over the same input and config does no work.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import yaml

from tests.conftest import postgres_url, unique_table, write_jsonl
from tests.synthetic import articles

VNNEWS = str(Path(sys.executable).parent / "vnnews")
BAD_LINES = ['{"id": "bad-json", "text": ', '{"id": "no-text"}', '{"id": "empty", "text": "  "}']


def _make_input(tmp_path: Path, count: int) -> tuple[Path, set[str]]:
    rows = articles(count)
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    with open(path, "a", encoding="utf-8") as fh:
        for i, line in enumerate(BAD_LINES):
            fh.write(line + "\n")
            fh.write(json.dumps({"id": f"late-{i}", "title": rows[i]["title"], "text": rows[i]["text"]},
                                ensure_ascii=False) + "\n")
    return path, {r["id"] for r in rows} | {f"late-{i}" for i in range(len(BAD_LINES))}


def _config(tmp_path: Path, input_path: Path, output: Path, checkpoint_seconds: float = 0, **output_extra) -> Path:
    """A job over ``input_path``; ``checkpoint_seconds: 0`` saves a part after every batch, so kills land between
    and within parts at batch granularity."""
    cfg = {
        "input": {"path": str(input_path), "batch_size": 25},
        "classify": {"model": "models/topic-tfidf-vntc"},
        "summarize": {"kind": "extractive", "max_sentences": 1},
        "output": {"path": str(output), **output_extra},
        "runner": {"progress": "off", "checkpoint_seconds": checkpoint_seconds},
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _run(cfg: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([VNNEWS, "run", str(cfg)], capture_output=True, text=True, timeout=600)
    return proc


def _side(output: Path, suffix: str) -> Path:
    """A side file of ``output``: ``<stem>.<suffix>``, or for a table ``<stem>.<table>.<suffix>``."""
    table = {".db": "articles", ".pg": output.stem}.get(output.suffix)
    return output.with_name(f"{output.stem}.{table}.{suffix}" if table else f"{output.stem}.{suffix}")


def _parts(output: Path) -> list[Path]:
    parts = _side(output, "state") / "parts"
    return sorted(parts.glob("*.part")) if parts.exists() else []


def _committed(output: Path) -> int:
    """The input row a rerun resumes at: the end of the last part (parts cover [start, end) from row 0)."""
    return max((int(p.stem.split("-")[1]) for p in _parts(output)), default=0)


def _wait_for_new_parts(proc: subprocess.Popen, output: Path, before: set[str], count: int = 1,
                        timeout: float = 300) -> float:
    """Until the run has written ``count`` parts of its own, or ended; returns the seconds between two parts
    as seen meanwhile (a batch with ``checkpoint_seconds: 0``), 0.0 when fewer than two were seen apart."""
    deadline = time.monotonic() + timeout
    seen: list[tuple[float, int]] = []
    while proc.poll() is None:
        new = len({p.name for p in _parts(output)} - before)
        if new and (not seen or new > seen[-1][1]):
            seen.append((time.monotonic(), new))
        if new >= count:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no batch was committed to a part within {timeout} s")
        time.sleep(0.002)
    if len(seen) < 2:
        return 0.0
    return (seen[-1][0] - seen[0][0]) / (seen[-1][1] - seen[0][1])


def _run_killed(cfg: Path, output: Path, batches: int, fraction: float) -> str:
    """Start a run, wait until it has written ``batches`` parts of its own, SIGKILL it ``fraction`` of the time
    between two parts later (so within the next batch, however fast the machine and the job).

    Returns "killed" when the kill landed mid-run (the process was still working and left parts
    behind), else how the run ended by itself.
    """
    before = {p.name for p in _parts(output)}
    proc = subprocess.Popen([VNNEWS, "run", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(fraction * _wait_for_new_parts(proc, output, before, batches))
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "killed" if _parts(output) else "killed after the commit"
    _, err = proc.communicate()
    return f"exited {proc.returncode} before the kill: {err.strip()[-300:]}"


def _output_ids(output: Path) -> list[str]:
    if output.suffix == ".pg":
        import sqlalchemy as sa

        with sa.create_engine(os.environ["VNNEWS_TEST_POSTGRES_URL"]).connect() as conn:
            return [r[0] for r in conn.execute(sa.text(f"SELECT id FROM {output.stem}"))]  # named by the table
    if output.suffix == ".db":
        return [r[0] for r in sqlite3.connect(output).execute("SELECT id FROM articles")]
    if output.suffix == ".csv":
        import pandas as pd

        return pd.read_csv(output, dtype=str)["id"].tolist()
    if output.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(output)["id"].tolist()
    return [json.loads(x)["id"] for x in output.read_text(encoding="utf-8").splitlines()]


def _check_exactly_once(output: Path, expected_ids: set[str]) -> dict:
    ids = _output_ids(output)
    assert len(ids) == len(set(ids)), "duplicated rows in the output"
    assert set(ids) == expected_ids
    quarantine = [json.loads(x) for x in _side(output, "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(quarantine) == len(BAD_LINES)
    manifest = json.loads(_side(output, "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    assert counts["read"] == len(expected_ids) + len(BAD_LINES)
    assert counts["read"] == counts["written"] + counts["quarantined"] + counts["unchanged"]
    leftovers = [p.name for p in output.parent.iterdir() if p.name.endswith((".partial", ".tmp"))]
    assert not leftovers
    return manifest


def _kill_and_finish(cfg: Path, output: Path, kills: int, seed: int, max_batches: int) -> dict:
    """``kills`` runs, each killed at a seeded random point: after 1..max_batches parts of its own, plus a
    random fraction of the time between two parts (anywhere within the next batch); then one run to the end,
    which must resume after the parts the killed runs left (finished batches are not redone). Counting
    batches, not seconds, makes every kill land mid-run on a fast machine too, as long as ``kills *
    max_batches`` is well below the input's batches (the poll may see a few parts late)."""
    rng = random.Random(seed)
    outcomes = [_run_killed(cfg, output, rng.randint(1, max_batches), rng.uniform(0.0, 1.0)) for _ in range(kills)]
    committed = _committed(output)
    assert outcomes[-1] == "killed" and committed > 0, f"the last kill did not land mid-run: {outcomes}"
    done = _run(cfg)
    assert done.returncode == 0, done.stderr
    assert "up to date" not in done.stdout
    manifest = json.loads(_side(output, "manifest.json").read_text(encoding="utf-8"))
    assert manifest["resumed_from_row"] == committed  # finished batches were not redone
    assert not _parts(output)  # the finished run dropped its parts
    return manifest


def test_kill_and_rerun_fast(tmp_path):
    """The default-run variant: JSONL, 1,500 articles, three kills."""
    input_path, ids = _make_input(tmp_path, 1500)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    _kill_and_finish(cfg, output, kills=3, seed=1, max_batches=4)  # 1,500 rows: 60 batches
    _check_exactly_once(output, ids)
    again = _run(cfg)
    assert again.returncode == 0 and "up to date" in again.stdout


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet", "db", "pg"])
def test_kill_and_rerun_every_sink(tmp_path, suffix):
    """3,000 articles, five kills at random instants, then the upsert of a changed input, killed too."""
    input_path, ids = _make_input(tmp_path, 3000)
    output = tmp_path / "out" / f"results.{suffix}"
    extra = {}
    if suffix == "pg":  # a real PostgreSQL server; CI starts one (.ci/start_test_postgres.sh)
        table = f"results_{unique_table()}"  # never a table left by an earlier session (or another checkout)
        output = output.with_name(f"{table}.pg")
        extra = {"format": "sql", "url": postgres_url(), "table": table}
    cfg = _config(tmp_path, input_path, output, mode="upsert", **extra)
    _kill_and_finish(cfg, output, kills=5, seed=zlib.crc32(suffix.encode()), max_batches=10)  # 120 batches
    _check_exactly_once(output, ids)

    # A day later: 300 articles changed (every tenth), 10 new ones; killed twice, then finished.
    rows = [json.loads(x) for x in input_path.read_text(encoding="utf-8").splitlines() if x.startswith('{"id": "art')]
    for row in rows[::10]:
        row["text"] += "\nBài viết được cập nhật thêm thông tin mới trong ngày hôm nay."
    rows += [{**rows[30], "id": f"new-{i}"} for i in range(10)]
    write_jsonl(input_path, rows)
    with open(input_path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(BAD_LINES) + "\n")
    manifest = _kill_and_finish(cfg, output, kills=2, seed=5, max_batches=12)  # mostly unchanged rows
    expected = {r["id"] for r in rows} | (ids - {r["id"] for r in rows})
    out_ids = _output_ids(output)
    assert len(out_ids) == len(set(out_ids)) and set(out_ids) == expected
    assert manifest["counts"]["written"] + manifest["counts"]["unchanged"] == len(rows)
    assert manifest["counts"]["written"] == 310 and manifest["resumed_from_row"] > 0


def test_second_run_on_one_output_is_refused_while_the_first_runs(tmp_path):
    """The one-writer lock: an overlapping run (say two cron jobs) exits 5 and the first finishes normally.

    The first run is paused (SIGSTOP) once it has written a part, so it holds the lock mid-run however
    fast it is, and resumed (SIGCONT) after the second has given up."""
    input_path, ids = _make_input(tmp_path, 1000)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    first = subprocess.Popen([VNNEWS, "run", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_new_parts(first, output, set())
        os.kill(first.pid, signal.SIGSTOP)
        assert first.poll() is None, "the first run finished before the second could start"
        second = _run(cfg)
    finally:
        os.kill(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=600)
    assert second.returncode == 5, (second.returncode, second.stdout, second.stderr)
    assert "Another vnnews run is writing this output" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, err
    _check_exactly_once(output, ids)


KILLPOINT = Path(__file__).parent / "killpoint"  # its sitecustomize.py kills the run at a named instant


@pytest.mark.parametrize("mode", ["overwrite", "append", "upsert"])
@pytest.mark.parametrize("moment", ["begun", "written", "renamed"])
def test_kill_during_the_commit(tmp_path, mode, moment):
    """A kill while the commit writes the output (its temporary file just created, or written whole but not yet
    renamed), or after the output is renamed but before the run is marked complete: the previous output stays
    whole until the rename, and the rerun ends with every row once.

    The run kills itself with SIGKILL at that instant (tests/e2e/killpoint), so the kill lands there however
    loaded the machine: a poll of the output folder for the temporary file could miss it, or land after the
    run had ended."""
    input_path, ids = _make_input(tmp_path, 300)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output, checkpoint_seconds=2, mode=mode, include_text=True, report=False)
    data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    data["summarize"] = {"enabled": False}
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    yesterday = write_jsonl(tmp_path / "yesterday.jsonl", [{**r, "id": f"y-{i}"} for i, r in enumerate(articles(5))])
    first = subprocess.run([VNNEWS, "run", str(cfg), "--set", f"input.path={yesterday}"], capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    before = output.read_bytes()
    state = output.with_name("results.state") / "state.json"

    env = {**os.environ, "VNNEWS_TEST_KILL_AT": moment, "VNNEWS_TEST_KILL_OUTPUT": str(output),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(KILLPOINT), os.environ.get("PYTHONPATH")]))}
    killed = subprocess.run([VNNEWS, "run", str(cfg)], capture_output=True, text=True, timeout=600, env=env)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)  # the kill point was reached
    assert json.loads(state.read_text(encoding="utf-8"))["status"] == "running"  # killed within the commit
    expected = ids if mode == "overwrite" else ids | {f"y-{i}" for i in range(5)}
    if moment == "renamed":
        assert {json.loads(line)["id"] for line in output.read_text(encoding="utf-8").splitlines()} == expected
    else:  # never half-written: the previous output whole until the rename
        assert output.read_bytes() == before

    done = _run(cfg)
    assert done.returncode == 0, done.stderr
    out_ids = _output_ids(output)
    assert len(out_ids) == len(set(out_ids)), "duplicated rows in the output"
    assert set(out_ids) == expected
    quarantine = output.with_name("results.quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(quarantine) == len(BAD_LINES)
    assert not [p.name for p in output.parent.iterdir() if p.name.endswith((".partial", ".tmp"))]
    assert "up to date" in _run(cfg).stdout


@pytest.mark.parametrize("moment", ["begun", "written", "renamed"])
def test_sigterm_during_the_commit_says_so_and_the_rerun_finishes(tmp_path, moment):
    """SIGTERM at a named instant of the commit (tests/e2e/killpoint): one line that says the run stopped while
    committing and where its rows are kept, exit 143, the previous output whole unless the rename was done, and
    the rerun ends with every row once."""
    input_path, ids = _make_input(tmp_path, 300)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output, checkpoint_seconds=2, report=False)
    output.parent.mkdir(parents=True)
    output.write_text('{"id": "yesterday"}\n', encoding="utf-8")
    env = {**os.environ, "VNNEWS_TEST_KILL_AT": moment, "VNNEWS_TEST_KILL_OUTPUT": str(output),
           "VNNEWS_TEST_KILL_SIGNAL": "SIGTERM",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(KILLPOINT), os.environ.get("PYTHONPATH")]))}
    stopped = subprocess.run([VNNEWS, "run", "-q", str(cfg)], capture_output=True, text=True, timeout=600, env=env)
    assert stopped.returncode == 143, stopped.stderr
    state = output.with_name("results.state")
    assert stopped.stderr == (f"error: interrupted by SIGTERM while committing; rows before {len(ids) + len(BAD_LINES)}"
                              f" are saved in {state}: run the same command to resume from there.\n")
    if moment == "renamed":
        assert set(_output_ids(output)) == ids
    else:
        assert output.read_text(encoding="utf-8") == '{"id": "yesterday"}\n'
    done = _run(cfg)
    assert done.returncode == 0, done.stderr
    out_ids = _output_ids(output)
    assert len(out_ids) == len(set(out_ids)) and set(out_ids) == ids
    assert json.loads(output.with_name("results.manifest.json").read_text("utf-8"))["resumed_from_row"] == \
        len(ids) + len(BAD_LINES)
    assert not [p.name for p in output.parent.iterdir() if p.name.endswith((".partial", ".tmp"))]


def test_kill_with_time_checkpoints_then_rerun(tmp_path):
    """The default checkpointing (a part every 2 s, not every batch): kills mid-run lose at most the batches
    since the last part, and the rerun resumes at the last part's end with every row once."""
    input_path, ids = _make_input(tmp_path, 10000)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output, checkpoint_seconds=0.3)
    _kill_and_finish(cfg, output, kills=2, seed=3, max_batches=2)
    _check_exactly_once(output, ids)
