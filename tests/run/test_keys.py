"""Repeated keys and upsert verdicts (pipeline/run/keys.py): the key set, the known output rows, the key filter."""

from __future__ import annotations

import pytest

from pipeline.run.keys import KeyFilter, KeySet, KnownRows


def test_key_set_is_exact_across_merges():
    keys = KeySet()
    keys.recent_limit = 8  # merge into the sorted array often
    first = keys.add_all([f"k{i}" for i in range(50)] + ["k3", "k49", "new"])
    assert first == [True] * 50 + [False, False, True]
    assert keys.add_all(["k0", "k17", "k50", "k50"]) == [False, False, True, False]
    assert len(keys) == 52 and "k25" in keys and "k99" not in keys


def test_every_key_of_a_large_batch_is_looked_up_on_disk():
    """Keys on disk are looked up 500 to a query (SQLite's limit on parameters): a batch of 1,200 keys seen
    before finds every one of them, the last of each chunk too, and one key more is the only new one."""
    keys = KeySet()
    keys.recent_limit = 8
    seen = [f"k{i}" for i in range(1_200)]
    assert keys.add_all(seen) == [True] * 1_200
    assert keys.add_all([*seen, "new"]) == [False] * 1_200 + [True]
    assert keys._filter.nbytes == KeySet.filter_bits // 8 == 8 << 20  # one bit a slot: the 8 MB the docstring says


def test_key_filter_quarantines_repeats_in_input_order(tmp_path):
    records = [{"id": "a", "text": "x"}, {"text": "no key"}, {"id": "a", "text": "y"}, {"id": "b", "text": "z"}]
    todo, _, rejected, _ = KeyFilter("id", "c", {}, {"b"}, False).split(records, "run")
    assert [r["text"] for r in todo] == ["x"]
    assert [q.reason.split(" ")[0] for q in rejected] == ["missing", "duplicate", "duplicate"]


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


def test_a_key_kept_in_memory_that_comes_again_after_the_first_spill_counts_with_its_last_row(monkeypatch):
    """Rows go to disk 10,000 at a time: a key held in the dict that comes back once rows are on disk is answered
    from its last row (on disk), as a dict would answer, and counted once."""
    monkeypatch.setattr(KnownRows, "memory_limit", 2)
    rows = [("a", ("c-first", "g", "i")), ("b", ("c", "g", "i"))]
    rows += [(f"k{i}", (f"c{i}", "g", "i")) for i in range(10_000)] + [("a", ("c-last", "g", "i"))]
    known = KnownRows(rows)
    assert known._older is not None and known.get("a") == ("c-last", "g", "i")
    assert len(known) == 10_002 and dict(known.items()) == dict(rows)
    probe = [key for key, _ in rows[:1_200]]  # looked up on disk 500 to a query: every one found
    assert known.get_many(probe) == [dict(rows)[key] for key in probe]


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
