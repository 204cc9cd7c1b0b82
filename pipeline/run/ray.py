"""The Ray Data runner: the same stages as ``map_batches`` over an actor pool, past one machine.

Flow: the driver lists the input files (the file, or a folder's files: on a cluster every worker must
see them at the same path, on shared storage) -> ``flat_map`` reads
each file with our own readers on a worker (so bad rows are quarantined exactly as locally) ->
``map_batches`` runs :class:`PipelineActor`, which builds the stages once per actor (models load
once) -> the driver streams the results into the run's parts and commits through our sinks, so
modes, quarantine, manifest and the exactly-once output are the local runner's.

Rows cross process boundaries as JSON text in one column: articles carry arbitrary extra fields
whose types vary from row to row, which Arrow would refuse to put in one typed column.

A killed Ray run resumes by finished input file. Results arrive out of input order, so the driver
holds each file's results until all of them are in (a file's reader tells how many rows it read),
then saves them as one part of the run state labelled with the file's name (a file without rows
gets an empty part), so the files a rerun skips are exactly those whose parts are saved, and a kill
costs at most the files in flight. The run's life (open, verify, commit) is
:mod:`pipeline.run.job`'s, as for the local runner.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import JobConfig, resolve_model_path
from pipeline.errors import STOP_SIGNALS, ConfigError, first_line
from pipeline.io.records import Quarantined, stamp_hashes
from pipeline.io.writers import dumps
from pipeline.run.job import Job, RunSummary, run_job
from pipeline.run.processing import Processor

log = logging.getLogger(__name__)

BLOCK_BYTES = 256 * 1024


def portable_config(config: JobConfig) -> dict[str, Any]:
    """The job config with local paths made absolute, so actors find models whatever their cwd."""
    data = config.model_dump(mode="json")
    data["classify"]["model"] = str(resolve_model_path(config.classify.model).resolve())
    local = Path(config.summarize.model).expanduser()
    if local.exists():
        data["summarize"]["model"] = str(local.resolve())
    data["input"]["path"] = str(Path(config.input.path).resolve())
    data["runner"] = {"kind": "local", "progress": "off"}
    return data


def list_input_files(path: str, fmt: str, input_format: str = "auto", follow_symlinks: bool = False,
                     outside: Counter[str] | None = None) -> list[dict[str, Any]]:
    """One item per file to read, numbered (``n``) in listing order; a folder is expanded (links out of it as
    ``input.follow_symlinks`` says, counted in ``outside``)."""
    items = _list_input_files(path, fmt, input_format, follow_symlinks, outside)
    return [{**item, "n": n} for n, item in enumerate(items)]


def _list_input_files(path: str, fmt: str, input_format: str, follow_symlinks: bool,
                      outside: Counter[str] | None) -> list[dict[str, str]]:
    """One item per file to read; a folder is expanded.

    A folder is listed as the local reader lists it (:func:`pipeline.io.readers.list_folder`): what
    cannot be read there becomes an item with a ``problem``, quarantined by :func:`read_file`.
    """
    local = Path(path)
    if local.is_dir() and fmt == "folder":
        from pipeline.io.readers import list_folder

        return [{"path": str(e.path), "root": str(local), "rel": e.rel, "fmt": e.fmt or "",
                 "problem": e.problem or ""} for e in list_folder(local, input_format, follow_symlinks, outside)]
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
    cfg = InputConfig.model_validate({**input_data, "path": path, "limit": None})
    if item.get("fmt"):  # one file of a folder: read by its extension, named relative to the folder
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
        from pipeline.run.keys import KeyFilter

        self.pipe = Processor.from_dict(config_data)
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
    runner = config.runner.ray
    # Ray's own log lines from warnings up; errors only under `vnnews -q`, whose root logger takes errors only
    level = max(logging.WARNING, logging.getLogger().getEffectiveLevel())
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": level, "log_to_driver": False}
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        if runner.address:
            ray.init(address=runner.address, **kwargs)
        else:
            ray.init(num_cpus=runner.num_cpus, **kwargs)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        reason = first_line(exc)
        where = f"the Ray cluster at runner.ray.address={runner.address}" if runner.address else "a local Ray instance"
        raise ConfigError(
            f"Cannot start or join {where}: {reason}. Start the cluster first (`ray start --head` on its head "
            "node), fix runner.ray.address, or set runner.ray.address: null to start Ray on this machine."
        ) from None
    finally:
        _restore(handlers)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    # Small blocks (a few hundred articles of JSON) so that one big input file is split and feeds
    # every actor; a repartition step would need CPUs of its own, which a full actor pool leaves none of.
    context.target_max_block_size = BLOCK_BYTES


def check_actor_fits(config: JobConfig, nodes: list[dict[str, Any]]) -> None:
    """Refuse a job none of whose actors fits on a node of ``nodes`` (``ray.nodes()``): Ray would wait for such a
    node for ever, and the run would hang without a word. On a cluster, which an autoscaler may grow, a warning."""
    runner = config.runner.ray
    need = {"CPU": runner.cpus_per_actor, "GPU": runner.gpus_per_actor}
    have = [node.get("Resources", {}) for node in nodes if node.get("Alive")]
    if any(all(res.get(kind, 0) >= amount for kind, amount in need.items()) for res in have):
        return
    most = {kind: max((res.get(kind, 0) for res in have), default=0) for kind in need}
    where = f"the Ray cluster at runner.ray.address={runner.address}" if runner.address else "the local Ray instance"
    asked = " and ".join(f"{kind.lower()}s_per_actor={amount:g}" for kind, amount in need.items() if amount)
    most_text = " and ".join(f"{most[kind]:g} {kind}{'' if most[kind] == 1 else 's'}" for kind in need)
    message = (f"Each Ray actor asks for runner.ray.{asked}, but no node of {where} has that much (at most "
               f"{most_text} on one node), so no actor can start")
    if runner.address:
        log.warning("%s until the cluster adds such a node (an autoscaler may); the run waits for it.", message)
        return
    raise ConfigError(f"{message} and the run would wait for ever. Lower runner.ray.cpus_per_actor or "
                      "runner.ray.gpus_per_actor (0 GPUs runs the models on CPUs), or run on machines that have them.")


def actor_options(config: JobConfig) -> dict[str, Any]:
    """The actor pool and what each actor reserves, as ``map_batches`` takes them: Ray hands an actor that
    reserves GPUs their ids (and sets ``CUDA_VISIBLE_DEVICES`` to them), so its models find the GPU."""
    import ray

    runner = config.runner.ray
    return {"compute": ray.data.ActorPoolStrategy(size=runner.actors), "num_cpus": runner.cpus_per_actor,
            "num_gpus": runner.gpus_per_actor}


def _restore(handlers: dict[signal.Signals, Any]) -> None:
    """Put back the signal handlers ``ray.init`` replaced: on the driver it turns SIGTERM into a C++ stack dump and
    exit 15, so a stopped run would neither say where it stopped nor exit 143 as documented."""
    if threading.current_thread() is not threading.main_thread():
        return  # (Python sets handlers from the main thread only; neither does Ray elsewhere)
    for signum, handler in handlers.items():
        if handler is not None:  # (None: a handler set outside Python, which Python cannot put back)
            signal.signal(signum, handler)


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

    def add(self, item: dict[str, Any]) -> None:
        if "s" in item:  # a file's skipped records: counts for the manifest, not a row
            self.skipped = item["s"]
            return
        if "e" in item:
            self.expected = item["e"]
            return
        if "r" in item or "f" in item:
            (self.rows if "r" in item else self.refreshed).append(item.get("r") or item["f"])
        elif "q" in item:
            q = item["q"]
            self.quarantined.append(Quarantined(q["reason"], q["raw"], q["source"], q["id"]))
        else:
            self.unchanged += 1
        self.size += 1

    @property
    def done(self) -> bool:
        return self.expected is not None and self.size == self.expected


class RayRunner:
    """Computes a job's rows on a Ray Data pipeline: actors compute, the driver saves one part per input file."""

    kind = "ray"

    def process(self, job: Job) -> int:
        """Save a part for every input file not saved yet (a resumed run skips the files whose parts are
        saved); returns the rows of every file."""
        import ray

        config = job.config
        init_ray(config)
        check_actor_fits(config, ray.nodes())
        data = portable_config(config)
        done = {part.label for part in job.state.parts()}
        for part in job.state.parts():
            job.skipped.update(part.skipped)
        outside: Counter[str] = Counter()
        items = list_input_files(data["input"]["path"], _input_format(config), config.input.format,
                                 config.input.follow_symlinks, outside)
        job.skipped.update(outside)
        names = {item["n"]: item["path"] for item in items}
        items = [item for item in items if item["path"] not in done]
        position = job.start
        try:
            if not items:
                return position
            ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
            # Reading is I/O and parsing: it reserves no CPU, so a pool of actors that takes every CPU
            # (2 actors x 1 CPU on a 2-core machine) cannot starve it into a deadlock. Nothing then bounds how
            # many files are read at once: Ray would start a worker process per file (24 files on 2 cores: 20
            # processes, each importing the package, 3x slower, and the raylet's warnings on the terminal), so
            # as many files are read at a time as there are actors to feed.
            ds = ds.flat_map(read_file, fn_kwargs={"input_data": data["input"]}, num_cpus=0,
                             concurrency=config.runner.ray.actors)
            ds = ds.map_batches(
                PipelineActor,
                fn_constructor_kwargs={"config_data": data, "config_hash": job.summary.config_hash,
                                       "run_id": job.state.run_id,
                                       "known": {k: list(v) for k, v in job.known.items()}},
                **actor_options(config),
                batch_size=config.input.batch_size,
                batch_format="numpy",
            )
            pending: dict[int, _FileResults] = {}
            batches = ds.iter_batches(batch_size=config.input.batch_size * 4, batch_format="numpy")
            for batch in _waited(batches, job):
                finished = set()
                for text in batch["json"]:
                    item = json.loads(text)
                    results = pending.setdefault(item["i"], _FileResults())
                    results.add(item)
                    if results.done:
                        finished.add(item["i"])
                for n in sorted(finished):
                    position = self._save_file(job, names[n], pending.pop(n), position)
            if pending:  # (Ray returned fewer rows than a file's reader read: never expected)
                raise RuntimeError(f"incomplete results for {len(pending)} input file(s) from Ray")
            return position
        finally:
            job.progress.close()

    def _save_file(self, job: Job, name: str, results: _FileResults, position: int) -> int:
        """Save one whole file's results as a part labelled with its name; returns the new position."""
        rows, refreshed = [], []
        quarantined = list(results.quarantined)
        for kind, found in (("r", results.rows), ("f", results.refreshed)):
            for row in found:
                duplicate = job.key_filter.duplicate(row)
                if duplicate is not None:
                    quarantined.append(duplicate)
                else:
                    (rows if kind == "r" else refreshed).append(row)
        end = position + results.size
        saving = time.monotonic()
        job.state.write_part(position, end, rows, quarantined, results.unchanged, refreshed, label=name,
                             skipped=results.skipped)
        job.timings["save"] += time.monotonic() - saving
        job.add_point(end)
        job.progress.update(results.size)
        job.skipped.update(results.skipped)
        job.add_preview(rows)
        return end

    def saved(self, job: Job) -> str:
        return (f"the input files whose rows were all saved ({job.state.committed_rows():,} rows) are kept in "
                f"{job.state.directory}: run the same command to go on with the other files")


def _waited(batches: Iterable[Any], job: Job) -> Iterator[Any]:
    """``batches``, adding the time the driver waits for each (Ray reading and computing) to the job's timings."""
    batches = iter(batches)
    while True:
        waiting = time.monotonic()
        batch = next(batches, None)
        job.timings["ray (read and compute)"] += time.monotonic() - waiting
        if batch is None:
            return
        yield batch


def run_ray(pipe: Processor, since: float | None = None) -> RunSummary:
    """Run ``pipe``'s configured job on Ray (see :func:`pipeline.run.job.run_job`)."""
    return run_job(pipe, RayRunner(), since)


def _input_format(config: JobConfig) -> str:
    from pipeline.io.readers import detect_format

    return detect_format(Path(config.input.path), config.input.format)
