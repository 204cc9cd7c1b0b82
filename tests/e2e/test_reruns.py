"""Reruns of a daily job, as a scheduler sees them: a real `vnnews run` subprocess, exit codes, rows.

Each test is a sequence of runs a user makes (change a setting, delete the results, edit the
input's metadata, point the job at the wrong path) and checks what docs/daily-job.md promises: the rows
that should be in the output are there, nothing is "up to date" that was not computed from the
same rows, nothing is replaced silently, and failures are one paragraph with a documented exit
code. Stages are kept cheap (no topic model, lead_title summaries) so each run takes seconds.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from pipeline.config import OutputConfig
from pipeline.io.paths import OutputPaths
from pipeline.io.writers import commit, open_sink
from tests.conftest import ROOT, write_jsonl
from tests.synthetic import articles

VNNEWS = str(Path(sys.executable).parent / "vnnews")


def _job(tmp_path: Path, input_path: Path, out: Path | None = None, name: str = "job.yaml", **sections) -> Path:
    data = {
        "input": {"path": str(input_path), "batch_size": 4},
        "classify": {"enabled": False},
        "summarize": {"kind": "extractive", "method": "lead_title", "max_sentences": 1},
        "output": {"path": str(out or tmp_path / "out" / "day.jsonl"), "report": False},
        "runner": {"progress": "off"},
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _run(cfg: Path, *sets: str, code: int = 0) -> subprocess.CompletedProcess:
    args = [VNNEWS, "run", str(cfg)]  # not -q: the tests read "up to date" from stdout
    for item in sets:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    return done


def _rows(output: Path) -> list[dict]:
    return list(open_sink(OutputConfig(path=output, mode="upsert")).read_rows())


def _ids(output: Path) -> list[str]:
    return [str(r["id"]) for r in _rows(output)]


def _side(output: Path, suffix: str) -> Path:
    return OutputPaths.of(OutputConfig(path=output)).side(suffix)  # (a table's: <stem>.articles.<suffix>)


def _quarantine(output: Path) -> list[dict]:
    path = _side(output, "quarantine.jsonl")
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _manifest(output: Path) -> dict:
    return json.loads(_side(output, "manifest.json").read_text(encoding="utf-8"))


def _input(tmp_path: Path, count: int = 6, name: str = "in.jsonl", **extra) -> Path:
    rows = [{**r, **extra} for r in articles(count)]
    return write_jsonl(tmp_path / name, rows)


# --- 1. "up to date" only when the same rows were read and the committed output is still there ---


def test_limit_then_full_run_reads_every_row(tmp_path):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, _input(tmp_path))
    _run(cfg, "input.limit=3")
    assert len(_ids(output)) == 3
    full = _run(cfg)
    assert "up to date" not in full.stdout
    assert len(_ids(output)) == 6
    assert "up to date" in _run(cfg).stdout


def _cp1258(text: str) -> bytes:
    """Windows-1258 bytes: base letters precomposed, tone marks as combining characters (as Windows writes it)."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        try:
            out.append(ch.encode("cp1258"))
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFD", ch)
            tones = "".join(c for c in decomposed if c in "\u0300\u0301\u0303\u0309\u0323")
            base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in tones))
            out.append((base + tones).encode("cp1258"))
    return b"".join(out)


def test_encoding_fix_is_not_up_to_date(tmp_path):
    path = tmp_path / "win.jsonl"
    path.write_bytes(b"".join(_cp1258(json.dumps(r, ensure_ascii=False)) + b"\n" for r in articles(4)))
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, path)
    _run(cfg, "runner.max_quarantined_fraction=1.0", code=6)  # every row is undecodable as utf-8
    fixed = _run(cfg, "input.encoding=cp1258")
    assert "up to date" not in fixed.stdout
    assert len(_ids(output)) == 4 and not _quarantine(output)


@pytest.mark.parametrize("damage", ["delete", "truncate", "edit", "delete_quarantine", "edit_quarantine"])
def test_missing_or_changed_output_runs_again(tmp_path, damage):
    rows = articles(5)
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"id": "broken", "text": \n')
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, path)
    _run(cfg)
    quarantine = _side(output, "quarantine.jsonl")
    if damage == "delete":
        output.unlink()
    elif damage == "truncate":
        output.write_text("", encoding="utf-8")
    elif damage == "edit":
        output.write_text(output.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    elif damage == "delete_quarantine":
        quarantine.unlink()
    else:
        quarantine.write_text("", encoding="utf-8")
    again = _run(cfg)
    assert "up to date" not in again.stdout
    assert sorted(_ids(output)) == sorted(r["id"] for r in rows)
    assert [q["id"] for q in _quarantine(output)] == [None]
    assert "up to date" in _run(cfg).stdout


def test_output_format_change_is_not_up_to_date(tmp_path):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, _input(tmp_path, 3))
    _run(cfg)
    assert "up to date" not in _run(cfg, "output.format=csv").stdout
    assert output.read_text(encoding="utf-8").startswith('"id",')  # (every cell quoted: output.csv_formulas)


def test_sqlite_rows_deleted_runs_again(tmp_path):
    output = tmp_path / "out" / "day.db"
    cfg = _job(tmp_path, _input(tmp_path, 5), output)
    _run(cfg)
    with sqlite3.connect(output) as conn:
        conn.execute("DELETE FROM articles")
    assert "up to date" not in _run(cfg).stdout
    assert len(_ids(output)) == 5
    assert "up to date" in _run(cfg).stdout


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet", "db"])
def test_upsert_refreshes_metadata_without_model_work(tmp_path, suffix):
    rows = [{**r, "url": f"https://bao.vn/{r['id']}", "views": 10} for r in articles(6)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out" / f"day.{suffix}"
    cfg = _job(tmp_path, path, output, output={"mode": "upsert"})
    _run(cfg)
    old_hash = {str(r["id"]): r["content_hash"] for r in _rows(output)}["art-000001"]
    # Mark one stored summary: if the refresh redid the model work, the mark would be gone.
    sink = open_sink(OutputConfig(path=output, mode="overwrite"))
    stored = [{**r, "summary": "DẤU CŨ"} if str(r["id"]) == "art-000000" else r for r in sink.read_rows()]
    commit(sink, "overwrite", lambda: iter(stored), "id", "test")

    rows[0] = {**rows[0], "views": 99, "url": "https://bao.vn/moi", "published": "2026-11-30"}
    rows[1] = {**rows[1], "text": rows[1]["text"] + "\nThông tin được cập nhật thêm trong ngày hôm nay."}
    write_jsonl(path, rows)
    _run(cfg)
    counts = _manifest(output)["counts"]
    assert counts == {"read": 6, "written": 2, "quarantined": 0, "unchanged": 4, "refreshed": 1}
    by_id = {str(r["id"]): r for r in _rows(output)}
    assert len(by_id) == 6
    first = by_id["art-000000"]
    assert str(first["views"]) == "99" and first["url"] == "https://bao.vn/moi" and first["published"] == "2026-11-30"
    assert first["summary"] == "DẤU CŨ"  # model fields kept from the previous output, not recomputed
    assert first["title"] == rows[0]["title"]
    assert by_id["art-000001"]["content_hash"] != old_hash and by_id["art-000001"]["summary"]
    assert "up to date" in _run(cfg).stdout


def test_output_inside_txt_input_folder_is_refused(tmp_path):
    folder = tmp_path / "txt"
    folder.mkdir()
    for r in articles(3):
        (folder / f"{r['id']}.txt").write_text(f"{r['title']}\n{r['text']}", encoding="utf-8")
    cfg = _job(tmp_path, folder, folder / "out.jsonl")
    done = _run(cfg, code=2)
    assert "inside the input folder" in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{r['id']}.txt" for r in articles(3))


# --- 2. no silent replacement, no wrong refusals ----------------------------------------------------


def test_empty_read_never_replaces_rows_unless_allowed(tmp_path):
    path = _input(tmp_path, 5)
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, path)
    _run(cfg)
    empty = tmp_path / "today.jsonl"
    empty.write_text("\n", encoding="utf-8")  # a day with no articles (or an export that failed)
    done = _run(cfg, f"input.path={empty}", code=4)
    assert "0 rows" in done.stderr and "output.allow_empty" in done.stderr
    assert len(_ids(output)) == 5
    _run(cfg, f"input.path={empty}", "output.allow_empty=true")
    assert _ids(output) == []


def test_whole_file_quarantined_fails_with_exit_6_and_keeps_output(tmp_path):
    good = _input(tmp_path, 4)
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, good)
    _run(cfg)
    before = output.read_bytes()
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": r["id"], "tieu_de": r["title"], "noi_dung": r["text"]}
                                               for r in articles(5)])
    failed = _run(cfg, f"input.path={bad}", code=6)
    message = failed.stderr
    assert "5 of 5 rows" in message and "missing text field 'text'" in message
    assert "rows have fields: id, tieu_de, noi_dung; set input.text_field" in message
    rejected = _side(output, "rejected.jsonl")
    assert str(rejected) in message
    assert len(rejected.read_text(encoding="utf-8").splitlines()) == 5
    assert output.read_bytes() == before  # previous output intact
    assert len(_quarantine(output)) == 0
    again = _run(cfg, f"input.path={bad}", code=6)  # same config: fails the same way
    assert "5 of 5 rows" in again.stderr
    _run(cfg, f"input.path={bad}", "input.text_field=noi_dung", "input.title_field=tieu_de")
    assert len(_ids(output)) == 5 and not rejected.exists()


def test_quarantined_fraction_threshold(tmp_path):
    rows = articles(4)
    path = write_jsonl(tmp_path / "in.jsonl", [*rows[:2], {"id": "x1", "text": " "}, {"id": "x2", "text": ""}])
    cfg = _job(tmp_path, path)
    done = _run(cfg, "runner.max_quarantined_fraction=0.5", code=6)
    assert "2 of 4 rows" in done.stderr and "max_quarantined_fraction=0.5" in done.stderr
    _run(cfg, "runner.max_quarantined_fraction=0.75")
    assert len(_ids(tmp_path / "out" / "day.jsonl")) == 2


def test_missing_key_field_is_a_row_problem_not_a_duplicate(tmp_path):
    rows = articles(4)
    with_url = [{**r, "url": f"https://bao.vn/{r['id']}"} if i < 2 else r for i, r in enumerate(rows)]
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", with_url), output={"key": "url"})
    _run(cfg)
    output = tmp_path / "out" / "day.jsonl"
    assert sorted(_ids(output)) == ["art-000000", "art-000001"]
    reasons = [q["reason"] for q in _quarantine(output)]
    assert reasons == ["missing key field 'url' (output.key)"] * 2


def test_the_threshold_hint_names_fields_never_cells(tmp_path):
    """A CSV read without its header line: the first row's cells become the 'field names'; the exit-6 hint
    lists names, and a cell (a sentence, a secret) is never printed."""
    path = tmp_path / "in.csv"
    path.write_text("Bài viết về giá vàng hôm nay,mật-khẩu s3cr3t!,a1\nNội dung khác,x,a2\n", encoding="utf-8")
    done = _run(_job(tmp_path, path, input={"text_field": "body"}), code=6)
    assert "missing text field 'body'" in done.stderr
    assert "giá vàng" not in done.stderr and "s3cr3t" not in done.stderr


def test_key_field_absent_from_every_row_trips_threshold(tmp_path):
    cfg = _job(tmp_path, _input(tmp_path, 3), output={"key": "url"})
    done = _run(cfg, code=6)
    assert "missing key field 'url'" in done.stderr and "duplicate" not in done.stderr
    assert "set output.key" in done.stderr


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink"])
def test_output_equal_to_input_is_refused(tmp_path, spelling, monkeypatch):
    path = _input(tmp_path, 3)
    before = path.read_bytes()
    output = path
    if spelling == "relative":
        output = Path("..") / tmp_path.name / "in.jsonl"
        monkeypatch.chdir(tmp_path)
    elif spelling == "symlink":
        output = tmp_path / "link.jsonl"
        output.symlink_to(path)
    done = _run(_job(tmp_path, path, output), code=2)
    assert "input" in done.stderr and "output.path" in done.stderr
    assert path.read_bytes() == before


def test_existing_directory_as_output_is_refused_before_reading(tmp_path):
    (tmp_path / "out.jsonl").mkdir()
    for fmt in ("auto", "jsonl"):
        done = _run(_job(tmp_path, tmp_path / "missing.jsonl", tmp_path / "out.jsonl", output={"format": fmt}),
                    code=5)
        assert "is a directory" in done.stderr


def test_two_outputs_with_one_stem_do_not_share_side_files(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [*articles(3), {"id": "bad", "text": " "}])
    jsonl = tmp_path / "out" / "day.jsonl"
    _run(_job(tmp_path, path, jsonl))
    quarantine = _side(jsonl, "quarantine.jsonl").read_bytes()
    done = _run(_job(tmp_path, path, tmp_path / "out" / "day.csv", name="csv.yaml"), code=5)
    assert "day.jsonl" in done.stderr and "rename one output" in done.stderr.lower()
    assert _side(jsonl, "quarantine.jsonl").read_bytes() == quarantine
    assert not (tmp_path / "out" / "day.csv").exists()
    assert "up to date" in _run(_job(tmp_path, path, jsonl)).stdout


def test_csv_roundtrip_of_refreshed_rows_keeps_columns(tmp_path):
    """A refreshed CSV row keeps every column of the previous row (CSV reads values back as text)."""
    rows = [{**r, "views": 1} for r in articles(3)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out" / "day.csv"
    cfg = _job(tmp_path, path, output, output={"mode": "upsert"})
    _run(cfg)
    write_jsonl(path, [{**rows[0], "views": 2}, *rows[1:]])
    _run(cfg)
    with open(output, encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["views"] for r in table if r["id"] == "art-000000"] == ["2"]
    assert all(r["summary"] and r["input_hash"] for r in table)


# --- documented guarantees: a changed config or model recomputes; input.encoding; input.max_rows ---


def test_changed_stage_setting_recomputes_every_row(tmp_path):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, _input(tmp_path))
    _run(cfg)
    before = {r["id"]: r for r in _rows(output)}
    changed = _run(cfg, "summarize.max_sentences=2")
    assert "up to date" not in changed.stdout
    after = {r["id"]: r for r in _rows(output)}
    assert sorted(after) == sorted(before)
    assert len({r["config_hash"] for r in after.values()}) == 1
    assert {r["config_hash"] for r in after.values()} != {r["config_hash"] for r in before.values()}
    assert _manifest(output)["config_hash"] == next(iter(after.values()))["config_hash"]
    assert any(after[k]["summary"] != before[k]["summary"] for k in after)  # recomputed with 2 sentences
    assert "up to date" in _run(cfg, "summarize.max_sentences=2").stdout


@pytest.mark.parametrize("change", ["rewrite", "touch"])
def test_replaced_model_file_recomputes(tmp_path, change):
    """Retraining into the same directory changes the files' contents: finished rows are recomputed.
    A touch alone (same contents) is not a new model."""
    import os
    import shutil

    model = tmp_path / "model"
    shutil.copytree(ROOT / "models" / "summary-extractive-vietnews", model)
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, _input(tmp_path), summarize={"method": "learned", "extractive_model": str(model)})
    _run(cfg)
    hashes = {r["config_hash"] for r in _rows(output)}
    config_file = model / "config.json"
    if change == "rewrite":  # same settings and trees, different bytes: as a retrained model would differ
        config_file.write_text(json.dumps(json.loads(config_file.read_text(encoding="utf-8")), indent=1),
                               encoding="utf-8")
    else:
        os.utime(config_file, (1e9, 1e9))
    again = _run(cfg)
    if change == "touch":
        assert "up to date" in again.stdout
        return
    assert "up to date" not in again.stdout
    new_hashes = {r["config_hash"] for r in _rows(output)}
    assert len(new_hashes) == 1 and new_hashes != hashes
    assert _manifest(output)["counts"]["written"] == 6


def test_cp1258_input_is_decoded_with_input_encoding(tmp_path):
    rows = articles(4)
    path = tmp_path / "win.jsonl"
    path.write_bytes(b"".join(_cp1258(json.dumps(r, ensure_ascii=False)) + b"\n" for r in rows))
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, path, normalize={"enabled": False}, output={"include_text": True})
    _run(cfg, "input.encoding=cp1258")
    got = {r["id"]: r for r in _rows(output)}
    assert not _quarantine(output)
    for row in rows:  # Windows' decomposed tone marks come back as the NFC text that was written
        assert unicodedata.normalize("NFC", got[row["id"]]["title"]) == unicodedata.normalize("NFC", row["title"])
        assert unicodedata.normalize("NFC", got[row["id"]]["text"]) == unicodedata.normalize("NFC", row["text"])


def test_input_over_max_rows_is_refused_before_processing(tmp_path):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, _input(tmp_path, count=12))
    done = _run(cfg, "input.max_rows=5", code=4)
    assert "input.max_rows=5" in done.stderr
    assert not output.exists() and not _side(output, "manifest.json").exists()
    parts = _side(output, "state") / "parts"
    assert not (parts.exists() and any(parts.iterdir()))  # no batch was processed
    _run(cfg, "input.max_rows=12")
    assert len(_ids(output)) == 12
