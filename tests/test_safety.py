"""Static guarantees over the package source: no unpickling, no remote code."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"


def _trees():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_no_pickle_or_joblib_or_torch_load():
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("pickle", "joblib", "dill", "cloudpickle") for n in names), path
            if isinstance(node, ast.Attribute) and node.attr == "load":
                assert not (isinstance(node.value, ast.Name) and node.value.id == "torch"), f"torch.load in {path}"


def test_every_from_pretrained_refuses_remote_code():
    calls = 0
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "from_pretrained":
                if getattr(node.func.value, "id", "") == "GenerationConfig":  # plain JSON, runs no code
                    continue
                calls += 1
                keywords = {k.arg: k.value for k in node.keywords}
                value = keywords.get("trust_remote_code")
                assert isinstance(value, ast.Constant) and value.value is False, f"{path}:{node.lineno}"
    assert calls >= 6
