"""Provenance: what produced a row or a model, without importing a runner.

:func:`processing_hash` (a job's ``config_hash``: field mapping, stage settings, model files),
:func:`directory_fingerprint` (a model directory's identity) and :func:`package_versions` (what
manifests and model cards record). Stages, training and evaluation use them as the runners do.
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.config import JobConfig
    from pipeline.stages import Stage

PACKAGES = ("vnnews", "torch", "transformers", "scikit-learn", "underthesea", "datasets", "pydantic", "numpy")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def processing_hash(config: JobConfig, stages: list[Stage]) -> str:
    """Hash of everything that changes a row's content: field mapping, stage settings, model files.

    Paths of input and output, batch sizes, devices and progress settings are left out: changing
    them must not make a finished job look stale.
    """
    data = {
        "input": config.input.model_dump(mode="json", include={"text_field", "title_field", "id_field",
                                                                "raw_pages", "txt_first_line_title"}),
        "output": config.output.model_dump(mode="json", include={"include_text", "key"}),
        "stages": {
            stage.name: {
                "settings": stage.config.model_dump(mode="json", exclude={"batch_size", "device"}),
                "fingerprint": stage.fingerprint(),
            }
            for stage in stages
        },
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def directory_fingerprint(path: Path, content_limit: int = 64 << 20) -> str:
    """Identity of a model directory: file names and contents (size and mtime for very large files).

    Retraining a model into the same directory changes its fingerprint, so finished jobs are redone.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.relative_to(path if path.is_dir() else path.parent).as_posix().encode())
        st = file.stat()
        if st.st_size <= content_limit:
            digest.update(file.read_bytes())
        else:
            digest.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
