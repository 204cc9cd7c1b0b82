"""The Ray Data runner: the same stages as ``map_batches`` over an actor pool, past one machine.

Flow: the driver lists the input files (local paths or object-store URIs) -> ``flat_map`` reads
each file with our own readers on a worker (so bad rows are quarantined exactly as locally) ->
``map_batches`` runs :class:`PipelineActor`, which builds the stages once per actor (models load
once) -> the driver streams the results into the run's parts and commits through our sinks, so
modes, quarantine, manifest and the exactly-once output are the local runner's.

Rows cross process boundaries as JSON text in one column: articles carry arbitrary extra fields
whose types vary from row to row, which Arrow would refuse to put in one typed column.

A killed Ray run resumes by finished input file. Results arrive out of input order, so the driver
holds each file's results until all of them are in (a file's reader tells how many rows it read),
then saves them as one part of the run state; ``<stem>.state/ray_files.jsonl`` lists the files
whose parts are saved, each line written (and fsynced) before its part, so the files a rerun skips
are exactly those whose rows are saved, and a kill costs at most the files in flight. The previous
output stays intact until the new one is committed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
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
    from pipeline.run.state import RunState

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


def list_input_files(path: str, fmt: str, input_format: str = "auto") -> list[dict[str, Any]]:
    """One item per file to read, numbered (``n``) in listing order; local folders and object-store prefixes
    are expanded."""
    return [{**item, "n": n} for n, item in enumerate(_list_input_files(path, fmt, input_format))]


def _list_input_files(path: str, fmt: str, input_format: str = "auto") -> list[dict[str, str]]:
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
    :attr:`pipeline.io.warc.WarcReader.skipped`): not a row, the driver adds it to the manifest; last
    ``{"e": rows}``, the number of rows the file gave. Each item carries the file's number ``"i"``."""
    from pipeline.config import InputConfig
    from pipeline.io.readers import FolderEntry, file_reader, open_reader, read_batches

    n = item["n"]
    if item.get("problem"):
        return [{"json": dumps({"q": Quarantined(item["problem"], "", item["rel"]).to_json(), "i": n})},
                {"json": dumps({"e": 1, "i": n})}]
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
            out.extend({"json": dumps({"q": q.to_json(), "i": n})} for q in batch.quarantined)
            out.extend({"json": dumps({"r": r, "i": n})} for r in batch.records)
        rows = len(out)
        if skipped := getattr(reader, "skipped", None):
            out.append({"json": dumps({"s": dict(skipped), "i": n})})
        out.append({"json": dumps({"e": rows, "i": n})})  # the file's end: how many rows to wait for
        return out


class PipelineActor:
    """One Ray actor: builds the stages once, then processes batches of JSON rows.

    Emits ``{"r": row}`` (processed), ``{"f": row}`` (refreshed upsert row), ``{"u": key}``
    (unchanged) or ``{"q": entry}`` (quarantined), each with its file's number ``"i"``, and passes a
    file's skipped counts ``{"s": ...}`` and end ``{"e": rows}`` on; the driver checks repeated keys.
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
        todo: dict[int, list] = {}  # file number -> records to process
        keys = self.key_filter
        for text in batch["json"]:
            item = json.loads(text)
            n = item["i"]
            if "r" not in item:  # quarantine entries, skipped counts, file ends: passed on
                out.append(text)
                continue
            record = item["r"]
            problem = keys.missing(record)
            if problem is not None:
                out.append(dumps({"q": problem.to_json(), "i": n}))
                continue
            stamp_hashes(record)
            verdict = keys.verdict(record)
            if verdict == "unchanged":
                out.append(dumps({"u": str(record.get(keys.key)), "i": n}))
            elif verdict == "refresh":
                out.append(dumps({"f": keys.refresh_row(record, self.run_id), "i": n}))
            else:
                todo.setdefault(n, []).append(record)
        for n, records in todo.items():  # per file, so that each result says which file it belongs to
            result = self.pipe.process_batch(records)
            for row in result.records:
                row["config_hash"] = self.config_hash
                row["run_id"] = self.run_id
                out.append(dumps({"r": row, "i": n}))
            out.extend(dumps({"q": q.to_json(), "i": n}) for q in result.quarantined)
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


FILES_DONE = "ray_files.jsonl"  # in the run's state directory: the input files whose rows are saved


@dataclass
class _FileResults:
    """One input file's results, held by the driver until every row of the file is in."""

    rows: list = field(default_factory=list)
    refreshed: list = field(default_factory=list)
    quarantined: list = field(default_factory=list)
    unchanged: int = 0
    size: int = 0
    expected: int | None = None  # the file's row count, once its end marker arrived
    skipped: dict = field(default_factory=dict)


def finished_files(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """The input files a killed Ray run saved whole (path -> its line); the list is rewritten to them.

    A line is written before its file's part, so a line whose rows go past the saved parts (the
    kill fell between the two) is dropped here: that file is read again.
    """
    path = ctx.state.directory / FILES_DONE
    committed = ctx.summary.resumed_from
    lines = [entry for entry in saved_files(ctx.state) if entry["end"] <= committed]
    if committed and max((e["end"] for e in lines), default=0) != committed:
        raise ConfigError(
            f"The unfinished run in {ctx.state.directory} was not started by the Ray runner (its saved rows are "
            "not whole input files). Finish it with runner.kind: local, or set runner.resume: false to start over."
        )
    _append_lines(path, lines, mode="w")
    return {entry["file"]: entry for entry in lines}


def saved_files(state: RunState) -> list[dict[str, Any]]:
    """The lines of ``ray_files.jsonl`` that belong to the state's run (a file's name, the end of its rows)."""
    path = state.directory / FILES_DONE
    if not path.exists():
        return []
    entries = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return [entry for entry in entries if entry.get("run_id") == state.run_id]


def _append_lines(path: Path, entries: list[dict[str, Any]], mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as fh:
        fh.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
        fh.flush()
        os.fsync(fh.fileno())


def process_with_ray(pipe: Pipeline, ctx: RunContext, preview_rows: int) -> None:
    """Fill the run's parts from a Ray Data pipeline (the driver writes; actors compute), one part per input file.

    A resumed run skips the files a killed run saved whole (:func:`finished_files`).
    """
    import ray

    config = pipe.config
    runner = config.runner
    init_ray(config)
    data = portable_config(config)
    done = finished_files(ctx)
    for entry in done.values():
        ctx.skipped.update(entry["skipped"])
    items = list_input_files(data["input"]["path"], _input_format(config), config.input.format)
    names = {item["n"]: item["path"] for item in items}
    items = [item for item in items if item["path"] not in done]
    position = ctx.summary.resumed_from
    files_done = ctx.state.directory / FILES_DONE
    try:
        if items:
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
            pending: dict[int, _FileResults] = {}
            for batch in ds.iter_batches(batch_size=config.input.batch_size * 4, batch_format="numpy"):
                finished = set()
                for text in batch["json"]:
                    item = json.loads(text)
                    n = item["i"]
                    results = pending.setdefault(n, _FileResults())
                    if "s" in item:  # a file's skipped records: counts for the manifest, not a row
                        results.skipped = item["s"]
                    elif "e" in item:
                        results.expected = item["e"]
                    elif "r" in item or "f" in item:
                        (results.rows if "r" in item else results.refreshed).append(item.get("r") or item["f"])
                    elif "q" in item:
                        q = item["q"]
                        results.quarantined.append(Quarantined(q["reason"], q["raw"], q["source"], q["id"]))
                    else:
                        results.unchanged += 1
                    if not ("s" in item or "e" in item):
                        results.size += 1
                    if results.expected is not None and results.size == results.expected:
                        finished.add(n)
                for n in sorted(finished):
                    position = _save_file(ctx, names[n], pending.pop(n), position, files_done, preview_rows)
            if pending:  # (Ray returned fewer rows than a file's reader read: never expected)
                raise RuntimeError(f"incomplete results for {len(pending)} input file(s) from Ray")
    finally:
        ctx.progress.close()


def _save_file(ctx: RunContext, name: str, results: _FileResults, position: int, files_done: Path,
               preview_rows: int) -> int:
    """Save one whole file's results as a part (its line in ``ray_files.jsonl`` first); returns the new position."""
    rows, refreshed = [], []
    quarantined = list(results.quarantined)
    for kind, found in (("r", results.rows), ("f", results.refreshed)):
        for row in found:
            duplicate = ctx.key_filter.duplicate(row)
            if duplicate is not None:
                quarantined.append(duplicate)
            else:
                (rows if kind == "r" else refreshed).append(row)
    end = position + results.size
    _append_lines(files_done, [{"run_id": ctx.state.run_id, "file": name, "end": end,
                                "skipped": results.skipped}])
    if results.size:
        ctx.state.write_part(position, end, rows, quarantined, results.unchanged, refreshed)
        ctx.throughput.append([round(time.monotonic() - ctx.started, 3), end])
        ctx.progress.update(results.size)
    ctx.skipped.update(results.skipped)
    if len(ctx.summary.preview) < preview_rows:
        ctx.summary.preview.extend(rows[: preview_rows - len(ctx.summary.preview)])
    return end


def _input_format(config: JobConfig) -> str:
    path = str(config.input.path)
    if _is_uri(path):
        return config.input.format
    from pipeline.io.readers import detect_format

    return detect_format(Path(path), config.input.format)
