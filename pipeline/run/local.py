"""The local streaming runner: read in batches, run the stages, commit results and quarantine.

Guarantees (checked by tests/e2e/test_reliability.py and tests/e2e/test_reruns.py):
- Every input row ends up exactly once in the output or in the quarantine, with
  ``read == written + quarantined + unchanged`` (``unchanged``: upsert rows whose content, config
  and input fields did not change, so nothing was written for them). ``refreshed`` counts the
  written upsert rows whose content and config did not change but other input fields did (url,
  views, ...): their new input fields are written with the previous row's model fields, without
  model work.
- A run killed at any instant and started again with the same command finishes the job without
  redoing the batches saved before the kill: finished batches are saved as atomic part files in
  ``<stem>.state/`` at every checkpoint (``runner.checkpoint_seconds``, ``checkpoint_mb``), and
  the output is committed once, atomically, when every row is done.
- Re-running a finished job over the same input, with the same reading settings and processing
  config, while its output and quarantine file are as that run committed them, does no work
  ("up to date"). A changed config (settings or model files) or reading setting recomputes, and
  so does a deleted or changed output; each row carries the ``config_hash`` and ``run_id`` that
  produced it, and ``<stem>.runs.jsonl`` maps runs to configs and models.
- Nothing is replaced silently: a run that read 0 rows does not replace an output that has rows
  (``output.allow_empty``), and a run whose quarantined share reaches
  ``runner.max_quarantined_fraction`` fails with exit 6, leaving output and quarantine as they
  were and this run's entries in ``<stem>.rejected.jsonl``.

Order of work: output and input paths are checked against each other, models load, then the
output and input are checked, and only then does reading start, so a bad job fails before
touching any input. Memory holds one batch, the serialized results waiting for the next checkpoint
(at most ``runner.checkpoint_mb``) and the keys seen, in constant memory (:class:`~pipeline.run.state.KeySet`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.config import InputConfig, JobConfig, dump_config
from pipeline.errors import ConfigError, InputError, Interrupted, QuarantineThresholdError
from pipeline.io.paths import OutputPaths, check_paths, input_modes, output_owner, remove_stale_temporaries
from pipeline.io.readers import FolderReader, bytes_progress, open_reader, read_batches
from pipeline.io.records import Batch, stamp_hashes
from pipeline.io.writers import (
    JsonlRows,
    Sink,
    commit,
    commit_quarantine,
    dumps_bytes,
    file_signature,
    has_rows,
    open_sink,
    with_previous_fields,
    write_text_atomic,
)
from pipeline.provenance import package_versions
from pipeline.run.progress import Progress
from pipeline.run.state import KeyFilter, KnownRows, RunState, input_fingerprint
from pipeline.stages import RunStart

if TYPE_CHECKING:
    from pipeline.run.pipeline import Pipeline

log = logging.getLogger(__name__)

# Reading settings that do not change which rows are read: the file fingerprint covers the path,
# and batch boundaries do not change rows. Every other InputConfig field (encoding, limit, split,
# a delimiter added tomorrow) enters the run's identity without being listed anywhere.
READ_SETTINGS_EXCLUDE = frozenset({"path", "batch_size"})
# Fields the stages write (normalize: title, text, author of raw pages; classify; summarize): what a
# refreshed row takes from the previous output instead of recomputing.
MODEL_FIELDS = ("title", "text", "topic", "topic_score", "topic_top_k", "summary", "duplicate_of",
                "duplicate_similarity")

@dataclass
class RunSummary:
    """Counts and paths of one run; ``read == written + quarantined + unchanged`` always holds.

    ``refreshed`` is part of ``written``: rows rewritten with new input fields and previous model fields.
    """

    read: int = 0
    written: int = 0
    quarantined: int = 0
    unchanged: int = 0
    refreshed: int = 0
    seconds: float = 0.0
    output: str = ""
    quarantine: str = ""
    manifest: str = ""
    run_id: str = ""
    config_hash: str = ""
    resumed_from: int = 0
    up_to_date: bool = False
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # input records that are not rows (see RunContext.skipped)
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def articles_per_second(self) -> float:
        done = self.read - self.resumed_from
        return done / self.seconds if self.seconds > 0 else 0.0


def read_settings_hash(config: InputConfig) -> str:
    """Hash of the settings that decide which input rows are read and how (part of the run's identity).

    Kept out of ``config_hash``: reading a row differently does not change what a row becomes, so
    rows read by other settings stay "unchanged" for upsert; but a finished run is only "up to date"
    for the same reading settings (``input.limit`` 3, then none, must read the other rows).
    """
    data = config.model_dump(mode="json", exclude=set(READ_SETTINGS_EXCLUDE))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def model_fields(config: JobConfig) -> tuple[str, ...]:
    return MODEL_FIELDS + (("author",) if config.input.raw_pages else ())


def output_signature(sink: Sink, quarantine: Path) -> dict[str, Any]:
    """What a committed run leaves: changes if the output or quarantine file is deleted, edited or replaced."""
    return {"output": sink.signature(), "quarantine": file_signature(quarantine)}


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" (")[0]


def _previous_summary(state: RunState, config: JobConfig) -> RunSummary:
    saved = state.data.get("summary", {})
    return RunSummary(
        read=saved.get("read", 0), written=saved.get("written", 0), quarantined=saved.get("quarantined", 0),
        unchanged=saved.get("unchanged", 0), refreshed=saved.get("refreshed", 0), output=str(config.output.path),
        quarantine=str(OutputPaths.of(config.output).quarantine),
        manifest=str(OutputPaths.of(config.output).manifest), run_id=state.run_id,
        config_hash=state.data["config_hash"], up_to_date=True,
    )


def _log_run(path, manifest: dict[str, Any]) -> None:
    """Append the run to ``<stem>.runs.jsonl`` (once, even if a crash makes the commit repeat)."""
    if path.exists() and any(json.loads(line).get("run_id") == manifest["run_id"]
                             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()):
        return
    entry = {k: manifest[k] for k in ("run_id", "finished_at", "config_hash", "mode", "input", "counts", "skipped",
                                      "stages")}
    with open(path, "a", encoding="utf-8") as runs:
        runs.write(json.dumps(entry, ensure_ascii=False) + "\n")


class Points(list):
    """Throughput points ``[seconds since start, input rows done]``, one offered per batch, kept evenly spread
    and at most ``2 * limit`` (when full, every other point goes and later ones are kept at twice the
    stride), so a long run's memory and manifest stay small. :meth:`close` keeps the last point offered."""

    def __init__(self, limit: int = 1000) -> None:
        super().__init__()
        self.limit, self.stride, self.offered, self.pending = limit, 1, 0, None

    def add(self, point: list[float]) -> None:
        self.offered += 1
        if self.offered % self.stride:
            self.pending = point
            return
        self.append(point)
        self.pending = None
        if len(self) > 2 * self.limit:
            del self[1::2]
            self.stride *= 2

    def close(self) -> None:
        if self.pending is not None:
            self.append(self.pending)
            self.pending = None


def add_point(points: list[list[float]], point: list[float]) -> None:
    """Offer a throughput point to ``points`` (thinned when it is a :class:`Points`)."""
    if isinstance(points, Points):
        points.add(point)
    else:
        points.append(point)


T = TypeVar("T")


class Prefetch:
    """Iterate ``items`` in a reader thread, up to ``depth`` items ahead of the consumer.

    Reading a batch (lines, JSON, records) is Python; the stages spend most of their time in
    compiled kernels that release the GIL. With the next batches read while the current one is in
    a kernel, the two overlap on a second core. The items come in the same order, and an exception
    the reader raises is raised by the consumer where the item would have come, so the run sees
    what it would have seen reading in its own thread. Leaving the ``with`` block (the end, an
    error, Ctrl-C) stops the reader and closes ``items`` in the reader thread. ``depth`` 0 reads
    in the consumer's thread.
    """

    _END = object()
    # While the reader runs, the main thread comes back from each GIL-free kernel needing the GIL to start
    # the next step, and waits until the reader (in Python) is asked to let go: up to the switch interval,
    # 5 ms by default, several times per batch. 1 ms lets the stages go on sooner for a few more switches.
    switch_interval = 0.001

    def __init__(self, items: Iterator[T], depth: int) -> None:
        self.items, self.depth = items, depth
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _put(self, entry: tuple[bool, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for item in self.items:
                if not self._put((True, item)):
                    return
            self._put((False, self._END))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((False, exc))
        finally:
            close = getattr(self.items, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def __enter__(self) -> Iterator[T]:
        if self.depth <= 0:
            return iter(self.items)
        self._interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._interval, self.switch_interval))
        self._thread = threading.Thread(target=self._read, name="vnnews-reader", daemon=True)
        self._thread.start()
        return self._consume()

    def _consume(self) -> Iterator[T]:
        while True:
            ok, item = self._queue.get()
            if ok:
                yield item
            elif item is self._END:
                return
            else:
                raise item

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is None:
            close = getattr(self.items, "close", None)
            if close is not None:
                close()
            return
        self._stop.set()
        self._thread.join(timeout=10)  # (a reader stuck in a system call is a daemon: it cannot hold the exit)
        sys.setswitchinterval(self._interval)


@dataclass
class RunContext:
    """What a run's processing phase needs (shared by the local and the Ray runner)."""

    reader: Any
    total: int | None
    state: RunState
    sink: Sink
    key_filter: KeyFilter
    summary: RunSummary
    progress: Progress
    started: float
    started_at: str
    throughput: list[list[float]] = field(default_factory=Points)  # [seconds since start, input rows done]
    # Input records the reader read past without making a row (a WARC file's redirects, images...), by reason.
    skipped: Counter[str] = field(default_factory=Counter)


def _open_run(pipe: Pipeline) -> RunContext | RunSummary:
    """Check paths, load models, check output and input, open the run state; a finished identical run returns early."""
    config = pipe.config
    out_cfg = config.output
    check_paths(config)
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    _ = pipe.stages  # load models before any input is read
    sink = open_sink(out_cfg)
    reader = open_reader(config.input)
    total = reader.estimate_total()
    if total is not None and total > config.input.max_rows:
        raise InputError(
            f"Input {config.input.path} has {total:,} rows, above input.max_rows={config.input.max_rows:,}; "
            "split it or raise input.max_rows."
        )
    chash = pipe.config_hash
    listing = [entry.path for entry in reader.entries] if isinstance(reader, FolderReader) else None
    identity = {"input_fingerprint": input_fingerprint(config.input.path, listing),
                "input_settings": read_settings_hash(config.input), "config_hash": chash, "mode": out_cfg.mode,
                "output_format": out_cfg.format}
    quarantine = OutputPaths.of(out_cfg).quarantine
    state = RunState.open(OutputPaths.of(out_cfg).state, identity, output_owner(out_cfg),
                          config.runner.resume,
                          lambda: output_signature(sink, quarantine), config.runner.checkpoint_seconds,
                          int(config.runner.checkpoint_mb * (1 << 20)))
    try:
        return _start_run(pipe, reader, total, state, sink, started, started_at)
    except BaseException:
        state.close()
        raise


def _start_run(pipe: Pipeline, reader: Any, total: int | None, state: RunState, sink: Sink, started: float,
               started_at: str) -> RunContext | RunSummary:
    """With the state open: return early when up to date, else tell the stages and set up the processing phase."""
    config, out_cfg, chash = pipe.config, pipe.config.output, pipe.config_hash
    remove_stale_temporaries(OutputPaths.of(out_cfg))
    if state.complete:
        log.info("up to date: %s was already processed with this config (run %s); nothing to do",
                 config.input.path, state.run_id)
        state.close()
        return _previous_summary(state, config)
    start = state.committed_rows()
    if start:
        log.info("resuming run %s at input row %d", state.run_id, start)
    key = out_cfg.key
    known = KnownRows()
    if out_cfg.mode == "upsert":
        known = KnownRows((str(r.get(key)), (r.get("content_hash"), r.get("config_hash"), r.get("input_hash")))
                          for r in sink.read_rows())
    key_filter = KeyFilter(key, chash, known, state.seen_keys(key) if start else set(), out_cfg.include_text)
    pipe.start(RunStart(out_cfg.mode, key, OutputPaths.of(out_cfg), sink.read_rows, state.rows if start else tuple))
    progress = Progress(total, config.runner.progress, config.runner.log_every_seconds, initial=start,
                        position=bytes_progress(reader) if config.runner.kind == "local" else None)
    summary = RunSummary(run_id=state.run_id, config_hash=chash, resumed_from=start)
    return RunContext(reader, total, state, sink, key_filter, summary, progress, started, started_at)


def _process_locally(pipe: Pipeline, ctx: RunContext, preview_rows: int) -> None:
    """Process every batch; finished batches are saved to the run state at each checkpoint, and those
    still in memory when the input ends or the run stops (Ctrl-C, SIGTERM, an error) are saved then."""
    state, summary = ctx.state, ctx.summary
    if summary.resumed_from:
        from pipeline.run.ray import saved_files

        if saved_files(state):
            raise ConfigError(
                f"The unfinished run in {state.directory} was started by the Ray runner (its saved rows are whole "
                "input files, not the first rows of the input). Finish it with runner.kind: ray, or set "
                "runner.resume: false to start over."
            )
    ctx.throughput.append([round(time.monotonic() - ctx.started, 3), summary.resumed_from])  # models loaded
    batches = _stamped(read_batches(pipe.config.input, ctx.reader, start=summary.resumed_from), ctx.key_filter.key)
    try:
        with Prefetch(batches, pipe.config.runner.prefetch_batches) as prefetched:
            for batch in prefetched:
                _process_batch(pipe, ctx, batch, preview_rows)
        if isinstance(ctx.throughput, Points):
            ctx.throughput.close()
        state.checkpoint()
    except BaseException:
        with contextlib.suppress(Exception):  # (a full disk fails again: the error that stopped the run is shown)
            state.checkpoint()
        raise
    finally:
        ctx.progress.close()
    ctx.skipped.update(getattr(ctx.reader, "skipped", {}))


def _stamped(batches: Iterator[Batch], key: str) -> Iterator[Batch]:
    """``batches`` with :func:`~pipeline.io.records.stamp_hashes` done on every record that has ``key``
    (what :meth:`KeyFilter.split` would do first). Hashing whole articles is Python work that needs no
    state of the run, so it runs in the reader thread, while the main thread's stages are in kernels."""
    for batch in batches:
        for record in batch.records:
            if record.get(key) is not None:
                stamp_hashes(record)
        yield batch


def _process_batch(pipe: Pipeline, ctx: RunContext, batch: Batch, preview_rows: int) -> None:
    """Key filter, stages and saving of one batch read from the input (its records stamped by :func:`_stamped`)."""
    state, summary = ctx.state, ctx.summary
    todo, refreshed, rejected, unchanged = ctx.key_filter.split(batch.records, state.run_id, stamped=True)
    result = pipe.process_batch(todo)
    for row in result.records:
        row["run_id"] = state.run_id
    state.save_batch(batch.start, batch.end, result.records,
                     batch.quarantined + rejected + result.quarantined, unchanged, refreshed)
    if len(summary.preview) < preview_rows:
        summary.preview.extend(result.records[: preview_rows - len(summary.preview)])
    ctx.progress.update(batch.size)
    add_point(ctx.throughput, [round(time.monotonic() - ctx.started, 3), batch.end])


def run_job(pipe: Pipeline, preview_rows: int = 10) -> RunSummary:
    """Run ``pipe``'s configured job end to end (resuming or skipping as the state says)."""
    with input_modes(pipe.config.input):  # files the run creates are no more readable than its input
        ctx = _open_run(pipe)
        if isinstance(ctx, RunSummary):
            return ctx
        try:
            return _run_opened(pipe, ctx, preview_rows)
        finally:
            ctx.state.close()  # the lock goes with the run, even when a traceback keeps the state alive


def _run_opened(pipe: Pipeline, ctx: RunContext, preview_rows: int) -> RunSummary:
    try:
        if pipe.config.runner.kind == "ray":
            from pipeline.run.ray import process_with_ray

            process_with_ray(pipe, ctx, preview_rows)
        else:
            _process_locally(pipe, ctx, preview_rows)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM turned into KeyboardInterrupt("SIGTERM") by the CLI
        signal_name = str(exc.args[0]) if exc.args else "SIGINT"
        if pipe.config.runner.kind == "ray":
            then = (f"the input files whose rows were all saved ({ctx.state.committed_rows():,} rows) are kept in "
                    f"{ctx.state.directory}: run the same command to go on with the other files")
        else:
            then = (f"rows before {ctx.state.committed_rows():,} are saved in {ctx.state.directory}: run the same "
                    "command to resume from there")
        raise Interrupted(f"interrupted by {signal_name}; {then}.", signal_name) from None
    return _commit_run(pipe, ctx)


def _commit_run(pipe: Pipeline, ctx: RunContext) -> RunSummary:
    """Check the run may replace the output, write output and quarantine atomically, then the manifest and
    run log, then mark the run done with the signature of what was committed."""
    config, out_cfg, state, summary = pipe.config, pipe.config.output, ctx.state, ctx.summary
    stages, chash, start = pipe.stages, summary.config_hash, summary.resumed_from
    counts = state.counts()
    _check_read_something(config, ctx, counts["read"])
    _check_replace(config, ctx.sink, state, counts)
    rows = state.row_lines()
    if counts["refreshed"]:
        refreshed = with_previous_fields(ctx.sink, out_cfg.key, state.refreshed, model_fields(config))
        rows = JsonlRows(lambda: chain(state.row_lines().blocks(), (dumps_bytes(r) + b"\n" for r in refreshed())))
    commit(ctx.sink, out_cfg.mode, rows, out_cfg.key, state.run_id)
    paths = OutputPaths.of(out_cfg)
    quarantine_path = paths.quarantine
    commit_quarantine(quarantine_path, out_cfg.mode, state.quarantine_lines(), state.run_id)
    paths.rejected.unlink(missing_ok=True)  # a failed run's entries, now stale
    for stage in stages:
        stage.finish()
    reasons: dict[str, int] = {}
    for entry in state.quarantined():
        kind = _reason_kind(entry["reason"])
        reasons[kind] = reasons.get(kind, 0) + 1

    summary.read, summary.written = counts["read"], counts["written"]
    summary.quarantined, summary.unchanged = counts["quarantined"], counts["unchanged"]
    summary.refreshed = counts["refreshed"]
    summary.seconds = time.monotonic() - ctx.started
    summary.quarantine_reasons = reasons
    summary.skipped = sum(ctx.skipped.values())
    summary.output, summary.quarantine = str(out_cfg.path), str(quarantine_path)
    manifest = {
        "run_id": state.run_id,
        "started_at": ctx.started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config_hash": chash,
        "mode": out_cfg.mode,
        "runner": config.runner.kind,
        "input": str(config.input.path),
        "output": str(out_cfg.path),
        "resumed_from_row": start,
        "counts": {k: counts[k] for k in ("read", "written", "quarantined", "unchanged", "refreshed")},
        "quarantine_reasons": reasons,
        "skipped": dict(ctx.skipped.most_common()),
        "seconds": round(summary.seconds, 3),
        "articles_per_second": round(summary.articles_per_second, 2),
        "stage_seconds": {k: round(v, 3) for k, v in pipe.timings.items()},
        "stages": {stage.name: stage.describe() for stage in stages},
        "versions": package_versions(),
        "throughput": ctx.throughput,
    }
    write_text_atomic(paths.config, dump_config(config))
    manifest_path = paths.manifest
    write_text_atomic(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2))
    _log_run(paths.runs, manifest)
    if out_cfg.report:
        from pipeline.reports.html import write_run_report

        write_run_report(paths.report, manifest, topics=state.topics())
    state.finish(manifest["counts"], output_signature(ctx.sink, quarantine_path))
    summary.manifest = str(manifest_path)
    log.info(
        "done: read %d, written %d (refreshed %d), quarantined %d, unchanged %d in %.1fs (%.1f articles/s); "
        "results: %s",
        summary.read, summary.written, summary.refreshed, summary.quarantined, summary.unchanged, summary.seconds,
        summary.articles_per_second, out_cfg.path,
    )
    return summary


def _check_read_something(config: JobConfig, ctx: RunContext, read: int) -> None:
    """A WARC input that gave no row at all is an input problem (exit 4), said with what its records were."""
    if read or not (ctx.skipped or bytes_progress(ctx.reader) is not None):
        return
    total = sum(ctx.skipped.values())
    found = "; ".join(f"{reason} ({count:,})" for reason, count in ctx.skipped.most_common(8))
    held = f"holds {total:,} records and none of them is" if total else "holds no record, so no"
    raise InputError(
        f"Input {config.input.path} gave 0 rows: it {held} an HTML page with HTTP status 200"
        + (f" (skipped: {found})" if found else "") + ". Check input.path (a crawl of pages, not of robots.txt "
        "or redirects?); the output was left as it was."
    )


def _check_replace(config: JobConfig, sink: Sink, state: RunState, counts: dict[str, int]) -> None:
    """Refuse to commit a run that read nothing over existing rows, or whose quarantined share is too high.

    Both leave the output and the quarantine file as they were and the run's parts in place, so a
    rerun with the same config fails the same way without model work, and one with a fixed config
    (a new identity) or a raised threshold goes on.
    """
    out_cfg, read, quarantined = config.output, counts["read"], counts["quarantined"]
    if read == 0 and out_cfg.mode == "overwrite" and not out_cfg.allow_empty and has_rows(sink):
        raise InputError(
            f"Input {config.input.path} gave 0 rows, and the output {out_cfg.path} has rows: not replacing them "
            "with an empty output. Check input.path and input.format, or set output.allow_empty: true if an "
            "empty result is right."
        )
    limit = config.runner.max_quarantined_fraction
    if read == 0 or quarantined < limit * read:
        return
    rejected = OutputPaths.of(out_cfg).rejected
    commit_quarantine(rejected, "overwrite", state.quarantined, state.run_id)
    reasons: dict[str, int] = {}
    fields: dict[str, None] = {}
    for entry in state.quarantined():
        kind = _reason_kind(entry["reason"])
        reasons[kind] = reasons.get(kind, 0) + 1
        if kind.startswith(("missing text field", "missing key field")) and isinstance(entry["raw"], dict) \
                and len(fields) < 50:
            fields.update(dict.fromkeys(entry["raw"]))
    top = sorted(reasons.items(), key=lambda item: -item[1])
    hint = ""
    kind, count = top[0]
    if count == quarantined and kind.startswith(("missing text field", "missing key field")) and fields:
        setting = "input.text_field" if kind.startswith("missing text field") else "output.key"
        hint = f" No row has it: rows have fields: {', '.join(fields)}; set {setting}."
    raise QuarantineThresholdError(
        f"{quarantined:,} of {read:,} rows read were quarantined, reaching runner.max_quarantined_fraction={limit}; "
        f"the output {out_cfg.path} and its quarantine file were left as they were. Top reasons: "
        + "; ".join(f"{k} ({n:,})" for k, n in top[:3]) + f".{hint} This run's quarantine entries: {rejected}. "
        "Fix the input or the config and run again, or raise runner.max_quarantined_fraction to accept them."
    )
