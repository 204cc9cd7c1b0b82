"""The local streaming runner: read in batches, run the stages, commit results and quarantine.

Guarantees (checked by tests/test_reliability.py):
- Every input row ends up exactly once in the output or in the quarantine, with
  ``read == written + quarantined + unchanged`` (``unchanged``: upsert rows whose content and
  config did not change, so no model work was done for them).
- A run killed at any instant and started again with the same command finishes the job without
  redoing finished batches: each batch is saved as an atomic part file in ``<stem>.state/``, and
  the output is committed once, atomically, when every row is done.
- Re-running a finished job over the same input with the same processing config does no work.
  A changed config (settings or model files) recomputes; each row carries the ``config_hash`` and
  ``run_id`` that produced it, and ``<stem>.runs.jsonl`` maps runs to configs and models.

Order of work: models load first, then the output folder and input are checked, and only then does
reading start, so a bad job fails before touching any input. Memory holds one batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

from pipeline.config import JobConfig, dump_config
from pipeline.errors import InputError
from pipeline.progress import Progress
from pipeline.readers import open_reader, read_batches
from pipeline.records import Quarantined, content_id
from pipeline.state import RunState, input_fingerprint
from pipeline.writers import commit, commit_quarantine, open_sink, remove_stale_temporaries, side_path

if TYPE_CHECKING:
    from pipeline.api import Pipeline

log = logging.getLogger(__name__)

PACKAGES = ("vnnews", "torch", "transformers", "scikit-learn", "underthesea", "datasets", "pydantic", "numpy")


@dataclass
class RunSummary:
    """Counts and paths of one run; ``read == written + quarantined + unchanged`` always holds."""

    read: int = 0
    written: int = 0
    quarantined: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    output: str = ""
    quarantine: str = ""
    manifest: str = ""
    run_id: str = ""
    config_hash: str = ""
    resumed_from: int = 0
    up_to_date: bool = False
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def articles_per_second(self) -> float:
        done = self.read - self.resumed_from
        return done / self.seconds if self.seconds > 0 else 0.0


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def processing_hash(config: JobConfig, stages: list[Any]) -> str:
    """Hash of everything that changes a row's content: field mapping, stage settings, model files.

    Paths of input and output, batch sizes, devices and progress settings are left out: changing
    them must not make a finished job look stale.
    """
    data = {
        "input": config.input.model_dump(mode="json", include={"text_field", "title_field", "id_field",
                                                                "raw_pages", "txt_first_line_title"}),
        "output": config.output.model_dump(mode="json", include={"include_text", "key"}),
        "stages": {
            stage.name: {
                "settings": stage.config.model_dump(mode="json", exclude={"batch_size", "device"}),
                "fingerprint": stage.fingerprint() if hasattr(stage, "fingerprint") else None,
            }
            for stage in stages
        },
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" (")[0]


def _previous_summary(state: RunState, config: JobConfig) -> RunSummary:
    saved = state.data.get("summary", {})
    return RunSummary(
        read=saved.get("read", 0), written=saved.get("written", 0), quarantined=saved.get("quarantined", 0),
        unchanged=saved.get("unchanged", 0), output=str(config.output.path),
        quarantine=str(side_path(config.output.path, "quarantine.jsonl")),
        manifest=str(side_path(config.output.path, "manifest.json")), run_id=state.run_id,
        config_hash=state.data["config_hash"], up_to_date=True,
    )


def _log_run(path, manifest: dict[str, Any]) -> None:
    """Append the run to ``<stem>.runs.jsonl`` (once, even if a crash makes the commit repeat)."""
    if path.exists() and any(json.loads(line).get("run_id") == manifest["run_id"]
                             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()):
        return
    entry = {k: manifest[k] for k in ("run_id", "finished_at", "config_hash", "mode", "input", "counts", "stages")}
    with open(path, "a", encoding="utf-8") as runs:
        runs.write(json.dumps(entry, ensure_ascii=False) + "\n")


class KeyFilter:
    """Before model work: quarantine repeated keys and skip upsert rows whose content and config are unchanged."""

    def __init__(self, key: str, config_hash: str, known: dict[str, tuple], seen: set[str]) -> None:
        self.key = key
        self.config_hash = config_hash
        self.known = known
        self.seen = seen

    def split(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Quarantined], int]:
        todo, duplicates, unchanged = [], [], 0
        for record in records:
            record["content_hash"] = content_id(record.get("title") or "", record["text"])
            rkey = str(record.get(self.key))
            if rkey in self.seen:
                duplicates.append(Quarantined(f"duplicate {self.key} {rkey!r}: an earlier row of this input has it",
                                              record, "input", record.get("id")))
                continue
            self.seen.add(rkey)
            if tuple(self.known.get(rkey, ())) == (record["content_hash"], self.config_hash):
                unchanged += 1
                continue
            todo.append(record)
        return todo, duplicates, unchanged


@dataclass
class RunContext:
    """What a run's processing phase needs (shared by the local and the Ray runner)."""

    reader: Any
    total: int | None
    state: RunState
    sink: Any
    key_filter: KeyFilter
    summary: RunSummary
    progress: Progress
    started: float
    started_at: str
    throughput: list[list[float]] = field(default_factory=list)  # [seconds since start, input rows done]


def _open_run(pipe: Pipeline) -> RunContext | RunSummary:
    """Load models, check output and input, open the run state; a finished identical run returns early."""
    config = pipe.config
    out_cfg = config.output
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
    state = RunState.open(side_path(out_cfg.path, "state"), input_fingerprint(config.input.path), chash,
                          out_cfg.mode, config.runner.resume and config.runner.kind == "local")
    remove_stale_temporaries(out_cfg.path)
    if state.complete and sink.exists():
        log.info("up to date: %s was already processed with this config (run %s); nothing to do",
                 config.input.path, state.run_id)
        return _previous_summary(state, config)
    start = state.committed_rows()
    if start:
        log.info("resuming run %s at input row %d", state.run_id, start)
    key = out_cfg.key
    known = {}
    if out_cfg.mode == "upsert":
        known = {str(r.get(key)): (r.get("content_hash"), r.get("config_hash")) for r in sink.read_rows()}
    key_filter = KeyFilter(key, chash, known, state.seen_keys(key) if start else set())
    progress = Progress(total, config.runner.progress, config.runner.log_every_seconds)
    progress.update(start)
    summary = RunSummary(run_id=state.run_id, config_hash=chash, resumed_from=start)
    return RunContext(reader, total, state, sink, key_filter, summary, progress, started, started_at)


def _process_locally(pipe: Pipeline, ctx: RunContext, preview_rows: int) -> None:
    state, summary = ctx.state, ctx.summary
    ctx.throughput.append([round(time.monotonic() - ctx.started, 3), summary.resumed_from])  # models loaded
    try:
        for batch in read_batches(pipe.config.input, ctx.reader, start=summary.resumed_from):
            todo, duplicates, unchanged = ctx.key_filter.split(batch.records)
            result = pipe.process_batch(todo)
            for row in result.records:
                row["run_id"] = state.run_id
            state.write_part(batch.start, batch.end, result.records,
                             batch.quarantined + duplicates + result.quarantined, unchanged)
            if len(summary.preview) < preview_rows:
                summary.preview.extend(result.records[: preview_rows - len(summary.preview)])
            ctx.progress.update(batch.size)
            ctx.throughput.append([round(time.monotonic() - ctx.started, 3), batch.end])
    finally:
        ctx.progress.close()


def run_job(pipe: Pipeline, preview_rows: int = 10) -> RunSummary:
    """Run ``pipe``'s configured job end to end (resuming or skipping as the state says)."""
    ctx = _open_run(pipe)
    if isinstance(ctx, RunSummary):
        return ctx
    if pipe.config.runner.kind == "ray":
        from pipeline.ray_runner import process_with_ray

        process_with_ray(pipe, ctx, preview_rows)
    else:
        _process_locally(pipe, ctx, preview_rows)
    return _commit_run(pipe, ctx)


def _commit_run(pipe: Pipeline, ctx: RunContext) -> RunSummary:
    """Write output and quarantine atomically, then the manifest and run log, then mark the run done."""
    config, out_cfg, state, summary = pipe.config, pipe.config.output, ctx.state, ctx.summary
    stages, chash, start = pipe.stages, summary.config_hash, summary.resumed_from
    counts = state.counts()
    commit(ctx.sink, out_cfg.mode, state.rows, out_cfg.key, state.run_id)
    quarantine_path = side_path(out_cfg.path, "quarantine.jsonl")
    commit_quarantine(quarantine_path, out_cfg.mode, state.quarantined, state.run_id)
    for stage in stages:
        if hasattr(stage, "finish"):
            stage.finish()
    reasons: dict[str, int] = {}
    for entry in state.quarantined():
        kind = _reason_kind(entry["reason"])
        reasons[kind] = reasons.get(kind, 0) + 1

    summary.read, summary.written = counts["read"], counts["written"]
    summary.quarantined, summary.unchanged = counts["quarantined"], counts["unchanged"]
    summary.seconds = time.monotonic() - ctx.started
    summary.quarantine_reasons = reasons
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
        "counts": {k: counts[k] for k in ("read", "written", "quarantined", "unchanged")},
        "quarantine_reasons": reasons,
        "seconds": round(summary.seconds, 3),
        "articles_per_second": round(summary.articles_per_second, 2),
        "stage_seconds": {k: round(v, 3) for k, v in pipe.timings.items()},
        "stages": {stage.name: stage.describe() for stage in stages},
        "versions": package_versions(),
        "throughput": ctx.throughput,
    }
    side_path(out_cfg.path, "config.yaml").write_text(dump_config(config), encoding="utf-8")
    manifest_path = side_path(out_cfg.path, "manifest.json")
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _log_run(side_path(out_cfg.path, "runs.jsonl"), manifest)
    if out_cfg.report:
        from pipeline.html_report import write_run_report

        write_run_report(side_path(out_cfg.path, "report.html"), manifest, state.rows())
    state.finish(manifest["counts"])
    summary.manifest = str(manifest_path)
    log.info(
        "done: read %d, written %d, quarantined %d, unchanged %d in %.1fs (%.1f articles/s); results: %s",
        summary.read, summary.written, summary.quarantined, summary.unchanged, summary.seconds,
        summary.articles_per_second, out_cfg.path,
    )
    return summary
