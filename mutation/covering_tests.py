"""cosmic-ray's test command (mutation/run.py): run the tests that execute the lines the mutant changed.

The mutant is whatever `git diff` shows in the mutated modules (cosmic-ray writes it in place). Its tests
come from .mutation/map.json, fastest first; pytest stops at the first failure, which kills the mutant.
Exit 0 (the mutant survived) when the tests pass or when no test runs those lines.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

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


def main() -> int:
    mapping = json.loads((WORK / "map.json").read_text())
    diff = subprocess.run(["git", "diff", "-U0", "--", *mapping["lines"]], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    tests: set[str] = set()
    for module, numbers in changed_lines(diff).items():
        for number in numbers:
            tests.update(mapping["lines"].get(module, {}).get(str(number), []))
    if "<import>" in tests:  # a module-level line: every test of the pool may depend on it
        tests = set(mapping["durations"])
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
