"""A model folder's files, checked before anything is built from them.

A model setting (``classify.model``, ``summarize.extractive_model``, ``summarize.model``...) may
name any folder: an empty one, one holding only a pickle, a ``config.json`` or a safetensors file
cut short by a copy that stopped half-way, a file of the wrong kind under the right name. Each
must stop the job with the model error (exit 3) and a paragraph saying what the folder must hold,
never with a library's traceback, and never by unpickling: a pickle (``pytorch_model.bin``,
``*.pkl``, ``*.pt``) runs code when it is loaded, so weights are read from safetensors files only.

The functions here raise :class:`BadModelFile` with a short reason that never quotes the files'
contents; each loader turns it into a :class:`~pipeline.errors.ModelNotFoundError` that names its
setting and what its kind of model folder holds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

MAX_JSON_BYTES = 64 * 2**20  # a model's config.json or vocabulary is a few MB at most
MAX_HEADER_BYTES = 100 * 2**20  # the safetensors library's own limit on a header
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib")


class BadModelFile(Exception):
    """A model file is missing, cut short or not what its name says; the message says which, never what it holds."""


def read_json(path: Path) -> Any:
    """The JSON value in ``path``."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise BadModelFile(f"{path.name} is missing") from None
    except OSError as exc:
        raise BadModelFile(f"{path.name} cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_JSON_BYTES:
        raise BadModelFile(f"{path.name} is larger than {MAX_JSON_BYTES // 2**20} MB")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadModelFile(f"{path.name} is not valid JSON (cut short, or not a model file)") from None


def json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (a model's config.json, say)."""
    value = read_json(path)
    if not isinstance(value, dict):
        what = {list: "a list", str: "text", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        raise BadModelFile(f"{path.name} holds {what}, not a JSON object")
    return value


def check_safetensors(path: Path) -> None:
    """Raise BadModelFile unless ``path`` is a whole safetensors file: its header is valid JSON and
    its tensors cover the file exactly (a file cut short holds fewer bytes than its header says)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < length <= min(MAX_HEADER_BYTES, size - 8):
                raise BadModelFile(f"{path.name} is cut short or not a safetensors file")
            header = json.loads(fh.read(length))
    except FileNotFoundError:
        raise BadModelFile(f"{path.name} is missing") from None
    except OSError as exc:
        raise BadModelFile(f"{path.name} cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadModelFile(f"{path.name} is not a safetensors file (its header is not JSON)") from None
    tensors = {k: v for k, v in header.items() if k != "__metadata__"} if isinstance(header, dict) else None
    end = 0
    for info in (tensors or {}).values():
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise BadModelFile(f"{path.name} is not a safetensors file (a tensor has no valid offsets)")
        end = max(end, offsets[1])
    if tensors is None or end != size - 8 - length:
        raise BadModelFile(f"{path.name} is cut short or not a safetensors file ({size:,} bytes, its header "
                           f"describes {8 + length + end:,})")


def load_arrays(path: Path, shapes: dict[str, tuple[str, int]]) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file, each checked against ``shapes`` (name -> (dtype, number of
    dimensions)); arrays not named there are left out."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    check_safetensors(path)
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BadModelFile(f"{path.name} cannot be read as safetensors ({type(exc).__name__})") from None
    for name, (dtype, ndim) in shapes.items():
        array = arrays.get(name)
        if array is None:
            raise BadModelFile(f"{path.name} has no tensor {name!r}")
        if array.dtype != np.dtype(dtype) or array.ndim != ndim:
            raise BadModelFile(f"{path.name}: tensor {name!r} is {array.dtype} with {array.ndim} dimensions, "
                               f"expected {np.dtype(dtype)} with {ndim}")
    return {name: arrays[name] for name in shapes}


def check_hf_folder(folder: Path) -> None:
    """Raise BadModelFile unless ``folder`` looks like a ``save_pretrained`` folder with safetensors weights.

    The tokenizer files are left to the library that reads them (their errors are caught by the
    loader); here: config.json is a JSON object, and every weights file is a whole safetensors
    file (a sharded model's index names shards that are there). A folder with pickled weights only
    is refused with the way out.
    """
    if not folder.is_dir():
        raise BadModelFile(f"{folder} is not a folder")
    index = folder / "model.safetensors.index.json"
    if index.exists():
        weight_map = json_object(index).get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) and v == Path(v).name and v not in
                                                          ("", ".", "..") for v in weight_map.values()):
            raise BadModelFile(f"{index.name} has no weight_map of file names in the folder")
        shards = sorted({folder / name for name in weight_map.values()})
    else:
        shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        pickles = sorted(p.name for p in folder.iterdir() if p.name.lower().endswith(PICKLE_SUFFIXES))
        if pickles:
            raise BadModelFile(
                f"it holds pickled weights only ({', '.join(pickles[:3])}), which vnnews never loads: unpickling a "
                "file can run any code. Save the model again with save_pretrained(folder) (transformers writes "
                "model.safetensors) or convert the weights to safetensors"
            )
        raise BadModelFile("it holds no model.safetensors")
    json_object(folder / "config.json")
    for shard in shards:
        check_safetensors(shard)


def saved_settings(config: dict[str, Any], section: type[BaseModel]) -> dict[str, Any]:
    """A model's saved settings (``params`` of its config.json, as ``get_params`` wrote them), checked
    against the config section they were trained from, so no setting reaches a kernel unchecked."""
    params = config.get("params")
    if not isinstance(params, dict):
        raise BadModelFile("config.json has no params object")
    if type(params.get("seed")) is not int:
        raise BadModelFile("config.json: params.seed is not an integer")
    try:
        section.model_validate({k: v for k, v in params.items() if k != "seed"})
    except ValidationError as err:
        names = sorted({".".join(str(p) for p in e["loc"]) for e in err.errors()})
        raise BadModelFile(f"config.json: params {', '.join(names[:5])} are not valid settings") from None
    return params


def saved_classes(config: dict[str, Any]) -> list[str]:
    """The class labels in a classifier's config.json: a non-empty list of distinct strings."""
    classes = config.get("classes")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)
            and len(set(classes)) == len(classes)):
        raise BadModelFile("config.json: classes is not a list of distinct labels")
    return classes


def saved_number(config: dict[str, Any], name: str, positive: bool = False) -> float:
    """A finite number from a model's config.json (``positive``: greater than 0)."""
    value = config.get(name)
    if type(value) not in (int, float) or not math.isfinite(value) or (positive and value <= 0):
        raise BadModelFile(f"config.json: {name} is not a {'positive ' if positive else ''}number")
    return float(value)
