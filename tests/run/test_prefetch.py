"""The local runner's reading thread (:class:`pipeline.run.local.Prefetch`) and what a topic-only job writes.

The kill-and-rerun guarantees with the reader thread on (the default) are tested in
tests/e2e/test_reliability.py and tests/e2e/test_reruns.py; here: order, errors and shutdown of the reader,
and that the rows a topic-only job writes over real VNTC articles are the recorded ones.
"""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.run.local import Prefetch
from tests.conftest import REGENERATE_GOLDEN, regenerate_command

ROOT = Path(__file__).resolve().parents[2]
VNNEWS = str(Path(sys.executable).parent / "vnnews")
EXPECTED = ROOT / "tests" / "fixtures" / "topic_only_vntc_expected.jsonl.gz"
EVERY = 40  # the fixture holds VNTC train rows 0, 40, 80, ...
REGENERATE_COMMAND = regenerate_command("tests/run/test_prefetch.py -k recorded")
# A reader that stops handing over items leaves the consumer waiting for ever: such a fault fails in seconds.
hangs_fail = pytest.mark.timeout(30)


@hangs_fail
@pytest.mark.parametrize("depth", [1, 3])
def test_prefetch_keeps_order_and_reads_depth_items_ahead(depth):
    """Memory holds the item taken, ``depth`` waiting and the one the reader holds while it waits: no more."""
    produced = []

    def items():
        for i in range(20):
            produced.append(i)
            yield i

    with Prefetch(items(), depth) as batches:
        first = next(batches)
        deadline = time.monotonic() + 5
        while len(produced) < depth + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # (a reader that went on would have read more by now)
        assert first == 0 and len(produced) == depth + 2
        assert [first, *batches] == list(range(20))


@hangs_fail
def test_prefetch_raises_the_readers_error_where_the_item_would_have_come():
    def items():
        yield 1
        yield 2
        raise ValueError("row 3 is broken")

    seen = []
    with pytest.raises(ValueError, match="row 3 is broken"), Prefetch(items(), 2) as batches:
        for item in batches:
            seen.append(item)
    assert seen == [1, 2]


@hangs_fail
def test_depth_0_reads_in_the_consumers_thread_and_starts_none():
    """`runner.local.prefetch_batches: 0` keeps a reader that is not thread-safe (or a debugger) on one thread."""
    readers = []

    def items():
        for i in range(3):
            readers.append(threading.current_thread())
            yield i

    with Prefetch(items(), 0) as batches:
        assert list(batches) == [0, 1, 2]
        assert not [t for t in threading.enumerate() if t.name == "vnnews-reader"]
    assert readers == [threading.main_thread()] * 3


@hangs_fail
@pytest.mark.parametrize("depth", [0, 2])
def test_leaving_early_stops_the_reader_and_closes_the_items(depth):
    closed = threading.Event()
    interval = sys.getswitchinterval()

    def items():
        try:
            yield from itertools.count()
        finally:
            closed.set()

    with pytest.raises(KeyboardInterrupt), Prefetch(items(), depth) as batches:
        for item in batches:
            if item == 5:
                readers = [t for t in threading.enumerate() if t.name == "vnnews-reader"]
                # a reader thread (a daemon: one stuck in a system call cannot hold the exit), with the 1 ms switch
                # interval that lets the stages take the GIL back sooner
                assert [t.daemon for t in readers] == [True] * (depth > 0)
                assert sys.getswitchinterval() == (Prefetch.switch_interval if depth else interval)
                raise KeyboardInterrupt
    assert closed.wait(5)
    assert not [t for t in threading.enumerate() if t.name == "vnnews-reader"]
    assert sys.getswitchinterval() == interval


@pytest.fixture(scope="module")
def vntc_sample(shared_data: Path, tmp_path_factory) -> Path:
    """Every 40th line of VNTC train, as it is in the file (id, label, source, text)."""
    path = tmp_path_factory.mktemp("vntc") / "sample.jsonl"
    with gzip.open(shared_data / "vntc" / "train.jsonl.gz", "rt", encoding="utf-8") as fh, \
            open(path, "w", encoding="utf-8") as out:
        out.writelines(itertools.islice(fh, 0, None, EVERY))
    return path


def _topic_only(input_path: Path, output: Path, *extra: str) -> list[list]:
    """Run the quickstart job without the summarizer (the throughput benchmark's topic-only job);
    its output rows without ``run_id``, as (field, value) lists so that field order counts too."""
    subprocess.run([VNNEWS, "run", str(ROOT / "configs" / "quickstart.yaml"), "-q",
                    "--set", f"input.path={input_path}", "--set", f"output.path={output}",
                    "--set", "summarize.enabled=false", "--set", "input.title_field=null", *extra],
                   check=True, cwd=ROOT, capture_output=True)
    with open(output, encoding="utf-8") as fh:
        return [[[k, v] for k, v in json.loads(line).items() if k != "run_id"] for line in fh]


def test_topic_only_output_on_vntc_is_the_recorded_one(vntc_sample, tmp_path):
    """Ids, hashes, topics, scores and top 3 of 844 VNTC articles (every 40th row of VNTC train), field order
    included and ``run_id`` left out, as recorded in ``tests/fixtures/topic_only_vntc_expected.jsonl.gz``.

    A retrained topic model or changed job settings change ``config_hash`` and the topics: the test then fails
    and says so. Record the rows again with ``VNNEWS_REGENERATE_GOLDEN=1`` (this test then rewrites the
    fixture from the runner as it is and passes) and review the fixture's change before committing it."""
    rows = _topic_only(vntc_sample, tmp_path / "out.jsonl")
    if REGENERATE_GOLDEN:
        with open(EXPECTED, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write("".join(json.dumps(dict(row), ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
        return
    with gzip.open(EXPECTED, "rt", encoding="utf-8") as fh:
        expected = [[[k, v] for k, v in json.loads(line).items()] for line in fh]
    recorded_hash, current_hash = dict(expected[0])["config_hash"], dict(rows[0])["config_hash"]
    assert current_hash == recorded_hash, (
        f"the topic model or the job's settings changed since {EXPECTED.name} was recorded (config_hash "
        f"{current_hash}, recorded {recorded_hash}): record it again with {REGENERATE_COMMAND} "
        "and review the change")
    assert len(rows) == len(expected) == 844
    assert rows == expected


def test_reading_in_a_thread_changes_no_output(vntc_sample, tmp_path):
    """The same job with the reader thread (default) and without (runner.prefetch_batches=0), with a
    batch size that leaves a short last batch: the same rows, quarantine and counts."""
    small = ("--set", "input.batch_size=100")
    threaded = _topic_only(vntc_sample, tmp_path / "a.jsonl", *small)
    inline = _topic_only(vntc_sample, tmp_path / "b.jsonl", *small, "--set", "runner.prefetch_batches=0")
    assert threaded == inline and len(threaded) == 844
    for name in ("a", "b"):
        manifest = json.loads((tmp_path / f"{name}.manifest.json").read_text(encoding="utf-8"))
        assert manifest["counts"] == {"read": 844, "written": 844, "quarantined": 0, "unchanged": 0, "refreshed": 0}
