"""Run state beside the output: what makes a killed run resumable and a repeated run a no-op.

``<output stem>.state/`` holds ``state.json`` (which output owns it, the run's identity, which
run, finished or not) and ``parts/``: one file per processed batch, written to a temporary name
and renamed, so a part either exists whole or not at all. A part covers input rows ``[start, end)``
and holds their output rows, refreshed rows (see :class:`pipeline.run.state.KeyFilter`) and
quarantine entries; the committed position of a run is the end of the last contiguous part. When
every row is in a part, the sink writes the final output in one atomic step (rename or
transaction), the state is marked complete with a signature of the committed output, and the
parts are removed.

The identity (input fingerprint, reading settings, processing config, mode) decides whether a run
continues the saved one; a complete run counts as done only while the output still carries the
signature recorded at its commit (deleted, edited or replaced results are computed again).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import OutputError
from pipeline.io.records import Quarantined, Record, output_row, stamp_hashes

STATE_VERSION = 2


def input_fingerprint(path: Path, files: list[Path] | None = None) -> str:
    """Identity of the input as it is now: paths, sizes and modification times (cheap, no reading).

    A file edited in place gets a new mtime, so a resumed run never mixes two versions of an input.
    ``files`` is the folder reader's own listing (what it reads and what it quarantines), so links
    it follows and entries it cannot read count exactly as the reader sees them; without it a
    folder's regular files are listed here.
    """
    if files is None:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    entries: list[tuple[str, int, int]] = []
    for file in files:
        name = file.relative_to(path).as_posix() if path.is_dir() else file.resolve().as_posix()
        try:
            st = file.stat()
            entries.append((name, st.st_size, st.st_mtime_ns))
        except OSError:  # a broken link: quarantined by the reader, part of the identity all the same
            entries.append((name, -1, -1))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def _fsync_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # disk full, quota, read-only folder: one paragraph, nothing half-written
        tmp.unlink(missing_ok=True)
        raise OutputError(
            f"Cannot write the run state {path}: {exc.strerror or exc}. Free space (or fix the folder) and run the "
            "same command again: finished batches are kept."
        ) from None


@dataclass
class Part:
    start: int
    end: int
    path: Path


@dataclass
class RunState:
    """The state directory of one output; see the module docstring."""

    directory: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def parts_dir(self) -> Path:
        return self.directory / "parts"

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @classmethod
    def open(cls, directory: Path, identity: dict[str, str], owner: str, resume: bool,
             output_signature: Callable[[], Any]) -> RunState:
        """Continue the unfinished run with the same ``identity``, or start a fresh one.

        ``identity`` holds what decides which rows are read and what they become (input
        fingerprint, reading settings, config hash, mode). A complete run is kept (the caller
        reports "up to date") only while ``output_signature()`` still equals the signature saved
        at its commit. ``owner`` names the output these side files belong to; side files of
        another output (``day.csv`` beside ``day.jsonl``) are refused, never taken over.

        Holds an exclusive lock on the state directory until the process ends, so two runs
        (say an overlapping cron job) never write the same output at once.
        """
        state = cls(directory)
        state._lock()
        previous = state._load()
        if previous is not None and previous.get("owner", owner) != owner:
            raise OutputError(
                f"The side files {directory.parent / directory.stem}.* (state, quarantine, manifest) belong to "
                f"output {previous['owner']}, not {owner}: two outputs with one name stem in one folder would "
                f"overwrite each other's quarantine and run state. Rename one output, or delete {directory} "
                "and the other output's side files if you no longer need them."
            )
        for stale in directory.glob("**/.*.tmp"):  # left by a run killed while writing a part
            stale.unlink(missing_ok=True)
        same = previous is not None and previous.get("version") == STATE_VERSION and all(
            previous.get(name) == value for name, value in identity.items()
        )
        if same and previous.get("status") == "complete" and previous.get("output_signature") != output_signature():
            same = False  # the committed output was deleted, edited or replaced since: compute it again
        if same and resume:
            state.data = previous
            return state
        if state.parts_dir.exists():
            shutil.rmtree(state.parts_dir)
        state.data = {
            "version": STATE_VERSION,
            "owner": owner,
            "run_id": uuid.uuid4().hex[:12],
            **identity,
            "status": "running",
        }
        state.save()
        return state

    def _lock(self) -> None:
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.directory / "lock", "w")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise OutputError(
                f"Another vnnews run is writing this output (lock {self.directory / 'lock'} is held); "
                "wait for it to finish, or give this run another output.path."
            ) from None

    def _load(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.directory / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def save(self) -> None:
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        _fsync_write(self.directory / "state.json", json.dumps(self.data, indent=2))

    @property
    def complete(self) -> bool:
        return self.data.get("status") == "complete"

    @property
    def resumed(self) -> bool:
        return bool(self.parts())

    # -- parts ------------------------------------------------------------------------------
    def parts(self) -> list[Part]:
        """Contiguous parts from row 0, in order (a stray non-contiguous part is ignored)."""
        found = []
        if self.parts_dir.exists():
            for p in self.parts_dir.glob("*.jsonl"):
                start, _, end = p.stem.partition("-")
                if start.isdigit() and end.isdigit():
                    found.append(Part(int(start), int(end), p))
        contiguous, position = [], 0
        for part in sorted(found, key=lambda p: p.start):
            if part.start != position:
                break
            contiguous.append(part)
            position = part.end
        return contiguous

    def committed_rows(self) -> int:
        parts = self.parts()
        return parts[-1].end if parts else 0

    def write_part(self, start: int, end: int, rows: list[Record], quarantined: list[Quarantined],
                   unchanged: int, refreshed: list[Record] = ()) -> None:
        """Save one batch: output rows, refreshed rows (new input fields, model fields to come from the
        previous output at commit), quarantine entries and the count of unchanged rows."""
        header = {"start": start, "end": end, "written": len(rows) + len(refreshed), "quarantined": len(quarantined),
                  "unchanged": unchanged, "refreshed": len(refreshed)}
        lines = [json.dumps(header)]
        lines += [json.dumps({"r": r}, ensure_ascii=False, default=str) for r in rows]
        lines += [json.dumps({"f": r}, ensure_ascii=False, default=str) for r in refreshed]
        lines += [json.dumps({"q": {**q.to_json(), "run_id": self.run_id}}, ensure_ascii=False, default=str)
                  for q in quarantined]
        _fsync_write(self.parts_dir / f"{start:012d}-{end:012d}.jsonl", "\n".join(lines) + "\n")

    def _lines(self, key: str) -> Iterator[dict[str, Any]]:
        for part in self.parts():
            with open(part.path, encoding="utf-8") as fh:
                next(fh)
                for line in fh:
                    item = json.loads(line)
                    if key in item:
                        yield item[key]

    def rows(self) -> Iterator[Record]:
        return self._lines("r")

    def refreshed(self) -> Iterator[Record]:
        return self._lines("f")

    def quarantined(self) -> Iterator[dict[str, Any]]:
        return self._lines("q")

    def counts(self) -> dict[str, int]:
        totals = {"read": 0, "written": 0, "quarantined": 0, "unchanged": 0, "refreshed": 0}
        for part in self.parts():
            with open(part.path, encoding="utf-8") as fh:
                header = json.loads(fh.readline())
            totals["read"] += header["end"] - header["start"]
            for key in ("written", "quarantined", "unchanged", "refreshed"):
                totals[key] += header[key]
        return totals

    def seen_keys(self, key: str) -> set[str]:
        """Keys already written in this run (to quarantine duplicates after a resume too)."""
        return {str(row.get(key)) for kind in ("r", "f") for row in self._lines(kind)}

    def finish(self, summary: dict[str, Any], output_signature: Any) -> None:
        """Mark the run complete (after the sink committed) with the committed output's signature; drop the parts."""
        self.data.update(status="complete", summary=summary, output_signature=output_signature)
        self.save()
        shutil.rmtree(self.parts_dir, ignore_errors=True)


class KeyFilter:
    """Before model work: quarantine rows without a key or with a repeated key, sort upsert rows.

    ``known`` maps the keys of the existing output to their ``(content_hash, config_hash,
    input_hash)``. A row whose three hashes match is unchanged (nothing to write); one whose content
    and config match but whose other input fields changed is refreshed (its new input fields are
    written with the previous row's model fields, see :func:`pipeline.io.writers.with_previous_fields`);
    every other row is processed.
    """

    def __init__(self, key: str, config_hash: str, known: dict[str, tuple], seen: set[str],
                 include_text: bool) -> None:
        self.key = key
        self.config_hash = config_hash
        self.known = known
        self.seen = seen
        self.include_text = include_text

    def missing(self, record: Record) -> Quarantined | None:
        """A row without its key cannot be upserted or checked for duplicates: a row problem."""
        if record.get(self.key) is None:
            return Quarantined(f"missing key field {self.key!r} (output.key)", record, "input", record.get("id"))
        return None

    def duplicate(self, record: Record) -> Quarantined | None:
        """Quarantine a repeated key (the first row with a key wins); remembers the key otherwise."""
        rkey = str(record.get(self.key))
        if rkey in self.seen:
            return Quarantined(f"duplicate {self.key} {rkey!r}: an earlier row of this input has it",
                               record, "input", record.get("id"))
        self.seen.add(rkey)
        return None

    def verdict(self, record: Record) -> str:
        """'unchanged', 'refresh' or 'process' for a stamped record."""
        known = tuple(self.known.get(str(record.get(self.key)), ()))
        if known[:2] != (record["content_hash"], self.config_hash):
            return "process"
        return "unchanged" if known[2:] == (record["input_hash"],) else "refresh"

    def refresh_row(self, record: Record, run_id: str) -> Record:
        """The new input fields of a refreshed row; its model fields are added at commit."""
        return {**output_row(record, self.include_text), "config_hash": self.config_hash, "run_id": run_id}

    def split(self, records: list[Record], run_id: str) -> tuple[list[Record], list[Record], list[Quarantined], int]:
        """(rows to process, refreshed rows, quarantined rows, count of unchanged rows)."""
        todo, refreshed, rejected, unchanged = [], [], [], 0
        for record in records:
            problem = self.missing(record)
            if problem is None:
                stamp_hashes(record)
                problem = self.duplicate(record)
            if problem is not None:
                rejected.append(problem)
                continue
            verdict = self.verdict(record)
            if verdict == "unchanged":
                unchanged += 1
            elif verdict == "refresh":
                refreshed.append(self.refresh_row(record, run_id))
            else:
                todo.append(record)
        return todo, refreshed, rejected, unchanged
