"""Run state beside the output: what makes a killed run resumable and a repeated run a no-op.

``<output stem>.state/`` holds ``state.json`` (which output owns it, the run's identity, which
run, finished or not) and ``parts/``: one file per checkpoint, holding the batches finished since
the previous one (every ``runner.checkpoint_seconds`` or ``checkpoint_mb``, see
:meth:`RunState.save_batch`), written to a temporary name, fsynced and renamed, so a part either
exists whole or not at all. A part covers input rows ``[start, end)`` and holds their output rows
(serialized once, as the JSONL output holds them), refreshed rows (see
:class:`pipeline.run.state.KeyFilter`) and quarantine entries; the committed position of a run is
the end of the last contiguous part. When
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
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from pipeline.errors import OutputError
from pipeline.io.records import Quarantined, Record, output_row, stamp_hashes
from pipeline.io.writers import JsonlRows, dumps_bytes

STATE_VERSION = 3


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


def _fsync_write(path: Path, data: str | bytes | list[bytes]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    chunks = [data.encode("utf-8")] if isinstance(data, str) else [data] if isinstance(data, bytes) else data
    try:
        with open(tmp, "wb") as fh:
            fh.writelines(chunks)
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


# A part file: one header line (JSON: rows covered, counts, topic counts, the byte length of each
# section), then three sections of JSONL lines: output rows (exactly as a JSONL output holds them),
# refreshed rows, quarantine entries.
SECTIONS = ("rows", "refreshed", "quarantined")


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


def _lines(items: Iterable[Any]) -> bytes:
    return b"".join(dumps_bytes(item) + b"\n" for item in items)


@dataclass
class RunState:
    """The state directory of one output; see the module docstring."""

    directory: Path
    data: dict[str, Any] = field(default_factory=dict)
    # Checkpoint policy of :meth:`save_batch` (runner.checkpoint_seconds / checkpoint_mb).
    checkpoint_seconds: float = 0.0
    checkpoint_bytes: int = 32 << 20
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
    def open(cls, directory: Path, identity: dict[str, str], owner: str, resume: bool,
             output_signature: Callable[[], Any], checkpoint_seconds: float = 0.0,
             checkpoint_bytes: int = 32 << 20) -> RunState:
        """Continue the unfinished run with the same ``identity``, or start a fresh one.

        ``identity`` holds what decides which rows are read and what they become (input
        fingerprint, reading settings, config hash, mode). A complete run is kept (the caller
        reports "up to date") only while ``output_signature()`` still equals the signature saved
        at its commit. ``owner`` names the output these side files belong to; side files of
        another output (``day.csv`` beside ``day.jsonl``) are refused, never taken over.
        ``checkpoint_seconds`` and ``checkpoint_bytes`` say how often :meth:`save_batch` writes a part.

        Holds an exclusive lock on the state directory until :meth:`close` (the runner closes the
        state when the run returns or stops) or the process ends, so two runs (say an overlapping
        cron job) never write the same output at once.
        """
        state = cls(directory, checkpoint_seconds=checkpoint_seconds, checkpoint_bytes=checkpoint_bytes)
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
        self._lock_file = open(self.directory / "lock", "w")  # noqa: SIM115 - held until close()
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
        """Input rows saved in parts: where a resumed run starts (batches still in memory are not counted)."""
        parts = self.parts()
        return parts[-1].end if parts else 0

    @staticmethod
    def _serialize(start: int, end: int, rows: list[Record], quarantined: list[Quarantined], unchanged: int,
                   refreshed: list[Record], run_id: str) -> _Saved:
        counts = {"written": len(rows) + len(refreshed), "quarantined": len(quarantined), "unchanged": unchanged,
                  "refreshed": len(refreshed)}
        topics = Counter(str(r["topic"]) for r in rows if r.get("topic") is not None)
        sections = (_lines(rows), _lines(refreshed), _lines({**q.to_json(), "run_id": run_id} for q in quarantined))
        return _Saved(start, end, counts, topics, sections)

    def write_part(self, start: int, end: int, rows: list[Record], quarantined: list[Quarantined],
                   unchanged: int, refreshed: list[Record] = ()) -> None:
        """Save one batch now, as its own part: output rows, refreshed rows (new input fields, model fields
        to come from the previous output at commit), quarantine entries and the count of unchanged rows."""
        self.checkpoint()
        self._write([self._serialize(start, end, rows, quarantined, unchanged, list(refreshed), self.run_id)])

    def save_batch(self, start: int, end: int, rows: list[Record], quarantined: list[Quarantined],
                   unchanged: int, refreshed: list[Record] = ()) -> bool:
        """Keep one batch (as :meth:`write_part` saves it) for the next checkpoint, and write the batches kept
        so far as one part when ``checkpoint_seconds`` have passed since the last or they hold
        ``checkpoint_bytes``; returns whether it wrote a part. A kill loses the batches not yet written,
        which a rerun computes again; :meth:`checkpoint` writes them at once (the end of the input, Ctrl-C)."""
        saved = self._serialize(start, end, rows, quarantined, unchanged, list(refreshed), self.run_id)
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

    def _write(self, batches: list[_Saved]) -> None:
        counts = {"start": batches[0].start, "end": batches[-1].end}
        for name in ("written", "quarantined", "unchanged", "refreshed"):
            counts[name] = sum(b.counts[name] for b in batches)
        topics = sum((b.topics for b in batches), Counter())
        sections = [b"".join(b.sections[i] for b in batches) for i in range(len(SECTIONS))]
        header = {**counts, "topics": dict(topics), "sections": [len(s) for s in sections]}
        _fsync_write(self.parts_dir / f"{counts['start']:012d}-{counts['end']:012d}.jsonl",
                     [json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n", *sections])

    @staticmethod
    def _header(path: Path) -> dict[str, Any]:
        with open(path, "rb") as fh:
            return json.loads(fh.readline())

    def _section(self, name: str) -> Iterator[bytes]:
        """The bytes of one section of every part, part by part (whole JSONL lines each)."""
        index = SECTIONS.index(name)
        for part in self.parts():
            with open(part.path, "rb") as fh:
                header = json.loads(fh.readline())
                sizes = header["sections"]
                fh.seek(sum(sizes[:index]), os.SEEK_CUR)
                block = fh.read(sizes[index])
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
        totals = {"read": 0, "written": 0, "quarantined": 0, "unchanged": 0, "refreshed": 0}
        for part in self.parts():
            header = self._header(part.path)
            totals["read"] += header["end"] - header["start"]
            for key in ("written", "quarantined", "unchanged", "refreshed"):
                totals[key] += header[key]
        return totals

    def topics(self) -> Counter:
        """How many output rows (refreshed ones aside) each topic has, over every part."""
        total: Counter = Counter()
        for part in self.parts():
            total.update(self._header(part.path).get("topics", {}))
        return total

    def seen_keys(self, key: str) -> KeySet:
        """Keys already written in this run (to quarantine duplicates after a resume too)."""
        seen = KeySet()
        for row in chain(self.rows(), self.refreshed()):
            seen.add(str(row.get(key)))
        return seen

    def finish(self, summary: dict[str, Any], output_signature: Any) -> None:
        """Mark the run complete (after the sink committed) with the committed output's signature; drop the parts."""
        self.data.update(status="complete", summary=summary, output_signature=output_signature)
        self.save()
        shutil.rmtree(self.parts_dir, ignore_errors=True)


class KeySet:
    """A set of keys whose memory does not grow with the run: duplicate keys are found in any input size.

    A key is kept as its 128-bit BLAKE2b digest (two different keys share one with probability about
    n²/2¹²⁹: never, in practice). The latest ``recent_limit`` digests are a Python set; older ones
    go, sorted, to a private temporary SQLite database (on disk, 2 MB of page cache in memory),
    and set one bit each in an 8 MB filter: only keys whose bit is set (1.5 % of new keys after a
    million rows, and every repeated key) are looked up in the database, once per batch. Runs
    under ``recent_limit`` rows open neither.
    """

    recent_limit = 1 << 16
    filter_bits = 1 << 26

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._recent: set[bytes] = set()
        self._older = None  # the SQLite connection, opened at the first spill
        self._older_count = 0
        for key in keys:
            self.add(key)

    @staticmethod
    def digest(key: str) -> bytes:
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def __len__(self) -> int:
        return len(self._recent) + self._older_count

    def __contains__(self, key: str) -> bool:
        digest = self.digest(key)
        return digest in self._recent or bool(self._in_older([digest]))

    def _filter_index(self, digests: list[bytes]):
        import numpy as np

        return np.frombuffer(b"".join(digests), dtype="<u8")[::2] & np.uint64(self.filter_bits - 1)

    def _in_older(self, digests: list[bytes]) -> set[bytes]:
        if self._older is None or not digests:
            return set()
        index = self._filter_index(digests)
        hits = (self._filter[index >> 3] >> (index & 7).astype("u1")) & 1
        digests = [d for d, hit in zip(digests, hits.tolist(), strict=True) if hit]
        found: set[bytes] = set()
        for i in range(0, len(digests), 500):  # (SQLite's older releases take at most 999 parameters)
            chunk = digests[i:i + 500]
            query = f"SELECT d FROM k WHERE d IN ({','.join('?' * len(chunk))})"
            found.update(row[0] for row in self._older.execute(query, chunk))
        return found

    def add(self, key: str) -> bool:
        """Add ``key``; whether it was new."""
        return self.add_all([key])[0]

    def add_all(self, keys: list[str]) -> list[bool]:
        """Add ``keys`` in order; for each, whether it was new (a key repeated within ``keys`` is new once)."""
        digests = [self.digest(k) for k in keys]
        older = self._in_older(digests)
        new = []
        for digest in digests:
            fresh = digest not in self._recent and digest not in older
            if fresh:
                self._recent.add(digest)
            new.append(fresh)
        if len(self._recent) >= self.recent_limit:
            self._spill()
        return new

    def _spill(self) -> None:
        if self._older is None:
            import sqlite3

            self._older = sqlite3.connect("")  # private, on disk, deleted when closed
            for pragma in ("cache_size=-2048", "journal_mode=OFF", "synchronous=OFF"):
                self._older.execute(f"PRAGMA {pragma}")
            self._older.execute("CREATE TABLE k (d BLOB PRIMARY KEY) WITHOUT ROWID")
            import numpy as np

            self._filter = np.zeros(self.filter_bits // 8, dtype="u1")
        import numpy as np

        index = self._filter_index(list(self._recent))
        np.bitwise_or.at(self._filter, index >> 3, (1 << (index & 7)).astype("u1"))
        self._older.executemany("INSERT INTO k VALUES (?)", ((d,) for d in sorted(self._recent)))
        self._older_count += len(self._recent)
        self._recent = set()


class KnownRows:
    """The existing output's ``(content_hash, config_hash, input_hash)`` by key, for an upsert run, in bounded memory.

    An upsert run compares every input row with the row of the same key in the output, and the
    output grows with every day's run. The first ``memory_limit`` keys are a dict; the others go,
    with their hashes, to a private temporary SQLite database on disk (2 MB of page cache in
    memory) and are looked up once per batch (:meth:`get_many`). A key the output holds twice
    (an append-mode output later upserted) counts with its last row, as a dict would. On disk, keys
    are UTF-8 with lone surrogates kept (``surrogatepass``: an edited output may hold one) and a
    hash that is not text is kept as null: it matches no row's hash either way.
    """

    memory_limit = 1 << 16

    def __init__(self, rows: Iterable[tuple[str, tuple]] = ()) -> None:
        self._recent: dict[str, tuple] = {}
        self._older = None  # the SQLite connection, opened when the dict is full
        self._older_count = 0
        pending: list[tuple] = []
        for key, hashes in rows:
            if self._older is None and (len(self._recent) < self.memory_limit or key in self._recent):
                self._recent[key] = tuple(hashes)
                continue
            pending.append((key.encode("utf-8", "surrogatepass"),
                            *(value if isinstance(value, str) else None for value in hashes)))
            if len(pending) >= 10_000:
                self._spill(pending)
                pending = []
        if pending:
            self._spill(pending)
        if self._older is not None:  # (an index built after the inserts: a third of the time of a keyed table)
            self._older.execute("CREATE INDEX k_key ON k (key)")
            self._older_count = self._older.execute("SELECT count(DISTINCT key) FROM k").fetchone()[0]

    def _spill(self, rows: list[tuple]) -> None:
        if self._older is None:
            import sqlite3

            self._older = sqlite3.connect("")  # private, on disk, deleted when closed
            for pragma in ("cache_size=-2048", "journal_mode=OFF", "synchronous=OFF"):
                self._older.execute(f"PRAGMA {pragma}")
            self._older.execute("CREATE TABLE k (key BLOB, c, g, i)")  # rows in input order (rowid)
        for row in rows:
            self._recent.pop(row[0].decode("utf-8", "surrogatepass"), None)  # (the last row of a key wins)
        self._older.executemany("INSERT INTO k VALUES (?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return len(self._recent) + self._older_count

    def get(self, key: str) -> tuple | None:
        return self.get_many([key])[0]

    def get_many(self, keys: list[str]) -> list[tuple | None]:
        """The hashes of each key's output row (None for a key the output does not have)."""
        found = [self._recent.get(key) for key in keys]
        if self._older is not None:
            missing = list({key.encode("utf-8", "surrogatepass")
                            for key, hashes in zip(keys, found, strict=True) if hashes is None})
            older: dict[str, tuple] = {}
            for i in range(0, len(missing), 500):  # (SQLite's older releases take at most 999 parameters)
                chunk = missing[i:i + 500]
                query = f"SELECT key, c, g, i FROM k WHERE key IN ({','.join('?' * len(chunk))}) ORDER BY rowid"
                older.update((row[0].decode("utf-8", "surrogatepass"), row[1:])  # (a key's last row last)
                             for row in self._older.execute(query, chunk))
            found = [hashes if hashes is not None else older.get(key) for key, hashes in zip(keys, found, strict=True)]
        return found

    def items(self) -> Iterator[tuple[str, tuple]]:
        yield from self._recent.items()
        if self._older is not None:
            query = "SELECT key, c, g, i FROM k WHERE rowid IN (SELECT max(rowid) FROM k GROUP BY key)"
            for row in self._older.execute(query):
                yield row[0].decode("utf-8", "surrogatepass"), row[1:]


class KeyFilter:
    """Before model work: quarantine rows without a key or with a repeated key, sort upsert rows.

    ``known`` holds the keys of the existing output with their ``(content_hash, config_hash,
    input_hash)`` (:class:`KnownRows`; a dict is taken as one). A row whose three hashes match is
    unchanged (nothing to write); one whose content and config match but whose other input fields
    changed is refreshed (its new input fields are written with the previous row's model fields, see
    :func:`pipeline.io.writers.with_previous_fields`); every other row is processed.
    """

    def __init__(self, key: str, config_hash: str, known: KnownRows | dict[str, tuple], seen: Iterable[str],
                 include_text: bool) -> None:
        self.key = key
        self.config_hash = config_hash
        self.known = known if isinstance(known, KnownRows) else KnownRows(known.items())
        self.seen = seen if isinstance(seen, KeySet) else KeySet(seen)
        self.include_text = include_text

    def missing(self, record: Record) -> Quarantined | None:
        """A row without its key cannot be upserted or checked for duplicates: a row problem."""
        if record.get(self.key) is None:
            return Quarantined(f"missing key field {self.key!r} (output.key)", record, "input", record.get("id"))
        return None

    def duplicate(self, record: Record) -> Quarantined | None:
        """Quarantine a repeated key (the first row with a key wins); remembers the key otherwise."""
        return None if self.seen.add(str(record.get(self.key))) else self._duplicate(record)

    def _duplicate(self, record: Record) -> Quarantined:
        return Quarantined(f"duplicate {self.key} {str(record.get(self.key))!r}: an earlier row of this input has it",
                           record, "input", record.get("id"))

    def verdict(self, record: Record) -> str:
        """'unchanged', 'refresh' or 'process' for a stamped record."""
        return self._verdict(record, self.known.get(str(record.get(self.key))))

    def _verdict(self, record: Record, known: tuple | None) -> str:
        """:meth:`verdict` given the hashes of the output's row with the record's key (None: no such row)."""
        known = tuple(known or ())
        if known[:2] != (record["content_hash"], self.config_hash):
            return "process"
        return "unchanged" if known[2:] == (record["input_hash"],) else "refresh"

    def refresh_row(self, record: Record, run_id: str) -> Record:
        """The new input fields of a refreshed row; its model fields are added at commit."""
        return {**output_row(record, self.include_text), "config_hash": self.config_hash, "run_id": run_id}

    def split(self, records: list[Record], run_id: str,
              stamped: bool = False) -> tuple[list[Record], list[Record], list[Quarantined], int]:
        """(rows to process, refreshed rows, quarantined rows, count of unchanged rows).

        Records with a key get :func:`~pipeline.io.records.stamp_hashes` first, unless ``stamped`` says the
        caller already stamped every record that has one (the local runner does it in its reader thread).
        """
        todo, refreshed, rejected, unchanged = [], [], [], 0
        keyed = [record.get(self.key) is not None for record in records]
        keys = [str(r.get(self.key)) for r, has in zip(records, keyed, strict=True) if has]
        fresh = iter(self.seen.add_all(keys))
        known = iter(self.known.get_many(keys) if self.known else ())
        for record, has_key in zip(records, keyed, strict=True):
            problem = None
            if not has_key:
                problem = self.missing(record)
            else:
                if not stamped:
                    stamp_hashes(record)
                hashes = next(known, None)
                if not next(fresh):
                    problem = self._duplicate(record)
            if problem is not None:
                rejected.append(problem)
                continue
            if not self.known:  # (no earlier output to compare with: every row is processed)
                todo.append(record)
                continue
            verdict = self._verdict(record, hashes)
            if verdict == "unchanged":
                unchanged += 1
            elif verdict == "refresh":
                refreshed.append(self.refresh_row(record, run_id))
            else:
                todo.append(record)
        return todo, refreshed, rejected, unchanged
