"""The run state protocol (docs/run-protocol.md) against a damaged state, with the real `vnnews run` subprocess.

A part removed while the run goes on, a part cut, zeroed or replaced after a kill, a run log whose
last line was cut, a state folder that is not a folder: the job still ends with every row exactly
once in the output or the quarantine, or with one paragraph and the documented exit code; never a
short output, never a stale "up to date", never a traceback.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_reliability import VNNEWS, _check_exactly_once, _config, _make_input, _parts, _run


def _wait_for_parts(proc: subprocess.Popen, output: Path, count: int, timeout: float = 300,
                    may_end: bool = False) -> bool:
    """Until the run has written ``count`` parts of its own (parts of an earlier run do not count); False when
    it ended first (allowed only with ``may_end``)."""
    before = {p.name for p in _parts(output)}
    deadline = time.monotonic() + timeout
    while len({p.name for p in _parts(output)} - before) < count:
        if proc.poll() is not None:
            assert may_end, "the run ended before it wrote enough parts"
            return False
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return True


def _paused_at_parts(cfg: Path, output: Path, count: int) -> subprocess.Popen:
    """A run stopped (SIGSTOP) once it has written ``count`` parts: its state can be changed under it."""
    proc = subprocess.Popen([VNNEWS, "run", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_parts(proc, output, count)
    os.kill(proc.pid, signal.SIGSTOP)
    return proc


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


@pytest.mark.parametrize("which", ["first", "middle", "last", "all"])
def test_parts_removed_while_the_run_goes_on_are_computed_again_before_the_commit(tmp_path, which):
    """A temporary-file cleaner (or an operator) deletes saved parts mid-run: the run names them, computes
    their rows again and commits the whole output; a rerun is then up to date, with nothing to add."""
    input_path, ids = _make_input(tmp_path, 1500)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    proc = _paused_at_parts(cfg, output, 4)
    parts = _parts(output)
    gone = {"first": parts[:1], "middle": parts[1:2], "last": parts[-1:], "all": parts}[which]
    for part in gone:
        part.unlink()
    code, err = _finish(proc)
    assert code == 0, err
    assert "in no part" in err and "computing rows from" in err and "Traceback" not in err
    _check_exactly_once(output, ids)
    again = _run(cfg)
    assert again.returncode == 0 and "up to date" in again.stderr
    _check_exactly_once(output, ids)


@pytest.mark.parametrize("harm", ["cut", "zeroed", "emptied", "edited", "foreign"])
def test_a_part_damaged_after_a_kill_is_named_and_the_rerun_finishes_the_job(tmp_path, harm):
    """SIGKILL, then a part cut short (a full disk), zeroed (a crash of the file system), emptied, edited by hand
    or copied from another run: the rerun says which part it drops in one line and recomputes its rows."""
    input_path, ids = _make_input(tmp_path, 1200)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    proc = _paused_at_parts(cfg, output, 5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    victim = _parts(output)[2]
    data = victim.read_bytes()
    damaged = {
        "cut": data[: len(data) // 2],
        "zeroed": b"\0" * len(data),
        "emptied": b"",
        "edited": data.replace(b'"topic"', b'"topik"', 1),
        "foreign": data.replace(json.loads(data.split(b"\n", 1)[0])["run_id"].encode(), b"0123456789ab", 1),
    }[harm]
    assert damaged != data
    victim.write_bytes(damaged)
    rerun = _run(cfg)
    assert rerun.returncode == 0, rerun.stderr
    assert victim.name in rerun.stderr and "computed again" in rerun.stderr and "Traceback" not in rerun.stderr
    _check_exactly_once(output, ids)


def _killed_with_parts(tmp_path: Path, rows: int, parts: int) -> tuple[Path, Path, set[str]]:
    """A run SIGKILLed once it saved ``parts`` parts: its config, its output path and the input's ids."""
    input_path, ids = _make_input(tmp_path, rows)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    proc = _paused_at_parts(cfg, output, parts)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    return cfg, output, ids


def _plant_strays(parts: Path) -> None:
    (parts / "README").write_text("notes an operator left")
    (parts / "000000000000-000000000100-000009.part").mkdir()  # a folder with a part's name
    (parts / "sub").mkdir()
    (parts / "sub" / "x.part").write_text("junk")
    (parts / ".000000000100-000000000200-000002.part.0a1b2c3d.tmp").mkdir()  # a folder with a temporary's name


@pytest.mark.parametrize("harm", ["parts folder removed", "strays in the parts folder"])
def test_the_parts_folder_changed_after_a_kill_never_stops_the_job(tmp_path, harm):
    """The parts folder removed (a cleaner, an operator resetting a stuck job), or files and folders planted in
    it: the rerun makes the folder again, drops what is not a verified part, and finishes the job."""
    cfg, output, ids = _killed_with_parts(tmp_path, 1200, 4)
    parts = _parts(output)[0].parent
    if harm == "parts folder removed":  # (with what it holds: a temporary part the kill left, say)
        shutil.rmtree(parts)
    else:
        _plant_strays(parts)
    rerun = _run(cfg)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    _check_exactly_once(output, ids)
    again = _run(cfg)
    assert again.returncode == 0 and "up to date" in again.stderr


def test_the_parts_folder_removed_while_the_run_goes_on_is_made_again(tmp_path):
    input_path, ids = _make_input(tmp_path, 1500)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    proc = _paused_at_parts(cfg, output, 3)
    shutil.rmtree(_parts(output)[0].parent)  # (with what it holds: the part being written when it stopped, say)
    code, err = _finish(proc)
    assert code == 0, err
    assert "in no part" in err and "Traceback" not in err
    _check_exactly_once(output, ids)


@pytest.mark.parametrize("what", ["state.json", "lock", "parts"])
def test_a_folder_or_file_standing_where_the_state_keeps_its_own_is_exit_5_naming_it(tmp_path, what):
    """A folder where ``state.json`` or the lock goes, a file where the parts folder goes: one paragraph naming
    the path (never "free space" when the disk is not full), exit 5, and the job finishes once it is moved."""
    cfg, output, ids = _killed_with_parts(tmp_path, 600, 2)
    target = output.with_name("results.state") / what
    aside = tmp_path / "aside"
    target.rename(aside)
    if what == "parts":
        target.write_text("not a folder")
    else:
        target.mkdir()
    proc = _run(cfg)
    assert proc.returncode == 5, (proc.returncode, proc.stderr)
    assert str(output.with_name("results.state")) in proc.stderr and "Traceback" not in proc.stderr
    assert "Free space" not in proc.stderr
    (target.rmdir() if target.is_dir() else target.unlink())
    assert _run(cfg).returncode == 0
    _check_exactly_once(output, ids)


def test_a_cut_run_log_line_never_stops_later_runs(tmp_path):
    """``<stem>.runs.jsonl`` whose last line a full disk cut: the next runs append on a line of their own."""
    input_path, ids = _make_input(tmp_path, 60)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    assert _run(cfg).returncode == 0
    log = output.with_name("results.runs.jsonl")
    log.write_bytes(log.read_bytes()[:-20])
    output.unlink()  # (so that the next run has work to do)
    rerun = _run(cfg)
    assert rerun.returncode == 0, rerun.stderr
    lines = log.read_bytes().split(b"\n")
    assert len(lines) == 3 and lines[-1] == b"" and json.loads(lines[1])["counts"]["read"] == len(ids) + 3
    _check_exactly_once(output, ids)


@pytest.mark.parametrize("make", ["file", "read-only"])
def test_a_state_folder_that_cannot_be_written_is_exit_5_with_what_to_do(tmp_path, make):
    if make == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder")
    input_path, _ = _make_input(tmp_path, 20)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    state = output.with_name("results.state")
    state.parent.mkdir(parents=True)
    if make == "file":
        state.write_text("not a folder")
    else:
        state.mkdir()
        state.chmod(0o500)
    proc = _run(cfg)
    assert proc.returncode == 5, (proc.returncode, proc.stderr)
    assert "run state" in proc.stderr and "Traceback" not in proc.stderr and str(state) in proc.stderr


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_signals_at_random_instants_exit_with_their_code_and_the_rerun_finishes(tmp_path, signame):
    """A signal that lands anywhere (reading, hashing, inside a compiled kernel, saving a part) stops the run
    with one line and exit 128 + its number; the rerun finishes the job with every row exactly once."""
    code = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}[signame]
    input_path, ids = _make_input(tmp_path, 1500)
    output = tmp_path / "out" / "results.jsonl"
    cfg = _config(tmp_path, input_path, output)
    rng = random.Random(signame)
    for _ in range(3):
        proc = subprocess.Popen([VNNEWS, "run", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not _wait_for_parts(proc, output, 1, may_end=True):  # (the run is working once it saved a part)
            assert proc.returncode == 0, proc.communicate()
            break
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:  # (the run finished before the signal)
            break
        assert proc.returncode == code, (proc.returncode, err)
        assert f"interrupted by {signame}" in err and "Traceback" not in err and "internal error" not in err
    final = _run(cfg)
    assert final.returncode == 0, final.stderr
    _check_exactly_once(output, ids)
