"""Mutation testing of the run core: do the tests notice when its code is wrong? (`make mutation`)

cosmic-ray changes one thing at a time in the modules named in mutation/cosmic-ray.toml (a `<` becomes `<=`,
a `not` disappears, a loop runs zero times, an exception type is swapped), in place, so that the `vnnews`
processes the end-to-end tests start run the mutant too; a mutant is *killed* when a test fails. Running the
whole test suite (about twelve minutes here) for each of about 1,500 mutants would take weeks on two cores, so
each mutant runs only the tests that execute the lines it changed:

1. ``map``: the whole suite (slow tests too) runs once under coverage with one context per test, in the
   test process and in every Python process the test starts (coverage's start-up hook reads the context from
   an environment variable the plugin sets per test), giving for each line the tests that run it
   (.mutation/map.json). A line run while its module is imported (a constant, a default value, a decorator)
   takes the tests of the code that reads it: the function's body, or the whole module for a line of a class
   body or of the module itself.
2. ``init``: a cosmic-ray session per module (.mutation/<module>.sqlite), less the operators the config
   filters out and the mutants inside type annotations (strings nobody evaluates here: equivalent).
3. ``exec``: for each pending mutant cosmic-ray runs mutation/covering_tests.py, which reads the mutated
   lines from `git diff`, runs their tests fastest first and stops at the first failure. A mutant no test
   executes survives without running anything.
4. ``report``: mutants, killed, survived (with their diffs), equivalent (mutation/equivalent.toml: each
   survivor that no test can kill because the program behaves the same, with the reason).

``retest`` (not run by default) puts the survivors back in the queue, to try them against new tests (not the
known equivalents).

Every step resumes: the map is measured again only where its files changed (only the changed files of
tests, when nothing else changed: the tests written to kill survivors), a module's session is rebuilt only
when the module changed, and ``exec`` continues with the mutants not yet run, module by module in the
config's order. Run it with nothing else on the CPUs: the timing-sensitive tests (kills at random instants)
then behave as in `make test`. With a core per worker, a second checkout of the same commit (its own venv,
`make install` plus the mutation extra, and a `TMPDIR` of its own so that its Ray and PostgreSQL stay apart)
can take other modules with ``--module``: copy .mutation/map.json into it, and its sessions back for one
report.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "mutation"
WORK = ROOT / ".mutation"
CONFIG = HERE / "cosmic-ray.toml"
MAP = WORK / "map.json"
EQUIVALENT = HERE / "equivalent.toml"
# The tests that may notice a fault in the run core: every test in tests/, slow ones too (a stage's test may check
# a sink's protocol). `make test` also runs the doctests and notebooks, which go through the same public API.
POOL = ["tests"]
IMPORT_TIME = "<import>"  # the map's name for lines run while modules are imported
ANNOTATION = "inside a type annotation (never evaluated)"


ONLY: list[str] = []  # --module: the modules init, retest, exec and report work on (default: all)


def modules() -> list[str]:
    return tomllib.loads(CONFIG.read_text())["cosmic-ray"]["module-path"]


def selected() -> list[str]:
    return [m for m in modules() if not ONLY or m in ONLY]


def fingerprint(paths: list[Path]) -> str:
    """A hash of the files whose change makes the map (or the session) stale."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _pool_files() -> list[Path]:
    files = [ROOT / m for m in modules()]
    for entry in POOL:
        path = ROOT / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def _is_test_file(relative: str) -> bool:
    """A file of tests only (``test_*.py``): when nothing else changed, only its own tests are measured again."""
    return Path(relative).name.startswith("test_")


def _measure(targets: list[str]) -> tuple[dict[str, dict[str, list[str]]], dict[str, float], set[str]]:
    """Run ``targets`` (pytest arguments) under coverage, one context per test, in every process they start:
    for each module, line -> the tests that ran it; each test's duration; the files of tests that failed."""
    data_dir = WORK / "coverage"
    subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    data_dir.mkdir(parents=True)
    rcfile = WORK / "coveragerc"
    # ${VNNEWS_MUTATION_TEST} is expanded by each process when it reads this file at start-up: the test's id,
    # set by mutation/plugin.py before the test starts any process.
    rcfile.write_text(f"[run]\nsource_pkgs = pipeline\nparallel = true\ndata_file = {data_dir}/data\n"
                      "context = ${VNNEWS_MUTATION_TEST}\npatch = _exit\n")
    durations = WORK / "durations.json"
    durations.unlink(missing_ok=True)
    env = {**os.environ, "COVERAGE_PROCESS_START": str(rcfile), "VNNEWS_MUTATION_DURATIONS": str(durations),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    print(f"map: running {' '.join(targets)} under coverage ...", flush=True)
    pytest = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "plugin", "-p", "no:cacheprovider",
                             *targets], cwd=ROOT, env=env)
    if pytest.returncode not in (0, 1) or not durations.exists():  # 1: some tests failed; others: no run at all
        sys.exit(f"map: pytest stopped (exit {pytest.returncode}) before the tests ran")
    measured = json.loads(durations.read_text())
    if measured["failed"]:  # (a test that fails with no mutant tells nothing about one: fix it, then map again)
        print(f"map: WARNING: {len(measured['failed'])} tests failed with no mutant in place and are left out of "
              f"the map: {', '.join(measured['failed'])}", flush=True)
    subprocess.run([sys.executable, "-m", "coverage", "combine", "--quiet", f"--rcfile={rcfile}",
                    f"--data-file={data_dir}/data", str(data_dir)], cwd=ROOT, check=True)
    from coverage import CoverageData

    data = CoverageData(basename=str(data_dir / "data"))
    data.read()
    lines: dict[str, dict[str, list[str]]] = {}
    for module in modules():
        source = str(ROOT / module)
        by_line = data.contexts_by_lineno(source) if source in data.measured_files() else {}
        by_test = {n: {c.rpartition("|")[2] or IMPORT_TIME for c in ctx} - set(measured["failed"])
                   for n, ctx in by_line.items()}
        lines[module] = {str(n): sorted(tests) for n, tests in by_test.items() if tests}
    return (lines, {t: d for t, d in measured["durations"].items() if t not in measured["failed"]},
            {t.partition("::")[0] for t in measured["failed"]})


def _changes(old: dict) -> tuple[dict[str, str], set[str]]:
    """The pool's files with their hashes now, and those that differ from the map ``old`` was measured on."""
    hashes = {str(p.relative_to(ROOT)): fingerprint([p]) for p in _pool_files() if p.exists()}
    before = old.get("files", {})
    return hashes, {f for f in hashes.keys() | before.keys() if hashes.get(f) != before.get(f)}


def build_map() -> None:
    """Step 1: run the tests under coverage, one context per test, and keep which tests run each line.

    When only files of tests changed since the map was built (tests added to kill survivors), only those files
    run again and their tests' entries are replaced; any other change (a module, conftest.py) measures all."""
    old = json.loads(MAP.read_text()) if MAP.exists() else {}
    hashes, changed = _changes(old)
    if old and not changed:
        print("map: up to date", flush=True)
        return
    if "files" in old and all(_is_test_file(f) for f in changed):
        def stale(test: str) -> bool:
            return test.partition("::")[0] in changed

        targets = sorted(f for f in changed if f in hashes)
        lines, durations, failed = _measure(targets) if targets else ({}, {}, set())
        for module, by_line in old["lines"].items():
            for number, tests in by_line.items():
                merged = {*(t for t in tests if not stale(t)), *lines.get(module, {}).get(number, [])}
                if merged:
                    lines.setdefault(module, {})[number] = sorted(merged)
        durations = {**{t: d for t, d in old["durations"].items() if not stale(t)}, **durations}
    else:
        lines, durations, failed = _measure(POOL)
    hashes.update(dict.fromkeys(failed, ""))  # measured again by the next ``map``
    MAP.write_text(json.dumps({"files": hashes, "durations": durations, "lines": lines}))
    print(f"map: {sum(len(v) for v in lines.values())} lines of {len(lines)} modules mapped to their tests")


def _work_file(module: str, suffix: str) -> Path:
    return WORK / (module.replace("/", ".").removesuffix(".py") + suffix)


def _session(module: str) -> Path:
    return _work_file(module, ".sqlite")


def _module_config(module: str) -> Path:
    """cosmic-ray's config for one module: one session per module, so that the work resumes module by module."""
    text = CONFIG.read_text()
    start = text.index("module-path")
    end = text.index("]", start) + 1
    path = _work_file(module, ".toml")
    path.write_text(text[:start] + f"module-path = [{json.dumps(module)}]" + text[end:])
    return path


def init_session() -> None:
    """Step 2: a cosmic-ray session per module, unless one for the module's exact source exists."""
    for module in selected():
        session, config = _session(module), _module_config(module)
        stamp_file = session.with_suffix(".fingerprint")
        stamp = fingerprint([ROOT / module, CONFIG])
        if session.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
            print(f"session {module}: resuming", flush=True)
        else:
            session.unlink(missing_ok=True)
            subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=ROOT, check=True)
            stamp_file.write_text(stamp)
        subprocess.run(["cr-filter-operators", str(session), str(config)], cwd=ROOT, check=True)
        _skip_annotations(module, session)


def _annotation_spans(module: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the module's type annotations lie; none when they are evaluated (no postponed annotations)."""
    tree = ast.parse((ROOT / module).read_text())
    postponed = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                    and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
    if not postponed:
        return []
    spans = []
    for node in ast.walk(tree):
        for annotation in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if isinstance(annotation, ast.expr):
                spans.append(((annotation.lineno, annotation.col_offset),
                              (annotation.end_lineno, annotation.end_col_offset)))
    return spans


def _skip_annotations(module: str, session: Path) -> None:
    """Mark mutants inside type annotations as skipped: under ``from __future__ import annotations`` they are
    strings nobody evaluates (the run core has no pydantic models), so every such mutant is equivalent."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = _annotation_spans(module)
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            start = tuple(item.mutations[0].start_pos)
            if any(low <= start < high for low, high in spans):
                db.set_result(item.job_id, WorkResult(output=ANNOTATION, worker_outcome=WorkerOutcome.SKIPPED))


def exec_session() -> None:
    """Step 3: run the pending mutants, module by module (the tests see them: the modules change in place)."""
    if subprocess.run(["git", "diff", "--quiet", "--", *modules()], cwd=ROOT).returncode != 0:
        sys.exit("exec: the mutated modules have uncommitted changes; commit or stash them first")
    stale = sorted(_changes(json.loads(MAP.read_text()))[1]) if MAP.exists() else ["(no map)"]
    if stale:  # a test the map names may be gone (pytest would fail on it and "kill" every mutant) or new
        sys.exit(f"exec: the map is older than {', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}; "
                 "run `mutation/run.py map` first")
    for module in modules():  # a cached .pyc of one mutant must never stand in for the next one
        for pyc in (ROOT / module).parent.glob(f"__pycache__/{Path(module).stem}.*.pyc"):
            pyc.unlink()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for module in selected():
        print(f"exec {module}", flush=True)
        subprocess.run(["cosmic-ray", "exec", str(_module_config(module)), str(_session(module))], cwd=ROOT, env=env,
                       check=True)


def retest() -> None:
    """Put the survivors back in the queue, for ``exec`` to try them against the tests written since; not those
    mutation/equivalent.toml lists (no test can kill them, and each would run every test of its line again)."""
    import sqlite3

    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome

    equivalents = known_equivalents()
    for module in selected():
        if not _session(module).exists():
            continue
        source = _committed_lines(module)
        with use_db(str(_session(module)), WorkDB.Mode.open) as db:
            done = dict(db.results)
            again = [item.job_id for item in db.work_items
                     if (result := done.get(item.job_id)) is not None and result.test_outcome == TestOutcome.SURVIVED
                     and not _equivalent(module, item, result, source, equivalents)]
        with sqlite3.connect(_session(module)) as db:
            db.executemany("DELETE FROM work_results WHERE job_id = ?", [(job,) for job in again])
        print(f"retest {module}: {len(again)} survivors pending again (known equivalents kept)")


def known_equivalents() -> list[dict]:
    return tomllib.loads(EQUIVALENT.read_text()).get("mutant", []) if EQUIVALENT.exists() else []


def equivalent_reason(equivalents: list[dict], module: str, line: str, mutant: str, occurrence: int) -> str | None:
    """Why the mutant that turns ``line`` of ``module`` into ``mutant`` (both stripped) is equivalent, when
    mutation/equivalent.toml says so (the entry's operator is for the reader: the two lines name the mutant).
    ``occurrence``: which of the module's lines with that text it is (1 = the first); an entry names one with
    ``occurrence = k`` when the same text elsewhere in the module is not equivalent, else it names them all."""
    return next((e["reason"] for e in equivalents if (e["module"], e["line"], e["mutant"]) == (module, line, mutant)
                 and e.get("occurrence", occurrence) == occurrence), None)


def occurrence(lines: list[str], number: int) -> int:
    """Which line with the text of line ``number`` (1-based) of ``lines`` it is, from the top: 1 for the first."""
    text = lines[number - 1].strip()
    return sum(1 for line in lines[:number] if line.strip() == text)


def _committed_lines(module: str) -> list[str]:
    """The module's lines as committed (the working tree may hold a mutant)."""
    return subprocess.run(["git", "show", f"HEAD:{module}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.splitlines()


def _equivalent(module: str, item, result, source: list[str], equivalents: list[dict]) -> str | None:
    """Why the survivor ``item`` (its ``result`` holds the diff) is equivalent, by mutation/equivalent.toml."""
    number = item.mutations[0].start_pos[0]
    mutant = next((row[1:].strip() for row in (result.diff or "").splitlines()
                   if row.startswith("+") and not row.startswith("+++")), "")
    return equivalent_reason(equivalents, module, source[number - 1].strip(), mutant, occurrence(source, number))


def stale_equivalents(equivalents: list[dict]) -> list[dict]:
    """Entries of mutation/equivalent.toml whose line is no longer in their module: code that changed, whose
    mutants are new ones to run; the entries are to be removed."""
    files = {e["module"] for e in equivalents}
    lines = {module: [line.strip() for line in _committed_lines(module)] for module in files}
    return [e for e in equivalents if lines[e["module"]].count(e["line"]) < e.get("occurrence", 1)]


def _outcomes(module: str, equivalents: list[dict]) -> tuple[dict[str, int], list[str]]:
    """One module's counts (killed, of which not valid Python; equivalent; survived, of which no test runs the line;
    pending) and survivors."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    counts = dict.fromkeys(["mutants", "killed", "invalid", "equivalent", "survived", "uncovered", "pending",
                            "annotations"], 0)
    survivors = []
    source = _committed_lines(module)
    with use_db(str(_session(module)), WorkDB.Mode.open) as db:
        done = dict(db.results)
        for item in db.work_items:
            result = done.get(item.job_id)
            if result is not None and result.worker_outcome == WorkerOutcome.SKIPPED:
                counts["annotations"] += result.output == ANNOTATION
                continue  # an operator the config filters out, or a mutant inside an annotation
            counts["mutants"] += 1
            if result is None:
                counts["pending"] += 1
                continue
            if result.test_outcome != TestOutcome.SURVIVED:
                counts["killed"] += 1  # a failing test, an import error, or a hang past the timeout
                counts["invalid"] += "SyntaxError" in (result.output or "")  # (`**x` made `*x`: not Python)
                continue
            if _equivalent(module, item, result, source, equivalents):
                counts["equivalent"] += 1
                continue
            mutation = item.mutations[0]
            counts["survived"] += 1
            uncovered = "no test executes" in (result.output or "")
            counts["uncovered"] += uncovered
            survivors.append(f"SURVIVED{' (no test runs this line)' if uncovered else ''} {module}:"
                             f"{mutation.start_pos[0]} {mutation.operator_name}\n{result.diff}")
    return counts, survivors


def report() -> int:
    """Step 4: the figure for docs/daily-job.md per module, and every survivor that is not a known equivalent."""
    equivalents = known_equivalents()
    total: dict[str, int] = {}
    rows = []
    for module in selected():
        if not _session(module).exists():
            continue
        counts, survivors = _outcomes(module, equivalents)
        for text in survivors:
            print(text)
        rows.append((module, counts))
        total = {k: total.get(k, 0) + v for k, v in counts.items()}
    stale = stale_equivalents(equivalents)
    for entry in stale:
        print(f"stale entry in {EQUIVALENT.relative_to(ROOT)} ({entry['module']}): {entry['line']}")
    print(f"\n| module | {' | '.join(total)} |\n|---|{'---:|' * len(total)}")
    for module, counts in [*rows, ("all", total)]:
        print(f"| {module} | {' | '.join(str(v) for v in counts.values())} |")
    return 1 if total.get("survived") or total.get("pending") or stale else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", nargs="*", default=["map", "init", "exec", "report"],
                        choices=["map", "init", "retest", "exec", "report"])
    parser.add_argument("--module", action="append", default=[], choices=modules(),
                        help="work on this module only (repeatable); the map always covers every module")
    args = parser.parse_args()
    steps = args.steps
    ONLY.extend(args.module)
    WORK.mkdir(exist_ok=True)
    for step in steps:
        if step == "report":
            sys.exit(report())
        {"map": build_map, "init": init_session, "retest": retest, "exec": exec_session}[step]()


if __name__ == "__main__":
    main()
