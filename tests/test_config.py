import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.config import (
    EvaluateConfig,
    JobConfig,
    SummaryEvaluateConfig,
    SummaryTrainConfig,
    TrainConfig,
    apply_overrides,
    dump_config,
    load_config,
    parse_override,
)
from pipeline.errors import ConfigError
from tests.conftest import ROOT

BASE = {"input": {"path": "in.jsonl"}, "output": {"path": "out.jsonl"}}


def _error(data, overrides=None) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(JobConfig, data=data, overrides=overrides)
    return str(err.value)


def test_defaults_fill_every_section():
    cfg = load_config(JobConfig, data=BASE)
    assert cfg.summarize.kind == "extractive" and cfg.summarize.num_beams == 4
    assert cfg.normalize.tone_style == "keep"


def test_error_names_key_path_and_value():
    msg = _error(BASE, {"summarize.num_beams": 0})
    assert "summarize.num_beams: Input should be greater than or equal to 1, got 0" in msg


def test_unknown_key_is_an_error():
    msg = _error({**BASE, "summarize": {"num_beam": 2}})
    assert "summarize.num_beam: unknown key" in msg


def test_several_errors_reported_together():
    msg = _error({"input": {"path": "x", "batch_size": -1}, "normalize": {"tone_style": "weird"}})
    assert "input.batch_size" in msg and "normalize.tone_style" in msg and "output: required" in msg


def test_overrides_are_typed_from_yaml():
    cfg = load_config(JobConfig, data=BASE, overrides=["summarize.num_beams=2", "classify.enabled=false",
                                                        "input.limit=null", "input.path=x.csv"])
    assert cfg.summarize.num_beams == 2 and cfg.classify.enabled is False
    assert str(cfg.input.path) == "x.csv"


def test_override_into_missing_section_and_bad_override_syntax():
    assert apply_overrides({}, {"a.b.c": 1}) == {"a": {"b": {"c": 1}}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("summarize.num_beams")
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"a": 1}, {"a.b": 2})


def test_cross_field_checks():
    assert "min_new_tokens (9) must not exceed max_new_tokens (4)" in _error(
        {**BASE, "summarize": {"min_new_tokens": 9, "max_new_tokens": 4}}
    )
    assert "raw_pages needs normalize.enabled" in _error(
        {"input": {"path": "x", "raw_pages": True}, "normalize": {"enabled": False}, "output": {"path": "o.jsonl"}}
    )


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(JobConfig, bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(JobConfig, tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(JobConfig, listing)


SHIPPED = {
    "quickstart.yaml": JobConfig, "html_pages.yaml": JobConfig, "vit5.yaml": JobConfig, "bartpho.yaml": JobConfig,
    "train_topic.yaml": TrainConfig, "train_topic_transformer.yaml": TrainConfig, "evaluate_topic.yaml": EvaluateConfig,
    "train_summary_extractive.yaml": SummaryTrainConfig, "train_summary_vit5.yaml": SummaryTrainConfig,
    "train_summary_bartpho.yaml": SummaryTrainConfig, "train_summary_mt5.yaml": SummaryTrainConfig,
    "evaluate_summary.yaml": SummaryEvaluateConfig,
}


def test_every_shipped_config_validates_and_the_cli_reads_it_as_that_kind():
    """Each file in configs/ against its schema (a new file must be added here), and `vnnews config show`,
    which guesses the kind as `vnnews train`/`evaluate` users never have to say, reads it the same way."""
    from pipeline.cli import app

    assert sorted(path.name for path in (ROOT / "configs").glob("*.yaml")) == sorted(SHIPPED)
    for name, schema in SHIPPED.items():
        config = load_config(schema, ROOT / "configs" / name)
        shown = CliRunner().invoke(app, ["config", "show", str(ROOT / "configs" / name)])
        assert shown.exit_code == 0, (name, shown.output)
        assert yaml.safe_load(shown.output) == yaml.safe_load(dump_config(config)), name
    assert load_config(TrainConfig, ROOT / "configs" / "train_topic_transformer.yaml").model.kind == "transformer"


# Properties (hypothesis): a mutated config gives a clear error or a valid config, never a traceback.

QUICKSTART = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
KEY_PATHS = [(section, key) for section, body in QUICKSTART.items() for key in body] + [
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
    data = _mutate(QUICKSTART, changes)
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
    path.write_text(yaml.safe_dump(_mutate(QUICKSTART, changes), allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "show", str(path), "--kind", "run"])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_each_runner_has_its_own_section_and_old_runner_keys_still_work_with_a_warning(caplog):
    config = load_config(JobConfig, data=BASE,
                         overrides=["runner.address=auto", "runner.actors=3", "runner.prefetch_batches=0"])
    assert (config.runner.ray.address, config.runner.ray.actors, config.runner.local.prefetch_batches) == ("auto", 3, 0)
    moved = (("address", "ray.address"), ("actors", "ray.actors"), ("prefetch_batches", "local.prefetch_batches"))
    for key, new in moved:
        assert f"runner.{key} is deprecated: write runner.{new}" in caplog.text
    with pytest.raises(ConfigError, match=r"runner.ray.actors now, and both are set"):
        load_config(JobConfig, data={**BASE, "runner": {"actors": 2, "ray": {"actors": 3}}})
    with pytest.raises(ConfigError, match=r"runner\.ray\.adress"):
        load_config(JobConfig, data={**BASE, "runner": {"ray": {"adress": "auto"}}})
