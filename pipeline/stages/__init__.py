"""Stages: batch functions ``list[Record] -> list[Record]``, each built once from its config section.

A stage marks a record it cannot process with :data:`QUARANTINE_KEY` (the reason) instead of
raising, so one bad article never stops a batch; the runner moves marked records to quarantine.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pipeline.io.records import Record

QUARANTINE_KEY = "_quarantine_reason"


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

    def finish(self) -> None:
        """Called once when a run has committed its output (e.g. to log totals); may do nothing."""
        ...
