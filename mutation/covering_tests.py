"""cosmic-ray's test command (mutation/run.py): run the tests that execute the lines the mutant changed.

The mutant is whatever `git diff` shows in the mutated modules (cosmic-ray writes it in place). Its tests
come from .mutation/map.json, fastest first; pytest stops at the first failure, which kills the mutant.
Exit 0 (the mutant survived) when the tests pass or when no test runs those lines, and at once for a mutant
mutation/equivalent.toml lists (a session started again after its module changed runs its survivors'
covering tests, often the whole suite, only for mutants not yet explained).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from run import (  # (this folder is the script's first import path)
    IMPORT_TIME,
    equivalent_reason,
    known_equivalents,
    occurrence,
)

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? ")


def changed_lines(diff: str) -> dict[str, set[int]]:
    """Lines of the original files that the diff replaces or removes (a pure insertion: the line before it)."""
    lines: dict[str, set[int]] = {}
    module = None
    for row in diff.splitlines():
        if row.startswith("--- a/"):
            module = row[len("--- a/"):]
        elif (hunk := HUNK.match(row)) and module is not None:
            start, count = int(hunk[1]), int(hunk[2] if hunk[2] is not None else 1)
            lines.setdefault(module, set()).update(range(start, start + max(count, 1)))
    return lines


def reading_scope(module: str, number: int) -> tuple[int, int]:
    """The lines whose tests can notice a change to line ``number``, which runs when the module is imported: a
    function's body for its signature (default values) or a decorator; the whole module for a line of a class
    body (a field, a constant, the class's decorator: code that dataclass writes, such as ``__init__`` or the
    frozen ``__setattr__``, has no lines of its own, so any test that runs the module's code may be one that
    uses the class) and for a module-level line (constants, imports)."""
    source = subprocess.run(["git", "show", f"HEAD:{module}"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    whole = (1, len(source.splitlines()))
    innermost = None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first <= number <= node.end_lineno and (innermost is None or first >= innermost[0]):
                innermost = (first, node)
    if innermost is None or isinstance(innermost[1], ast.ClassDef):
        return whole
    function = innermost[1]
    if number >= function.body[0].lineno:  # (a line of the body runs when called, not at import: kept whole)
        return (innermost[0], function.end_lineno)
    return (function.body[0].lineno, function.end_lineno)


def listed_equivalent(diff: str) -> str | None:
    """The reason mutation/equivalent.toml gives for the one-line mutant in ``diff``."""
    module, removed, added = None, [], []
    for row in diff.splitlines():
        if row.startswith("--- a/"):
            module = row[len("--- a/"):]
        elif row.startswith("-") and not row.startswith("---"):
            removed.append(row[1:].strip())
        elif row.startswith("+") and not row.startswith("+++"):
            added.append(row[1:].strip())
    if len(removed) != 1 or len(added) != 1:
        return None
    (number,) = changed_lines(diff)[module]
    source = subprocess.run(["git", "show", f"HEAD:{module}"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.splitlines()  # (the working tree holds the mutant)
    return equivalent_reason(known_equivalents(), module, removed[0], added[0], occurrence(source, number))


def main() -> int:
    mapping = json.loads((WORK / "map.json").read_text())
    diff = subprocess.run(["git", "diff", "-U0", "--", *mapping["lines"]], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    if reason := listed_equivalent(diff):  # its tests were run when it was found; no test can tell it apart
        print(f"a known equivalent (mutation/equivalent.toml): {reason}")
        return 0
    tests: set[str] = set()
    for module, numbers in changed_lines(diff).items():
        lines = mapping["lines"].get(module, {})
        for number in numbers:
            found = set(lines.get(str(number), []))
            if IMPORT_TIME in found:  # run while the module was imported: tests of the code that reads it
                low, high = reading_scope(module, number)
                found = {t for n in range(low, high + 1) for t in lines.get(str(n), [])}
            tests.update(found - {IMPORT_TIME})
    if not tests:
        print("no test executes the mutated lines")
        return 0
    ordered = sorted(tests, key=lambda t: (mapping["durations"].get(t, 0.0), t))
    args = WORK / "tests.args"
    args.write_text("\n".join(ordered) + "\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:warnings",
                           "--no-header", f"@{args}"], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
