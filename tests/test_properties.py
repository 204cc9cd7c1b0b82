"""Property-based tests (hypothesis): the normalizer, the readers and config validation never fail
in an unplanned way, whatever they are given."""

from __future__ import annotations

import copy
import unicodedata
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.config import JobConfig, load_config
from pipeline.errors import ConfigError
from pipeline.io.readers import CsvReader, JsonlReader, TxtFolderReader
from pipeline.io.records import Quarantined
from pipeline.text.normalize import clean_text, set_tone_style

VIETNAMESE_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
vietnamese_text = st.text(alphabet=st.sampled_from(VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper() + " \n\t.,"))
any_text = st.one_of(st.text(), vietnamese_text, vietnamese_text.map(lambda t: unicodedata.normalize("NFD", t)))
styles = st.sampled_from(["keep", "old", "new"])


@settings(max_examples=300, deadline=None)
@given(any_text, styles)
def test_clean_text_is_idempotent_and_nfc(text, style):
    once = clean_text(text, style)
    assert clean_text(once, style) == once
    assert unicodedata.is_normalized("NFC", once)


@settings(max_examples=300, deadline=None)
@given(vietnamese_text)
def test_tone_styles_round_trip(text):
    new = set_tone_style(text, "new")
    assert set_tone_style(set_tone_style(new, "old"), "new") == new


def _drain(rows) -> None:
    for row in rows:
        assert isinstance(row, (dict, Quarantined))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_readers_survive_any_bytes(tmp_path, data):
    for name in ("x.jsonl", "x.csv", "x.txt"):
        path = tmp_path / name
        path.write_bytes(data)
        reader = {"x.jsonl": JsonlReader, "x.csv": CsvReader, "x.txt": TxtFolderReader}[name](path)
        _drain(reader.rows())
        reader.estimate_total()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=200), st.just(b'{"id": 1, "text": "a"}')), max_size=20))
def test_gzip_jsonl_survives_any_lines(tmp_path, lines):
    import gzip

    path = tmp_path / "x.jsonl.gz"
    blob = gzip.compress(b"\n".join(lines))
    path.write_bytes(blob[: max(2, len(blob) - len(lines))])  # often truncated
    _drain(JsonlReader(path).rows())


BASE = yaml.safe_load((Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml").read_text())
KEY_PATHS = [(section, key) for section, body in BASE.items() for key in body] + [
    ("summarize", "num_beams"), ("summarize", "min_new_tokens"), ("output", "mode"), ("runner", "progress"),
    ("input", "batch_size"), ("normalize", "max_chars"), ("classify", "min_score"), ("bogus", "key"),
]
values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True), st.text(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
mutation = st.tuples(st.sampled_from(KEY_PATHS), st.sampled_from(["set", "delete", "section"]), values)


def _mutate(data: dict, changes) -> dict:
    data = copy.deepcopy(data)
    for (section, key), action, value in changes:
        if action == "section":
            data[section] = value
        elif action == "delete":
            if isinstance(data.get(section), dict):
                data[section].pop(key, None)
        else:
            if not isinstance(data.get(section), dict):
                data[section] = {}
            data[section][key] = value
    return data


@settings(max_examples=300, deadline=None)
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_configs_give_a_clear_error_or_a_valid_config(changes):
    data = _mutate(BASE, changes)
    try:
        load_config(JobConfig, data=data)
    except ConfigError as err:
        message = str(err)
        assert message.startswith("Invalid config") and "\n  " in message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(mutation, min_size=1, max_size=3))
def test_mutated_config_files_never_traceback_in_the_cli(tmp_path, changes):
    from pipeline.cli import app

    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(_mutate(BASE, changes), allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "show", str(path), "--kind", "run"])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
