"""The run state of one output: what makes a killed run resumable, a repeated run a no-op, and the output whole.

The protocol, in full (docs/run-protocol.md draws it)::

    <stem>.state/
      lock          flock held by the one run writing this output
      state.json    owner (the output), run_id, runner, identity, status: running | complete
                    (+ summary and the committed output's signature once complete)
      parts/        one file per checkpoint: <start>-<end>-<n>.part (input rows [start, end), the n-th part)

A **part** is one header line of JSON, then three sections of JSONL: output rows (exactly as a
JSONL output holds them), refreshed rows and quarantine entries. The header says which run wrote
it (``run_id``), which input rows it covers (``start``, ``end``: every row in ``[start, end)`` is
in exactly one of its sections, or unchanged), its counts, the byte length and CRC-32 of each
section, and an optional ``label`` (the Ray runner's input file). A part is written to a temporary
name, fsynced and renamed, so it exists whole or not at all; :func:`load_part` re-checks all of
that on every read, so a part that was cut, zeroed, edited, copied from another run or renamed is
*damaged*: named in one line and never used.

A run **resumes** at the end of its verified prefix: the parts that, sorted by ``start``, cover
``[0, n)`` without gap or overlap. Parts beyond a gap or damage are deleted when the run opens,
and their rows are computed again.

A run **commits** only when :meth:`RunState.verify` says that the verified parts cover exactly
the rows the runner read, ``[0, rows_read)``. Anything else (a part removed or damaged while the
run went on) is :class:`Damage`: the runner computes those rows again before committing, so the
output can never be short. The sink then writes the output in one atomic step (rename or
transaction), reading each section through the same checks; the state is marked ``complete``
with the signature of what was committed, and the parts are removed.

A run is **up to date** only while ``state.json`` is complete, its identity (input fingerprint,
reading settings, processing config, mode, format) equals this run's, and the output still
carries the signature recorded at its commit.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError, OutputError
from pipeline.io.records import Quarantined, Record
from pipeline.io.writers import JsonlRows, dumps_bytes

log = logging.getLogger(__name__)

STATE_VERSION = 4
SECTIONS = ("rows", "refreshed", "quarantined")
COUNTS = ("written", "quarantined", "unchanged", "refreshed")
# A header holds counts, topic names and a label: far below this. A longer first line is not a header.
MAX_HEADER_BYTES = 1 << 20


def input_fingerprint(path: Path, files: list[Path] | None = None) -> str:
    """Identity of the input as it is now: paths, sizes, modification and change times (cheap, no reading).

    A file edited in place gets a new mtime; one replaced by another of the same size and mtime
    (``cp -p``, ``rsync -t``, ``tar x``) still gets a new change time (``st_ctime``, which no tool can set)
    and usually a new inode, so a resumed run never mixes two versions of an input.
    ``files`` is the folder reader's own listing (what it reads and what it quarantines), so links
    it follows and entries it cannot read count exactly as the reader sees them; without it a
    folder's regular files are listed here.
    """
    if files is None:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    entries: list[tuple[str, int, int, int, int] | tuple[str, None]] = []
    for file in files:
        name = file.relative_to(path).as_posix() if path.is_dir() else file.resolve().as_posix()
        try:
            st = file.stat()
            entries.append((name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
        except OSError:  # a broken link: quarantined by the reader, part of the identity all the same
            entries.append((name, None))
    return hashlib.sha256(json.dumps(entries).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _state_error(path: Path, exc: OSError, what: str) -> OutputError:
    return OutputError(
        f"Cannot {what} the run state {path}: {exc.strerror or exc}. The run state is the folder "
        f"{path if path.name.endswith('.state') else path.parent} beside the output; make it a writable folder "
        "(or move away what stands there) and run the same command again."
    )


def _fsync_write(path: Path, chunks: list[bytes], again: bool = True) -> None:
    """Write ``path`` whole or not at all: a temporary name, fsync, rename. A folder removed meanwhile (a cleaner
    emptying the state folder while the file was written) is made again, and the file written once more."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.writelines(chunks)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # disk full, quota, read-only folder: one paragraph, nothing half-written
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOENT and again:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as cause:
                raise _state_error(path.parent, cause, "create") from None
            return _fsync_write(path, chunks, again=False)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutputError(
                f"Cannot write the run state {path}: {exc.strerror}. Free space and run the same command again: "
                "finished batches are kept."
            ) from None
        raise _state_error(path, exc, "write") from None


def _discard(path: Path) -> None:
    """Remove what stands at ``path`` inside the state folder: a file, or a folder that is no part of the protocol."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# -- parts -------------------------------------------------------------------------------------


class PartDamaged(Exception):
    """A part file that cannot be trusted; the message is one line naming the file and what is wrong."""


@dataclass(frozen=True)
class Part:
    """A verified part: the input rows ``[start, end)`` of run ``run_id``, and where its sections lie."""

    path: Path
    run_id: str
    start: int
    end: int
    counts: dict[str, int]
    topics: dict[str, int]
    label: str | None
    skipped: dict[str, int]
    offsets: tuple[int, ...]  # byte offset of each section in the file
    sizes: tuple[int, ...]
    crcs: tuple[int, ...]

    def section(self, name: str) -> bytes:
        """One section's bytes, checked again against the header (the file may have changed since)."""
        index = SECTIONS.index(name)
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offsets[index])
                block = fh.read(self.sizes[index])
        except OSError as exc:
            raise PartDamaged(f"part {self.path.name} can no longer be read ({exc.strerror or exc})") from None
        if len(block) != self.sizes[index] or zlib.crc32(block) != self.crcs[index]:
            raise PartDamaged(f"part {self.path.name} changed after it was checked ({name} section)")
        return block


def encode_part(run_id: str, start: int, end: int, counts: dict[str, int], topics: dict[str, int],
                sections: list[bytes], label: str | None = None, skipped: dict[str, int] | None = None) -> list[bytes]:
    """A part file's bytes: the header line, then the sections."""
    header = {"run_id": run_id, "start": start, "end": end, "counts": counts, "topics": topics,
              "sizes": [len(s) for s in sections], "crc32": [zlib.crc32(s) for s in sections]}
    if label is not None:
        header["label"] = label
    if skipped:
        header["skipped"] = skipped
    return [json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n", *sections]


def load_part(path: Path, run_id: str) -> Part:
    """The part at ``path`` when it is whole, of run ``run_id`` and consistent; :class:`PartDamaged` otherwise."""
    name = path.name
    try:
        with open(path, "rb") as fh:
            line = fh.readline(MAX_HEADER_BYTES)
            try:
                header = json.loads(line)
            except ValueError:
                raise PartDamaged(f"part {name} has no readable header (cut, zeroed or not a part)") from None
            if not isinstance(header, dict) or not _valid_header(header):
                raise PartDamaged(f"part {name} has a malformed header")
            if header["run_id"] != run_id:
                raise PartDamaged(f"part {name} belongs to run {header['run_id']!r}, not to this run {run_id!r}")
            offsets, position = [], len(line)
            for size, crc in zip(header["sizes"], header["crc32"], strict=True):
                block = fh.read(size)
                if len(block) != size:
                    raise PartDamaged(f"part {name} is cut short ({len(block):,} of {size:,} bytes in a section)")
                if zlib.crc32(block) != crc:
                    raise PartDamaged(f"part {name} fails its checksum (its bytes changed after it was written)")
                offsets.append(position)
                position += size
            if fh.read(1):
                raise PartDamaged(f"part {name} has bytes after its last section")
    except OSError as exc:
        raise PartDamaged(f"part {name} cannot be read ({exc.strerror or exc})") from None
    counts = header["counts"]
    return Part(path, run_id, header["start"], header["end"], {k: counts[k] for k in COUNTS}, header["topics"],
                header.get("label"), header.get("skipped", {}), tuple(offsets), tuple(header["sizes"]),
                tuple(header["crc32"]))


def _valid_header(h: dict[str, Any]) -> bool:
    def count(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    return (isinstance(h.get("run_id"), str) and count(h.get("start")) and count(h.get("end"))
            and h["start"] <= h["end"] and isinstance(h.get("counts"), dict)
            and all(count(h["counts"].get(k)) for k in COUNTS)
            and h["counts"]["written"] + h["counts"]["quarantined"] + h["counts"]["unchanged"] == h["end"] - h["start"]
            and isinstance(h.get("topics"), dict)
            and isinstance(h.get("sizes"), list) and len(h["sizes"]) == len(SECTIONS) and all(map(count, h["sizes"]))
            and isinstance(h.get("crc32"), list) and len(h["crc32"]) == len(SECTIONS) and all(map(count, h["crc32"]))
            and isinstance(h.get("label", ""), str) and isinstance(h.get("skipped", {}), dict))


@dataclass
class Damage:
    """Why the parts do not cover the rows read: one line per problem, and the first row to compute again."""

    first_row: int
    problems: list[str]

    def __str__(self) -> str:
        return "; ".join(self.problems)


def _prefix(parts: list[Part], problems: list[str]) -> tuple[list[Part], int]:
    """The parts that cover ``[0, n)`` in order without gap or overlap, and ``n``; the rest is a problem."""
    prefix, position = [], 0
    for part in sorted(parts, key=lambda p: (p.start, p.end, p.path.name)):
        if part.start == position:
            prefix.append(part)
            position = part.end
        elif part.start > position:
            problems.append(f"rows {position:,}-{part.start:,} are in no part (a part file is missing)")
            break
        else:
            problems.append(f"part {part.path.name} overlaps rows already covered (rows {part.start:,}-{part.end:,})")
            break
    return prefix, position


# -- the batches of one checkpoint ---------------------------------------------------------------------


def _lines(items: Iterable[Any]) -> bytes:
    return b"".join(dumps_bytes(item) + b"\n" for item in items)


@dataclass
class _Saved:
    """One batch, serialized, waiting in memory for the next checkpoint."""

    start: int
    end: int
    counts: dict[str, int]
    topics: Counter
    sections: tuple[bytes, bytes, bytes]

    @property
    def size(self) -> int:
        return sum(len(s) for s in self.sections)


def _serialize(start: int, end: int, rows: list[Record], quarantined: list[Quarantined], unchanged: int,
               refreshed: list[Record], run_id: str) -> _Saved:
    if len(rows) + len(refreshed) + len(quarantined) + unchanged != end - start:
        raise ValueError(f"a batch of rows {start}-{end} accounts for "
                         f"{len(rows) + len(refreshed) + len(quarantined) + unchanged} rows")
    counts = {"written": len(rows) + len(refreshed), "quarantined": len(quarantined), "unchanged": unchanged,
              "refreshed": len(refreshed)}
    topics = Counter(str(r["topic"]) for r in rows if r.get("topic") is not None)
    sections = (_lines(rows), _lines(refreshed), _lines({**q.to_json(), "run_id": run_id} for q in quarantined))
    return _Saved(start, end, counts, topics, sections)


# -- the state ---------------------------------------------------------------------------------------


@dataclass
class RunState:
    """The state directory of one output; see the module docstring for the protocol."""

    directory: Path
    # Checkpoint policy of :meth:`save_batch`: the config's runner.checkpoint_seconds and checkpoint_mb.
    checkpoint_seconds: float
    checkpoint_bytes: int
    data: dict[str, Any] = field(default_factory=dict)
    _parts: list[Part] = field(default_factory=list, repr=False)  # the verified prefix, in order
    _next_seq: int = field(default=1, repr=False)
    _pending: list[_Saved] = field(default_factory=list, repr=False)
    _pending_bytes: int = field(default=0, repr=False)
    _last_checkpoint: float = field(default_factory=time.monotonic, repr=False)

    @property
    def parts_dir(self) -> Path:
        return self.directory / "parts"

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @classmethod
    def open(cls, directory: Path, identity: dict[str, str], owner: str, runner: str, resume: bool,
             output_signature: Callable[[], Any], checkpoint_seconds: float, checkpoint_bytes: int) -> RunState:
        """Continue the unfinished run with the same ``identity``, or start a fresh one.

        ``identity`` holds what decides which rows are read and what they become (input fingerprint,
        reading settings, config hash, mode, format). A complete run is kept (the caller reports "up
        to date") only while ``output_signature()`` still equals the signature saved at its commit.
        ``owner`` names the output these side files belong to; side files of another output are
        refused, never taken over. ``runner`` is the runner kind that writes the parts.

        Holds an exclusive lock on the state directory until :meth:`close`, so two runs (say an
        overlapping cron job) never write the same output at once.
        """
        state = cls(directory, checkpoint_seconds=checkpoint_seconds, checkpoint_bytes=checkpoint_bytes)
        state._lock()
        try:
            state._open(identity, owner, runner, resume, output_signature)
        except BaseException:
            state.close()
            raise
        return state

    def _open(self, identity: dict[str, str], owner: str, runner: str, resume: bool,
              output_signature: Callable[[], Any]) -> None:
        previous = self._load()
        if previous is not None and previous.get("owner", owner) != owner:
            raise OutputError(
                f"The side files {self.directory.parent / self.directory.stem}.* (state, quarantine, manifest) "
                f"belong to output {previous['owner']}, not {owner}: two outputs with one name stem in one folder "
                f"would overwrite each other's quarantine and run state. Rename one output, or delete "
                f"{self.directory} and the other output's side files if you no longer need them."
            )
        try:
            for stale in self.directory.glob("**/.*.tmp"):  # left by a run killed while writing a part
                _discard(stale)
        except OSError as exc:
            raise _state_error(self.directory, exc, "clean") from None
        same = previous is not None and previous.get("version") == STATE_VERSION and all(
            previous.get(name) == value for name, value in identity.items()
        )
        if same and previous.get("status") == "complete" and previous.get("output_signature") != output_signature():
            same = False  # the committed output was deleted, edited or replaced since: compute it again
        if same and resume and previous.get("status") == "complete":
            self.data = previous
            return
        if same and resume and previous.get("runner", "local") != runner and self._part_files():
            raise ConfigError(
                f"The unfinished run in {self.directory} was started by the {previous.get('runner', 'local')} runner; "
                f"its saved parts are not what the {runner} runner resumes from. Finish it with runner.kind: "
                f"{previous.get('runner', 'local')}, or set runner.resume: false to start over."
            )
        if same and resume:
            self.data = previous
            self._keep_verified_prefix()
            return
        self._remove_parts()
        self.data = {"version": STATE_VERSION, "owner": owner, "run_id": uuid.uuid4().hex[:12], "runner": runner,
                     **identity, "status": "running"}
        self.save()

    def _lock(self) -> None:
        import fcntl

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a link planted as the lock (to /etc/passwd, say) is refused, never opened for writing
            fd = os.open(self.directory / "lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            self._lock_file = os.fdopen(fd, "w")
        except FileExistsError as exc:
            raise _state_error(self.directory, exc, "create") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputError(
                    f"The run state's lock {self.directory / 'lock'} is a symbolic link: vnnews never writes through "
                    "one. Remove it (the run state folder holds only files vnnews wrote) and run the same command "
                    "again."
                ) from None
            raise _state_error(self.directory, exc, "open") from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise OutputError(
                f"Another vnnews run is writing this output (lock {self.directory / 'lock'} is held); "
                "wait for it to finish, or give this run another output.path."
            ) from None

    def close(self) -> None:
        """Release the lock: the run is over (committed, up to date or stopped); its state stays on disk.

        Without it, a run stopped in a Python session (Ctrl-C in a notebook, whose traceback keeps the
        state alive) would hold the lock, and the same job started again there would find it taken.
        """
        lock = getattr(self, "_lock_file", None)
        if lock is not None:
            lock.close()

    def _load(self) -> dict[str, Any] | None:
        path = self.directory / "state.json"
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("run state %s cannot be read (%s): the run starts over", path,
                        getattr(exc, "strerror", None) or "cut, zeroed or not JSON")
            return None
        if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
            log.warning("run state %s is not a vnnews run state: the run starts over", path)
            return None
        return data

    def save(self) -> None:
        try:
            self.parts_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _state_error(self.parts_dir, exc, "create") from None
        _fsync_write(self.directory / "state.json", [json.dumps(self.data, indent=2).encode("utf-8")])

    @property
    def complete(self) -> bool:
        return self.data.get("status") == "complete"

    # -- parts ------------------------------------------------------------------------------
    def _part_files(self) -> list[Path]:
        try:
            return sorted(p for p in self.parts_dir.iterdir() if not p.name.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _state_error(self.parts_dir, exc, "read") from None

    def _scan(self) -> tuple[list[Part], list[str]]:
        """Every part file checked: the verified prefix, and one line per problem found."""
        parts, problems = [], []
        for path in self._part_files():
            try:
                parts.append(load_part(path, self.run_id))
            except PartDamaged as exc:
                problems.append(str(exc))
        prefix, _ = _prefix(parts, problems)
        return prefix, problems

    def _keep_verified_prefix(self) -> None:
        """On resume: keep the verified prefix; delete every other part file, saying why in one line each."""
        prefix, problems = self._scan()
        for problem in problems:
            log.warning("run state %s: %s; its rows are computed again", self.directory, problem)
        self._parts = prefix
        self.truncate()

    @staticmethod
    def _seq_after(parts: list[Part]) -> int:
        numbers = [int(n) for p in parts if (n := p.path.stem.rpartition("-")[2]).isdigit()]
        return max(numbers, default=0) + 1

    def _remove_parts(self) -> None:
        try:
            if self.parts_dir.exists():
                shutil.rmtree(self.parts_dir)
        except OSError as exc:
            raise _state_error(self.parts_dir, exc, "clear") from None
        self._parts, self._next_seq = [], 1

    def parts(self) -> list[Part]:
        """The verified parts of this run, in input order (what a commit writes)."""
        return list(self._parts)

    def committed_rows(self) -> int:
        """Input rows saved in verified parts: where a resumed run starts (batches in memory are not counted)."""
        return self._parts[-1].end if self._parts else 0

    def verify(self, rows_read: int) -> Damage | None:
        """Check every part file again: None when the verified parts cover exactly ``[0, rows_read)``.

        Otherwise the :class:`Damage` names each problem (a part removed, cut, zeroed, edited or
        foreign) and the first row from which the rows must be computed again. The state keeps the
        verified prefix either way (:meth:`truncate` deletes the rest).
        """
        self.checkpoint()
        parts, problems = self._scan()
        covered = parts[-1].end if parts else 0
        if covered > rows_read:
            problems.append(f"parts cover {covered:,} rows, but the input gave {rows_read:,}")
        self._parts = [p for p in parts if p.end <= rows_read]
        if self.committed_rows() == rows_read:  # every row is covered: other files are strays
            for problem in problems:
                log.warning("run state %s: %s; the file is removed", self.directory, problem)
            self.truncate()
            return None
        return Damage(self.committed_rows(), problems or [
            f"rows {self.committed_rows():,}-{rows_read:,} are in no part (a part file is missing)"])

    def truncate(self) -> None:
        """Delete every part file outside the verified prefix (after :meth:`verify` found damage)."""
        keep = {p.path for p in self._parts}
        try:
            for path in self._part_files():
                if path not in keep:
                    _discard(path)
        except OSError as exc:
            raise _state_error(self.parts_dir, exc, "clean") from None
        self._next_seq = max(self._next_seq, self._seq_after(self._parts))

    def write_part(self, start: int, end: int, rows: list[Record], quarantined: list[Quarantined],
                   unchanged: int, refreshed: list[Record] = (), label: str | None = None,
                   skipped: dict[str, int] | None = None) -> None:
        """Save one batch now, as its own part (``label``, ``skipped``: the Ray runner's input file and
        the records it read past). Batches kept by :meth:`save_batch` are written first."""
        self.checkpoint()
        self._write([_serialize(start, end, rows, quarantined, unchanged, list(refreshed), self.run_id)],
                    label, skipped)

    def save_batch(self, start: int, end: int, rows: list[Record], quarantined: list[Quarantined],
                   unchanged: int, refreshed: list[Record] = ()) -> bool:
        """Keep one batch for the next checkpoint: output rows, refreshed rows (new input fields; model fields
        come from the previous output at commit), quarantine entries and the count of unchanged rows, which
        together account for every row in ``[start, end)``. Writes the batches kept so far as one part when
        ``checkpoint_seconds`` have passed since the last or they hold ``checkpoint_bytes``; returns whether it
        wrote a part. A kill loses the batches not yet written, which a rerun computes again."""
        saved = _serialize(start, end, rows, quarantined, unchanged, list(refreshed), self.run_id)
        self._pending.append(saved)  # one append: an interrupt never leaves half a batch in the list
        self._pending_bytes += saved.size
        if (time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds
                or self._pending_bytes >= self.checkpoint_bytes):
            self.checkpoint()
            return True
        return False

    def checkpoint(self) -> None:
        """Write the batches kept by :meth:`save_batch` as one part (nothing when none are kept)."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        self._last_checkpoint = time.monotonic()
        if pending:
            try:
                self._write(pending)
            except BaseException:
                self._pending = pending + self._pending  # still unsaved: a later checkpoint may save them
                self._pending_bytes = sum(b.size for b in self._pending)
                raise

    def _write(self, batches: list[_Saved], label: str | None = None, skipped: dict[str, int] | None = None) -> None:
        start, end = batches[0].start, batches[-1].end
        if start != self.committed_rows():
            raise ValueError(f"a part must start where the saved rows end ({self.committed_rows()}), not at {start}")
        counts = {name: sum(b.counts[name] for b in batches) for name in COUNTS}
        topics = dict(sum((b.topics for b in batches), Counter()))
        sections = [b"".join(b.sections[i] for b in batches) for i in range(len(SECTIONS))]
        path = self.parts_dir / f"{start:012d}-{end:012d}-{self._next_seq:06d}.part"
        chunks = encode_part(self.run_id, start, end, counts, topics, sections, label, skipped)
        _fsync_write(path, chunks)
        offsets, position = [], len(chunks[0])
        for section in sections:
            offsets.append(position)
            position += len(section)
        self._parts.append(Part(path, self.run_id, start, end, counts, topics, label, dict(skipped or {}),
                                tuple(offsets), tuple(len(s) for s in sections),
                                tuple(zlib.crc32(s) for s in sections)))
        self._next_seq += 1

    # -- what the parts hold ------------------------------------------------------------------
    def _section(self, name: str) -> Iterator[bytes]:
        """The bytes of one section of every verified part, part by part (whole JSONL lines each)."""
        for part in self.parts():
            try:
                block = part.section(name)
            except PartDamaged as exc:
                raise OutputError(
                    f"The run state changed while this run read it: {exc}. Nothing was written; run the same "
                    "command again (the damaged part's rows are computed again)."
                ) from None
            if block:
                yield block

    def row_lines(self) -> JsonlRows:
        """The output rows of every part as JSONL lines (callable: the rows as dicts)."""
        return JsonlRows(lambda: self._section("rows"))

    def quarantine_lines(self) -> JsonlRows:
        """The quarantine entries of every part as JSONL lines (callable: the entries as dicts)."""
        return JsonlRows(lambda: self._section("quarantined"))

    def rows(self) -> Iterator[Record]:
        return self.row_lines()()

    def refreshed(self) -> Iterator[Record]:
        return JsonlRows(lambda: self._section("refreshed"))()

    def quarantined(self) -> Iterator[dict[str, Any]]:
        return self.quarantine_lines()()

    def counts(self) -> dict[str, int]:
        totals = {"read": self.committed_rows(), **dict.fromkeys(COUNTS, 0)}
        for part in self.parts():
            for key in COUNTS:
                totals[key] += part.counts[key]
        return totals

    def topics(self) -> Counter:
        """How many output rows (refreshed ones aside) each topic has, over every part."""
        total: Counter = Counter()
        for part in self.parts():
            total.update(part.topics)
        return total

    def finish(self, summary: dict[str, Any], output_signature: Any) -> None:
        """Mark the run complete (after the sink committed) with the committed output's signature; drop the parts."""
        self.data.update(status="complete", summary=summary, output_signature=output_signature)
        self.save()
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        self._parts = []
