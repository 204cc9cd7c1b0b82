"""The :class:`Pipeline`: one object for the batch job, notebooks and other runners.

>>> from pipeline import Pipeline
>>> pipe = Pipeline.from_yaml("configs/quickstart.yaml")          # doctest: +SKIP
>>> pipe.process([{"title": "Giá vàng tăng", "text": "..."}])     # doctest: +SKIP
>>> pipe.process_frame(df)                                         # doctest: +SKIP
>>> pipe.run()                                                     # the configured batch job  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.config import JobConfig, load_config, resolve_model_path
from pipeline.io.records import Batch, Quarantined, Record, output_row, stamp_hashes, to_record
from pipeline.provenance import processing_hash
from pipeline.stages import QUARANTINE_KEY, SKIP_MODELS_KEY, RunStart, Stage

log = logging.getLogger(__name__)

_POSITION = "_position"  # a record's input row while the API processes a list ("_" fields never reach output)


def _is_missing(value: Any) -> bool:
    """Pandas' missing scalars (NaN, None, NaT, pd.NA); lists and dicts are values, never missing."""
    import pandas as pd

    return not isinstance(value, (list, dict, tuple, set)) and bool(pd.isna(value))


def _table_rows(table: Any) -> tuple[list[Mapping[str, Any]], Any]:
    """The rows of what :meth:`Pipeline.process_frame` takes, and the index its result gets (None: 0, 1, ...)."""
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table.to_dict(orient="records"), table.index
    datasets = sys.modules.get("datasets")  # a Dataset was made by an imported `datasets`; never imported here
    if datasets is not None and isinstance(table, datasets.Dataset):
        return table.to_list(), None
    if isinstance(table, Mapping) or not isinstance(table, Iterable) or isinstance(table, (str, bytes)):
        hint = " (a DatasetDict: pass one split, e.g. ds['train'])" if isinstance(table, Mapping) else ""
        raise TypeError(
            f"process_frame takes a pandas DataFrame, a datasets.Dataset or an iterable of dicts, "
            f"not {type(table).__name__}{hint}"
        )
    rows = list(table)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"process_frame: row {i} is a {type(row).__name__}, not a dict of fields")
    return rows, None


def _columns(rows: list[Record]) -> list[str]:
    """Columns in order of first appearance, ``quarantine_reason`` last."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    seen.pop("quarantine_reason", None)
    return [*seen, "quarantine_reason"]


class Pipeline:
    """Stages built once from a :class:`~pipeline.config.JobConfig`, run over batches of records.

    Models load on first use (``stages``), so constructing a Pipeline is cheap; ``run()`` loads
    them before reading any input, so a missing model fails the job before any work.
    """

    def __init__(self, config: JobConfig) -> None:
        self.config = config
        self._stages: list[Stage] | None = None
        self._config_hash: str | None = None
        self.timings: dict[str, float] = {}

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> Pipeline:
        """Load and validate a job file; ``overrides`` maps dotted keys to values (like ``--set``)."""
        return cls(load_config(JobConfig, path, overrides))

    @classmethod
    def from_dict(cls, data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Pipeline:
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
        """Run every stage over records; returns output rows and the records a stage rejected."""
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
        out.records = [output_row(r, self.config.output.include_text) for r in live]
        for row in out.records:
            row["config_hash"] = self.config_hash
        return out

    def _process_rows(self, rows: Iterable[dict[str, Any]]) -> tuple[list[Record | None], list[Quarantined | None]]:
        """Every row's result, in input order: ``(results, rejections)``, exactly one of each pair set."""
        cfg = self.config.input
        records: list[Record] = []
        rejected: list[Quarantined | None] = []
        for index, row in enumerate(rows):
            item = to_record(row, text_field=cfg.text_field, title_field=cfg.title_field,
                             id_field=cfg.id_field, source=f"row {index + 1}")
            if isinstance(item, Quarantined):
                rejected.append(item)
            else:
                stamp_hashes(item)
                item[_POSITION] = index
                records.append(item)
                rejected.append(None)
        batch = self.process_batch(records)
        for entry in batch.quarantined:
            rejected[entry.raw.pop(_POSITION)] = entry
        results: list[Record | None] = [None] * len(rejected)
        survivors = (i for i, entry in enumerate(rejected) if entry is None)
        for position, row in zip(survivors, batch.records, strict=True):
            results[position] = row
        return results, rejected

    def process(self, rows: Iterable[dict[str, Any]]) -> list[Record]:
        """Process in-memory rows (named as in ``input``'s field mapping); returns the batch job's rows.

        Rows that cannot be processed are left out and logged with their reason (use
        :meth:`process_frame` to keep them). The rows equal the batch job's except for ``run_id``,
        which only a batch run has.
        """
        results, rejected = self._process_rows(rows)
        for entry in rejected:
            if entry is not None:
                log.warning("skipped %s (%s): %s", entry.id or "row", entry.source, entry.reason)
        return [row for row in results if row is not None]

    def process_frame(self, frame):
        """Process a table of articles: a pandas DataFrame, a Hugging Face ``datasets.Dataset`` or any
        iterable of dicts (one article each); returns a pandas DataFrame of results.

        Every input row has one output row, under the DataFrame's index (0, 1, ... for the others),
        so results join back to the input. A row that could not be processed keeps its input fields
        and says why in ``quarantine_reason`` (null for processed rows). Missing values (None, and
        pandas' NaN and NaT) count as missing fields: a row without a title is processed, one
        without text is not.
        """
        import pandas as pd

        table, index = _table_rows(frame)
        rows = [{k: None if _is_missing(v) else v for k, v in row.items()} for row in table]
        results, rejected = self._process_rows(rows)
        out = []
        for row, result, entry in zip(rows, results, rejected, strict=True):
            if result is not None:
                out.append({**result, "quarantine_reason": None})
            else:
                kept = output_row(row, self.config.output.include_text)
                out.append({**kept, "id": entry.id or kept.get("id"), "quarantine_reason": entry.reason})
        return pd.DataFrame(out, index=index, columns=_columns(out))

    def start(self, run: RunStart) -> None:
        """Tell every stage a batch run begins (the dedup stage loads its index of earlier rows)."""
        for stage in self.stages:
            stage.start(run)

    def run(self):
        """Run the configured batch job (see :func:`pipeline.run.local.run_job`)."""
        from pipeline.run.local import run_job

        return run_job(self)


def omp_wait_policy(config: JobConfig) -> str | None:
    """The ``OMP_WAIT_POLICY`` a job sets before its models load (None: leave the environment as it is).

    numba's parallel kernels run on OpenMP, whose threads by default spin after every parallel region,
    waiting for the next. Between two kernels a job runs Python (reading, hashing, writing): the
    spinning threads took the cores that Python needed, and on a shared machine they waited at each
    region's barrier for a thread the system had descheduled (docs/throughput.md). Sleeping costs a
    wake-up of microseconds per kernel call, but torch runs many small parallel regions back to back,
    so ``auto`` leaves jobs with a torch model, and a policy the user set, alone.
    """
    policy = config.runner.omp_wait_policy
    if policy != "auto":
        return policy.upper()
    if "OMP_WAIT_POLICY" in os.environ or _uses_torch(config):
        return None
    return "PASSIVE"


def _uses_torch(config: JobConfig) -> bool:
    if config.summarize.enabled and config.summarize.kind == "abstractive":
        return True
    if not config.classify.enabled:
        return False
    try:  # (the model's own kind; a missing or unreadable model is reported when the stage loads it)
        settings = json.loads((resolve_model_path(config.classify.model) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(settings, dict) and settings.get("kind") == "transformer"


def build_stages(config: JobConfig) -> list[Stage]:
    """The enabled stages in order; loading their models here makes a missing model fail early.

    Sets ``OMP_WAIT_POLICY`` first (:func:`omp_wait_policy`): OpenMP reads it once, when it starts.
    """
    from pipeline.extras import check_job
    from pipeline.stages.normalize import NormalizeStage

    check_job(config)  # a missing optional package stops the job here, before any model loads
    if (policy := omp_wait_policy(config)) is not None:
        os.environ["OMP_WAIT_POLICY"] = policy

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
