"""Stages: batch functions ``list[Record] -> list[Record]``, each built once from its config section.

A stage marks a record it cannot process with :data:`QUARANTINE_KEY` (the reason) instead of
raising, so one bad article never stops a batch; the runner moves marked records to quarantine.
A record marked with :data:`SKIP_MODELS_KEY` is written as it is, without passing through the
later stages (the dedup stage's ``action: skip``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pipeline.io.paths import OutputPaths
from pipeline.io.records import QUARANTINE_KEY, SKIP_MODELS_KEY, Record

__all__ = ["QUARANTINE_KEY", "SKIP_MODELS_KEY", "RunStart", "Stage"]


@dataclass
class RunStart:
    """What a batch run tells its stages before the first batch (see :meth:`Stage.start`).

    ``existing`` reads the rows the output holds before this run, ``committed`` the output rows this
    run saved before it was killed (empty for a fresh run), both in order; ``output`` names the output
    and its side files: a stage keeps files of its own in ``output.side(<stage name>)``.
    """

    mode: str
    key: str
    output: OutputPaths
    existing: Callable[[], Iterable[Record]]
    committed: Callable[[], Iterable[Record]]


@runtime_checkable
class Stage(Protocol):
    """What the runners need of a stage; every stage class implements all of it."""

    name: str
    config: Any  # its config section (a pydantic model): its settings go into the config hash

    def __call__(self, records: list[Record]) -> list[Record]: ...

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this stage (model id, settings that matter)."""
        ...

    def fingerprint(self) -> str | None:
        """Identity of the stage's model files (a change recomputes finished rows); None without a model."""
        ...

    def start(self, run: RunStart) -> None:
        """Called by the batch runners once before the first batch (after a resume too); may do nothing."""
        ...

    def finish(self) -> None:
        """Called once when a run has committed its output (e.g. to log totals); may do nothing."""
        ...
