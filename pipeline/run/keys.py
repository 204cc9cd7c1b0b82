"""Keys of a run: repeated keys in the input, and the rows an upsert run can leave alone.

:class:`KeySet` remembers the keys a run has written (in constant memory), :class:`KnownRows` the
existing output's hashes by key, and :class:`KeyFilter` sorts each batch before any model work:
rows without a key or with a repeated key are quarantined; in upsert mode, rows whose content,
config and input fields match the output's are unchanged, those whose other input fields changed
are refreshed, and the rest are processed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from pipeline.io.records import Quarantined, Record, output_row, stamp_hashes


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
