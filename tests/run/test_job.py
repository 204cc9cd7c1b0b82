"""One run's life (pipeline.run.job) as its user sees it: when its clock starts, what its manifest says of its
time, and the hints of the exit-6 message when too many rows were quarantined."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from pipeline import Pipeline
from pipeline.errors import InputError, OutputError, QuarantineThresholdError
from pipeline.run.job import MAX_REPAIRS, Job, Points, RunSummary, run_job
from pipeline.run.local import LocalRunner
from pipeline.run.processing import Processor
from tests.conftest import ROOT, SAMPLES, job, write_jsonl
from tests.synthetic import articles

VNNEWS = str(Path(sys.executable).parent / "vnnews")


def test_process_start_is_when_the_interpreter_started():
    """In a new process: after the test launched it, before its first statement ran (the clocks agree to a
    /proc tick of 10 ms), whatever the imports after that take."""
    code = ("import time\nbefore = time.monotonic()\nfrom pipeline.run.job import process_start\n"
            "print(before, process_start())")
    launched = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    before, start = map(float, done.stdout.split())
    assert launched - 0.03 <= start <= before + 0.03


@pytest.mark.parametrize(("stat", "uptime"), [
    (None, None), ("1 (vnnews) S 1", "5.0 1.0"), ("1 (x) " + "1 " * 30, "?"),
    ("1 (x) " + "1 " * 19 + "999999", "5.0 1.0"),  # started 9,999.99 s after boot, which was 5 s ago
])
def test_where_the_system_does_not_say_when_the_process_started_it_starts_now(tmp_path, monkeypatch, stat, uptime):
    """No /proc (another system), /proc files not as Linux writes them, or a start they put after now (clocks
    that disagree): the run's clock starts when asked, never in the future."""
    from pipeline.run import job as job_module

    files = {"/proc/self/stat": tmp_path / "stat", "/proc/uptime": tmp_path / "uptime"}
    for name, text in (("stat", stat), ("uptime", uptime)):
        if text is not None:
            (tmp_path / name).write_text(text, encoding="ascii")
    monkeypatch.setattr(job_module, "Path", lambda name: files[name])
    before = time.monotonic()
    assert before <= job_module.process_start() <= time.monotonic()


def test_the_process_start_is_read_after_the_last_parenthesis_of_its_name(tmp_path, monkeypatch):
    """/proc/self/stat puts the command's name in parentheses, and a name may hold ")" itself: the fields are
    read after the last one (here: started 5 s after boot, which was 10 s ago)."""
    from pipeline.run import job as job_module

    (tmp_path / "stat").write_text("1 (a) b) " + "1 " * 19 + str(5 * os.sysconf("SC_CLK_TCK")), encoding="ascii")
    (tmp_path / "uptime").write_text("10.0 1.0", encoding="ascii")
    files = {"/proc/self/stat": tmp_path / "stat", "/proc/uptime": tmp_path / "uptime"}
    monkeypatch.setattr(job_module, "Path", lambda name: files[name])
    assert time.monotonic() - 5.1 < job_module.process_start() < time.monotonic() - 4.9


def test_the_rate_counts_only_the_rows_this_process_computed():
    """A resumed run's rate leaves out the rows an earlier process computed."""
    assert RunSummary(read=10, resumed_from=4, seconds=2.0).articles_per_second == 3.0
    assert RunSummary(read=10, seconds=0.0).articles_per_second == 0.0
    assert RunSummary(read=10, seconds=0.5).articles_per_second == 20.0  # a run shorter than a second has a rate


def test_the_manifest_accounts_for_the_whole_process_wall_time(tmp_path):
    """The run's clock starts with the `vnnews` process: its seconds cover interpreter start-up and imports (the
    "start-up" step), and the steps add up to them, so a user can see where the wait went."""
    config = {"input": {"path": str(SAMPLES), "batch_size": 1}, "classify": {"model": "models/topic-tfidf-vntc"},
              "summarize": {"method": "lead_title"}, "runner": {"progress": "off"},
              "output": {"path": str(tmp_path / "out.jsonl"), "report": False}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    slow = tmp_path / "slow"  # a start-up of over a second (Python imports sitecustomize before anything else)
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(1.0)\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(slow), os.environ.get("PYTHONPATH")]))}
    launched, clock = time.time(), time.monotonic()
    done = subprocess.run([VNNEWS, "run", str(path)], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    wall = time.monotonic() - clock
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out.manifest.json").read_text(encoding="utf-8"))
    seconds, steps = manifest["seconds"], manifest["seconds_by_step"]
    assert 0 < seconds <= wall
    assert list(steps)[:2] == ["start-up", "open"] and list(steps)[-2:] == ["commit", "other"]
    assert {"normalize", "classify", "summarize"} <= set(steps) and all(v >= 0 for v in steps.values())
    assert 1.0 < steps["start-up"] < seconds
    assert sum(steps.values()) == pytest.approx(seconds, abs=0.001 * len(steps))  # (each rounded to 1 ms)
    # (both figures rounded: the rate to 0.01, the seconds it is computed from to 0.001)
    assert abs(manifest["articles_per_second"] - 10 / seconds) <= 0.005 + 10 * 0.0005 / (seconds * (seconds - 0.0005))
    started = datetime.fromisoformat(manifest["started_at"]).timestamp()  # (whole seconds, cut: never later)
    finished = datetime.fromisoformat(manifest["finished_at"]).timestamp()
    # /proc gives the process's age in clock ticks (10 ms): the start it computes may be a tick or two early, so
    # a launch just after a whole second may show as the second before
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert launched - 1 - 2 * tick < started <= launched + 0.05 <= finished + 1 and finished <= launched + wall
    times = [t for t, _ in manifest["throughput"]]
    assert [n for _, n in manifest["throughput"]] == list(range(11))  # models loaded, then each row's batch
    assert times[0] > 0 and times == sorted(times) and times[-1] <= seconds
    # durations in whole milliseconds, the rate in hundredths: what the clocks can tell, not float noise
    assert all(round(t, 3) == t for t in [seconds, *steps.values(), *times])
    assert round(manifest["articles_per_second"], 2) == manifest["articles_per_second"]


def _quarantine_all(tmp_path: Path, rows: list, **output) -> str:
    """The exit-6 message of a run whose every row is quarantined."""
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    config = job(tmp_path, source, classify={"enabled": False}, summarize={"enabled": False}, output=output)
    with pytest.raises(QuarantineThresholdError) as caught:
        Pipeline.from_dict(config).run()
    return str(caught.value)


def test_the_missing_field_hint_lists_names_until_it_holds_50(tmp_path):
    """Field names are collected row by row while fewer than 50 are known (a row's names all at once), so that
    rows of many columns never make the message a wall of names."""
    rows = [{"id": "r0", **{f"a{i}": "x" for i in range(48)}}, {"id": "r1", "b0": "x"}, {"id": "r2", "c0": "x"}]
    message = _quarantine_all(tmp_path, rows)
    names = message.split("rows have fields: ")[1].split("; set ")[0].split(", ")
    assert names == ["id", *(f"a{i}" for i in range(48)), "b0"]  # 49 names, then 50: the third row is not looked at
    assert "; set input.text_field." in message


def test_the_missing_field_hint_names_output_key_for_a_missing_key(tmp_path):
    rows = [{"link": f"https://bao.vn/{n}", "text": "Bài viết."} for n in range(3)]
    message = _quarantine_all(tmp_path, rows, key="url")
    assert "Top reasons: missing key field 'url' (3)." in message
    assert "rows have fields: id, title, text, link; set output.key." in message


def test_no_field_hint_when_rows_were_quarantined_for_other_reasons_too(tmp_path):
    rows = [{"id": "r0", "body": "Bài viết."}, {"id": "r1", "body": "Bài viết."}, {"id": "r2", "text": " "}]
    message = _quarantine_all(tmp_path, rows)
    assert "3 of 3 rows" in message and "missing text field 'text' (2)" in message
    assert "rows have fields" not in message


def test_the_message_names_the_three_most_common_reasons(tmp_path):
    rows = [{"id": "a", "body": "x"}, {"id": "b", "body": "x"}, {"id": "c", "body": "x"}, {"id": "d", "body": "x"},
            {"id": "e", "text": " "}, {"id": "f", "text": " "}, {"id": "g", "text": " "},
            {"id": "h", "text": 5}, {"id": "i", "text": 5}, [1]]
    message = _quarantine_all(tmp_path, rows)
    top = message.split("Top reasons: ")[1].split(". This run's")[0]
    assert top.count("(") == 3 and top.startswith("missing text field 'text' (4); ")


def test_a_default_runs_identity_names_no_csv_formulas_so_earlier_states_stay_valid(tmp_path):
    """csv_formulas joined the run's identity later: named only when not the default, a finished run of the default
    setting is still the same run (up to date), and changing the setting is not."""
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "Bài viết."}])
    config = job(tmp_path, source, classify={"enabled": False}, summarize={"enabled": False})
    Pipeline.from_dict(config).run()
    state = tmp_path / "out" / "results.state" / "state.json"
    assert "csv_formulas" not in json.loads(state.read_text(encoding="utf-8"))
    config["output"]["csv_formulas"] = "keep"
    assert not Pipeline.from_dict(config).run().up_to_date
    assert json.loads(state.read_text(encoding="utf-8"))["csv_formulas"] == "keep"


MANIFEST = {"run_id": "r2", "finished_at": "2026-12-07T08:00:00+00:00", "config_hash": "c", "mode": "upsert",
            "input": "/data/tin-tức.jsonl", "counts": {"read": 1}, "skipped": {}, "stages": {}, "seconds": 1.0}


def test_the_run_log_gets_one_line_per_run_past_lines_it_cannot_read(tmp_path):
    """A repeated commit (a kill after the log line was written) adds no second line, even when the run's line
    comes after a line cut by a full disk or one that is not a JSON object; a new line starts on a line of its
    own, as the person who reads the log wrote it (Vietnamese as it is)."""
    from pipeline.run.job import _log_run

    log = tmp_path / "day.runs.jsonl"
    _log_run(log, {**MANIFEST, "run_id": "r1"})
    _log_run(log, MANIFEST)
    assert log.read_text(encoding="utf-8").count("\n") == 2 and "tin-tức" in log.read_text(encoding="utf-8")
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b'{"run_id": "r0", "cou\n[1, 2]\n' + b"".join(lines))
    before = log.read_bytes()
    _log_run(log, MANIFEST)  # r2 again: already there, after the two lines that cannot be read
    assert log.read_bytes() == before
    log.write_bytes(before[:-5])  # the last line cut: r3 starts a line of its own
    _log_run(log, {**MANIFEST, "run_id": "r3"})
    assert log.read_bytes().startswith(before[:-5] + b"\n{") and log.read_bytes().endswith(b"}\n")


def test_a_run_log_that_cannot_be_appended_to_says_the_output_is_committed(tmp_path):
    from pipeline.run.job import _log_run

    log = tmp_path / "day.runs.jsonl"
    log.mkdir()
    with pytest.raises(OutputError) as caught:
        _log_run(log, MANIFEST)
    assert str(caught.value).startswith(f"Cannot append to the run log {log}: Is a directory. The output is committed")


def test_throughput_points_are_thinned_to_every_other_one_when_over_twice_the_limit():
    """Two points per limit at most: the fifth point of limit 2 halves them (first kept) and doubles the stride;
    the last point offered is kept by close()."""
    points = Points(limit=2)
    points.append([0.0, 0])
    for n in range(1, 8):
        points.add([float(n), n])
    assert points == [[0.0, 0], [2.0, 2], [4.0, 4], [6.0, 6]] and points.stride == 2
    points.add([8.0, 8])
    assert points == [[0.0, 0], [4.0, 4], [8.0, 8]] and points.stride == 4
    points.add([9.0, 9])
    points.close()
    points.close()
    assert points == [[0.0, 0], [4.0, 4], [8.0, 8], [9.0, 9]]


def _fast(tmp_path: Path, rows: list[dict], **output) -> dict:
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    return job(tmp_path, source, classify={"enabled": False}, summarize={"enabled": False}, output=output)


@pytest.mark.parametrize(("max_rows", "refused"), [(3, False), (2, True)])
def test_input_max_rows_is_the_most_rows_a_run_accepts(tmp_path, max_rows, refused):
    config = _fast(tmp_path, [{"id": f"a{n}", "text": "Bài viết."} for n in range(3)])
    config["input"]["max_rows"] = max_rows
    if refused:
        with pytest.raises(InputError, match=r"has 3 rows, above input\.max_rows=2"):
            Pipeline.from_dict(config).run()
    else:
        assert Pipeline.from_dict(config).run().written == 3


def test_a_run_that_fails_while_opening_leaves_no_lock_behind(tmp_path):
    """In a notebook: a run that failed while it opened (an upsert over an output it cannot read), then the same
    run after the fix, in one process. The failed run's lock on the run state went with it."""
    config = _fast(tmp_path, [{"id": "a", "text": "Bài viết."}], mode="upsert")
    output = tmp_path / "out" / "results.jsonl"
    output.parent.mkdir()
    output.write_text('{"id": "x"}\n{"id": \n{"id": "y"}\n', encoding="utf-8")
    with pytest.raises(OutputError, match="line 2 is not JSON") as failed:
        Pipeline.from_dict(config).run()
    output.write_text('{"id": "x"}\n', encoding="utf-8")
    assert Pipeline.from_dict(config).run().written == 1
    assert failed.tb is not None  # (kept until here, as IPython keeps the last traceback and the objects in it)


class _PartsVanish:
    """The local runner, with every saved part deleted after each round (a cleaner that keeps at it)."""

    kind = "local"

    def __init__(self) -> None:
        self.rounds = 0

    def process(self, job: Job) -> int:
        self.rounds += 1
        rows = LocalRunner().process(job)
        for part in job.state.parts():
            part.path.unlink()
        return rows

    def saved(self, job: Job) -> str:
        return "nothing"


def test_parts_that_keep_vanishing_stop_the_run_after_max_repairs_rounds_of_repair(tmp_path):
    runner = _PartsVanish()
    processor = Processor.from_dict(_fast(tmp_path, [{"id": "a", "text": "Bài viết."}]))
    with pytest.raises(OutputError, match=f"lost saved parts {MAX_REPAIRS + 1} times while this run went on") as caught:
        run_job(processor, runner)
    assert runner.rounds == MAX_REPAIRS + 1 == 3 and "a temporary-file cleaner?" in str(caught.value)
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_an_up_to_date_run_reports_the_finished_runs_counts_and_no_work_of_its_own(tmp_path):
    config = _fast(tmp_path, [{"id": f"a{n}", "text": "Bài viết."} for n in range(3)] + [{"id": "x", "text": " "}])
    first = Pipeline.from_dict(config).run()
    assert not first.up_to_date and (first.read, first.written, first.quarantined) == (4, 3, 1)
    again = Pipeline.from_dict(config).run()
    assert again.up_to_date and (again.read, again.written, again.quarantined, again.unchanged) == (4, 3, 1, 0)
    assert (again.seconds, again.articles_per_second, again.resumed_from, again.skipped, again.preview) == \
        (0.0, 0.0, 0, 0, [])
    assert (again.run_id, again.config_hash, again.manifest) == (first.run_id, first.config_hash, first.manifest)


def test_a_row_whose_input_author_changed_is_refreshed_with_its_new_fields_and_previous_results(tmp_path):
    """Upsert: an input field that no stage reads changes (a JSONL row's author, kept as input_author: author is the
    field the normalizer fills for raw pages), so the row is refreshed without model work: the new input fields,
    the previous topic and summary."""
    rows = [{"id": "a", "text": "Bài viết.", "author": "Lan"}, {"id": "b", "text": "Bài khác.", "author": "Mai"}]
    config = job(tmp_path, write_jsonl(tmp_path / "in.jsonl", rows), output={"mode": "upsert"})
    Pipeline.from_dict(config).run()
    before = {row["id"]: row for row in _output_rows(tmp_path)}
    rows[0]["author"] = "Hùng"
    write_jsonl(tmp_path / "in.jsonl", rows)
    summary = Pipeline.from_dict(config).run()
    assert (summary.refreshed, summary.unchanged) == (1, 1)
    after = {row["id"]: row for row in _output_rows(tmp_path)}
    assert (after["a"]["input_author"], after["b"]["input_author"]) == ("Hùng", "Mai")
    assert all(after["a"][f] == before["a"][f] for f in ("topic", "topic_score", "summary"))


def test_a_refreshed_raw_page_keeps_the_author_its_page_gave(tmp_path):
    """Upsert with raw pages: the author is a result (read from the page's byline by the normalizer), so a row
    refreshed for another input field takes it from the previous output with the topic and summary."""
    body = ("Ủy ban nhân dân thành phố vừa công bố kế hoạch phát triển giao thông trong năm nay. "
            "Các nhà khoa học đã triển khai nghiên cứu về đa dạng sinh học tại nhiều tỉnh thành.")
    rows = [{"id": "a", "text": f"Kế hoạch giao thông mới\nMinh Anh\n{body}", "views": 1},
            {"id": "b", "text": f"Nghiên cứu đa dạng sinh học\nThu Hà\n{body}", "views": 1}]
    config = job(tmp_path, write_jsonl(tmp_path / "in.jsonl", rows), input={"raw_pages": True},
                 output={"mode": "upsert"})
    Pipeline.from_dict(config).run()
    assert [(row["id"], row["author"]) for row in _output_rows(tmp_path)] == [("a", "Minh Anh"), ("b", "Thu Hà")]
    rows[0]["views"] = 2
    write_jsonl(tmp_path / "in.jsonl", rows)
    summary = Pipeline.from_dict(config).run()
    assert (summary.refreshed, summary.unchanged) == (1, 1)
    after = {row["id"]: row for row in _output_rows(tmp_path)}
    assert (after["a"]["views"], after["a"]["author"]) == (2, "Minh Anh")
    assert after["a"]["title"] == "Kế hoạch giao thông mới"


def test_a_local_run_over_a_crawl_shows_how_much_of_it_was_read(tmp_path, caplog):
    """WARC rows cannot be counted ahead, so the local runner's progress says how many bytes of the crawl its
    reader has read."""
    from tests.io.test_warc import write_two_pages

    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_two_pages(crawl / "CC-NEWS-1.warc.gz")
    size = (crawl / "CC-NEWS-1.warc.gz").stat().st_size
    config = job(tmp_path, crawl, input={"batch_size": 1}, runner={"progress": "log", "log_every_seconds": 0.001})
    with caplog.at_level("INFO", logger="pipeline.progress"):
        Pipeline.from_dict(config).run()
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.progress"]
    assert lines and all(f"/{size / 2**20:,.1f} MiB read" in line for line in lines), lines


def test_the_manifest_keeps_the_runs_own_times_to_the_millisecond(tmp_path, monkeypatch):
    """Throughput points and the steps the run times itself (open, commit) are rounded to the millisecond, not
    coarser: with a clock that reads 1.0011 s later at each call, each of them is a whole number of ticks to
    within half a millisecond."""
    import itertools
    import types

    import pipeline.run.job as job_module

    tick = 1.0011
    ticks = itertools.count()
    monkeypatch.setattr(job_module, "time", types.SimpleNamespace(monotonic=lambda: next(ticks) * tick,
                                                                  time=time.time))
    config = job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(40)), input={"batch_size": 8})
    Pipeline.from_dict(config).run()
    manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    steps = manifest["seconds_by_step"]
    times = [point[0] for point in manifest["throughput"]] + [steps["open"], steps["commit"]]
    assert len(times) == 8 and all(t > 1 for t in times)
    assert all(abs(t - round(t / tick) * tick) < 0.0005 for t in times), times


def test_the_manifest_is_written_for_people_to_read_vietnamese_as_it_is(tmp_path):
    """An input named in Vietnamese shows in the manifest as it is, not as \\u escapes (the file is UTF-8 JSON)."""
    config = job(tmp_path, write_jsonl(tmp_path / "tin-tức.jsonl", articles(2)))
    Pipeline.from_dict(config).run()
    text = (tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8")
    assert "tin-tức.jsonl" in text and "\\u" not in text
    assert json.loads(text)["input"].endswith("tin-tức.jsonl")


def test_no_step_of_the_manifest_is_negative_when_the_steps_overlap(tmp_path, monkeypatch):
    """Stage times can add up to more than the run's wall time (the reader thread reads while the stages run):
    "other", the rest, is then 0, never negative. Here each stage's clock reads 10 s later at every call."""
    import itertools
    import types

    import pipeline.run.processing as processing_module

    ticks = itertools.count()
    monkeypatch.setattr(processing_module, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks) * 10.0))
    Pipeline.from_dict(job(tmp_path, write_jsonl(tmp_path / "in.jsonl", articles(3)))).run()
    manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    steps = manifest["seconds_by_step"]
    assert steps["classify"] >= 10 > manifest["seconds"]
    assert steps["other"] == 0.0 and min(steps.values()) >= 0.0


def _output_rows(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
