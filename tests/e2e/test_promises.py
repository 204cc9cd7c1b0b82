"""Every promise of docs/daily-job.md, each checked by a real `vnnews run` subprocess.

The map, promise -> tests (here: this file; reliability, reruns, failures, hostile_files, hostile_input:
tests/e2e/test_<name>.py). A promise the product does not keep yet is a strict xfail here, with its reason.

- Exactly once, read = written + quarantined + unchanged -> reliability: _check_exactly_once (every kill
  test); hostile_files: vnnews_run (every case); here: _counts (every upsert test)
- Duplicate key / missing key field quarantined -> hostile_input: test_line_level_corpus (duplicate-id);
  reruns: test_missing_key_field_is_a_row_problem_not_a_duplicate
- No poison rows; a damaged gzip or Parquet file processed up to the damage -> hostile_files:
  test_poison_rows_are_quarantined_and_every_rerun_succeeds, test_damaged_parquet_keeps_the_rows_before_the_damage;
  hostile_input: test_truncated_gzip
- Killed at any instant, the rerun finishes and resumes after the saved parts -> reliability:
  test_kill_and_rerun_fast, test_kill_and_rerun_every_sink, test_kill_with_time_checkpoints_then_rerun,
  test_kill_during_the_commit (output begun, written, renamed)
- ... the input replaced between the kill and the rerun: never mixed -> here:
  test_input_replaced_between_a_kill_and_the_rerun (another file; same size; same size and mtime)
- runner.resume: false starts over -> here: test_resume_false_starts_the_killed_run_over
- SIGINT/SIGTERM save finished batches, one line, 130/143 -> failures:
  test_interrupt_says_how_to_resume_and_the_rerun_finishes, test_interrupt_saves_the_batches_waiting_for_a_checkpoint
- Output written once, never half-written, the previous one intact until then -> reliability:
  test_kill_during_the_commit; failures: test_disk_full_during_commit_keeps_the_previous_output_and_leaves_no_partial
- Up to date only when the input (paths, sizes, mtimes) is the same -> here:
  test_input_path_size_or_mtime_change_runs_again
- ... every reading setting (input.* but path and batch_size) -> here:
  test_every_reading_setting_is_part_of_the_identity (every key), test_settings_outside_the_identity_stay_up_to_date;
  reruns: test_limit_then_full_run_reads_every_row, test_encoding_fix_is_not_up_to_date
- ... the processing config and model files -> here: test_processing_setting_change_recomputes_every_row;
  reruns: test_changed_stage_setting_recomputes_every_row, test_replaced_model_file_recomputes
- ... the mode and format -> here: test_mode_change_is_not_up_to_date;
  reruns: test_output_format_change_is_not_up_to_date
- ... the output and quarantine as committed (deleted, truncated, edited; a table's row count or latest
  updated_at) -> reruns: test_missing_or_changed_output_runs_again, test_sqlite_rows_deleted_runs_again;
  here: test_rows_deleted_by_hand_come_back, test_table_row_edited_by_hand_runs_again
- Rows carry config_hash, content_hash, input_hash, run_id; <stem>.runs.jsonl lists every run -> here:
  test_upsert_after_articles_edited_recomputes_only_their_rows
- Modes overwrite, append (refused for a table), upsert -> here: test_overwrite_keeps_only_this_runs_rows,
  test_append_adds_rows_once, test_append_to_a_table_is_refused, the upsert tests
- Upsert: a changed config recomputes every row, an edited article only its row; unchanged rows skipped ->
  here: test_upsert_after_a_config_change_recomputes_every_row,
  test_upsert_after_articles_edited_recomputes_only_their_rows, test_rows_deleted_by_hand_come_back
- Upsert: refreshed rows keep their topic and summary -> reruns: test_upsert_refreshes_metadata_without_model_work
- output.allow_empty -> reruns: test_empty_read_never_replaces_rows_unless_allowed
- runner.max_quarantined_fraction, <stem>.rejected.jsonl, exit 6 -> reruns:
  test_whole_file_quarantined_fails_with_exit_6_and_keeps_output, test_quarantined_fraction_threshold,
  test_key_field_absent_from_every_row_trips_threshold
- One writer per output (the lock) -> reliability: test_second_run_on_one_output_is_refused_while_the_first_runs
- Side files belong to one output; an output that is, or reads back, the input refused -> reruns:
  test_two_outputs_with_one_stem_do_not_share_side_files, test_output_equal_to_input_is_refused,
  test_output_inside_txt_input_folder_is_refused; here: test_input_that_is_a_side_file_of_the_output_is_refused
- Exit codes, one paragraph, no traceback -> here: test_exit_codes (2, 3, 4, 5, 6); failures:
  test_a_bug_prints_one_paragraph_and_saves_the_traceback (1), the interrupt tests above (130/143);
  hostile_files: test_streams_and_devices_are_refused_at_once (4)
- -q prints nothing on success -> failures: test_quiet_run_prints_nothing_on_success
- Limits (normalize.max_chars, input.max_line_bytes, input.max_rows, YAML aliases) -> hostile_files:
  test_limits_apply_to_utf16_jsonl_csv_records_and_txt_files;
  reruns: test_input_over_max_rows_is_refused_before_processing;
  failures: test_yaml_alias_bomb_is_refused_at_parse_time_with_bounded_memory
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import InputConfig, OutputConfig
from pipeline.io.writers import open_sink
from tests.conftest import write_jsonl
from tests.e2e.test_reliability import _committed, _run_killed, _side
from tests.e2e.test_reruns import _job  # a cheap job: no topic model, lead_title summaries
from tests.synthetic import articles

VNNEWS = str(Path(sys.executable).parent / "vnnews")


def _run(cfg: Path, *sets: str, code: int = 0) -> subprocess.CompletedProcess:
    args = [VNNEWS, "run", str(cfg)]
    for item in sets:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    return done


def _up_to_date(done: subprocess.CompletedProcess) -> bool:
    return "up to date" in done.stdout


def _rows(output: Path) -> dict[str, dict]:
    return {str(r["id"]): r for r in open_sink(OutputConfig(path=output, mode="upsert")).read_rows()}


def _manifest(output: Path) -> dict:
    return json.loads(_side(output, "manifest.json").read_text(encoding="utf-8"))


def _runs(output: Path) -> list[dict]:
    path = _side(output, "runs.jsonl")
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _counts(output: Path) -> dict[str, int]:
    counts = _manifest(output)["counts"]
    assert counts["read"] == counts["written"] + counts["quarantined"] + counts["unchanged"]
    return counts


# --- upsert: what is recomputed, and only that ---------------------------------------------------


@pytest.mark.parametrize("suffix", ["jsonl", "db"])
def test_upsert_after_a_config_change_recomputes_every_row(tmp_path, suffix):
    """A changed stage setting makes every row stale, also in upsert mode where unchanged rows are skipped:
    every row is computed again and carries the new config_hash and the new run's id."""
    output = tmp_path / "out" / f"day.{suffix}"
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(6)), output, output={"mode": "upsert"})
    _run(cfg)
    before = _rows(output)
    changed = _run(cfg, "summarize.max_sentences=2")
    assert not _up_to_date(changed)
    after, manifest = _rows(output), _manifest(output)
    assert sorted(after) == sorted(before)
    assert _counts(output) == {"read": 6, "written": 6, "quarantined": 0, "unchanged": 0, "refreshed": 0}
    assert {r["config_hash"] for r in after.values()} == {manifest["config_hash"]}
    assert manifest["config_hash"] not in {r["config_hash"] for r in before.values()}
    assert {r["run_id"] for r in after.values()} == {manifest["run_id"]}
    assert all(len(after[k]["summary"]) > len(before[k]["summary"]) for k in after)  # two sentences, not one
    assert _up_to_date(_run(cfg, "summarize.max_sentences=2"))


@pytest.mark.parametrize("suffix", ["jsonl", "db"])
def test_upsert_after_articles_edited_recomputes_only_their_rows(tmp_path, suffix):
    """One article's text and another's title edited: only those two rows are computed again (new run_id and
    content_hash); the others stay as the first run wrote them."""
    rows = articles(6)
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out" / f"day.{suffix}"
    cfg = _job(tmp_path, path, output, output={"mode": "upsert"})
    _run(cfg)
    before, first = _rows(output), _manifest(output)
    assert all(r["content_hash"] and r["input_hash"] and r["config_hash"] for r in before.values())
    rows[2] = {**rows[2], "text": "Bản tin được cập nhật. " + rows[2]["text"]}
    rows[4] = {**rows[4], "title": "Cập nhật: " + rows[4]["title"]}
    write_jsonl(path, rows)
    assert not _up_to_date(_run(cfg))
    after, second = _rows(output), _manifest(output)
    assert _counts(output) == {"read": 6, "written": 2, "quarantined": 0, "unchanged": 4, "refreshed": 0}
    edited = {"art-000002", "art-000004"}
    for key in edited:
        assert after[key]["run_id"] == second["run_id"] != first["run_id"]
        assert after[key]["content_hash"] != before[key]["content_hash"]
    assert after["art-000004"]["title"] == rows[4]["title"]
    for key in set(after) - edited:  # untouched rows: the first run's, as they were
        assert after[key] == before[key] and after[key]["run_id"] == first["run_id"]
    assert {r["config_hash"] for r in after.values()} == {first["config_hash"]} == {second["config_hash"]}
    runs = _runs(output)
    assert [r["run_id"] for r in runs] == [first["run_id"], second["run_id"]]
    assert [r["counts"]["written"] for r in runs] == [6, 2]
    assert _up_to_date(_run(cfg))


@pytest.mark.parametrize("suffix", ["jsonl", "db"])
def test_rows_deleted_by_hand_come_back(tmp_path, suffix):
    """Rows deleted from an upserted output by hand are not "up to date": the rerun writes them again, and only
    them (test_reruns.py checks the same of an overwritten output)."""
    output = tmp_path / "out" / f"day.{suffix}"
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(6)), output, output={"mode": "upsert"})
    _run(cfg)
    before, first = _rows(output), _manifest(output)
    gone = ["art-000001", "art-000004"]
    if suffix == "db":
        with sqlite3.connect(output) as conn:
            conn.executemany("DELETE FROM articles WHERE id = ?", [(k,) for k in gone])
    else:
        kept = [line for line in output.read_text(encoding="utf-8").splitlines() if json.loads(line)["id"] not in gone]
        output.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    assert sorted(_rows(output)) == sorted(set(before) - set(gone))
    assert not _up_to_date(_run(cfg))
    after, second = _rows(output), _manifest(output)
    assert sorted(after) == sorted(before)
    for key in gone:
        assert after[key]["run_id"] == second["run_id"]
        assert {k: v for k, v in after[key].items() if k != "run_id"} == \
               {k: v for k, v in before[key].items() if k != "run_id"}
    assert _counts(output) == {"read": 6, "written": 2, "quarantined": 0, "unchanged": 4, "refreshed": 0}
    assert {after[k]["run_id"] for k in set(after) - set(gone)} == {first["run_id"]}
    assert _up_to_date(_run(cfg))


def test_table_row_edited_by_hand_runs_again(tmp_path):
    """A table row changed by hand (with its updated_at, as an UPDATE by an application would) is not up to date."""
    output = tmp_path / "out" / "day.db"
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(4)), output)
    _run(cfg)
    before = _rows(output)
    with sqlite3.connect(output) as conn:
        conn.execute("UPDATE articles SET summary = 'sửa tay', record = json_set(record, '$.summary', 'sửa tay'), "
                     "updated_at = '2999-01-01T00:00:00+00:00' WHERE id = 'art-000000'")
    assert not _up_to_date(_run(cfg))
    assert _rows(output)["art-000000"]["summary"] == before["art-000000"]["summary"]
    assert _up_to_date(_run(cfg))


# --- "up to date", and only then --------------------------------------------------------------------


@pytest.mark.parametrize("change", ["touched", "grown", "same bytes at another path"])
def test_input_path_size_or_mtime_change_runs_again(tmp_path, change):
    rows = articles(6)
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, path)
    _run(cfg)
    sets = []
    if change == "touched":  # same bytes, a new mtime (an export that rewrote the file)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    elif change == "grown":
        write_jsonl(path, [*rows, {**rows[0], "id": "late"}])
    else:
        copy = tmp_path / "copy.jsonl"
        shutil.copy2(path, copy)  # same size and mtime, another path
        sets = [f"input.path={copy}"]
    assert not _up_to_date(_run(cfg, *sets))
    assert len(_rows(output)) == 6 + (change == "grown")
    assert _up_to_date(_run(cfg, *sets))


# A value for every reading setting that still reads the same six rows (the input has the fields they name).
READING_CHANGES = {
    "format": "jsonl", "text_field": "body", "title_field": "headline", "id_field": "uid", "raw_pages": "true",
    "txt_first_line_title": "false", "html_favor": "precision", "split": "train", "encoding": "utf-8-sig",
    "csv_delimiter": ";", "limit": "100", "max_rows": "1000", "max_line_bytes": "1000000", "follow_symlinks": "true",
    "renamed_field_prefix": "src_",
}


def test_every_reading_setting_is_part_of_the_identity(tmp_path):
    """Each input.* key but path and batch_size, changed one at a time on top of the earlier changes: each run
    differs from the one before in that key only, and must not be "up to date". A new input.* key must be added
    to READING_CHANGES."""
    assert set(READING_CHANGES) == set(InputConfig.model_fields) - {"path", "batch_size"}
    rows = [{**r, "body": r["text"], "headline": r["title"], "uid": r["id"]} for r in articles(6)]
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", rows))
    _run(cfg)
    sets: list[str] = []
    for key, value in READING_CHANGES.items():
        sets.append(f"input.{key}={value}")
        assert not _up_to_date(_run(cfg, *sets)), f"input.{key} changed, yet the run was up to date"
        assert _counts(tmp_path / "out" / "day.jsonl")["written"] == 6


def test_settings_outside_the_identity_stay_up_to_date(tmp_path):
    """Batch sizes, checkpoints, progress and read-ahead change how a job runs, not its rows."""
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(6)))
    _run(cfg)
    assert _up_to_date(_run(cfg, "input.batch_size=2", "runner.checkpoint_seconds=0", "runner.checkpoint_mb=1",
                            "runner.progress=log", "runner.prefetch_batches=0", "runner.log_every_seconds=1"))


def test_processing_setting_change_recomputes_every_row(tmp_path):
    """Stage settings and the field mapping, changed one at a time on top of the earlier changes: each run
    recomputes every row under a new config_hash."""
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(6)))
    _run(cfg)
    seen = {r["config_hash"] for r in _rows(output).values()}
    sets: list[str] = []
    for setting in ("normalize.max_chars=100000", "summarize.max_sentences=2", "output.include_text=true",
                    "input.title_field=null"):
        sets.append(setting)
        assert not _up_to_date(_run(cfg, *sets)), setting
        new = {r["config_hash"] for r in _rows(output).values()}
        assert len(new) == 1 and not new & seen and _counts(output)["written"] == 6, setting
        seen |= new


def test_mode_change_is_not_up_to_date(tmp_path):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(6)))
    _run(cfg)
    assert not _up_to_date(_run(cfg, "output.mode=upsert"))
    assert _counts(output) == {"read": 6, "written": 0, "quarantined": 0, "unchanged": 6, "refreshed": 0}
    assert len(_rows(output)) == 6
    assert _up_to_date(_run(cfg, "output.mode=upsert"))


# --- modes -------------------------------------------------------------------------------------------


def test_overwrite_keeps_only_this_runs_rows(tmp_path):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, write_jsonl(tmp_path / "monday.jsonl", articles(4)))
    _run(cfg)
    tuesday = write_jsonl(tmp_path / "tuesday.jsonl", [{**r, "id": f"tue-{i}"} for i, r in enumerate(articles(3))])
    _run(cfg, f"input.path={tuesday}")
    assert sorted(_rows(output)) == ["tue-0", "tue-1", "tue-2"]


def test_append_adds_rows_once(tmp_path):
    """Append adds this run's rows to the existing ones; running the same day again adds nothing."""
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, write_jsonl(tmp_path / "monday.jsonl", articles(4)), output={"mode": "append"})
    _run(cfg)
    tuesday = write_jsonl(tmp_path / "tuesday.jsonl", [{**r, "id": f"tue-{i}"} for i, r in enumerate(articles(3))])
    _run(cfg, f"input.path={tuesday}")
    ids = [json.loads(line)["id"] for line in output.read_text(encoding="utf-8").splitlines()]
    assert ids == [f"art-{i:06d}" for i in range(4)] + ["tue-0", "tue-1", "tue-2"]
    assert _up_to_date(_run(cfg, f"input.path={tuesday}"))
    assert len(output.read_text(encoding="utf-8").splitlines()) == 7


def test_append_to_a_table_is_refused(tmp_path):
    output = tmp_path / "out" / "day.db"
    done = _run(_job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(3)), output, output={"mode": "append"}),
                code=5)
    assert "upsert" in done.stderr and not output.with_name("day.manifest.json").exists()


# --- kill and rerun ----------------------------------------------------------------------------------


def _killed_job(tmp_path: Path, rows: list[dict], folder: bool = False) -> tuple[Path, Path, Path]:
    """A job over ``rows`` (a part saved after every batch), killed after its second part: (config, input, output).
    With ``folder``, the input is a folder of two files, a.jsonl (the first half) and b.jsonl."""
    if folder:
        path = tmp_path / "in"
        path.mkdir()
        write_jsonl(path / "a.jsonl", rows[:len(rows) // 2])
        write_jsonl(path / "b.jsonl", rows[len(rows) // 2:])
    else:
        path = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, path, input={"batch_size": 20}, classify={"enabled": True},
               summarize={"method": "learned"}, runner={"checkpoint_seconds": 0})
    outcome = _run_killed(cfg, output, batches=2, fraction=0.5)
    assert outcome == "killed" and _committed(output) > 0, outcome
    return cfg, path, output


def _renamed(rows: list[dict]) -> list[dict]:
    """Other articles of the same byte size: ids art- -> neu-, each text moved to the next row."""
    return [{**r, "id": r["id"].replace("art-", "neu-"), "text": rows[(i + 1) % len(rows)]["text"]}
            for i, r in enumerate(rows)]


@pytest.mark.parametrize("replacement", [
    "another file", "same size, new mtime", "a file of the input folder",
    "same size and mtime",
])
def test_input_replaced_between_a_kill_and_the_rerun(tmp_path, replacement):
    """The rerun must not mix the two versions: every output row comes from the input as it is now."""
    rows = articles(400)
    folder = replacement == "a file of the input folder"
    cfg, path, output = _killed_job(tmp_path, rows, folder=folder)
    replaced = path / "a.jsonl" if folder else path
    old = replaced.stat()
    new_rows = _renamed(rows) if replacement.startswith("same size") else [
        {**r, "id": f"new-{i}"} for i, r in enumerate(articles(150, seed=8))]
    write_jsonl(replaced, new_rows)
    if replacement == "same size and mtime":
        os.utime(replaced, ns=(old.st_atime_ns, old.st_mtime_ns))
    if replacement.startswith("same size"):
        assert replaced.stat().st_size == old.st_size
    expected = [r["id"] for r in new_rows] + ([r["id"] for r in rows[200:]] if folder else [])
    _run(cfg)
    assert sorted(_rows(output)) == sorted(expected)
    assert _counts(output)["read"] == len(expected)


def test_resume_false_starts_the_killed_run_over(tmp_path):
    cfg, _, output = _killed_job(tmp_path, articles(400))
    _run(cfg, "runner.resume=false")
    assert _manifest(output)["resumed_from_row"] == 0
    assert _counts(output) == {"read": 400, "written": 400, "quarantined": 0, "unchanged": 0, "refreshed": 0}
    assert len(_rows(output)) == 400


# --- side files and exit codes -----------------------------------------------------------------------


def test_input_that_is_a_side_file_of_the_output_is_refused(tmp_path):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, write_jsonl(tmp_path / "in.jsonl", [*articles(3), {"id": "bad", "text": " "}]))
    _run(cfg)
    quarantine = output.with_name("day.quarantine.jsonl")
    before = quarantine.read_bytes()
    done = _run(cfg, f"input.path={quarantine}", code=2)
    assert "side file" in done.stderr and quarantine.read_bytes() == before


def _exit_case(tmp_path: Path, case: str) -> tuple[list[str], int, str]:
    good = write_jsonl(tmp_path / "in.jsonl", articles(3))
    if case == "unknown key":
        return ["output.colour=red"], 2, "output.colour"
    if case == "missing model":
        return ["classify.enabled=true", f"classify.model={tmp_path / 'no-model'}"], 3, "no-model"
    if case == "missing input":
        return [f"input.path={tmp_path / 'nothing.jsonl'}"], 4, "nothing.jsonl"
    if case == "output folder is a file":
        (tmp_path / "plain").write_text("x", encoding="utf-8")
        return [f"output.path={tmp_path / 'plain' / 'day.jsonl'}"], 5, "plain"
    assert case == "every row quarantined"
    write_jsonl(good, [{"id": "x", "text": " "}])
    return [], 6, "max_quarantined_fraction"


@pytest.mark.parametrize("case", ["unknown key", "missing model", "missing input", "output folder is a file",
                                  "every row quarantined"])
def test_exit_codes(tmp_path, case):
    """The documented exit code with one paragraph naming what to fix, never a traceback, no output left."""
    sets, code, named = _exit_case(tmp_path, case)
    done = _run(_job(tmp_path, tmp_path / "in.jsonl"), *sets, code=code)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and named in done.stderr, done.stderr
    assert not (tmp_path / "out" / "day.jsonl").exists()
