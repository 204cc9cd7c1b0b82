"""The Ray runner on a local Ray (2 CPUs) gives the local runner's rows and quarantine."""

from __future__ import annotations

import json
import os

import pytest

from pipeline import Pipeline
from tests.conftest import job, write_jsonl
from tests.synthetic import articles

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a local Ray starts in seconds and its actors load the models: `make test` runs these


@pytest.fixture(scope="module")
def local_ray():
    # One GPU that Ray only counts (this machine needs none): enough to see which actors Ray hands it to
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _rows(path):
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _input(tmp_path):
    rows = articles(300)
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"id": "broken", "text": \n')
        fh.write(json.dumps({"id": "empty", "text": " "}) + "\n")
        fh.write(json.dumps({"id": "art-000001", "text": "Bản trùng lặp có nội dung khác hẳn bản đầu tiên."},
                            ensure_ascii=False) + "\n")
    return path


def test_ray_rows_equal_local_rows(tmp_path, local_ray):
    path = _input(tmp_path)
    local_cfg = job(tmp_path / "local", path, classify={"top_k": 2})
    ray_cfg = job(tmp_path / "ray", path, classify={"top_k": 2}, runner={"kind": "ray", "ray": {"actors": 2}})
    local = Pipeline.from_dict(local_cfg).run()
    remote = Pipeline.from_dict(ray_cfg).run()
    assert (remote.read, remote.written, remote.quarantined) == (local.read, local.written, local.quarantined) \
        == (303, 300, 3)
    local_rows = _rows(tmp_path / "local" / "out" / "results.jsonl")
    ray_rows = _rows(tmp_path / "ray" / "out" / "results.jsonl")
    for rows in (local_rows, ray_rows):
        for row in rows.values():
            row.pop("run_id")
    assert ray_rows == local_rows
    assert [r["id"] for r in remote.preview] == [r["id"] for r in local.preview] == list(local_rows)[:10]

    def quarantine(base):
        lines = (base / "out" / "results.quarantine.jsonl").read_text(encoding="utf-8").splitlines()
        return sorted((str(q["id"]), q["reason"]) for q in map(json.loads, lines))

    assert quarantine(tmp_path / "ray") == quarantine(tmp_path / "local")
    manifest = json.loads((tmp_path / "ray" / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    assert manifest["runner"] == "ray"
    assert manifest["throughput"][-1][1] == 303  # [seconds, input rows done] per batch, as the local runner
    assert (tmp_path / "ray" / "out" / "results.report.html").is_file()


def test_ray_upsert_skips_unchanged_rows(tmp_path, local_ray):
    path = _input(tmp_path)
    cfg = job(tmp_path, path, runner={"kind": "ray", "ray": {"actors": 2}}, output={"mode": "upsert"})
    first = Pipeline.from_dict(cfg).run()
    assert first.written == 300
    cfg["runner"]["resume"] = False  # same input and config: force a second pass through Ray
    cfg["input"]["batch_size"] = 32  # (a setting outside the config hash)
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()[:300]]
    rows[0]["text"] += "\nCập nhật."
    write_jsonl(path, rows)
    second = Pipeline.from_dict(cfg).run()
    assert (second.written, second.unchanged) == (1, 299)


def test_ray_reads_a_folder_of_warc_files_one_per_task(tmp_path, local_ray):
    """Each .warc.gz is one read task; rows, quarantine and the manifest's skipped counts are the local runner's."""
    from tests.io.test_warc import SKIPPED, write_crawl, write_two_pages

    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_crawl(crawl / "CC-NEWS-1.warc.gz")
    write_two_pages(crawl / "CC-NEWS-2.warc.gz")
    skipped = {**SKIPPED, "request record": SKIPPED["request record"] + 2}
    summaries, manifests, rows = {}, {}, {}
    for kind in ("local", "ray"):
        cfg = job(tmp_path / kind, crawl, runner={"kind": kind, "ray": {"actors": 2}})
        summaries[kind] = Pipeline.from_dict(cfg).run()
        out = tmp_path / kind / "out"
        manifests[kind] = json.loads((out / "results.manifest.json").read_text(encoding="utf-8"))
        rows[kind] = sorted((r["url"], r["path"], r["topic"]) for r in map(
            json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines()))
    assert [(s.read, s.written, s.quarantined, s.skipped) for s in summaries.values()] == \
        [(5, 4, 1, sum(skipped.values()))] * 2
    assert rows["ray"] == rows["local"]
    assert manifests["ray"]["skipped"] == manifests["local"]["skipped"] == skipped


def test_a_resumed_ray_run_keeps_the_skipped_counts_of_the_files_saved_before(tmp_path, local_ray):
    """A run refused at its commit (too many quarantined rows: exit 6) keeps its saved parts; the rerun with a
    higher threshold computes nothing again, and its manifest still counts what every file's reader skipped."""
    from pipeline.errors import QuarantineThresholdError
    from tests.io.test_warc import SKIPPED, write_crawl, write_two_pages

    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_crawl(crawl / "CC-NEWS-1.warc.gz")
    write_two_pages(crawl / "CC-NEWS-2.warc.gz")
    cfg = job(tmp_path, crawl, runner={"kind": "ray", "ray": {"actors": 2}, "max_quarantined_fraction": 0.1})
    with pytest.raises(QuarantineThresholdError):
        Pipeline.from_dict(cfg).run()
    cfg["runner"]["max_quarantined_fraction"] = 1.0
    summary = Pipeline.from_dict(cfg).run()
    assert (summary.read, summary.written, summary.quarantined) == (5, 4, 1)
    manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    assert manifest["resumed_from_row"] == 5
    assert manifest["skipped"] == {**SKIPPED, "request record": SKIPPED["request record"] + 2}


def test_ray_reads_a_saved_dataset_folder_whole_as_the_local_runner(tmp_path, local_ray):
    """A saved Hugging Face dataset is one folder read as one dataset, not a folder of files (its Arrow files)."""
    datasets = pytest.importorskip("datasets")

    saved = tmp_path / "saved"
    datasets.Dataset.from_list([{k: r[k] for k in ("id", "title", "text")} for r in articles(20)]).save_to_disk(
        str(saved))
    summaries, rows = {}, {}
    for kind in ("local", "ray"):
        cfg = job(tmp_path / kind, saved, runner={"kind": kind, "ray": {"actors": 2}})
        summaries[kind] = Pipeline.from_dict(cfg).run()
        rows[kind] = sorted((r["id"], r["topic"]) for r in _rows(tmp_path / kind / "out" / "results.jsonl").values())
    assert [(s.read, s.written, s.quarantined) for s in summaries.values()] == [(20, 20, 0)] * 2
    assert rows["ray"] == rows["local"]


def test_a_files_results_are_saved_only_once_every_row_is_in():
    """An actor passes a file's end marker on before the rows it computed from the same batch, so the marker can
    reach the driver first: the file is done when it has as many results as its reader read rows, not before."""
    from pipeline.run.ray import _FileResults

    results = _FileResults()
    results.add({"e": 3, "i": 0})
    results.add({"s": {"request record": 2}, "i": 0})  # skipped counts are not rows
    assert not results.done
    results.add({"r": {"id": "a"}, "i": 0})
    results.add({"q": {"reason": "empty text", "raw": "", "source": "input", "id": "b"}, "i": 0})
    assert not results.done
    results.add({"u": "c", "i": 0})
    assert results.done and (len(results.rows), len(results.quarantined), results.unchanged) == (1, 1, 1)
    assert results.skipped == {"request record": 2}
    early = _FileResults()
    early.add({"r": {"id": "a"}, "i": 0})
    assert not early.done  # no end marker yet: the reader may still be reading


def test_an_actor_answers_every_row_of_its_batch(tmp_path):
    """In process, no Ray: a row without its key is quarantined and the rows after it in the same batch are still
    computed; markers pass through; every result names its file."""
    import numpy as np

    from pipeline.config import JobConfig, load_config
    from pipeline.run.ray import PipelineActor, portable_config

    path = write_jsonl(tmp_path / "in.jsonl", articles(3))
    config = load_config(JobConfig, data=job(tmp_path, path, output={"key": "url"}))
    actor = PipelineActor(portable_config(config), "hash", "run-1", {})
    first, second, third = ({**r, "url": f"https://bao.vn/{r['id']}"} for r in articles(3))
    del first["url"]
    batch = [{"r": first, "i": 0}, {"r": second, "i": 0}, {"e": 3, "i": 0}, {"r": third, "i": 1}]
    out = [json.loads(x) for x in actor({"json": np.array([json.dumps(b) for b in batch], dtype=object)})["json"]]
    assert [(next(k for k in item if k != "i"), item["i"]) for item in out] == [("q", 0), ("e", 0), ("r", 0), ("r", 1)]
    assert "missing key field 'url'" in out[0]["q"]["reason"]
    assert [item["r"]["id"] for item in out if "r" in item] == [second["id"], third["id"]]
    assert {(item["r"]["config_hash"], item["r"]["run_id"]) for item in out if "r" in item} == {("hash", "run-1")}


def test_a_killed_ray_run_resumes_by_finished_file(tmp_path):
    """The kill-and-rerun harness on the Ray runner: two SIGKILLs at random points, then a rerun that skips the
    files saved whole, with every row exactly once in the output or the quarantine and a file's skipped counts kept."""
    import yaml

    from tests.e2e.test_reliability import _check_exactly_once, _kill_and_finish

    folder = tmp_path / "day"
    folder.mkdir()
    rows = articles(480)
    ids = set()
    for n in range(12):
        part = rows[n * 40 : (n + 1) * 40]
        ids |= {r["id"] for r in part}
        path = write_jsonl(folder / f"f{n:02d}.jsonl", part)
        if n in (3, 8):  # BAD_LINES of the harness, spread over two files
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(['{"id": "bad-json", "text": \n', '{"id": "no-text"}\n'][n == 8])
    (folder / "f99.jsonl").write_text(json.dumps({"id": "empty", "text": "  "}) + "\n", encoding="utf-8")
    output = tmp_path / "out" / "results.jsonl"
    cfg = tmp_path / "job.yaml"
    cfg.write_text(yaml.safe_dump({
        "input": {"path": str(folder), "batch_size": 20},
        "summarize": {"kind": "extractive", "method": "lead_title", "max_sentences": 1},
        "output": {"path": str(output)},
        "runner": {"kind": "ray", "ray": {"actors": 1, "num_cpus": 2}, "progress": "off"},
    }), encoding="utf-8")
    manifest = _kill_and_finish(cfg, output, kills=2, seed=3, max_batches=3)  # 13 files: 13 parts
    _check_exactly_once(output, ids)
    assert 0 < manifest["resumed_from_row"] < 483


def test_sigterm_stops_a_ray_run_with_its_line_and_exit_143_and_the_rerun_goes_on(tmp_path):
    """`ray.init` replaces the driver's SIGTERM handler with its own (a C++ stack dump, exit 15); the runner puts
    vnnews' back, so a stopped Ray run says where it stopped, exits 143, and the rerun finishes the other files."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import yaml

    folder = tmp_path / "day"
    folder.mkdir()
    rows = articles(2400)
    for n in range(24):
        write_jsonl(folder / f"f{n:02d}.jsonl", rows[n * 100 : (n + 1) * 100])
    cfg = job(tmp_path, folder, input={"batch_size": 20}, runner={"kind": "ray", "ray": {"actors": 1}})
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    vnnews = str(Path(sys.executable).parent / "vnnews")
    parts = tmp_path / "out" / "results.state" / "parts"
    proc = subprocess.Popen([vnnews, "run", str(tmp_path / "job.yaml"), "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (parts.is_dir() and any(parts.glob("*.part"))) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if "core_worker.cc" not in line]
    assert proc.returncode == 143, stderr
    assert len(lines) == 1 and lines[0].startswith("error: interrupted by SIGTERM; the input files whose rows were "
                                                   "all saved ("), lines
    assert lines[0].endswith("run the same command to go on with the other files.")
    done = subprocess.run([vnnews, "run", str(tmp_path / "job.yaml"), "-q"], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line)["id"] for line in (tmp_path / "out" / "results.jsonl").read_text("utf-8").splitlines()]
    assert sorted(out) == sorted(r["id"] for r in rows)
    manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    assert 0 < manifest["resumed_from_row"] < 2400


def test_signal_handlers_are_put_back_from_the_main_thread_only():
    """Python sets signal handlers from the main thread only: a run started from another thread (a notebook's
    worker, a web server) leaves them to that program, with no ValueError."""
    import signal
    import threading

    from pipeline.run.ray import _restore

    def mine(signum, frame):
        pass

    before = signal.getsignal(signal.SIGTERM)
    try:
        failures = []
        thread = threading.Thread(target=lambda: failures.append(_restore({signal.SIGTERM: mine})) or None)
        thread.start()
        thread.join()
        assert failures == [None] and signal.getsignal(signal.SIGTERM) is before
        _restore({signal.SIGTERM: mine, signal.SIGHUP: None})
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_quiet_ray_run_prints_nothing_of_its_own_or_of_rays_python_side(tmp_path):
    """`vnnews run -q` with the Ray runner: nothing on stdout, and on stderr no line from Ray's Python side (its
    start-up warnings, Ray Data's plan and progress lines). Ray's C++ core still writes one error-level line about
    restartable actors whose constructor arguments are in its object store (ray-project/ray#53727), which no
    supported setting of Ray 2.60 turns off; docs/scaling-out.md says so."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    source = tmp_path / "day"  # a day's folder of many files: never a Ray worker process per file (the raylet
    source.mkdir()  # would warn on the terminal that it started ten times as many as the machine has cores)
    rows = articles(24)
    for n in range(24):
        write_jsonl(source / f"f{n:02d}.jsonl", rows[n : n + 1])
    cfg = job(tmp_path, source, runner={"kind": "ray", "ray": {"actors": 1}})
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    vnnews = str(Path(sys.executable).parent / "vnnews")
    # What Ray's worker processes print goes to Ray's log files, never to the user's terminal: each worker says
    # something as it starts (a sitecustomize on PYTHONPATH, which the workers inherit)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nif 'default_worker' in (sys.argv[0] if sys.argv else ''):\n"
        "    print('a Ray worker speaks', file=sys.stderr, flush=True)\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([vnnews, "run", str(tmp_path / "job.yaml"), "-q"], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert [line for line in done.stderr.splitlines() if "core_worker.cc" not in line] == [], done.stderr
    assert len((tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()) == 24
    manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    steps = manifest["seconds_by_step"]  # (the Ray runner's steps add up to the run's seconds too)
    assert all(v >= 0 for v in steps.values()) and {"ray (read and compute)", "save"} <= set(steps)
    assert sum(steps.values()) == pytest.approx(manifest["seconds"], abs=0.001 * len(steps))
    # without -q: log lines, but no progress bar of Ray Data's (our own progress is the one a user reads)
    loud = subprocess.run([vnnews, "run", str(tmp_path / "job.yaml"), "--set", "runner.resume=false",
                           "--set", f"output.path={tmp_path / 'loud' / 'results.jsonl'}"], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert loud.returncode == 0 and "Running Dataset" not in loud.stderr and "row/s]" not in loud.stderr, loud.stderr


def test_actors_that_fit_on_no_node_are_refused_at_once_not_waited_for(tmp_path):
    """`runner.ray.gpus_per_actor: 1` on a machine without a GPU: Ray would wait for such a node for ever, so the
    run stops at once with the config error (exit 2) in one paragraph, and runs with the GPUs set to 0."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    source = write_jsonl(tmp_path / "in.jsonl", articles(5))
    cfg = job(tmp_path, source, runner={"kind": "ray", "ray": {"actors": 1, "gpus_per_actor": 1}})
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    vnnews = str(Path(sys.executable).parent / "vnnews")
    refused = subprocess.run([vnnews, "run", str(tmp_path / "job.yaml"), "-q"], capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if "core_worker.cc" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: Each Ray actor asks for runner.ray.cpus_per_actor=1 and "
                                                   "gpus_per_actor=1, but no node of the local Ray instance"), lines
    assert not (tmp_path / "out" / "results.jsonl").exists()
    done = subprocess.run([vnnews, "run", str(tmp_path / "job.yaml"), "-q", "--set", "runner.ray.gpus_per_actor=0"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()) == 5


NODES = [{"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}}, {"Alive": True, "Resources": {"CPU": 8.0}},
         {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]


@pytest.mark.parametrize(("cpus", "gpus", "fits"), [
    (2, 1, True),  # the first node, exactly
    (8, 0, True),  # the second node, exactly
    (3, 1, False),  # the node with a GPU has 2 CPUs; the node with 8 CPUs has no GPU
    (9, 0, False),
    (1, 2, False),  # 8 GPUs only on a node that is gone
])
def test_an_actor_fits_when_one_live_node_has_all_it_asks_for(cpus, gpus, fits, caplog):
    """On the local Ray instance a job whose actors fit nowhere is a config error; on a cluster, which an
    autoscaler may grow, a warning, and the run waits."""
    from pipeline.config import JobConfig, load_config
    from pipeline.errors import ConfigError
    from pipeline.run.ray import check_actor_fits

    def config(address):
        return load_config(JobConfig, data={"input": {"path": "in.jsonl"}, "output": {"path": "out.jsonl"},
                                            "runner": {"kind": "ray", "ray": {"address": address,
                                                                              "cpus_per_actor": cpus,
                                                                              "gpus_per_actor": gpus}}})

    with caplog.at_level("WARNING", logger="pipeline.run.ray"):
        check_actor_fits(config("ray://head:10001"), NODES)
    if fits:
        check_actor_fits(config(None), NODES)
        assert not caplog.records
        return
    (record,) = caplog.records
    assert "no node of the Ray cluster at runner.ray.address=ray://head:10001" in record.getMessage()
    assert "(at most 8 CPUs and 1 GPU on one node)" in record.getMessage()
    assert "until the cluster adds such a node" in record.getMessage()
    with pytest.raises(ConfigError, match=r"no node of the local Ray instance has that much .* wait for ever"):
        check_actor_fits(config(None), NODES)
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipeline.run.ray"):  # a cluster whose nodes are all gone (scaled down)
        check_actor_fits(config("ray://head:10001"), NODES[2:])
    assert "(at most 0 CPUs and 0 GPUs on one node)" in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipeline.run.ray"):  # (Ray lists only the resources a node has)
        check_actor_fits(config("ray://head:10001"), NODES[1:])
    assert "(at most 8 CPUs and 0 GPUs on one node)" in caplog.records[0].getMessage()


@pytest.mark.parametrize("gpus, seen", [(1, [[0], "0"]), (0, [[], None])])
def test_an_actor_gets_the_gpus_its_job_reserves(gpus, seen, local_ray):
    """`runner.ray.gpus_per_actor` reaches Ray: each actor is handed that many of the node's GPUs, and its
    models see them through CUDA_VISIBLE_DEVICES; an actor that reserves none sees none."""
    from pipeline.config import JobConfig, load_config
    from pipeline.run.ray import actor_options

    class Probe:
        def __call__(self, batch):
            batch["seen"] = [json.dumps([ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")])] * len(batch["id"])
            return batch

    config = load_config(JobConfig, data={"input": {"path": "in.jsonl"}, "output": {"path": "out.jsonl"},
                                          "runner": {"kind": "ray", "ray": {"actors": 1, "gpus_per_actor": gpus}}})
    ds = ray.data.range(4, override_num_blocks=2).map_batches(Probe, batch_size=2, **actor_options(config))
    assert {row["seen"] for row in ds.take_all()} == {json.dumps(seen)}


def test_actors_get_absolute_paths_and_hub_ids_as_given(tmp_path, monkeypatch):
    """Actors may run in another working directory: local paths (input, models) go to them absolute, a hub id as
    it is, and each actor runs its batches as a local runner without progress."""
    from pathlib import Path

    from pipeline.config import JobConfig, load_config
    from pipeline.run.ray import portable_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "summarizer").mkdir()
    write_jsonl(tmp_path / "in.jsonl", articles(1))
    base = {"input": {"path": "in.jsonl"}, "output": {"path": "out.jsonl"}}
    local = portable_config(load_config(JobConfig, data={**base, "summarize": {"model": "summarizer"}}))
    assert local["input"]["path"] == str(tmp_path / "in.jsonl")
    assert local["summarize"]["model"] == str(tmp_path / "summarizer")
    assert Path(local["classify"]["model"]).is_absolute()
    assert local["runner"] == {"kind": "local", "progress": "off"}
    hub = portable_config(load_config(JobConfig, data={**base, "summarize": {"model": "VietAI/vit5-base"}}))
    assert hub["summarize"]["model"] == "VietAI/vit5-base"
