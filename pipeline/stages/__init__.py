"""Stages: batch functions ``list[Record] -> list[Record]``, each built once from its config section.

A stage marks a record it cannot process with :data:`QUARANTINE_KEY` (the reason) instead of
raising, so one bad article never stops a batch; the runner moves marked records to quarantine.
"""

from __future__ import annotations

from typing import Any, Protocol

from pipeline.io.records import Record

QUARANTINE_KEY = "_quarantine_reason"


class Stage(Protocol):
    name: str

    def __call__(self, records: list[Record]) -> list[Record]: ...

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this stage (model id, settings that matter)."""
        ...
