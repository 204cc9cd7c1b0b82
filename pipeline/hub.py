"""Model sources given as "hub id or local directory": tell them apart before anything is loaded.

A hub id is ``name`` or ``org/name``. A setting that looks like a path (absolute, ``./``, ``~``,
more than one ``/``, or starting with a folder that exists here or in the project checkout, like
``models/...``) and does
not exist is a typo: loading it would ask the Hugging Face Hub for a repository of that name and
retry for most of a minute. :func:`check_local` fails at once instead.

A hub id on a machine that cannot reach the hub would do the same: the libraries retry every
file of the model five times. :func:`load_source` asks the hub once (a few seconds at most) and
then loads a model from the local cache without asking again, or fails at once when the cache
does not have it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.errors import ModelNotFoundError

OFFLINE_HINT = "On a machine without internet, set HF_HUB_OFFLINE=1: hub ids are then read from the local cache only."


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


HUB_TIMEOUT_SECONDS = 3.0  # one request to the hub's address; no retries


@lru_cache(maxsize=1)
def hub_unreachable() -> str | None:
    """Why the Hugging Face Hub (``HF_ENDPOINT``) cannot be reached, or None when it answers (any status).

    One request with :data:`HUB_TIMEOUT_SECONDS` through huggingface_hub's own session (its proxy
    and certificate settings), asked once per process.
    """
    from huggingface_hub import constants, get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_TIMEOUT_SECONDS)
    except Exception as exc:  # httpx's ConnectError, timeouts, TLS and proxy errors: all mean "not reachable"
        return f"{type(exc).__name__}: {str(exc) or 'no answer'}"
    return None


def load_source(model: str, key: str) -> str:
    """What to pass to ``from_pretrained`` for ``model`` (setting ``key``), checked before anything loads.

    A local directory is itself (a path that does not exist fails as :func:`check_local` says). A hub
    id is itself when the hub answers or ``HF_HUB_OFFLINE`` is set (the libraries then read only the
    cache, at once); when the hub cannot be reached, it is the model's folder in the local cache, or
    ModelNotFoundError (exit 3) at once when the cache does not have it.
    """
    check_local(model, key)
    if local_dir(model) is not None or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes",
                                                                                                 "true"):
        return model
    reason = hub_unreachable()
    if reason is None:
        return model
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(model, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        raise ModelNotFoundError(missing_model_message(
            model, f"the hub at {constants.ENDPOINT} cannot be reached ({reason}) and the model is not in the "
            f"local cache ({constants.HF_HUB_CACHE})", key,
        )) from None


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
