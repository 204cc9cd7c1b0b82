"""The local streaming runner: read in batches, run the stages, write results and quarantine.

Order of work is chosen so that a bad job fails before touching any input: models load first,
then the input and output are opened, and only then does reading start. Memory holds one batch.
Beside the results it writes ``<stem>.quarantine.jsonl``, ``<stem>.config.yaml`` (the resolved
config) and ``<stem>.manifest.json`` (counts, timings, model ids, package versions).
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

from pipeline.config import config_hash, dump_config
from pipeline.progress import Progress
from pipeline.readers import open_reader, read_batches
from pipeline.writers import QuarantineWriter, open_writer, side_path

if TYPE_CHECKING:
    from pipeline.api import Pipeline

log = logging.getLogger(__name__)

PACKAGES = ("vnnews", "torch", "transformers", "scikit-learn", "underthesea", "datasets", "pydantic", "numpy")


@dataclass
class RunSummary:
    """Counts and paths of one run; ``read == written + quarantined`` always holds."""

    read: int = 0
    written: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    output: str = ""
    quarantine: str = ""
    manifest: str = ""
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def articles_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run_job(pipe: Pipeline, preview_rows: int = 10) -> RunSummary:
    """Run ``pipe``'s configured job end to end; returns the counts (and a few rows to show)."""
    config = pipe.config
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    stages = pipe.stages  # load models before any input is read
    reader = open_reader(config.input)
    writer = open_writer(config.output)
    quarantine = QuarantineWriter(config.output.path)
    summary = RunSummary(output=str(config.output.path), quarantine=str(quarantine.path))
    progress = Progress(reader.estimate_total(), config.runner.progress, config.runner.log_every_seconds)
    try:
        for batch in read_batches(config.input, reader):
            result = pipe.process_batch(batch.records)
            writer.write(result.records)
            quarantine.write(batch.quarantined + result.quarantined)
            summary.read += batch.size
            summary.written += len(result.records)
            summary.quarantined += len(batch.quarantined) + len(result.quarantined)
            if len(summary.preview) < preview_rows:
                summary.preview.extend(result.records[: preview_rows - len(summary.preview)])
            progress.update(batch.size)
    except BaseException:
        writer.abort()
        quarantine.abort()
        progress.close()
        raise
    progress.close()
    writer.close()
    quarantine.close()
    for stage in stages:
        if hasattr(stage, "finish"):
            stage.finish()
    summary.seconds = time.monotonic() - started
    summary.quarantine_reasons = dict(quarantine.reasons)

    output = config.output.path
    side_path(output, "config.yaml").write_text(dump_config(config), encoding="utf-8")
    manifest = {
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config_hash": config_hash(config),
        "input": str(config.input.path),
        "output": str(output),
        "counts": {"read": summary.read, "written": summary.written, "quarantined": summary.quarantined},
        "quarantine_reasons": summary.quarantine_reasons,
        "seconds": round(summary.seconds, 3),
        "articles_per_second": round(summary.articles_per_second, 2),
        "stage_seconds": {k: round(v, 3) for k, v in pipe.timings.items()},
        "stages": {stage.name: stage.describe() for stage in stages},
        "versions": package_versions(),
    }
    manifest_path = side_path(output, "manifest.json")
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    summary.manifest = str(manifest_path)
    log.info(
        "done: read %d, written %d, quarantined %d in %.1fs (%.1f articles/s); results: %s",
        summary.read, summary.written, summary.quarantined, summary.seconds, summary.articles_per_second, output,
    )
    return summary

