"""The :class:`Processor`: a job's stages, built once from its config, run over batches of records.

What every runner and the Python API share: the runners feed it batches
(:mod:`pipeline.run.local`, :mod:`pipeline.run.ray`), :class:`~pipeline.run.pipeline.Pipeline`
adds in-memory rows, DataFrames and the batch job on top of it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipeline.config import JobConfig, load_config
from pipeline.io.records import Batch, Quarantined, Record, output_row
from pipeline.io.writers import row_check
from pipeline.provenance import processing_hash
from pipeline.stages import QUARANTINE_KEY, SKIP_MODELS_KEY, RunStart, Stage


class Processor:
    """Stages built once from a :class:`~pipeline.config.JobConfig`, run over batches of records.

    Models load on first use (``stages``), so constructing one is cheap; the runners load them
    before reading any input, so a missing model fails the job before any work.
    """

    def __init__(self, config: JobConfig) -> None:
        self.config = config
        self._stages: list[Stage] | None = None
        self._config_hash: str | None = None
        self.timings: dict[str, float] = {}
        self.row_check = row_check(config.output)  # why the output cannot store a row (see pipeline.io.writers)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | list[str] | None = None):
        """Load and validate a job file; ``overrides`` maps dotted keys to values (like ``--set``)."""
        return cls(load_config(JobConfig, path, overrides))

    @classmethod
    def from_dict(cls, data: dict[str, Any], overrides: dict[str, Any] | None = None):
        return cls(load_config(JobConfig, data=data, overrides=overrides))

    @property
    def stages(self) -> list[Stage]:
        if self._stages is None:
            self._stages = build_stages(self.config)
        return self._stages

    @property
    def config_hash(self) -> str:
        """Hash of the settings and model files that shape each row (written to rows as ``config_hash``)."""
        if self._config_hash is None:
            self._config_hash = processing_hash(self.config, self.stages)
        return self._config_hash

    def process_batch(self, records: list[Record]) -> Batch:
        """Run every stage over records; returns output rows and the records a stage rejected, or that the
        configured output cannot store (quarantined with the reason, from the stage ``output``)."""
        out = Batch()
        live = records
        spared: list[Record] = []  # marked SKIP_MODELS_KEY by a stage: written without the later stages
        for stage in self.stages:
            started = time.perf_counter()
            live = stage(live)
            self.timings[stage.name] = self.timings.get(stage.name, 0.0) + time.perf_counter() - started
            kept = []
            for record in live:
                reason = record.pop(QUARANTINE_KEY, None)
                if reason is not None:
                    out.quarantined.append(Quarantined(reason, record, stage.name, record.get("id")))
                elif record.get(SKIP_MODELS_KEY):
                    spared.append(record)
                else:
                    kept.append(record)
            live = kept
        if spared:  # back in input order
            order = {id(record): i for i, record in enumerate(records)}
            live = sorted([*live, *spared], key=lambda record: order[id(record)])
        for record in live:
            row = output_row(record, self.config.output.include_text)
            row["config_hash"] = self.config_hash
            problem = self.row_check(row) if self.row_check is not None else None
            if problem is None:
                out.records.append(row)
            else:
                out.quarantined.append(Quarantined(problem, record, "output", record.get("id")))
        return out

    def start(self, run: RunStart) -> None:
        """Tell every stage a batch run begins (the dedup stage loads its index of earlier rows)."""
        for stage in self.stages:
            stage.start(run)


def build_stages(config: JobConfig) -> list[Stage]:
    """The enabled stages in order; loading their models here makes a missing model fail early.

    """
    from pipeline.extras import check_job
    from pipeline.stages.normalize import NormalizeStage

    check_job(config)  # a missing optional package stops the job here, before any model loads

    stages: list[Stage] = []
    if config.normalize.enabled:
        stages.append(NormalizeStage(config.normalize, raw_pages=config.input.raw_pages))
    if config.dedup.enabled:
        from pipeline.stages.dedup import DedupStage

        stages.append(DedupStage(config.dedup, key=config.output.key))
    if config.classify.enabled:
        from pipeline.stages.classify import ClassifyStage

        stages.append(ClassifyStage(config.classify))
    if config.summarize.enabled:
        from pipeline.stages.summarize import SummarizeStage

        stages.append(SummarizeStage(config.summarize))
    return stages
