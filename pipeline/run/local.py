"""The local streaming runner: read in batches, run the stages, save each batch into the run state.

The run's life (open, verify, commit) is :mod:`pipeline.run.job`'s; this runner computes the rows
from ``job.start`` on, in input order, with a reader thread (:class:`Prefetch`) parsing and hashing
the next batches while the stages' compiled kernels run on the current one. Memory holds one
batch, the batches read ahead, the serialized results waiting for the next checkpoint (at most
``runner.checkpoint_mb``) and the keys seen, in constant memory (:class:`~pipeline.run.keys.KeySet`).
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TypeVar

from pipeline.io.readers import read_batches
from pipeline.io.records import Batch, stamp_hashes
from pipeline.run.job import Job, RunSummary, run_job
from pipeline.run.processing import Processor

T = TypeVar("T")


class LocalRunner:
    """Computes a job's rows in this process, batch by batch, in input order."""

    kind = "local"

    def process(self, job: Job) -> int:
        """Every batch from ``job.start`` on, saved to the run state at each checkpoint; batches still in
        memory when the input ends or the run stops (Ctrl-C, SIGTERM, an error) are saved then."""
        config, state = job.config, job.state
        end = job.start
        batches = _stamped(read_batches(config.input, job.reader, start=job.start), config.output.key)
        try:
            with Prefetch(batches, config.runner.local.prefetch_batches) as prefetched:
                for batch in _timed(prefetched, job.timings, "read"):
                    self._process_batch(job, batch)
                    end = batch.end
            saving = time.monotonic()
            state.checkpoint()
            job.timings["save"] += time.monotonic() - saving
        except BaseException:
            with contextlib.suppress(Exception):  # (a full disk fails again: the error that stopped the run is shown)
                state.checkpoint()
            raise
        finally:
            job.progress.close()
        job.skipped.update(getattr(job.reader, "skipped", {}))
        return end

    def _process_batch(self, job: Job, batch: Batch) -> None:
        """Key filter, stages and saving of one batch (its records stamped by :func:`_stamped`)."""
        state, timings = job.state, job.timings
        started = time.monotonic()
        todo, refreshed, rejected, unchanged = job.key_filter.split(batch.records, state.run_id, stamped=True)
        filtered = time.monotonic()
        timings["keys"] += filtered - started
        result = job.pipe.process_batch(todo)
        for row in result.records:
            row["run_id"] = state.run_id
        saving = time.monotonic()
        state.save_batch(batch.start, batch.end, result.records,
                         batch.quarantined + rejected + result.quarantined, unchanged, refreshed)
        timings["save"] += time.monotonic() - saving
        job.add_preview(result.records)
        job.progress.update(batch.size)
        job.add_point(batch.end)

    def saved(self, job: Job) -> str:
        return (f"rows before {job.state.committed_rows():,} are saved in {job.state.directory}: run the same "
                "command to resume from there")


def run_local(pipe: Processor, since: float | None = None) -> RunSummary:
    """Run ``pipe``'s configured job in this process (see :func:`pipeline.run.job.run_job`)."""
    return run_job(pipe, LocalRunner(), since)


def _timed(items: Iterator[T], timings: dict[str, float], name: str) -> Iterator[T]:
    """``items``, adding the time spent waiting for each to ``timings[name]``."""
    while True:
        waiting = time.monotonic()
        try:
            item = next(items)
        except StopIteration:
            timings[name] += time.monotonic() - waiting
            return
        timings[name] += time.monotonic() - waiting
        yield item


def _stamped(batches: Iterator[Batch], key: str) -> Iterator[Batch]:
    """``batches`` with :func:`~pipeline.io.records.stamp_hashes` done on every record that has ``key``
    (what :meth:`KeyFilter.split` would do first). Hashing whole articles is Python work that needs no
    state of the run, so it runs in the reader thread, while the main thread's stages are in kernels."""
    for batch in batches:
        for record in batch.records:
            if record.get(key) is not None:
                stamp_hashes(record)
        yield batch



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
