"""Does an evaluation score a model on the data it was trained on? Its ``train_config.json`` says.

``vnnews train`` writes the resolved training config beside every model, with the files it read:
``data.path`` (the labelled or reference data, of which ``validation_split`` was held out),
``adaptation.data.path`` (unlabeled articles the topic model learned its vocabulary and
pseudo-labels from). An evaluation file that is one of them (the same file, or a copy with the same
bytes) gives numbers that overstate how the model does on articles it never saw.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pipeline.config import PROJECT_ROOT

# (key in train_config.json, what the model did with that file)
SOURCES = (
    ("data.path", "trained on"),
    ("adaptation.data.path", "learned vocabulary and pseudo-labels from (without labels)"),
)


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _candidates(recorded: str, model_dir: Path) -> list[Path]:
    """Where a recorded (possibly relative) training path may be: it was relative to the training's
    working directory, most often the project checkout that holds ``models/``."""
    path = Path(recorded).expanduser()
    if path.is_absolute():
        return [path]
    return [path, PROJECT_ROOT / path, model_dir.resolve().parent.parent / path]


def _digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _same_data(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
        if a.is_file() and b.is_file() and a.stat().st_size == b.stat().st_size:
            return _digest(a) == _digest(b)
    except OSError:
        pass
    return False


def training_overlap(model_dir: Path, data_path: Path) -> list[str]:
    """One warning per training file of ``model_dir`` that ``data_path`` is (none without a train_config.json)."""
    try:
        config = json.loads((model_dir / "train_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(config, dict):
        return []
    warnings = []
    for key, role in SOURCES:
        recorded = _lookup(config, key)
        if not isinstance(recorded, str):
            continue
        if any(_same_data(data_path, candidate) for candidate in _candidates(recorded, model_dir)):
            held_out = config.get("validation_split") if key == "data.path" else None
            share = (f"{round(100 * (1 - held_out))}% of its rows trained the model; " if isinstance(
                held_out, int | float) and config.get("validation") is None else "")
            warnings.append(
                f"{data_path} is the file {model_dir} was {role} ({key} in its train_config.json): {share}these "
                "numbers overstate how the model does on articles it never saw. Evaluate on a file it was not "
                f"trained on; its held-out numbers are in its model card ({model_dir / 'README.md'})."
            )
    return warnings
