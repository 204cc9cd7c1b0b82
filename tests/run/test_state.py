"""The run state's parts, checkpoints, key set and known output rows (pipeline/run/state.py), without a whole run."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import OutputError
from pipeline.io.records import Quarantined
from pipeline.run.state import KeyFilter, KeySet, KnownRows, RunState


def _open(tmp_path, seconds: float = 3600.0, megabytes: float = 32.0, resume: bool = True) -> RunState:
    return RunState.open(tmp_path / "out.state", {"config_hash": "c"}, "out.jsonl", resume, lambda: None,
                         checkpoint_seconds=seconds, checkpoint_bytes=int(megabytes * (1 << 20)))


def _rows(start: int, end: int) -> list[dict]:
    return [{"id": f"a{i}", "topic": "Thể thao" if i % 2 else "Kinh doanh", "summary": "Tóm tắt."}
            for i in range(start, end)]


def test_batches_wait_for_the_checkpoint_then_make_one_part(tmp_path):
    state = _open(tmp_path)
    assert not state.save_batch(0, 4, _rows(0, 3), [Quarantined("bad", {"x": 1}, "row 4")], 0)
    assert not state.save_batch(4, 8, _rows(4, 8), [], 0)
    assert state.parts() == [] and state.committed_rows() == 0  # a kill now loses both batches
    state.checkpoint()
    assert [(p.start, p.end) for p in state.parts()] == [(0, 8)]
    assert state.counts() == {"read": 8, "written": 7, "quarantined": 1, "unchanged": 0, "refreshed": 0}
    assert [r["id"] for r in state.rows()] == [f"a{i}" for i in [0, 1, 2, 4, 5, 6, 7]]
    assert [q["reason"] for q in state.quarantined()] == ["bad"] and next(state.quarantined())["run_id"]
    assert state.topics() == {"Kinh doanh": 4, "Thể thao": 3}
    # the rows section is the output's JSONL as it will be written: one line per row, non-ASCII unescaped
    text = b"".join(state.row_lines().blocks()).decode("utf-8")
    assert text.count("\n") == 7 and "Thể thao" in text and json.loads(text.splitlines()[0])["id"] == "a0"


def test_checkpoint_by_time_and_by_size(tmp_path):
    every_batch = _open(tmp_path / "a", seconds=0)
    assert every_batch.save_batch(0, 2, _rows(0, 2), [], 0)
    assert every_batch.save_batch(2, 4, _rows(2, 4), [], 0)
    assert [(p.start, p.end) for p in every_batch.parts()] == [(0, 2), (2, 4)]
    by_size = _open(tmp_path / "b", megabytes=100 / (1 << 20))  # 100 bytes
    assert not by_size.save_batch(0, 1, _rows(0, 1), [], 0)
    assert by_size.save_batch(1, 3, _rows(1, 3), [], 0)
    assert [(p.start, p.end) for p in by_size.parts()] == [(0, 3)]


def test_a_resumed_state_knows_its_keys_and_counts(tmp_path):
    state = _open(tmp_path, seconds=0)
    state.save_batch(0, 3, _rows(0, 3), [], 0, refreshed=[{"id": "r1", "url": "u"}])
    run_id = state.run_id
    state.close()  # (another process, in a real resume)
    again = _open(tmp_path)
    assert again.run_id == run_id and again.committed_rows() == 3
    seen = again.seen_keys("id")
    assert len(seen) == 4 and "a1" in seen and "r1" in seen and "a9" not in seen


def test_key_set_is_exact_across_merges():
    keys = KeySet()
    keys.recent_limit = 8  # merge into the sorted array often
    first = keys.add_all([f"k{i}" for i in range(50)] + ["k3", "k49", "new"])
    assert first == [True] * 50 + [False, False, True]
    assert keys.add_all(["k0", "k17", "k50", "k50"]) == [False, False, True, False]
    assert len(keys) == 52 and "k25" in keys and "k99" not in keys


def test_key_filter_quarantines_repeats_in_input_order(tmp_path):
    records = [{"id": "a", "text": "x"}, {"text": "no key"}, {"id": "a", "text": "y"}, {"id": "b", "text": "z"}]
    todo, _, rejected, _ = KeyFilter("id", "c", {}, {"b"}, False).split(records, "run")
    assert [r["text"] for r in todo] == ["x"]
    assert [q.reason.split(" ")[0] for q in rejected] == ["missing", "duplicate", "duplicate"]


def test_the_lock_is_held_until_close(tmp_path):
    """One writer per output: a second open of the same state fails while the first holds it (flock is per open
    file, so this holds within one process too), and succeeds once the first run closes its state."""
    first = _open(tmp_path)
    with pytest.raises(OutputError, match="Another vnnews run is writing this output"):
        _open(tmp_path)
    first.close()
    _open(tmp_path).close()


@pytest.mark.parametrize("limit", [2, 1 << 16])
def test_known_rows_answer_like_a_dict_in_memory_or_spilled(monkeypatch, limit):
    monkeypatch.setattr(KnownRows, "memory_limit", limit)
    rows = [(f"k{i}", (f"c{i}", "g", None if i % 3 else f"i{i}")) for i in range(25)]
    rows += [("k1", ("c1-last", "g", "i")), ("k20", ("c20-last", "g", "i"))]  # a key twice: its last row counts
    known = KnownRows(rows)
    expected = dict(rows)
    probe = ["k1", "k20", "k0", "k24", "missing", "k1", *expected]
    assert known.get_many(probe) == [expected.get(k) for k in probe]
    assert known.get("k5") == expected["k5"] and known.get("nope") is None
    assert len(known) == len(expected) and dict(known.items()) == expected
    assert len(known._recent) <= limit  # the others wait on disk
    assert not KnownRows() and len(KnownRows()) == 0


def test_key_filter_sorts_upsert_rows_the_same_with_spilled_known_rows(monkeypatch):
    from pipeline.io.records import stamp_hashes

    records = [{"id": f"a{i}", "title": "", "text": f"bài {i}", "views": i} for i in range(8)]
    stamped = [dict(r) for r in records]
    for record in stamped:
        stamp_hashes(record)
    known = {r["id"]: (r["content_hash"], "c", r["input_hash"]) for r in stamped[:6]}
    known["a1"] = (stamped[1]["content_hash"], "c", "an older input hash")  # refreshed
    known["a2"] = ("sha1-old", "c", stamped[2]["input_hash"])  # text changed: processed again
    results = []
    for limit in (1 << 16, 2):
        monkeypatch.setattr(KnownRows, "memory_limit", limit)
        todo, refreshed, rejected, unchanged = KeyFilter("id", "c", KnownRows(known.items()), set(), False).split(
            [dict(r) for r in records], "run")
        results.append(([r["id"] for r in todo], [r["id"] for r in refreshed], rejected, unchanged))
    assert results[0] == results[1] == (["a2", "a6", "a7"], ["a1"], [], 4)


def test_known_rows_on_disk_take_any_key_and_value_an_output_may_hold(monkeypatch):
    """An edited output may hold a key with a lone surrogate or hashes that are not text, which SQLite would
    refuse to bind: they are kept, and the verdicts stay those of the in-memory dict."""
    from pipeline.io.records import stamp_hashes

    monkeypatch.setattr(KnownRows, "memory_limit", 1)
    raw = [{"id": key, "title": "", "text": "bài"} for key in ("a", "b", "c", "d")]
    records = [dict(r) for r in raw]
    for record in records:
        stamp_hashes(record)
    b, d = records[1], records[3]
    known = {"a": ("x", "c", "y"), "e\ud800": ("x", "c", "y"), "b": (b["content_hash"], "c", b["input_hash"]),
             "c": (["not", "text"], {"a": 1}, 3), "d": (d["content_hash"], "c", None)}
    spilled = KnownRows(known.items())
    assert dict(spilled.items())["e\ud800"] == known["e\ud800"] and spilled.get("e\ud800") == known["e\ud800"]
    filters = [KeyFilter("id", "c", rows, set(), False) for rows in (known, spilled)]
    verdicts = [[f.verdict(r) for r in records] for f in filters]
    assert [f.split([dict(r) for r in raw], "run")[3] for f in filters] == [1, 1]  # "b" unchanged
    assert verdicts[0] == verdicts[1] == ["process", "unchanged", "process", "refresh"]
