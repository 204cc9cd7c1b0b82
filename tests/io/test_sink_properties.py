"""Property: whatever rows a run gives a sink, each row is either read back equal or refused with a reason.

Rows are drawn by hypothesis: hostile texts (NUL, lone surrogates, formula signs, quotes, line ends, very long
keys), odd field names, integers beyond 64 bits, NaN and infinities, nested lists and mappings. The output's own
check (:func:`pipeline.io.writers.row_check`, which a run applies before its commit) sorts them; the rows it
accepts are committed in one go and must all read back, through the sink, as they were given (as JSON keeps
them: NaN and infinities as null, two surrogates of a pair as their character; CSV: as the text of each cell).
Against JSONL, CSV, Parquet, SQLite and the test session's PostgreSQL server: 25 examples per format by default,
400 in the tests marked slow (``VNNEWS_HYPOTHESIS_PROFILE=long`` gives the default tests 400 too).
"""

from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import OutputConfig
from pipeline.io.writers import commit, open_sink, row_check
from tests.conftest import postgres_url, unique_table

settings.register_profile("default-sinks", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PROFILE = os.environ.get("VNNEWS_HYPOTHESIS_PROFILE", "default-sinks")

HOSTILE = ["", "\x00", "a\x00b", "\ud800", "x\udfffy", "=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1", " =1",
           "'=1", "''-x", "\uff1d1", "-5", "1e5", "a,b", 'say "hi"', "line\nbreak", "cr\rlf\r\n", "\u2028",
           "Tiếng Việt", "extra_fields", "id", "k" * 3000, "ậ" * 1000]
texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20),
                  st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFFFF), max_size=12))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**80),
                    st.floats(allow_nan=True, allow_infinity=True), texts)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(texts, inner, max_size=3)), max_leaves=8)
# Field names: the pipeline's own (typed columns in Parquet, SQL columns) and hostile ones.
names = st.one_of(st.sampled_from(["title", "topic", "topic_score", "summary", "author", "topic_top_k", "run_id",
                                   "content_hash", "duplicate_of"]), texts)
rows = st.lists(st.tuples(texts, st.dictionaries(names, values, max_size=5)), min_size=1, max_size=6)

FORMATS = ["jsonl", "csv", "parquet", "sqlite", "postgresql"]


def _paired(text: str) -> str:
    """``text`` as JSON reads it back: a high surrogate followed by a low one (two escapes) is their character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _json(value):
    """What a JSON text of ``value`` reads back as: NaN and infinities null, tuples lists, keys text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return _paired(value)
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {_paired(str(k)): _json(v) for k, v in value.items()}
    return value


def _cell_equal(cell: str, value) -> bool:
    """Whether a CSV cell holds ``value``: lists and mappings as JSON, None, NaN and infinities empty."""
    value = _json(value)
    if value is None:
        return cell == ""
    if isinstance(value, (list, dict)):
        return json.loads(cell) == value
    return cell == str(value)


def _config(fmt: str, tmp_path) -> OutputConfig:
    if fmt == "postgresql":
        return OutputConfig(path=tmp_path / "side", format="sql", url=postgres_url(), table=unique_table())
    return OutputConfig(path=tmp_path / f"out.{ {'sqlite': 'db'}.get(fmt, fmt) }")


def _check(fmt: str, config: OutputConfig, drawn) -> None:
    given_rows = []
    for n, (key, fields) in enumerate(drawn):
        row = {k: v for k, v in fields.items() if k != "id"}
        given_rows.append({"id": f"{key}#{n}", **row})  # (keys unique, as the run's key filter makes them)
    check = row_check(config)
    stored, refused = [], []
    for row in given_rows:
        reason = check(row) if check is not None else None
        (stored if reason is None else refused).append((row, reason))
    for _, reason in refused:
        assert isinstance(reason, str) and reason.startswith(("cannot be written", "cannot be stored")), reason
    sink = open_sink(config)
    commit(sink, "overwrite", lambda: iter([row for row, _ in stored]), "id", "r1")
    back = {str(r["id"]): r for r in sink.read_rows()}
    assert sorted(back) == sorted(row["id"] for row, _ in stored)
    for row, _ in stored:
        got = back[row["id"]]
        if fmt == "csv":
            assert all(_cell_equal(got[str(k)], v) for k, v in row.items()), (row, got)
            assert all(cell == "" for name, cell in got.items() if name not in row)
        elif fmt == "parquet":  # (a typed column absent from a row reads back as None)
            assert {k: v for k, v in _json(got).items() if v is not None} == \
                {k: v for k, v in _json(row).items() if v is not None}, (row, got)
        else:
            assert _json(got) == _json(row), (row, got)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_row_reads_back_equal_or_is_refused_with_a_reason(fmt, tmp_path):
    config = _config(fmt, tmp_path)

    @settings(settings.get_profile(PROFILE))
    @given(rows)
    def prop(drawn):
        _check(fmt, config, drawn)

    prop()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_row_reads_back_equal_or_is_refused_long(fmt, tmp_path):
    config = _config(fmt, tmp_path)

    @settings(settings.get_profile("long"))
    @given(rows)
    def prop(drawn):
        _check(fmt, config, drawn)

    prop()
