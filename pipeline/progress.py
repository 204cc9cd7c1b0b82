"""Progress for long runs and training phases: a bar with a rate and ETA on a terminal, log lines otherwise.

`vnnews run` counts articles; `vnnews train` shows each phase (reading, fitting, cross-validation)
with its own unit and label. Inputs whose rows cannot be counted ahead (WARC files) show how many
bytes of the input were read instead, with an ETA from the byte rate.

Cron and orchestrators capture stderr to files, where a redrawn bar is noise; there we log one
line every ``log_every_seconds`` with the same numbers.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("pipeline.progress")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    """Counts work done in ``unit`` (articles by default); ``mode`` is auto, bar, log or off.

    ``initial`` rows were done by an earlier, interrupted run: they count toward the position,
    but not toward this run's rate, so a resumed run shows an honest articles/s and ETA.
    ``label`` names the phase in front of the numbers (training: "read train.jsonl.gz", "fit").
    """

    def __init__(self, total: int | None, mode: str = "auto", log_every_seconds: float = 10.0,
                 initial: int = 0, position: Callable[[], tuple[int, int] | None] | None = None,
                 unit: str = "articles", label: str = "") -> None:
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.mode = mode
        self.unit = unit
        self.label = label
        self.total = total
        self.initial = self.done = initial
        self.log_every = log_every_seconds
        self.start = self._last_log = time.monotonic()
        # Without a row total (WARC input): (bytes read, bytes in all) of the input, shown instead.
        self.position = position if total is None else None
        self._bytes_start = self._bytes_shown = 0
        if self.position is not None:
            self._bytes_start = (self.position() or (0, 0))[0]
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            if self.position is not None:
                size = (self.position() or (0, 0))[1]
                self._bar = tqdm(total=size, initial=self._bytes_start, unit="B", unit_scale=True,
                                 dynamic_ncols=True, smoothing=0.1)
                self._bytes_shown = self._bytes_start
            else:
                self._bar = tqdm(total=total, initial=initial, unit=f" {unit}", dynamic_ncols=True, smoothing=0.1,
                                 desc=label or None)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return (self.done - self.initial) / elapsed if elapsed > 0 else 0.0

    def status(self) -> str:
        rate = self.rate
        speed = f"{rate:.1f} {self.unit}/s" if rate >= 0.1 or rate == 0 else f"{1 / rate:.0f} s each"
        parts = [f"{self.done:,}" + (f"/{self.total:,}" if self.total else "") + f" {self.unit}", speed]
        if self.total and rate > 0:
            parts.append(f"ETA {_duration(max(self.total - self.done, 0) / rate)}")
        where = self.position() if self.position is not None else None
        if where is not None and where[1] > 0:
            done, size = where
            parts.insert(1, f"{done / 2**20:,.1f}/{size / 2**20:,.1f} MiB read")
            elapsed = time.monotonic() - self.start
            byte_rate = (done - self._bytes_start) / elapsed if elapsed > 0 else 0.0
            if byte_rate > 0:
                parts.append(f"ETA {_duration(max(size - done, 0) / byte_rate)}")
        return (f"{self.label}: " if self.label else "") + ", ".join(parts)

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None and self.position is not None:
            done = (self.position() or (0, 0))[0]
            self._bar.update(max(done - self._bytes_shown, 0))
            self._bytes_shown = max(done, self._bytes_shown)
            self._bar.set_postfix_str(f"{self.done:,} articles", refresh=False)
        elif self._bar is not None:
            self._bar.update(n)
        elif self.mode == "log" and time.monotonic() - self._last_log >= self.log_every:
            self._last_log = time.monotonic()
            log.info("progress: %s", self.status())

    def close(self) -> None:
        """Close the bar; in log mode a labelled phase (training) logs its last numbers and how long it took."""
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "log" and self.label:
            log.info("progress: %s, done in %s", self.status(), _duration(time.monotonic() - self.start))


@dataclass
class ProgressSettings:
    """How a job's phases show progress: ``mode`` and ``log_every_seconds`` as the config sets them."""

    mode: str = "off"
    log_every_seconds: float = 10.0

    def start(self, total: int | None, label: str, unit: str = "articles") -> Progress:
        return Progress(total, self.mode, self.log_every_seconds, unit=unit, label=label)
