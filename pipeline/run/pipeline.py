"""The :class:`Pipeline`: one object for the batch job, notebooks and other runners.

>>> from pipeline import Pipeline
>>> pipe = Pipeline.from_yaml("configs/quickstart.yaml")          # doctest: +SKIP
>>> pipe.process([{"title": "Giá vàng tăng", "text": "..."}])     # doctest: +SKIP
>>> pipe.process_frame(df)                                         # doctest: +SKIP
>>> pipe.run()                                                     # the configured batch job  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.io.records import MAX_DEPTH, POSITION_KEY, Quarantined, Record, output_row, stamp_hashes, to_record
from pipeline.run.processing import Processor

log = logging.getLogger(__name__)


def _is_missing(value: Any) -> bool:
    """Pandas' missing scalars (NaN, None, NaT, pd.NA); lists and dicts are values, never missing."""
    import pandas as pd

    return not isinstance(value, (list, dict, tuple, set)) and bool(pd.isna(value))


def _field_name_map(labels: Iterable[Any], where: str) -> dict[Any, str]:
    """Each label's field name, ``str(label)``; two labels with one name (1 and "1") are a ValueError naming both."""
    names: dict[str, Any] = {}
    for label in labels:
        name = label if type(label) is str else str(label)
        if name in names:
            raise ValueError(f"{where}: the labels {names[name]!r} and {label!r} both become the field name {name!r} "
                             "(labels become field names by str()); rename one of them")
        names[name] = label
    return {label: name for name, label in names.items()}


def _named(value: Any, where: str, depth: int = 1) -> Any:
    """``value`` with the keys of every mapping in it made field names (:func:`_field_name_map`); below
    :data:`~pipeline.io.records.MAX_DEPTH` levels it is left as it is (the row is then refused as too deep)."""
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        names = None if all(type(k) is str for k in value) else _field_name_map(value, where)
        return {(k if names is None else names[k]): _named(v, where, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple) and any(isinstance(v, Mapping | list | tuple) for v in value):
        return [_named(v, where, depth + 1) for v in value]
    return value


def _table_rows(table: Any) -> tuple[list[Mapping[str, Any]], Any]:
    """The rows of what :meth:`Pipeline.process_frame` takes, and the index its result gets (None: 0, 1, ...)."""
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        duplicated = table.columns[table.columns.duplicated()]
        if len(duplicated):
            raise ValueError(f"process_frame: the DataFrame has the column label {duplicated[0]!r} more than once; "
                             "rename its columns so that each is one field")
        _field_name_map(table.columns, "process_frame: DataFrame columns")
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


class Pipeline(Processor):
    """A job's stages (:class:`~pipeline.run.processing.Processor`), for in-memory rows, DataFrames and the batch job.

    Models load on first use, so constructing a Pipeline is cheap; ``run()`` loads them before
    reading any input, so a missing model fails the job before any work.
    """

    def _process_rows(self, rows: Iterable[dict[str, Any]]) -> tuple[list[Record | None], list[Quarantined | None]]:
        """Every row's result, in input order: ``(results, rejections)``, exactly one of each pair set."""
        cfg = self.config.input
        records: list[Record] = []
        rejected: list[Quarantined | None] = []
        for index, row in enumerate(rows):
            row = _named(row, f"row {index + 1}")
            item = to_record(row, text_field=cfg.text_field, title_field=cfg.title_field,
                             id_field=cfg.id_field, source=f"row {index + 1}", prefix=cfg.renamed_field_prefix)
            if isinstance(item, Quarantined):
                rejected.append(item)
            else:
                stamp_hashes(item)
                item[POSITION_KEY] = index
                records.append(item)
                rejected.append(None)
        batch = self.process_batch(records)
        for entry in batch.quarantined:
            rejected[entry.raw.pop(POSITION_KEY)] = entry
        results: list[Record | None] = [None] * len(rejected)
        survivors = (i for i, entry in enumerate(rejected) if entry is None)
        for position, row in zip(survivors, batch.records, strict=True):
            results[position] = row
        return results, rejected

    def process(self, rows: Iterable[dict[str, Any]]) -> list[Record]:
        """Process in-memory rows (named as in ``input``'s field mapping); returns the batch job's rows.

        Rows that cannot be processed are left out and logged with their reason (use
        :meth:`process_frame` to keep them). Keys that are not text (1, None, a tuple), at any depth,
        become field names by ``str()``; two keys of one mapping with one name (1 and "1") are a
        ValueError naming both. The rows equal the batch job's except for ``run_id``,
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
        without text is not. Column labels and keys of any hashable type become field names by
        ``str()`` (the result's columns are those names); a DataFrame with one label twice, or with two
        labels of one name (1 and "1"), is a ValueError naming them.
        """
        import pandas as pd

        table, index = _table_rows(frame)
        rows = [{k: None if _is_missing(v) else v for k, v in _named(row, f"row {i + 1}").items()}
                for i, row in enumerate(table)]
        results, rejected = self._process_rows(rows)
        out = []
        for row, result, entry in zip(rows, results, rejected, strict=True):
            if result is not None:
                out.append({**result, "quarantine_reason": None})
            else:
                kept = output_row(row, self.config.output.include_text)
                out.append({**kept, "id": entry.id or kept.get("id"), "quarantine_reason": entry.reason})
        return pd.DataFrame(out, index=index, columns=_columns(out))

    def run(self, since: float | None = None):
        """Run the configured batch job with the configured runner (``runner.kind``); returns its RunSummary.

        ``since``: the ``time.monotonic()`` from which the run's seconds count (the ``vnnews`` command passes
        its process start, so start-up is part of the run's time); by default, from this call.
        """
        if self.config.runner.kind == "ray":
            from pipeline.run.ray import run_ray

            return run_ray(self, since=since)
        from pipeline.run.local import run_local

        return run_local(self, since=since)
