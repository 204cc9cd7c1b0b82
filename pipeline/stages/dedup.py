"""The dedup stage: flags a row whose text is a near-duplicate of an earlier row (docs/dedup.md).

Each article's MinHash signature (:mod:`pipeline.text.minhash`) is looked up in a datasketch
``MinHashLSH`` index of the earlier rows; the candidates it returns are checked against
``dedup.threshold`` with their estimated Jaccard similarity, and the most similar one (the
earliest among equals) becomes the row's ``duplicate_of`` (its ``output.key``), with
``duplicate_similarity``. Every row gets both fields (null when it is no duplicate). Only rows
that are no duplicate enter the index, so ``duplicate_of`` always names an original.

"Earlier rows" are the rows of this run before it and, for ``append`` and ``upsert`` jobs, the
rows already in the output. Their signatures are kept beside the output in ``<stem>.dedup/``
(one file per batch, written before the batch's part, so a killed run's rows always have
theirs), and :meth:`DedupStage.start` rebuilds the index from the output's rows and the rows the
run saved before a kill, matched to stored signatures by key and ``content_hash``: a resumed run
holds exactly the index an uninterrupted run held at the same row, and flags the same rows. A row
whose signature is missing (the output was written without dedup) is signed from its ``text``
when the output has it, else left out of the index and counted as ``not_indexed``. The index
holds rows that reach the output; the stages after this one quarantine nothing, which keeps a
resumed index equal to an uninterrupted one.

Upsert: a row is never a duplicate of the previous version of itself (same key); its previous
version leaves the index when it is replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import MinHashLSH

from pipeline.config import DedupConfig
from pipeline.io.records import Record
from pipeline.stages import SKIP_MODELS_KEY, RunStart
from pipeline.text.minhash import SIGNATURE_VERSION, Signer, similarity

log = logging.getLogger(__name__)

DUPLICATE_OF = "duplicate_of"
SIMILARITY = "duplicate_similarity"
# The LSH index is built for a threshold LSH_MARGIN below dedup.threshold, weighing missed pairs above
# extra candidates: every candidate's similarity is checked against dedup.threshold anyway, so an extra
# candidate costs one comparison, while a pair the bands miss is lost. At the default 0.8 (index 0.7,
# 18 bands of 7 values) a pair of similarity 0.8 becomes a candidate with probability 0.986, 0.75: 0.92.
LSH_MARGIN = 0.1
LSH_WEIGHTS = (0.2, 0.8)
COMPACT_FILES = 64  # a store with more segment files than this is rewritten as one at the next start


class NearDuplicateIndex:
    """Signatures of the original rows so far, behind a MinHashLSH index keyed by insertion order."""

    def __init__(self, signer: Signer, threshold: float) -> None:
        self.signer = signer
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=max(threshold - LSH_MARGIN, 0.1), num_perm=signer.num_perm,
                              weights=LSH_WEIGHTS)
        self.keys: list[str | None] = []  # ordinal -> key (None once removed)
        self.ordinals: dict[str, int] = {}  # key -> ordinal of its live entry
        self.signatures = np.empty((1024, signer.num_perm), dtype=np.uint32)

    def __len__(self) -> int:
        return len(self.ordinals)

    def add(self, key: str, signature: np.ndarray) -> None:
        self.discard(key)
        ordinal = len(self.keys)
        if ordinal == len(self.signatures):
            self.signatures = np.concatenate([self.signatures, np.empty_like(self.signatures)])
        self.signatures[ordinal] = signature
        self.keys.append(key)
        self.ordinals[key] = ordinal
        self.lsh.insert(ordinal, self.signer.minhash(signature), check_duplication=False)

    def discard(self, key: str) -> None:
        ordinal = self.ordinals.pop(key, None)
        if ordinal is not None:
            self.lsh.remove(ordinal)
            self.keys[ordinal] = None

    def best_match(self, signature: np.ndarray, key: str) -> tuple[str, float] | None:
        """The most similar earlier original at or above the threshold (earliest among equals), never ``key``."""
        candidates = sorted(o for o in self.lsh.query(self.signer.minhash(signature)) if self.keys[o] != key)
        if not candidates:
            return None
        sims = similarity(signature, self.signatures[candidates])
        best = int(np.argmax(sims))  # the first maximum: the earliest ordinal
        if sims[best] < self.threshold:
            return None
        return self.keys[candidates[best]], float(sims[best])


class SignatureStore:
    """Signatures of the rows a job has indexed, in ``<stem>.dedup/<settings>/``: one ``.npz`` per batch.

    A file holds ``key``, ``content_hash`` (both strings) and ``signature`` (``uint32``) arrays,
    read without pickle. The settings folder is named by what makes signatures comparable
    (version, permutations, seed, shingle size), so changed settings never mix with stored ones.
    """

    def __init__(self, root: Path, spec: dict[str, Any]) -> None:
        self.root = root
        name = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        self.directory = root / name
        self.spec = spec

    def files(self) -> list[Path]:
        """The stored batches (a write killed midway leaves only a hidden ``.*.tmp`` file, never listed)."""
        if not self.directory.exists():
            return []
        return sorted(p for p in self.directory.glob("*.npz") if not p.name.startswith("."))

    def load(self, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], np.ndarray]:
        found: dict[tuple[str, str], np.ndarray] = {}
        for path in self.files():
            try:
                with np.load(path, allow_pickle=False) as data:
                    keys, hashes, signatures = data["key"], data["content_hash"], data["signature"]
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # damaged: its rows are signed again
                log.warning("dedup: cannot read %s (%s); ignoring it", path, exc)
                continue
            for i, pair in enumerate(zip(keys.tolist(), hashes.tolist(), strict=True)):
                if pair in wanted:
                    found[pair] = signatures[i]
        return found

    def append(self, keys: list[str], hashes: list[str], signatures: np.ndarray, name: str | None = None) -> None:
        """Write one file atomically (temporary name, fsync, rename): it exists whole or not at all."""
        if not keys:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "settings.json").write_text(json.dumps(self.spec), encoding="utf-8")
        path = self.directory / f"{name or uuid.uuid4().hex}.npz"
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, key=np.array(keys, dtype=str), content_hash=np.array(hashes, dtype=str),
                     signature=np.asarray(signatures, dtype=np.uint32))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def compact(self, keep: dict[tuple[str, str], np.ndarray]) -> None:
        """Rewrite the store as one file holding ``keep``; other settings' folders go too."""
        old = self.files()
        pairs = list(keep)
        signatures = np.stack([keep[p] for p in pairs]) if pairs else np.empty((0, 0), dtype=np.uint32)
        self.append([k for k, _ in pairs], [h for _, h in pairs], signatures, name=f"compact-{uuid.uuid4().hex}")
        for path in [*old, *self.directory.glob(".*.tmp")]:  # (and what killed writes left)
            path.unlink(missing_ok=True)
        for other in self.root.iterdir():
            if other.is_dir() and other != self.directory:
                shutil.rmtree(other, ignore_errors=True)


class DedupStage:
    """Sets ``duplicate_of`` and ``duplicate_similarity`` on every row; ``action: skip`` also spares it the models."""

    name = "dedup"

    def __init__(self, config: DedupConfig, key: str = "id") -> None:
        self.config = config
        self.key = key
        self.signer = Signer(config.num_perm, config.seed, config.shingle_size)
        self.index = NearDuplicateIndex(self.signer, config.threshold)
        self.store: SignatureStore | None = None
        self.duplicates = 0
        self.from_output = 0
        self.not_indexed = 0

    def describe(self) -> dict[str, Any]:
        cfg = self.config
        return {"action": cfg.action, "threshold": cfg.threshold, "shingle_size": cfg.shingle_size,
                "num_perm": cfg.num_perm, "duplicates": self.duplicates, "indexed_from_output": self.from_output,
                "not_indexed": self.not_indexed}

    def fingerprint(self) -> str:
        """The signature scheme's version (its settings are in the config)."""
        return f"minhash:{SIGNATURE_VERSION}"

    def finish(self) -> None:
        if self.duplicates:
            log.info("%d near-duplicate row(s) flagged (dedup.action=%s).", self.duplicates, self.config.action)
        if self.not_indexed:
            log.warning("%d row(s) of the output have no stored signature and no text: new rows were not compared "
                        "with them (see docs/dedup.md).", self.not_indexed)

    def _spec(self) -> dict[str, Any]:
        cfg = self.config
        return {"version": SIGNATURE_VERSION, "num_perm": cfg.num_perm, "seed": cfg.seed,
                "shingle_size": cfg.shingle_size}

    def start(self, run: RunStart) -> None:
        """Rebuild the index from the output's rows (append, upsert) and the rows this run already saved."""
        self.key = run.key
        self.index = NearDuplicateIndex(self.signer, self.config.threshold)
        self.duplicates = self.from_output = self.not_indexed = 0
        self.store = SignatureStore(run.output.side("dedup"), self._spec())
        committed: list[tuple[str, str, Any]] = []
        for row in run.committed():
            if row.get(DUPLICATE_OF):
                self.duplicates += 1
            else:
                committed.append((str(row.get(self.key)), str(row.get("content_hash")), row.get("text")))
        compact = len(self.store.files()) > COMPACT_FILES
        index_output = run.mode in ("append", "upsert")
        existing: list[tuple[str, str, Any]] = []
        if index_output or compact:  # (overwrite reads the output only to keep its signatures at a compaction)
            existing = [(str(row.get(self.key)), str(row.get("content_hash")), row.get("text"))
                        for row in run.existing() if not row.get(DUPLICATE_OF)]
        stored = self.store.load({(key, chash) for key, chash, _ in [*existing, *committed]})
        replaced = {key for key, _, _ in committed}  # upserted by this run before the kill
        from_output = [row for row in existing if row[0] not in replaced] if index_output else []
        for source, rows in (("output", from_output), ("run", committed)):
            for key, chash, text in rows:
                signature = stored.get((key, chash))
                if signature is None and isinstance(text, str):
                    signatures, lengths = self.signer.sign([text])
                    signature = signatures[0] if lengths[0] >= self.config.min_syllables else None
                if signature is None:
                    self.not_indexed += 1
                    continue
                self.index.add(key, signature)
                self.from_output += source == "output"
        if compact:
            self.store.compact(stored)

    def __call__(self, records: list[Record]) -> list[Record]:
        if not records:
            return records
        signatures, lengths = self.signer.sign([record["text"] for record in records])
        long_enough = lengths >= self.config.min_syllables
        new_keys, new_hashes, new_rows = [], [], []
        skip = self.config.action == "skip"
        for i, record in enumerate(records):
            key = str(record.get(self.key))
            match = self.index.best_match(signatures[i], key) if long_enough[i] else None
            record[DUPLICATE_OF] = match[0] if match else None
            record[SIMILARITY] = round(match[1], 3) if match else None
            if match:
                self.duplicates += 1
                if skip:
                    record[SKIP_MODELS_KEY] = True
            if match or not long_enough[i]:
                self.index.discard(key)  # an upserted row replaces its previous version
                continue
            self.index.add(key, signatures[i])
            new_keys.append(key)
            new_hashes.append(str(record.get("content_hash")))
            new_rows.append(i)
        if self.store is not None:
            self.store.append(new_keys, new_hashes, signatures[new_rows])
        return records
