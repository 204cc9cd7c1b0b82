"""Failures a scheduler sees: one paragraph with the documented exit code, never a traceback.

Each test runs the real `vnnews` console script as a subprocess, as cron would, on a mistake or
a hostile setting, and checks the exit code, the message and what is left on disk.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import postgres_url, write_jsonl
from tests.synthetic import articles

VNNEWS = str(Path(sys.executable).parent / "vnnews")
FAST = {"classify": {"enabled": False}, "summarize": {"enabled": False}, "runner": {"progress": "off"}}


def _config(tmp_path: Path, input_path: Path, out: Path | None = None, name: str = "job.yaml", **sections) -> Path:
    data = {"input": {"path": str(input_path)}, "output": {"path": str(out or tmp_path / "out" / "res.jsonl")},
            **json.loads(json.dumps(FAST))}
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _vnnews(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([VNNEWS, *args], capture_output=True, text=True, timeout=timeout, **kwargs)


def _one_paragraph(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture()
def small_input(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "in.jsonl", articles(30))


def test_yaml_alias_bomb_is_refused_at_parse_time_with_bounded_memory(tmp_path, small_input):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]  # 10**9 values
    lines += ["input: {path: *a8}", f"output: {{path: {tmp_path / 'o.jsonl'}}}"]
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.monotonic()
    proc = _vnnews("run", str(cfg), preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)))
    assert "through YAML aliases" in _one_paragraph(proc, 2)
    assert time.monotonic() - started < 30
    # the same guard covers --set values
    value = "&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"
    for i in range(1, 9):
        value = f"[{value}, &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]]"
    proc = _vnnews("run", str(_config(tmp_path, small_input)), "--set", f"input.limit={value}")
    assert "--set input.limit" in _one_paragraph(proc, 2) and "through YAML aliases" in proc.stderr


@pytest.mark.parametrize("override", [
    "input.limit=100000000000000000000", "input.max_rows=1e400", "input.batch_size=-1",
    "summarize.length_penalty=.nan", "runner.log_every_seconds=.inf", "classify.min_score=-.inf",
    "runner.checkpoint_seconds=-1", "runner.checkpoint_mb=0",
])
def test_out_of_range_numbers_are_config_errors_naming_the_key(tmp_path, small_input, override):
    proc = _vnnews("run", str(_config(tmp_path, small_input)), "--set", override)
    _one_paragraph(proc, 2)
    assert f"  {override.split('=')[0]}: " in proc.stderr


def test_quiet_run_prints_nothing_on_success(tmp_path, small_input):
    proc = _vnnews("run", str(_config(tmp_path, small_input)), "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupt_says_how_to_resume_and_the_rerun_finishes(tmp_path, sig, code):
    source = write_jsonl(tmp_path / "in.jsonl", articles(3000))
    # a part per batch: the first part shows processing has started, and it is far from its end
    cfg = _config(tmp_path, source, input={"batch_size": 50}, classify={"enabled": True},
                  runner={"checkpoint_seconds": 0})
    proc = subprocess.Popen([VNNEWS, "run", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = tmp_path / "out" / "res.state" / "parts"
    deadline = time.monotonic() + 90
    while not (parts.is_dir() and any(parts.glob("*.part"))):  # interrupt while batches are processed
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
    message = _one_paragraph(done, code)
    assert signal.Signals(sig).name in message and "run the same command to resume" in message
    saved = int(message.split("rows before ")[1].split(" ")[0].replace(",", ""))
    assert saved > 0 and saved % 50 == 0  # finished batches, counted as the rerun will resume
    assert not (tmp_path / "out" / "res.jsonl").exists()
    rerun = _vnnews("run", str(cfg), timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming run" in rerun.stderr
    rows = (tmp_path / "out" / "res.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 3000


def test_mistyped_local_model_path_fails_at_once_without_the_hub(tmp_path, small_input):
    cfg = _config(tmp_path, small_input, summarize={"enabled": True, "kind": "abstractive",
                                                    "model": "models/vit5-local"})
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    proc = _vnnews("run", str(cfg), env=env)
    message = _one_paragraph(proc, 3)
    assert "summarize.model=models/vit5-local" in message and "HF_HUB_OFFLINE=1" in message
    assert time.monotonic() - started < 30 and "Retrying" not in proc.stderr


def test_database_password_never_reaches_a_file_or_the_terminal(tmp_path, small_input):
    secret = "s3cr3t-pa55"  # the test server trusts every login, so a planted password is accepted
    url = postgres_url().replace("://postgres@", f"://postgres:{secret}@")
    assert secret in url
    cfg = _config(tmp_path, small_input, tmp_path / "out" / "res.db",
                  output={"format": "sql", "url": url, "table": "secret_test"})
    proc = _vnnews("run", str(cfg))
    assert proc.returncode == 0, proc.stderr
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert any(p.name == "res.secret_test.config.yaml" for p in written)  # (a table's side files name it)
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in proc.stdout + proc.stderr
    assert "postgres:***@" in (tmp_path / "out" / "res.secret_test.config.yaml").read_text(encoding="utf-8")
    # an error that quotes the URL masks it too (a port nothing listens on)
    bad = _config(tmp_path, small_input, tmp_path / "out2" / "res.db", name="bad.yaml",
                  output={"format": "sql", "url": f"postgresql+psycopg://u:{secret}@127.0.0.1:9/db"})
    proc = _vnnews("run", str(bad))
    _one_paragraph(proc, 5)
    assert secret not in proc.stderr + proc.stdout


def test_a_url_error_is_one_masked_paragraph(tmp_path, small_input):
    secret = "s3cr3t-pa55"
    bad = _config(tmp_path, small_input, tmp_path / "out" / "res.db",
                  output={"format": "sql", "url": f"sqlite+pysqlite://u:{secret}@/x.db"})
    proc = _vnnews("run", str(bad))
    assert "is not a usable SQLAlchemy URL" in _one_paragraph(proc, 5)
    assert secret not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_results_and_side_files_follow_the_umask(tmp_path, small_input):
    out = tmp_path / "out" / "res.jsonl"
    proc = _vnnews("run", str(_config(tmp_path, small_input, out)), preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    for path in (out, out.with_name("res.quarantine.jsonl"), out.with_name("res.manifest.json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_nan_and_infinity_never_reach_the_output_as_bare_nan(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = articles(3)
    table = pa.table({"id": [r["id"] for r in rows], "title": [r["title"] for r in rows],
                      "text": [r["text"] for r in rows], "score": [float("nan"), float("inf"), 1.5],
                      "tags": [[float("-inf")], [1.0], []]})
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    for fmt in ("jsonl", "csv", "sqlite"):
        out = tmp_path / fmt / f"res.{ {'sqlite': 'db'}.get(fmt, fmt) }"
        proc = _vnnews("run", str(_config(tmp_path, source, out, name=f"{fmt}.yaml")))
        assert proc.returncode == 0, proc.stderr
        if fmt == "jsonl":
            text = out.read_text(encoding="utf-8")
            got = [json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in output")) for line in
                   text.splitlines()]
            assert [r["score"] for r in got] == [None, None, 1.5] and got[0]["tags"] == [None]
        elif fmt == "csv":
            assert "nan" not in out.read_text(encoding="utf-8").lower().replace("nang", "")
        else:
            import sqlite3

            with sqlite3.connect(out) as conn:
                for (record,) in conn.execute("select record from articles"):
                    json.loads(record, parse_constant=lambda c: pytest.fail(f"bare {c} in table"))


def test_disk_full_during_commit_keeps_the_previous_output_and_leaves_no_partial(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", articles(400))
    out = tmp_path / "out" / "res.jsonl"
    cfg = _config(tmp_path, source, out, input={"batch_size": 20}, output={"include_text": True, "report": False},
                  runner={"checkpoint_seconds": 0})  # a part per batch: each part is small, the output is not
    yesterday = write_jsonl(tmp_path / "yesterday.jsonl", articles(5))
    first = _vnnews("run", str(cfg), "--set", f"input.path={yesterday}")
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    limit = 150_000  # bytes per file: every part fits, the 400-article output does not (EFBIG, like ENOSPC)
    proc = _vnnews("run", str(cfg), preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    message = _one_paragraph(proc, 5)
    assert "File too large" in message and "run the same command again" in message
    assert out.read_bytes() == before
    assert not list(out.parent.glob(".*.partial"))
    again = _vnnews("run", str(cfg))
    assert again.returncode == 0, again.stderr
    assert "resuming run" in again.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 400


def test_a_bug_prints_one_paragraph_and_saves_the_traceback(tmp_path, small_input):
    """An unexpected exception (simulated by a broken stage) is reported as a bug, never as a traceback."""
    plugin = tmp_path / "sitecustomize.py"
    plugin.write_text(
        "import pipeline.stages.normalize as n\n"
        "def boom(self, records):\n    raise ZeroDivisionError('simulated bug')\n"
        "n.NormalizeStage.__call__ = boom\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "TMPDIR": str(tmp_path)}
    proc = _vnnews("run", str(_config(tmp_path, small_input)), env=env)
    message = _one_paragraph(proc, 1)
    assert "internal error" in message and "ZeroDivisionError: simulated bug" in message
    saved = list(tmp_path.glob("vnnews-crash-*.txt"))
    assert len(saved) == 1 and "Traceback" in saved[0].read_text(encoding="utf-8")


def test_ray_without_a_cluster_is_a_config_error(tmp_path, small_input):
    proc = _vnnews("run", str(_config(tmp_path, small_input, runner={"kind": "ray", "ray": {"address": "auto"}})),
                   env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    message = _one_paragraph(proc, 2)
    assert "runner.ray.address=auto" in message and "ray start --head" in message
    assert len(proc.stderr.strip().splitlines()) == 1


def test_an_empty_object_field_reaches_a_parquet_output(tmp_path):
    rows = [{**r, "meta": {}} for r in articles(4)]
    out = tmp_path / "out" / "res.parquet"
    proc = _vnnews("run", str(_config(tmp_path, write_jsonl(tmp_path / "in.jsonl", rows), out)))
    assert proc.returncode == 0, proc.stderr
    import pyarrow.parquet as pq

    extra = pq.read_table(out).column("extra_fields").to_pylist()  # (fields beyond the pipeline's: one JSON object)
    assert [json.loads(fields)["meta"] for fields in extra] == [{}] * 4


def test_interrupt_saves_the_batches_waiting_for_a_checkpoint(tmp_path):
    """With a checkpoint far away, no part exists while the run works; SIGTERM must save the finished
    batches first, so the message's row count is what the rerun resumes from."""
    source = write_jsonl(tmp_path / "in.jsonl", articles(3000))
    cfg = _config(tmp_path, source, input={"batch_size": 50}, classify={"enabled": True},
                  runner={"checkpoint_seconds": 3600, "progress": "log", "log_every_seconds": 0.05})
    proc = subprocess.Popen([VNNEWS, "run", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = tmp_path / "out" / "res.state" / "parts"
    for line in proc.stderr:  # the progress log says batches are done
        if "progress:" in line:
            break
    assert not list(parts.glob("*.part"))  # nothing saved yet: the batches wait in memory
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    message = _one_paragraph(subprocess.CompletedProcess(proc.args, proc.returncode, "", err), 143)
    saved = int(message.split("rows before ")[1].split(" ")[0].replace(",", ""))
    assert saved > 0 and saved % 50 == 0
    assert max(int(p.stem.split("-")[1]) for p in parts.glob("*.part")) == saved
    rerun = _vnnews("run", str(cfg), timeout=300)
    assert rerun.returncode == 0 and "resuming run" in rerun.stderr, rerun.stderr
    assert len((tmp_path / "out" / "res.jsonl").read_text(encoding="utf-8").splitlines()) == 3000
