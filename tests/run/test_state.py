"""The run state (pipeline/run/state.py) without a whole run: parts, checkpoints, the verified prefix, damage."""

from __future__ import annotations

import json
import time
from itertools import chain

import pytest

from pipeline.errors import OutputError
from pipeline.io.records import Quarantined
from pipeline.run.keys import KeySet
from pipeline.run.state import RunState


def _open(tmp_path, seconds: float = 3600.0, megabytes: float = 32.0, resume: bool = True) -> RunState:
    return RunState.open(tmp_path / "out.state", {"config_hash": "c"}, "out.jsonl", "local", resume, lambda: None,
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
    state.save_batch(0, 4, _rows(0, 3), [], 0, refreshed=[{"id": "r1", "url": "u"}])
    run_id = state.run_id
    state.close()  # (another process, in a real resume)
    again = _open(tmp_path)
    assert again.run_id == run_id and again.committed_rows() == 4
    seen = KeySet(str(row["id"]) for row in chain(again.rows(), again.refreshed()))
    assert len(seen) == 4 and "a1" in seen and "r1" in seen and "a9" not in seen


def test_the_lock_is_held_until_close(tmp_path):
    """One writer per output: a second open of the same state fails while the first holds it (flock is per open
    file, so this holds within one process too), and succeeds once the first run closes its state."""
    first = _open(tmp_path)
    with pytest.raises(OutputError, match="Another vnnews run is writing this output"):
        _open(tmp_path)
    first.close()
    _open(tmp_path).close()


def _three_parts(tmp_path) -> RunState:
    state = _open(tmp_path, seconds=0)
    for start in (0, 3, 6):
        state.save_batch(start, start + 3, _rows(start, start + 3), [], 0)
    return state


def _part(state: RunState, start: int):
    return next(p.path for p in state.parts() if p.start == start)


def test_verify_passes_when_parts_cover_exactly_the_rows_read(tmp_path):
    state = _three_parts(tmp_path)
    assert state.verify(9) is None and state.committed_rows() == 9
    damage = state.verify(12)  # the runner read rows that no part holds
    assert damage.first_row == 9 and "rows 9-12 are in no part" in str(damage)
    state.save_batch(9, 12, _rows(9, 12), [], 0)
    _part(state, 3).unlink()  # a gap: the damage begins there; the parts after it are not named one by one
    assert state.verify(12).problems == ["rows 3-6 are in no part (a part file is missing)"]


@pytest.mark.parametrize(("harm", "says"), [
    (lambda path: path.unlink(), "rows 3-6 are in no part"),
    (lambda path: path.write_bytes(path.read_bytes()[:-7]), "cut short"),
    (lambda path: path.write_bytes(b"\0" * path.stat().st_size), "no readable header"),
    # quoted: the random run id in the header may hold "a4" too, and a changed run id is another damage
    (lambda path: path.write_bytes(path.read_bytes().replace(b'"a4"', b'"b4"')), "fails its checksum"),
    (lambda path: path.write_bytes(path.read_bytes().replace(path.read_bytes().split(b'"')[3], b"0ther0run000")),
     "belongs to run"),
    (lambda path: path.write_bytes(b""), "no readable header"),
    (lambda path: path.write_bytes(path.read_bytes() + b"{}\n"), "bytes after its last section"),
])
def test_a_part_removed_or_damaged_during_the_run_is_named_and_its_rows_computed_again(tmp_path, harm, says):
    state = _three_parts(tmp_path)
    harm(_part(state, 3))
    damage = state.verify(9)
    assert damage is not None and damage.first_row == 3 and says in str(damage)
    state.truncate()  # what the runner does before computing rows 3.. again
    assert [(p.start, p.end) for p in state.parts()] == [(0, 3)]
    assert len(list(state.parts_dir.iterdir())) == 1
    state.save_batch(3, 9, _rows(3, 9), [], 0)  # computed again
    assert state.verify(9) is None and [r["id"] for r in state.rows()] == [f"a{i}" for i in range(9)]


def test_parts_beyond_the_rows_read_are_removed_with_a_warning(tmp_path, caplog):
    """Every row read is covered, and a part holds rows the input no longer gives: the output is whole, and the
    stray part goes with a warning that says why (never silently)."""
    state = _three_parts(tmp_path)
    state.save_batch(9, 12, _rows(9, 12), [], 0)
    with caplog.at_level("WARNING"):
        assert state.verify(9) is None
    assert [(p.start, p.end) for p in state.parts()] == [(0, 3), (3, 6), (6, 9)]
    assert len(list(state.parts_dir.iterdir())) == 3
    assert "parts cover 12 rows, but the input gave 9; the file is removed" in caplog.text


def test_a_resumed_run_keeps_the_verified_prefix_and_drops_the_rest(tmp_path, caplog):
    state = _three_parts(tmp_path)
    middle = _part(state, 3)
    middle.write_bytes(middle.read_bytes()[:40])
    state.close()
    again = _open(tmp_path)
    assert again.committed_rows() == 3 and [p.start for p in again.parts()] == [0]
    assert len(list(again.parts_dir.iterdir())) == 1  # the cut part and the one after it are gone
    assert "computed again" in caplog.text and middle.name in caplog.text


def test_a_part_changed_after_verification_stops_the_commit_before_anything_is_written(tmp_path):
    state = _three_parts(tmp_path)
    assert state.verify(9) is None
    _part(state, 6).write_bytes(b"")
    with pytest.raises(OutputError, match="changed while this run read it"):
        b"".join(state.row_lines().blocks())
    _part(state, 3).unlink()  # removed (a temporary-file cleaner): named the same way, never a traceback
    with pytest.raises(OutputError, match=r"changed while this run read it: part \S+ can no longer be read \(No such"):
        b"".join(state.row_lines().blocks())


def test_a_part_edited_in_place_after_verification_stops_the_commit(tmp_path):
    """One byte changed, the length the same (an editor, a bit flip): the checksum catches it, not only the size."""
    state = _three_parts(tmp_path)
    assert state.verify(9) is None
    path = _part(state, 6)
    path.write_bytes(path.read_bytes().replace(b'"a7"', b'"b7"'))
    with pytest.raises(OutputError, match=r"changed while this run read it: part \S+ changed after it was checked"):
        b"".join(state.row_lines().blocks())


def test_a_batch_must_account_for_every_row_it_covers(tmp_path):
    state = _open(tmp_path)
    with pytest.raises(ValueError, match="accounts for 2 rows"):
        state.save_batch(0, 3, _rows(0, 2), [], 0)
    with pytest.raises(ValueError, match="rows 0-6 accounts for 5 rows"):  # each kind of row counts once
        state.save_batch(0, 6, _rows(0, 2), [Quarantined("bad", {"x": 1}, "row 3")], 1, refreshed=[{"id": "r"}])


@pytest.mark.parametrize(("damage", "says"), [
    (b"", "cannot be read (cut, zeroed or not JSON)"), (b"\0" * 64, "cannot be read (cut, zeroed or not JSON)"),
    (b"{\"run_id\": 3", "cannot be read (cut, zeroed or not JSON)"), (b"[1, 2]", "is not a vnnews run state"),
])
def test_an_unreadable_state_file_starts_the_run_over(tmp_path, damage, says, caplog):
    state = _three_parts(tmp_path)
    run_id = state.run_id
    state.close()
    path = tmp_path / "out.state" / "state.json"
    path.write_bytes(damage)
    again = _open(tmp_path)
    assert again.run_id != run_id and again.committed_rows() == 0 and not list(again.parts_dir.iterdir())
    assert f"run state {path} {says}: the run starts over" in caplog.text


def test_a_folder_where_the_state_file_belongs_is_named(tmp_path, caplog):
    """Not read (the reason in words) and not written over: one OutputError naming the file, never a traceback."""
    _three_parts(tmp_path).close()
    path = tmp_path / "out.state" / "state.json"
    path.unlink()
    path.mkdir()
    with pytest.raises(OutputError, match=f"Cannot write the run state {path}"):
        _open(tmp_path)
    assert f"run state {path} cannot be read (Is a directory): the run starts over" in caplog.text


@pytest.mark.parametrize("make", [
    lambda path: path.write_text("not a folder"),
    lambda path: (path.mkdir(), path.chmod(0o500)),
])
def test_a_state_folder_that_cannot_be_written_is_an_output_error(tmp_path, make):
    import os

    if os.geteuid() == 0 and "chmod" in repr(make.__code__.co_names):
        pytest.skip("root writes into a read-only folder")
    make(tmp_path / "out.state")
    with pytest.raises(OutputError, match="run state"):
        _open(tmp_path)


def test_a_lock_planted_as_a_link_is_refused_and_its_target_left_alone(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me")
    (tmp_path / "out.state").mkdir()
    (tmp_path / "out.state" / "lock").symlink_to(secret)
    with pytest.raises(OutputError, match=r"lock .* is a symbolic link"):
        _open(tmp_path)
    assert secret.read_text() == "keep me"



def _with_header(path, header) -> None:
    """Replace a part's header line with ``header`` (JSON text), keeping its sections."""
    data = path.read_bytes()
    path.write_bytes(header.encode() + b"\n" + data.split(b"\n", 1)[1])


# whole headers that lie, each in one field (applied to the part's real header)
LYING_HEADERS = {
    "counts that do not add up": lambda h: {**h, "counts": {**h["counts"], "written": h["counts"]["written"] + 1}},
    "a count missing": lambda h: {**h, "counts": {k: v for k, v in h["counts"].items() if k != "unchanged"}},
    "a negative count": lambda h: {**h, "counts": {**h["counts"], "refreshed": -1}},
    "an end before its start": lambda h: {**h, "start": h["end"], "end": h["start"]},
    "a start that is a boolean": lambda h: {**h, "start": True},
    "a run id that is a number": lambda h: {**h, "run_id": 7},
    "topics that are a list": lambda h: {**h, "topics": []},
    "sizes of two sections": lambda h: {**h, "sizes": h["sizes"][:2]},
    "sizes that are a mapping": lambda h: {**h, "sizes": dict(enumerate(h["sizes"]))},
    "a checksum missing": lambda h: {**h, "crc32": h["crc32"][:2]},
    "a negative checksum": lambda h: {**h, "crc32": [-1, *h["crc32"][1:]]},
    "a label that is a number": lambda h: {**h, "label": 3},
    "skipped counts that are a list": lambda h: {**h, "skipped": [1]},
}


@pytest.mark.parametrize("header", ["[1, 2]", "42", '"a part"', "null", "{}", *LYING_HEADERS])
def test_a_part_whose_header_is_json_but_not_a_part_header_is_damaged(tmp_path, header):
    state = _three_parts(tmp_path)
    path = _part(state, 3)
    if header in LYING_HEADERS:
        header = json.dumps(LYING_HEADERS[header](json.loads(path.read_bytes().split(b"\n", 1)[0])))
    _with_header(path, header)
    damage = state.verify(9)
    assert damage is not None and damage.first_row == 3 and f"part {path.name} has a malformed header" in str(damage)


def test_a_part_that_covers_no_rows_is_a_part(tmp_path):
    """A part of an input file without rows (the Ray runner saves one per finished file): start == end is whole."""
    state = _three_parts(tmp_path)
    state.write_part(9, 9, [], [], 0, label="empty.jsonl")
    state.close()
    again = _open(tmp_path)
    assert [(p.start, p.end, p.label) for p in again.parts()][-1] == (9, 9, "empty.jsonl")
    assert again.verify(9) is None and len(list(again.parts_dir.iterdir())) == 4


def test_a_part_that_cannot_be_read_says_why(tmp_path):
    state = _three_parts(tmp_path)
    path = _part(state, 3)
    path.unlink()
    path.mkdir()  # (what an operator's copy gone wrong leaves; root reads any file, so not a chmod)
    damage = state.verify(9)
    assert damage is not None and f"part {path.name} cannot be read (Is a directory)" in str(damage)


def test_stale_temporaries_that_cannot_be_removed_are_an_output_error(tmp_path, monkeypatch):
    import pipeline.run.state as state_module

    _three_parts(tmp_path).close()
    (tmp_path / "out.state" / "parts" / ".000000000009-000000000012-000004.part.0a1b2c3d.tmp").write_bytes(b"{")

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(state_module, "_discard", refuse)
    with pytest.raises(OutputError, match=r"Cannot clean the run state .*Permission denied"):
        _open(tmp_path)


def test_a_part_written_after_its_folder_was_removed_makes_the_folder_again(tmp_path, monkeypatch):
    """A cleaner empties the state folder mid-run, between parts or while one is written: the part makes the
    folder again (one retry), and verification names the rows whose part went with it."""
    import os
    import shutil

    state = _open(tmp_path, seconds=0)
    state.save_batch(0, 3, _rows(0, 3), [], 0)
    shutil.rmtree(state.directory)  # between parts
    assert state.save_batch(3, 6, _rows(3, 6), [], 0)
    replace = os.replace

    def cleaner_then_replace(src, dst):  # while a part is written: its temporary file goes with the folder
        monkeypatch.setattr(os, "replace", replace)
        shutil.rmtree(state.parts_dir)
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", cleaner_then_replace)
    assert state.save_batch(6, 9, _rows(6, 9), [], 0)
    assert [p.name for p in state.parts_dir.iterdir()] == [_part(state, 6).name]
    damage = state.verify(9)
    assert damage is not None and damage.first_row == 0 and "rows 0-6 are in no part" in str(damage)


def test_stale_temporaries_are_removed_when_the_state_opens(tmp_path):
    """What a kill leaves while a part or state.json is written (a hidden temporary, or a folder by that name)."""
    _three_parts(tmp_path).close()
    parts = tmp_path / "out.state" / "parts"
    stale = [parts / ".000000000009-000000000012-000004.part.0a1b2c3d.tmp",
             tmp_path / "out.state" / ".state.json.1234abcd.tmp"]
    stale[0].write_bytes(b"{")
    stale[1].mkdir()
    _open(tmp_path).close()
    assert not any(path.exists() for path in stale)


def test_the_lock_is_the_owners_alone(tmp_path):
    import stat

    _open(tmp_path).close()
    assert stat.S_IMODE((tmp_path / "out.state" / "lock").stat().st_mode) & 0o077 == 0


def test_a_link_to_nothing_where_the_parts_folder_goes_is_an_output_error(tmp_path):
    (tmp_path / "out.state").mkdir()
    (tmp_path / "out.state" / "parts").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match=r"Cannot create the run state .*parts"):
        _open(tmp_path)
    assert not (tmp_path / "nowhere").exists()


def test_batches_a_failed_checkpoint_could_not_save_wait_for_the_next(tmp_path, monkeypatch):
    """A checkpoint that fails (a full disk) keeps its batches: the next one saves them with the later ones."""
    import pipeline.run.state as state_module

    state = _open(tmp_path)
    state.save_batch(0, 3, _rows(0, 3), [], 0)
    write = state_module._fsync_write
    failures = []

    def full_disk_once(path, chunks, again=True):
        if not failures:
            failures.append(path)
            raise OutputError("Cannot write the run state: No space left on device.")
        return write(path, chunks, again)

    monkeypatch.setattr(state_module, "_fsync_write", full_disk_once)
    with pytest.raises(OutputError, match="No space"):
        state.checkpoint()
    state.save_batch(3, 6, _rows(3, 6), [], 0)
    state.checkpoint()
    assert [(p.start, p.end) for p in state.parts()] == [(0, 6)] and state.verify(6) is None
    assert [r["id"] for r in state.rows()] == [f"a{i}" for i in range(6)]


def test_a_checkpoint_comes_when_the_batches_kept_reach_checkpoint_bytes_exactly(tmp_path):
    from pipeline.run.state import _serialize

    def row(i: int, n: int) -> list[dict]:
        return [{"id": f"a{i}", "topic": "Thể thao", "summary": "x" * n}]

    bound = _serialize(0, 1, row(0, 50), [], 0, [], "run").size
    assert _serialize(0, 1, row(1, 49), [], 0, [], "run").size == bound - 1
    fresh = _open(tmp_path / "fresh", megabytes=bound / (1 << 20))
    assert not fresh.save_batch(0, 1, row(0, 49), [], 0)  # a new state counts from nothing too
    fresh.close()
    state = _open(tmp_path, megabytes=bound / (1 << 20))
    assert state.save_batch(0, 1, row(0, 50), [], 0)  # the bound itself
    assert state.save_batch(1, 2, row(1, 50), [], 0)  # again: after a checkpoint, counting starts from nothing
    assert not state.save_batch(2, 3, row(2, 49), [], 0)  # a byte short of it
    assert state.save_batch(3, 4, row(3, 1), [], 0)
    assert [(p.start, p.end) for p in state.parts()] == [(0, 1), (1, 2), (2, 4)]


def test_parts_are_numbered_from_one_and_never_change_once_verified(tmp_path):
    import dataclasses

    state = _three_parts(tmp_path)
    assert [p.path.name.rpartition("-")[2] for p in state.parts()] == ["000001.part", "000002.part", "000003.part"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.parts()[0].end = 99


def test_a_state_of_the_previous_format_starts_over(tmp_path):
    """Version 3 named its parts otherwise: a running state it left is never resumed, its files never read."""
    state = _three_parts(tmp_path)
    state.close()
    path = tmp_path / "out.state" / "state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": 3}))
    again = _open(tmp_path)
    assert again.committed_rows() == 0 and not list(again.parts_dir.iterdir())


def test_parts_that_cannot_be_cleared_name_the_state_folder(tmp_path, monkeypatch):
    """A fresh start clears the parts of the run before it; when that fails the error names the folder to fix (the
    state folder, not the parts folder inside it), never a traceback."""
    import shutil

    from pipeline.run import state as state_module

    state = _three_parts(tmp_path)
    state.close()

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", refuse)
    with pytest.raises(OutputError) as caught:
        _open(tmp_path, resume=False)
    assert str(caught.value).startswith(
        f"Cannot clear the run state {tmp_path / 'out.state' / 'parts'}: Permission denied. The run state is the "
        f"folder {tmp_path / 'out.state'} beside the output")
    assert state_module._state_error(tmp_path / "out.state", OSError(28, "No space left on device"), "write").args[0] \
        .startswith(f"Cannot write the run state {tmp_path / 'out.state'}: No space left on device. The run state is "
                    f"the folder {tmp_path / 'out.state'} beside")


def test_checkpoint_seconds_0_saves_every_batch_even_when_the_clock_has_not_moved(tmp_path, monkeypatch):
    """0 means after every batch (the config's description), also where two readings of a coarse clock are equal."""
    from pipeline.run import state as state_module

    state = _open(tmp_path, seconds=0.0)
    stopped = time.monotonic() + 1.0  # (after the state opened: its first checkpoint is due by any rule)
    monkeypatch.setattr(state_module.time, "monotonic", lambda: stopped)
    assert state.save_batch(0, 4, _rows(0, 4), [], 0) and state.save_batch(4, 8, _rows(4, 8), [], 0)
    assert state.committed_rows() == 8 and len(state.parts()) == 2


def test_a_finished_run_is_complete_even_when_its_parts_cannot_be_removed(tmp_path):
    """The output is committed before finish() drops the parts: parts that cannot be removed (here a link put where
    the folder was, which rmtree refuses; a folder without write permission does the same for a user) never turn a
    finished run into a failed one."""
    import shutil

    state = _three_parts(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(state.parts_dir, elsewhere)
    state.parts_dir.symlink_to(elsewhere)
    state.finish({"read": 9}, None)  # (None: the output signature _open compares with, for a state without output)
    state.close()
    again = _open(tmp_path)
    assert again.complete and again.data["summary"] == {"read": 9}
    again.close()


def test_a_run_state_shows_its_folder_and_data_not_its_bookkeeping(tmp_path):
    """What a debugger or a log line shows of a RunState: the folder, the policy and state.json's data; never the
    batches waiting for a checkpoint (megabytes of rows) nor the other private fields."""
    import re

    state = _three_parts(tmp_path)
    state.checkpoint_seconds = 3600.0
    state.save_batch(9, 12, _rows(9, 12), [], 0)  # kept, not yet written
    shown = repr(state)
    assert shown.startswith("RunState(directory=") and "checkpoint_bytes=" in shown and state.run_id in shown
    assert not re.search(r"\b_\w+=", shown) and "a10" not in shown


def test_the_verified_prefix_ends_at_the_first_part_that_overlaps_it(tmp_path):
    """Two verified parts of this run claim row 5 (a part copied under another name): which holds the right rows
    cannot be told, so the prefix ends before the second one and every row after it is computed again."""
    from pipeline.run.state import _serialize, encode_part

    state = _three_parts(tmp_path)
    saved = _serialize(5, 6, _rows(5, 6), [], 0, [], state.run_id)
    extra = state.parts_dir / "000000000005-000000000006-000099.part"
    extra.write_bytes(b"".join(encode_part(state.run_id, 5, 6, saved.counts, saved.topics, list(saved.sections))))
    damage = state.verify(9)
    assert damage is not None and damage.first_row == 6 and f"part {extra.name} overlaps rows already covered" \
        in str(damage)
    state.truncate()
    assert [(p.start, p.end) for p in state.parts()] == [(0, 3), (3, 6)] and not extra.exists()


def test_a_temporary_part_removed_before_its_rename_is_written_again(tmp_path, monkeypatch):
    """A cleaner removes the hidden temporary file of a part while the folder stays: the part is written again."""
    import os

    state = _open(tmp_path, seconds=0)
    replace = os.replace

    def cleaner_then_replace(src, dst):
        monkeypatch.setattr(os, "replace", replace)
        os.unlink(src)
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", cleaner_then_replace)
    assert state.save_batch(0, 3, _rows(0, 3), [], 0)
    assert state.verify(3) is None and [r["id"] for r in state.rows()] == ["a0", "a1", "a2"]


def test_state_folders_that_cannot_be_made_or_cleaned_and_a_folder_that_keeps_vanishing_are_output_errors(
        tmp_path, monkeypatch):
    """A parts folder that cannot be made again, a damaged part that cannot be deleted, and a folder that vanishes
    again after it was made: each is one OutputError naming the state folder, never a traceback or a loop."""
    import os
    import shutil
    from pathlib import Path

    from pipeline.run import state as state_module

    state = _open(tmp_path, seconds=0)
    shutil.rmtree(state.parts_dir)
    mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(OutputError, match=r"Cannot create the run state .*parts: Permission denied"):
        state.save_batch(0, 3, _rows(0, 3), [], 0)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    state.parts_dir.mkdir()

    tries = []
    replace = os.replace

    def cleaner_every_time(src, dst):  # the folder goes again after every write
        tries.append(dst)
        shutil.rmtree(Path(dst).parent)
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", cleaner_every_time)
    with pytest.raises(OutputError, match="Cannot write the run state"):
        state.checkpoint()
    assert len(tries) == 2  # the write and one retry after the folder was made again
    monkeypatch.setattr(os, "replace", replace)

    state = _three_parts(tmp_path / "other")
    _part(state, 3).write_bytes(b"")
    assert state.verify(9) is not None
    monkeypatch.setattr(state_module, "_discard", lambda path: refuse(path))
    with pytest.raises(OutputError, match=rf"Cannot clean the run state {state.parts_dir}: Permission denied"):
        state.truncate()


def test_a_state_without_parts_covers_no_rows(tmp_path, caplog):
    """An input that gave no rows: a state with no part covers exactly them, nothing to repair or warn about."""
    state = _open(tmp_path)
    assert state.verify(0) is None and state.committed_rows() == 0
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []


def test_a_file_that_vanishes_while_the_state_is_cleaned_is_no_error(tmp_path, monkeypatch):
    """A temporary-file cleaner may remove a damaged part, or a killed run's temporary, between the listing and
    the removal: what is gone needs no removing, and the run goes on."""
    state = _three_parts(tmp_path)
    _part(state, 3).write_bytes(b"")
    listed = RunState._part_files

    def listing_then_cleaner(self):
        files = listed(self)
        for path in files[1:]:
            path.unlink()  # gone after it was listed
        return files

    assert state.verify(9).first_row == 3
    monkeypatch.setattr(RunState, "_part_files", listing_then_cleaner)
    state.truncate()
    monkeypatch.undo()
    assert [(p.start, p.end) for p in state.parts()] == [(0, 3)]
    state.close()
    stray = state.directory / ".state.json.0123abcd.tmp"
    stray.write_bytes(b"")
    glob = type(state.directory).glob

    def glob_then_cleaner(self, pattern):
        found = list(glob(self, pattern))
        for path in found:
            path.unlink()
        return found

    monkeypatch.setattr(type(state.directory), "glob", glob_then_cleaner)
    assert _open(tmp_path).committed_rows() == 3


def test_a_folders_fingerprint_names_its_files_relative_to_it(tmp_path):
    """A folder of inputs renamed or moved (its files untouched) is the same input; a file changed in it is not."""
    import os

    from pipeline.run.state import input_fingerprint

    folder = tmp_path / "news"
    (folder / "day").mkdir(parents=True)
    (folder / "day" / "a.jsonl").write_text('{"id": 1}\n')
    (folder / "b.jsonl").write_text('{"id": 2}\n')
    before = input_fingerprint(folder)
    os.rename(folder, tmp_path / "moved")
    assert input_fingerprint(tmp_path / "moved") == before
    (tmp_path / "moved" / "b.jsonl").write_text('{"id": 3}\n')
    assert input_fingerprint(tmp_path / "moved") != before
