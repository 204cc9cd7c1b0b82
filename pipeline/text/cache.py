"""Where vnnews keeps what it builds at run time: the user's cache directory, never the installed package.

``VNNEWS_CACHE_DIR`` names the folder; without it, the user cache directory of the platform
(platformdirs: ``$XDG_CACHE_HOME/vnnews`` or ``~/.cache/vnnews`` on Linux). What lives there
(the code-point tables of the text scan, the topic model's character table and the summarizer's,
the language identifier's unpacked model) is rebuilt when missing, unreadable or stale, so the
folder can be deleted at any time; an install that cannot be written (a system site-packages,
an image built by root) runs at full speed from its second run. A folder that cannot be written
either is no error: the tables are then built again in every process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The folder of vnnews's run-time caches (``VNNEWS_CACHE_DIR``, else the platform's user cache folder)."""
    override = os.environ.get("VNNEWS_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vnnews", appauthor=False))


def cached_arrays(name: str, what: str, build: Callable[[], dict[str, np.ndarray]],
                  valid: Callable[[dict[str, np.ndarray]], bool]) -> dict[str, np.ndarray]:
    """Arrays that ``build`` computes, kept in ``cache_dir() / name`` (``.npz``, no pickle) for the next process.

    For tables that walk every BMP code point in Python: the caller puts a key of everything the
    arrays depend on in ``name``. A missing, unreadable or invalid file is rebuilt (saying so in
    the log, ``what`` naming the tables) and written atomically (another process may be reading it).
    """
    cache = cache_dir() / name
    try:
        with np.load(cache, allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
        if valid(arrays):
            return arrays
    except (OSError, ValueError, KeyError):
        pass
    log.info("Building %s once (under a second); kept in %s", what, cache.parent)
    started = time.perf_counter()
    arrays = build()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, cache)
    except OSError as exc:
        log.info("Could not keep %s in %s (%s): built again in the next process", what, cache.parent, exc)
    log.debug("%s built in %.2f s", what, time.perf_counter() - started)
    return arrays
