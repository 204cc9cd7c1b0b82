"""Tiny stages for the runner's unit tests: each implements the Stage protocol and nothing more, and
records what the runner did with it (its calls, the records it was given, start and finish)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipeline.io.records import Record
from pipeline.run.pipeline import Pipeline
from pipeline.stages import QUARANTINE_KEY, SKIP_MODELS_KEY, RunStart


class TinyConfig(BaseModel):
    """A stage's settings: they enter the config hash like a real section's."""

    setting: int = 0


class TinyStage:
    """Appends its name to each record's ``trail``; quarantines records whose text contains ``reject``
    (reason ``"rejected by <name>"``), marks those containing ``spare`` to skip the later stages, and raises
    ``interrupt_on`` (an exception instance) on that call number (1-based), as Ctrl-C or a bug would."""

    def __init__(self, name: str, events: list[tuple], reject: str | None = None, spare: str | None = None,
                 interrupt_on: int | None = None, exception: BaseException | None = None,
                 setting: int = 0, parts_dir: Path | None = None) -> None:
        self.name = name
        self.config = TinyConfig(setting=setting)
        self.events = events  # shared by the stages of one pipeline, so their order shows
        self.reject, self.spare = reject, spare
        self.interrupt_on, self.exception = interrupt_on, exception or KeyboardInterrupt()
        self.parts_dir = parts_dir  # when set, each call records the run state's part files at that moment
        self.calls = 0
        self.existing: list[Record] = []
        self.committed: list[Record] = []

    def __call__(self, records: list[Record]) -> list[Record]:
        self.calls += 1
        if self.calls == self.interrupt_on:
            raise self.exception
        parts = sorted(p.stem for p in self.parts_dir.glob("*.part")) if self.parts_dir else None
        self.events.append((self.name, "call", [r["id"] for r in records], parts))
        for record in records:
            record["trail"] = [*record.get("trail", []), self.name]
            if self.reject and self.reject in record["text"]:
                record[QUARANTINE_KEY] = f"rejected by {self.name}"
            elif self.spare and self.spare in record["text"]:
                record[SKIP_MODELS_KEY] = True
        return records

    def describe(self) -> dict[str, Any]:
        return {"setting": self.config.setting}

    def fingerprint(self) -> str | None:
        return None

    def start(self, run: RunStart) -> None:
        self.existing, self.committed = list(run.existing()), list(run.committed())
        self.events.append((self.name, "start", run.mode, run.key))

    def finish(self) -> None:
        self.events.append((self.name, "finish"))


def pipeline_of(monkeypatch, data: dict[str, Any], stages: list[TinyStage]) -> Pipeline:
    """The Pipeline of job ``data`` with ``stages`` in place of those its config enables: ``build_stages``
    (where a pipeline gets its stages) returns them; everything else is the real runner."""
    monkeypatch.setattr("pipeline.run.processing.build_stages", lambda config: list(stages))
    return Pipeline.from_dict(data)
