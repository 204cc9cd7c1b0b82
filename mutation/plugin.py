"""pytest plugin for the map step of mutation/run.py: one coverage context per test, in every process.

Before each test it names the test in ``VNNEWS_MUTATION_TEST`` (the `vnnews` processes the test starts read
it through .mutation/coveragerc when coverage starts in them) and switches the test process's own context;
after the session it writes each test's duration, so that a mutant's tests run fastest first, and the tests
that failed (with no mutant in place: none of them can tell a mutant, so the map leaves them out).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import coverage
import pytest

_durations: dict[str, float] = defaultdict(float)
_failed: set[str] = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    os.environ["VNNEWS_MUTATION_TEST"] = item.nodeid
    cov = coverage.Coverage.current()
    if cov is not None:
        cov.switch_context(item.nodeid)
    yield
    os.environ.pop("VNNEWS_MUTATION_TEST", None)
    if cov is not None:
        cov.switch_context("")


def pytest_runtest_logreport(report):
    _durations[report.nodeid] += report.duration
    if report.failed:
        _failed.add(report.nodeid)


def pytest_sessionfinish(session):
    os.environ.pop("VNNEWS_MUTATION_TEST", None)
    path = os.environ.get("VNNEWS_MUTATION_DURATIONS")
    if path:
        with open(path, "w") as out:
            json.dump({"durations": _durations, "failed": sorted(_failed)}, out)
