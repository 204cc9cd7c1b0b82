"""The Ray Data runner: the same stages as ``map_batches`` over an actor pool, past one machine.

Flow: the driver lists the input files (local paths or object-store URIs) -> ``flat_map`` reads
each file with our own readers on a worker (so bad rows are quarantined exactly as locally) ->
``map_batches`` runs :class:`PipelineActor`, which builds the stages once per actor (models load
once) -> the driver streams the results into the run's parts and commits through our sinks, so
modes, quarantine, manifest and the exactly-once output are the local runner's.

Rows cross process boundaries as JSON text in one column: articles carry arbitrary extra fields
whose types vary from row to row, which Arrow would refuse to put in one typed column.

A killed Ray run restarts from the beginning (Ray retries failed tasks itself; results arrive
out of input order, so there is no contiguous position to resume from). The previous output stays
intact until the new one is committed.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config import JobConfig, resolve_model_path
from pipeline.errors import ConfigError, first_line
from pipeline.io.records import Quarantined, stamp_hashes
from pipeline.io.writers import dumps

if TYPE_CHECKING:
    from pipeline.run.local import RunContext
    from pipeline.run.pipeline import Pipeline

log = logging.getLogger(__name__)

BLOCK_BYTES = 256 * 1024


def _is_uri(path: str) -> bool:
    return "://" in path


def portable_config(config: JobConfig) -> dict[str, Any]:
    """The job config with local paths made absolute, so actors find models whatever their cwd."""
    data = config.model_dump(mode="json")
    data["classify"]["model"] = str(resolve_model_path(config.classify.model).resolve())
    local = Path(config.summarize.model).expanduser()
    if local.exists():
        data["summarize"]["model"] = str(local.resolve())
    if not _is_uri(str(config.input.path)):
        data["input"]["path"] = str(Path(config.input.path).resolve())
    data["runner"] = {"kind": "local", "progress": "off"}
    return data


def list_input_files(path: str, fmt: str, input_format: str = "auto") -> list[dict[str, str]]:
    """One item per file to read; local folders and object-store prefixes are expanded.

    A local folder is listed as the local reader lists it (:func:`pipeline.io.readers.list_folder`):
    what cannot be read there becomes an item with a ``problem``, quarantined by :func:`read_file`.
    """
    if _is_uri(path):
        import pyarrow.fs as pafs

        fs, root = pafs.FileSystem.from_uri(path)
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.Directory:
            selector = pafs.FileSelector(root, recursive=True)
            scheme = path.split("://", 1)[0]
            return [{"path": f"{scheme}://{f.path}", "root": path} for f in sorted(fs.get_file_info(selector),
                                                                                  key=lambda f: f.path)
                    if f.type == pafs.FileType.File]
        return [{"path": path, "root": path}]
    local = Path(path)
    if local.is_dir() and fmt == "folder":
        from pipeline.io.readers import list_folder

        return [{"path": str(e.path), "root": str(local), "rel": e.rel, "fmt": e.fmt or "",
                 "problem": e.problem or ""} for e in list_folder(local, input_format)]
    return [{"path": str(local), "root": str(local)}]


def read_file(item: dict[str, str], input_data: dict[str, Any]) -> list[dict[str, str]]:
    """Rows of one input file as JSON text: ``{"r": record}`` or ``{"q": quarantine entry}``, then
    ``{"s": {reason: count}}`` when the reader read past records that are not rows (see
    :attr:`pipeline.io.warc.WarcReader.skipped`): not a row, the driver adds it to the manifest."""
    from pipeline.config import InputConfig
    from pipeline.io.readers import FolderEntry, file_reader, open_reader, read_batches

    if item.get("problem"):
        return [{"json": dumps({"q": Quarantined(item["problem"], "", item["rel"]).to_json()})}]
    path = item["path"]
    with tempfile.TemporaryDirectory() as tmp:
        if _is_uri(path):  # fetch object-store files to local disk, then read them like any file
            import pyarrow.fs as pafs

            fs, remote = pafs.FileSystem.from_uri(path)
            local = Path(tmp) / Path(remote).name
            with fs.open_input_stream(remote) as src, open(local, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            path = str(local)
        cfg = InputConfig.model_validate({**input_data, "path": path, "limit": None})
        if item.get("fmt"):  # one file of a local folder: read by its extension, named relative to the folder
            reader = file_reader(FolderEntry(Path(path), item["rel"], item["fmt"]), Path(item["root"]), cfg)
        else:
            reader = open_reader(cfg)
        out = []
        for batch in read_batches(cfg, reader):
            out.extend({"json": dumps({"q": q.to_json()})} for q in batch.quarantined)
            out.extend({"json": dumps({"r": r})} for r in batch.records)
        if skipped := getattr(reader, "skipped", None):
            out.append({"json": dumps({"s": dict(skipped)})})
        return out


class PipelineActor:
    """One Ray actor: builds the stages once, then processes batches of JSON rows.

    Emits ``{"r": row}`` (processed), ``{"f": row}`` (refreshed upsert row), ``{"u": key}``
    (unchanged) or ``{"q": entry}`` (quarantined), and passes a file's skipped counts ``{"s": ...}``
    on; the driver checks repeated keys.
    """

    def __init__(self, config_data: dict[str, Any], config_hash: str, run_id: str,
                 known: dict[str, list[str]]) -> None:
        from pipeline.run.pipeline import Pipeline
        from pipeline.run.state import KeyFilter

        self.pipe = Pipeline.from_dict(config_data)
        _ = self.pipe.stages  # load models once per actor
        self.config_hash = config_hash
        self.run_id = run_id
        output = self.pipe.config.output
        self.key_filter = KeyFilter(output.key, config_hash, known, set(), output.include_text)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: list[str] = []
        todo = []
        keys = self.key_filter
        for text in batch["json"]:
            item = json.loads(text)
            if "q" in item or "s" in item:
                out.append(text)
                continue
            record = item["r"]
            problem = keys.missing(record)
            if problem is not None:
                out.append(dumps({"q": problem.to_json()}))
                continue
            stamp_hashes(record)
            verdict = keys.verdict(record)
            if verdict == "unchanged":
                out.append(dumps({"u": str(record.get(keys.key))}))
            elif verdict == "refresh":
                out.append(dumps({"f": keys.refresh_row(record, self.run_id)}))
            else:
                todo.append(record)
        result = self.pipe.process_batch(todo)
        for row in result.records:
            row["config_hash"] = self.config_hash
            row["run_id"] = self.run_id
            out.append(dumps({"r": row}))
        out.extend(dumps({"q": q.to_json()}) for q in result.quarantined)
        return {"json": np.array(out, dtype=object)}


def init_ray(config: JobConfig) -> None:
    import ray

    if ray.is_initialized():
        return
    runner = config.runner
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "log_to_driver": False}
    try:
        if runner.address:
            ray.init(address=runner.address, **kwargs)
        else:
            ray.init(num_cpus=runner.num_cpus, **kwargs)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        reason = first_line(exc)
        where = f"the Ray cluster at runner.address={runner.address}" if runner.address else "a local Ray instance"
        raise ConfigError(
            f"Cannot start or join {where}: {reason}. Start the cluster first (`ray start --head` on its head "
            "node), fix runner.address, or set runner.address: null to start Ray on this machine."
        ) from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    # Small blocks (a few hundred articles of JSON) so that one big input file is split and feeds
    # every actor; a repartition step would need CPUs of its own, which a full actor pool leaves none of.
    context.target_max_block_size = BLOCK_BYTES


def process_with_ray(pipe: Pipeline, ctx: RunContext, preview_rows: int) -> None:
    """Fill the run's parts from a Ray Data pipeline (the driver writes; actors compute)."""
    import ray

    config = pipe.config
    runner = config.runner
    init_ray(config)
    data = portable_config(config)
    items = list_input_files(data["input"]["path"], _input_format(config), config.input.format)
    ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
    # Reading is I/O and parsing: it reserves no CPU, so a pool of actors that takes every CPU
    # (2 actors x 1 CPU on a 2-core machine) cannot starve it into a deadlock.
    ds = ds.flat_map(read_file, fn_kwargs={"input_data": data["input"]}, num_cpus=0)
    ds = ds.map_batches(
        PipelineActor,
        fn_constructor_kwargs={"config_data": data, "config_hash": ctx.summary.config_hash,
                               "run_id": ctx.state.run_id,
                               "known": {k: list(v) for k, v in ctx.key_filter.known.items()}},
        compute=ray.data.ActorPoolStrategy(size=runner.actors),
        num_cpus=runner.cpus_per_actor,
        num_gpus=runner.gpus_per_actor or None,
        batch_size=config.input.batch_size,
        batch_format="numpy",
    )
    position = 0
    try:
        for batch in ds.iter_batches(batch_size=config.input.batch_size * 4, batch_format="numpy"):
            rows, refreshed, quarantined, unchanged, size = [], [], [], 0, 0
            for text in batch["json"]:
                item = json.loads(text)
                if "s" in item:  # a file's skipped records: counts for the manifest, not a row
                    ctx.skipped.update(item["s"])
                    continue
                size += 1
                if "r" in item or "f" in item:
                    row = item.get("r") or item["f"]
                    duplicate = ctx.key_filter.duplicate(row)
                    if duplicate is not None:
                        quarantined.append(duplicate)
                    else:
                        (rows if "r" in item else refreshed).append(row)
                elif "q" in item:
                    q = item["q"]
                    quarantined.append(Quarantined(q["reason"], q["raw"], q["source"], q["id"]))
                else:
                    unchanged += 1
            if not size:
                continue
            ctx.state.write_part(position, position + size, rows, quarantined, unchanged, refreshed)
            position += size
            ctx.throughput.append([round(time.monotonic() - ctx.started, 3), position])
            if len(ctx.summary.preview) < preview_rows:
                ctx.summary.preview.extend(rows[: preview_rows - len(ctx.summary.preview)])
            ctx.progress.update(size)
    finally:
        ctx.progress.close()


def _input_format(config: JobConfig) -> str:
    path = str(config.input.path)
    if _is_uri(path):
        return config.input.format
    from pipeline.io.readers import detect_format

    return detect_format(Path(path), config.input.format)
