"""One batch run of a job, whichever runner computes its rows: open, compute, verify, commit.

:func:`run_job` is the whole life of a run; a runner (:mod:`pipeline.run.local`,
:mod:`pipeline.run.ray`) only computes rows into the run state:

1. **open** (:meth:`Job.open`): output and input paths checked against each other, models loaded,
   the output sink and the input reader opened, the run state opened and locked. A finished run
   with the same identity whose output is as it left it stops here: "up to date".
2. **compute** (:meth:`Runner.process`): from the first row not in a saved part, with the keys
   already written and the stages' view of earlier rows rebuilt from the parts (:meth:`Job.begin`);
   the runner returns how many input rows the input gave.
3. **verify** (:meth:`pipeline.run.state.RunState.verify`): the saved parts must cover exactly those
   rows. A part removed or damaged while the run went on is named in one line and its rows are
   computed again (back to 2.), so a short output is never committed.
4. **commit** (:meth:`Job.commit`): a run that read nothing over an output with rows, or whose
   quarantined share is too high, stops here with the output untouched; otherwise output and
   quarantine are written atomically, then the config, manifest, run log and report, and the state
   is marked complete with the signature of what was committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

from pipeline.config import InputConfig, JobConfig, dump_config
from pipeline.errors import (
    InputError,
    Interrupted,
    OutputError,
    QuarantineThresholdError,
    VnnewsError,
    interrupt_signal,
)
from pipeline.io.paths import OutputPaths, check_paths, input_modes, output_owner, remove_stale_temporaries
from pipeline.io.readers import FolderReader, bytes_progress, open_reader
from pipeline.io.records import shown_path
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
from pipeline.progress import Progress
from pipeline.provenance import package_versions
from pipeline.run.keys import KeyFilter, KeySet, KnownRows
from pipeline.run.processing import Processor
from pipeline.run.state import RunState, input_fingerprint
from pipeline.stages import RunStart

log = logging.getLogger(__name__)

# Reading settings that do not change which rows are read: the file fingerprint covers the path,
# and batch boundaries do not change rows. Every other InputConfig field (encoding, limit, split,
# a delimiter added tomorrow) enters the run's identity without being listed anywhere.
READ_SETTINGS_EXCLUDE = frozenset({"path", "batch_size"})
# Fields the stages write (normalize: title, text, author of raw pages; classify; summarize): what a
# refreshed row takes from the previous output instead of recomputing.
MODEL_FIELDS = ("title", "text", "topic", "topic_score", "topic_top_k", "summary", "duplicate_of",
                "duplicate_similarity")
# What the exit-6 hint lists as a row's field name: a word of at most 40 characters, never a sentence or a value.
FIELD_NAME = re.compile(r"[^\W\d]\w{0,39}")
# Rows of output a run keeps in its summary to show (the CLI's table after `vnnews run`): a glance, not a sample.
PREVIEW_ROWS = 10
# How often one run computes again the rows of parts that vanished or were damaged while it ran,
# before it gives up (something keeps deleting its state).
MAX_REPAIRS = 2


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
    skipped: int = 0  # input records that are not rows (see Job.skipped)
    preview: list[dict[str, Any]] = field(default_factory=list)  # the first PREVIEW_ROWS rows this run computed

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


def _log_run(path: Path, manifest: dict[str, Any]) -> None:
    """Append the run to ``<stem>.runs.jsonl`` once, even if a crash makes the commit repeat.

    A line that cannot be read (cut by a full disk or a kill) is left as it is and never stops a run:
    a new line starts on a line of its own.
    """
    entry = {k: manifest[k] for k in ("run_id", "finished_at", "config_hash", "mode", "input", "counts", "skipped",
                                      "stages")}
    try:
        existing = path.read_bytes() if path.exists() else b""
        for line in existing.splitlines():
            try:
                if json.loads(line).get("run_id") == manifest["run_id"]:
                    return
            except (ValueError, AttributeError):
                continue
        with open(path, "ab") as runs:
            runs.write((b"\n" if existing and not existing.endswith(b"\n") else b"")
                       + json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
    except OSError as exc:
        raise OutputError(
            f"Cannot append to the run log {path}: {exc.strerror or exc}. The output is committed; fix the file "
            "(or the folder) and run the same command again to finish the run."
        ) from None


def process_start() -> float:
    """The ``time.monotonic()`` at which this process started (interpreter start-up and imports before it);
    now, where the system does not say (Linux tells through /proc)."""
    return time.monotonic() - _process_age()


def _process_age() -> float:
    try:
        import os

        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


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


class Runner(Protocol):
    """What computes a job's rows: the local runner or the Ray runner."""

    kind: str

    def process(self, job: Job) -> int:
        """Compute every row from ``job.start`` on into ``job.state``; return how many rows the input gave."""
        ...

    def saved(self, job: Job) -> str:
        """What a stopped run keeps, for the message of an interrupt (the rows or files saved)."""
        ...


@dataclass
class Job:
    """An opened run: the pipeline, its output and input, the run state and what the runner reports into."""

    pipe: Processor
    sink: Sink
    reader: Any
    total: int | None
    state: RunState
    known: KnownRows
    started: float
    started_at: str
    summary: RunSummary = field(default_factory=RunSummary)
    key_filter: KeyFilter | None = None
    progress: Progress | None = None
    start: int = 0  # the first row the runner computes in this round
    throughput: Points = field(default_factory=Points)  # [seconds since start, input rows done]
    # Input records the reader read past without making a row (a WARC file's redirects, images...), by reason.
    skipped: Counter[str] = field(default_factory=Counter)
    rounds: int = 0
    # Where the run's wall time went, outside the stages (which keep their own in ``pipe.timings``):
    # "start-up" (interpreter and imports, before the job opened), "open" (models, output, input, state),
    # and what the runner adds ("read": waiting for input batches, "save": writing parts, ...).
    timings: Counter[str] = field(default_factory=Counter)

    @property
    def config(self) -> JobConfig:
        return self.pipe.config

    @property
    def paths(self) -> OutputPaths:
        return OutputPaths.of(self.config.output)

    @property
    def quarantine_path(self) -> Path:
        return self.paths.quarantine

    @classmethod
    def open(cls, pipe: Processor, runner: str, since: float | None = None) -> Job | RunSummary:
        """Check paths, load models, open output and input, open the run state; a finished identical run
        returns its summary ("up to date") instead. ``since``: the ``time.monotonic()`` at which the run's
        clock starts, when it starts before this call (the ``vnnews`` command: its process start)."""
        config, out_cfg = pipe.config, pipe.config.output
        opening = time.monotonic()
        started = opening if since is None else min(since, opening)
        started_at = datetime.fromtimestamp(time.time() - (opening - started), UTC).isoformat(timespec="seconds")
        check_paths(config)
        _ = pipe.stages  # load models before any input is read
        sink = open_sink(out_cfg)
        reader = open_reader(config.input)
        total = reader.estimate_total()
        if total is not None and total > config.input.max_rows:
            raise InputError(
                f"Input {config.input.path} has {total:,} rows, above input.max_rows={config.input.max_rows:,}; "
                "split it or raise input.max_rows."
            )
        listing = [entry.path for entry in reader.entries] if isinstance(reader, FolderReader) else None
        identity = {"input_fingerprint": input_fingerprint(config.input.path, listing),
                    "input_settings": read_settings_hash(config.input), "config_hash": pipe.config_hash,
                    "mode": out_cfg.mode, "output_format": out_cfg.format,
                    # (how CSV cells are written; named only when not the default, so earlier states stay valid)
                    **({"csv_formulas": out_cfg.csv_formulas} if out_cfg.csv_formulas != "escape" else {})}
        paths = OutputPaths.of(out_cfg)
        quarantine = paths.quarantine
        runner_cfg = config.runner
        state = RunState.open(paths.state, identity, output_owner(out_cfg), runner,
                              runner_cfg.resume, lambda: output_signature(sink, quarantine),
                              runner_cfg.checkpoint_seconds, int(runner_cfg.checkpoint_mb * (1 << 20)))
        try:
            remove_stale_temporaries(paths)
            if state.complete:
                log.info("up to date: %s was already processed with this config (run %s); nothing to do",
                         config.input.path, state.run_id)
                state.close()
                return _previous_summary(state, config)
            known = KnownRows()
            if out_cfg.mode == "upsert":
                key = out_cfg.key
                known = KnownRows((str(r.get(key)), (r.get("content_hash"), r.get("config_hash"), r.get("input_hash")))
                                  for r in sink.read_rows())
        except BaseException:
            state.close()
            raise
        job = cls(pipe, sink, reader, total, state, known, started, started_at)
        job.summary = RunSummary(run_id=state.run_id, config_hash=pipe.config_hash,
                                 resumed_from=state.committed_rows())
        job.timings.update({"start-up": opening - started, "open": time.monotonic() - opening})
        return job

    def begin(self) -> None:
        """Start a round of computing at the first row not in a saved part: the keys written so far and the
        stages' view of the earlier rows come from the saved parts (a resumed run, or a repair round)."""
        config, out_cfg, state = self.config, self.config.output, self.state
        self.start = state.committed_rows()
        if self.rounds:  # a repair round reads the input again from its start
            self.reader = open_reader(config.input)
        elif self.start:
            log.info("resuming run %s at input row %d", state.run_id, self.start)
        self.rounds += 1
        self.skipped = Counter()  # (the runner counts them again for the rows it reads in this round)
        seen = KeySet(str(row.get(out_cfg.key)) for row in chain(state.rows(), state.refreshed())) \
            if self.start else KeySet()
        self.key_filter = KeyFilter(out_cfg.key, self.pipe.config_hash, self.known, seen, out_cfg.include_text)
        self.pipe.start(RunStart(out_cfg.mode, out_cfg.key, self.paths, self.sink.read_rows,
                                 state.rows if self.start else tuple))
        self.progress = Progress(self.total, config.runner.progress, config.runner.log_every_seconds,
                                 initial=self.start,
                                 position=bytes_progress(self.reader) if config.runner.kind == "local" else None)
        self.throughput.append([round(time.monotonic() - self.started, 3), self.start])  # models loaded

    def add_point(self, rows_done: int) -> None:
        self.throughput.add([round(time.monotonic() - self.started, 3), rows_done])

    def add_preview(self, rows: list[dict[str, Any]]) -> None:
        """Keep rows this run computed, in input order, until the summary holds :data:`PREVIEW_ROWS`."""
        self.summary.preview.extend(rows[: max(PREVIEW_ROWS - len(self.summary.preview), 0)])

    def commit(self) -> RunSummary:
        """Check the run may replace the output, write output and quarantine atomically, then the config,
        manifest, run log and report, and mark the run complete with the signature of what was committed."""
        config, out_cfg, state, summary = self.config, self.config.output, self.state, self.summary
        committing = time.monotonic()
        counts = state.counts()
        self._check_read_something(counts["read"])
        self._check_replace(counts)
        rows = state.row_lines()
        if counts["refreshed"]:
            refreshed = with_previous_fields(self.sink, out_cfg.key, state.refreshed, model_fields(config))
            rows = JsonlRows(lambda: chain(state.row_lines().blocks(), (dumps_bytes(r) + b"\n" for r in refreshed())))
        commit(self.sink, out_cfg.mode, rows, out_cfg.key, state.run_id)
        commit_quarantine(self.quarantine_path, out_cfg.mode, state.quarantine_lines(), state.run_id)
        self.paths.rejected.unlink(missing_ok=True)  # a failed run's entries, now stale
        stages = self.pipe.stages
        for stage in stages:
            stage.finish()
        reasons: Counter[str] = Counter(_reason_kind(entry["reason"]) for entry in state.quarantined())

        summary.read, summary.written = counts["read"], counts["written"]
        summary.quarantined, summary.unchanged = counts["quarantined"], counts["unchanged"]
        summary.refreshed = counts["refreshed"]
        self.timings["commit"] += time.monotonic() - committing  # (the manifest and report follow: milliseconds)
        summary.seconds = time.monotonic() - self.started
        summary.quarantine_reasons = dict(reasons)
        summary.skipped = sum(self.skipped.values())
        summary.output, summary.quarantine = str(out_cfg.path), str(self.quarantine_path)
        self.throughput.close()
        manifest = {
            "run_id": state.run_id,
            "started_at": self.started_at,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "config_hash": summary.config_hash,
            "mode": out_cfg.mode,
            "runner": config.runner.kind,
            "input": shown_path(str(config.input.path)),
            "output": str(out_cfg.path),
            "resumed_from_row": summary.resumed_from,
            "counts": {k: counts[k] for k in ("read", "written", "quarantined", "unchanged", "refreshed")},
            "quarantine_reasons": dict(reasons),
            "skipped": dict(self.skipped.most_common()),
            "seconds": round(summary.seconds, 3),
            "articles_per_second": round(summary.articles_per_second, 2),
            "seconds_by_step": self._seconds_by_step(summary.seconds),
            "stages": {stage.name: stage.describe() for stage in stages},
            "versions": package_versions(),
            "throughput": self.throughput,
        }
        write_text_atomic(self.paths.config, dump_config(config))
        manifest_path = self.paths.manifest
        write_text_atomic(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2))
        _log_run(self.paths.runs, manifest)
        if out_cfg.report:
            from pipeline.reports.html import write_run_report

            write_run_report(self.paths.report, manifest, topics=state.topics())
        state.finish(manifest["counts"], output_signature(self.sink, self.quarantine_path))
        summary.manifest = str(manifest_path)
        log.info(
            "done: read %d, written %d (refreshed %d), quarantined %d, unchanged %d in %.1fs (%.1f articles/s); "
            "results: %s",
            summary.read, summary.written, summary.refreshed, summary.quarantined, summary.unchanged, summary.seconds,
            summary.articles_per_second, out_cfg.path,
        )
        return summary

    def _seconds_by_step(self, total: float) -> dict[str, float]:
        """Where the run's ``total`` wall seconds went, in order: start-up, open, the runner's steps and each
        stage, commit, and "other" (the runner's own bookkeeping), so that the steps add up to the total."""
        steps = {"start-up": self.timings["start-up"], "open": self.timings["open"],
                 **{k: v for k, v in self.timings.items() if k not in ("start-up", "open", "commit")},
                 **self.pipe.timings, "commit": self.timings["commit"]}
        steps["other"] = max(0.0, total - sum(steps.values()))
        return {name: round(seconds, 3) for name, seconds in steps.items()}

    def _check_read_something(self, read: int) -> None:
        """A WARC input that gave no row at all is an input problem (exit 4), said with what its records were."""
        if read or not (self.skipped or bytes_progress(self.reader) is not None):
            return
        total = sum(self.skipped.values())
        found = "; ".join(f"{reason} ({count:,})" for reason, count in self.skipped.most_common(8))
        held = f"holds {total:,} records and none of them is an" if total else "holds no WARC record at all, so no"
        raise InputError(
            f"Input {self.config.input.path} gave 0 rows: it {held} HTML page with HTTP status 200"
            + (f" (skipped: {found})" if found else "") + ". Check input.path (a crawl of pages, not of robots.txt "
            "or redirects?); the output was left as it was."
        )

    def _check_replace(self, counts: dict[str, int]) -> None:
        """Refuse to commit a run that read nothing over existing rows, or whose quarantined share is too high.

        Both leave the output and the quarantine file as they were and the run's parts in place, so a
        rerun with the same config fails the same way without model work, and one with a fixed config
        (a new identity) or a raised threshold goes on.
        """
        config, state = self.config, self.state
        out_cfg, read, quarantined = config.output, counts["read"], counts["quarantined"]
        if read == 0 and out_cfg.mode == "overwrite" and not out_cfg.allow_empty and has_rows(self.sink):
            raise InputError(
                f"Input {config.input.path} gave 0 rows, and the output {out_cfg.path} has rows: not replacing them "
                "with an empty output. Check input.path and input.format, or set output.allow_empty: true if an "
                "empty result is right."
            )
        limit = config.runner.max_quarantined_fraction
        if read == 0 or quarantined < limit * read:
            return
        rejected = self.paths.rejected
        commit_quarantine(rejected, "overwrite", state.quarantined, state.run_id)
        reasons: Counter[str] = Counter()
        fields: dict[str, None] = {}
        for entry in state.quarantined():
            kind = _reason_kind(entry["reason"])
            reasons[kind] += 1
            if kind.startswith(("missing text field", "missing key field")) and isinstance(entry["raw"], dict) \
                    and len(fields) < 50:
                # Names only: a CSV read without its header line has the first row's cells as names, and cells
                # (an article's text, a password column) are never printed.
                fields.update(dict.fromkeys(name for name in entry["raw"] if FIELD_NAME.fullmatch(str(name))))
        top = reasons.most_common()
        hint = ""
        kind, count = top[0]
        if count == quarantined and kind.startswith(("missing text field", "missing key field")) and fields:
            setting = "input.text_field" if kind.startswith("missing text field") else "output.key"
            hint = f" No row has it: rows have fields: {', '.join(fields)}; set {setting}."
        raise QuarantineThresholdError(
            f"{quarantined:,} of {read:,} rows read were quarantined, reaching runner.max_quarantined_fraction="
            f"{limit}; the output {out_cfg.path} and its quarantine file were left as they were. Top reasons: "
            + "; ".join(f"{k} ({n:,})" for k, n in top[:3]) + f".{hint} This run's quarantine entries: {rejected}. "
            "Fix the input or the config and run again, or raise runner.max_quarantined_fraction to accept them."
        )


def _previous_summary(state: RunState, config: JobConfig) -> RunSummary:
    saved = state.data.get("summary", {})
    return RunSummary(
        read=saved.get("read", 0), written=saved.get("written", 0), quarantined=saved.get("quarantined", 0),
        unchanged=saved.get("unchanged", 0), refreshed=saved.get("refreshed", 0), output=str(config.output.path),
        quarantine=str(OutputPaths.of(config.output).quarantine),
        manifest=str(OutputPaths.of(config.output).manifest), run_id=state.run_id,
        config_hash=state.data["config_hash"], up_to_date=True,
    )


def run_job(pipe: Processor, runner: Runner, since: float | None = None) -> RunSummary:
    """Run ``pipe``'s configured job end to end with ``runner``: open, compute, verify, commit (module docstring).

    ``since``: when the run's clock starts (:meth:`Job.open`). Files the run creates are no more readable
    than its input (:func:`~pipeline.io.paths.input_modes`)."""
    with input_modes(pipe.config.input):
        return _run_job(pipe, runner, since)


def _run_job(pipe: Processor, runner: Runner, since: float | None) -> RunSummary:
    job = Job.open(pipe, runner.kind, since)
    if isinstance(job, RunSummary):
        return job
    try:
        for _ in range(MAX_REPAIRS + 1):
            job.begin()
            try:
                rows_read = runner.process(job)
            except VnnewsError:
                raise
            except BaseException as exc:
                if (signal_name := interrupt_signal(exc)) is None:
                    raise
                raise Interrupted(f"interrupted by {signal_name}; {runner.saved(job)}.", signal_name) from None
            damage = job.state.verify(rows_read)
            if damage is None:
                return _commit(job, runner)
            log.warning("run state %s: %s; computing rows from %s again", job.state.directory, damage,
                        f"{damage.first_row:,}")
            job.state.truncate()
        raise OutputError(
            f"The run state {job.state.directory} lost saved parts {MAX_REPAIRS + 1} times while this run went on "
            f"({damage}): something deletes or rewrites files in it (a temporary-file cleaner?). Keep it away from "
            "that folder and run the same command again."
        )
    finally:
        job.state.close()  # the lock goes with the run, even when a traceback keeps the state alive


def _commit(job: Job, runner: Runner) -> RunSummary:
    try:
        return job.commit()
    except VnnewsError:
        raise
    except BaseException as exc:
        if (signal_name := interrupt_signal(exc)) is None:
            raise
        raise Interrupted(f"interrupted by {signal_name} while committing; {runner.saved(job)}.", signal_name) \
            from None
