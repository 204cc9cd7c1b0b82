"""Model sources given as "hub id or local directory": tell them apart before anything is loaded.

A hub id is ``name`` or ``org/name``. A setting that looks like a path (absolute, ``./``, ``~``,
more than one ``/``, or starting with a folder that exists here or in the project checkout, like
``models/...``) and does
not exist is a typo: loading it would ask the Hugging Face Hub for a repository of that name and
retry for most of a minute. :func:`check_local` fails at once instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.errors import ModelNotFoundError

OFFLINE_HINT = "On a machine without internet set HF_HUB_OFFLINE=1 so a hub id fails at once instead of retrying."


def local_dir(model: str) -> Path | None:
    """The local directory ``model`` names, if it exists."""
    path = Path(model).expanduser()
    return path if path.exists() else None


def looks_local(model: str) -> bool:
    """Whether ``model`` is meant as a path rather than a hub id (see the module docstring)."""
    if model.startswith((".", "/", "~")) or "\\" in model or model.endswith("/") or model.count("/") > 1:
        return True
    head = model.split("/", 1)[0]
    return "/" in model and (Path(head).is_dir() or (PROJECT_ROOT / head).is_dir())


def check_local(model: str, key: str) -> None:
    """Raise ModelNotFoundError (exit 3) when ``model`` looks like a local path that does not exist."""
    if local_dir(model) is None and looks_local(model):
        raise ModelNotFoundError(
            f"{key}={model} looks like a local directory, but there is no such directory (relative paths start "
            f"at {Path.cwd()}). Check the path; a Hugging Face Hub id has the form org/name. {OFFLINE_HINT}"
        )


def missing_model_message(model: str, reason: str, key: str) -> str:
    """Why a model could not be loaded, and what to do: different for directories and hub ids."""
    if local_dir(model) is not None or looks_local(model):
        return (
            f"Cannot load the model in {model} ({key}): {reason}. Point {key} at a directory holding "
            "config.json, the tokenizer files and model.safetensors (as written by save_pretrained)."
        )
    return (
        f"Cannot load model {model!r} ({key}) from the Hugging Face Hub: {reason}. If this machine is offline, "
        f"download the model elsewhere (`hf download {model} --local-dir DIR`), copy DIR here and set {key} to "
        f"that directory (--set {key}=DIR). {OFFLINE_HINT}"
    )


def _torch_has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(setting: str, cuda_available: Callable[[], bool] = _torch_has_cuda) -> str:
    """A ``device`` setting made concrete: 'auto' is 'cuda' when ``cuda_available()`` says so, else 'cpu'."""
    if setting == "auto":
        return "cuda" if cuda_available() else "cpu"
    return setting
