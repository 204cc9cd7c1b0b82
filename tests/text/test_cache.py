"""Run-time caches live in the user's cache folder, never in the installed package: a read-only install
runs from its second run without building anything, and a cache folder that cannot be written is no error."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES

DRIVER = "import sys; sys.path.insert(0, sys.argv.pop(1)); from pipeline.cli import main; main()"
ENGLISH = ("The city council met on Tuesday to discuss the new budget for public transport, and the mayor said that "
           "the plan would be published next week after a final vote.")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _run(package_parent: Path, cache: Path, work: Path, name: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VNNEWS_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", DRIVER, str(package_parent), "run", str(ROOT / "configs" / "quickstart.yaml"),
         "--set", f"input.path={work / 'articles.jsonl'}", "--set", f"output.path={work / name}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture()
def read_only_install(tmp_path):
    """A copy of the installed package (compiled kernels included), made read-only."""
    install = tmp_path / "site-packages"
    shutil.copytree(ROOT / "pipeline", install / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [install, *install.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield install
    for path in [install, *install.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_a_read_only_install_builds_its_tables_once_into_the_cache_folder(tmp_path, read_only_install):
    rows = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]
    rows.append({"id": "english", "title": "Budget", "text": ENGLISH})  # doubtful: the language identifier runs
    (tmp_path / "articles.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                             encoding="utf-8")
    cache = tmp_path / "cache"
    before = _snapshot(read_only_install)
    first = _run(read_only_install, cache, tmp_path, "first.jsonl")
    assert first.returncode == 0, first.stderr
    for what in ("text scan's code-point tables", "topic model's character table", "summarizer's character tables",
                 "language identifier's model"):
        assert what in first.stderr  # the one-time work says what it is while it happens
    assert sorted(p.name.split(".")[0] for p in cache.iterdir()) == ["char_table", "langid", "scan_tables",
                                                                     "summary_char_tables"]
    second = _run(read_only_install, cache, tmp_path, "second.jsonl")
    assert second.returncode == 0, second.stderr
    assert "Building" not in second.stderr and "Unpacking" not in second.stderr
    assert _snapshot(read_only_install) == before  # nothing written into the package
    results = [[{k: v for k, v in json.loads(line).items() if k != "run_id"} for line in
                (tmp_path / name).read_text(encoding="utf-8").splitlines()] for name in ("first.jsonl", "second.jsonl")]
    assert results[0] == results[1] and len(results[0]) == len(rows) - 1  # (the English article is quarantined)


def test_a_cache_folder_that_cannot_be_written_is_no_error(tmp_path):
    (tmp_path / "articles.jsonl").write_bytes(SAMPLES.read_bytes())
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")  # (a folder below a file cannot be made, even by root)
    proc = _run(ROOT, blocked / "cache", tmp_path, "out.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert "Could not keep" in proc.stderr
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 10


def test_the_cache_folder_is_the_users_unless_vnnews_cache_dir_says(monkeypatch, tmp_path):
    from platformdirs import user_cache_dir

    from pipeline.text.cache import cache_dir

    monkeypatch.delenv("VNNEWS_CACHE_DIR", raising=False)
    assert cache_dir() == Path(user_cache_dir("vnnews", appauthor=False))
    assert not cache_dir().is_relative_to(ROOT / "pipeline")
    monkeypatch.setenv("VNNEWS_CACHE_DIR", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"
