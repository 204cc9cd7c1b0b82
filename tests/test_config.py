import copy
import types
import typing

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.config import (
    EvaluateConfig,
    InputConfig,
    JobConfig,
    Section,
    SummaryEvaluateConfig,
    SummaryTrainConfig,
    TrainConfig,
    _number,
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
    with pytest.raises(ConfigError, match="is not a YAML mapping of vnnews config keys \\(it holds a list\\)"):
        load_config(JobConfig, listing)


def _file_error(tmp_path, text: str, schema=JobConfig) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(schema, path)
    return str(err.value)


@pytest.mark.parametrize("text, named", [
    ("input: {path: a}\noutput: {path: b}\ninput: {path: c}\n", "input (lines 1 and 3)"),
    ("input:\n  path: a\n  limit: 3\n  limit: 4\noutput: {path: b}\n", "input.limit (lines 3 and 4)"),
    ("input: {path: a}\noutput: {path: b}\nnormalize:\n  enabled: true\nnormalize:\n  enabled: false\n",
     "normalize (lines 3 and 5)"),
    ("input: {path: a}\noutput: {path: b}\nsummarize: {kind: extractive, max_sentences: 2, max_sentences: 3}\n",
     "summarize.max_sentences (lines 3 and 3)"),
])
def test_a_key_given_twice_names_its_path_and_both_lines(tmp_path, text, named):
    message = _file_error(tmp_path, text)
    assert "gives a key twice" in message and named in message


def test_duplicate_keys_in_lists_and_merged_keys(tmp_path):
    text = "data: {path: a}\noutput_dir: m\nlabels:\n  map: {a: b, a: c}\n"
    assert "labels.map.a (lines 4 and 4)" in _file_error(tmp_path, text, TrainConfig)
    # a key merged in from an anchor may be overridden: that is what `<<` is for
    merged = "base: &b {path: a, limit: 3}\n"
    path = tmp_path / "merge.yaml"
    path.write_text(merged + "input: {<<: *b, limit: 4}\noutput: {path: o}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="base: unknown key"):  # (the anchor's own section is not a job key)
        load_config(JobConfig, path)
    path.write_text("input: &i {path: a, limit: 3}\noutput: {path: o}\n", encoding="utf-8")
    assert load_config(JobConfig, path).input.limit == 3


def test_the_same_set_key_twice_is_an_error():
    with pytest.raises(ConfigError, match=r"--set input\.limit is given more than once"):
        load_config(JobConfig, data=BASE, overrides=["input.limit=3", "input.limit=4"])
    cfg = load_config(JobConfig, data=BASE, overrides=["input.limit=3", "input.batch_size=4"])
    assert (cfg.input.limit, cfg.input.batch_size) == (3, 4)


NUMBER_KEYS = [("input", "batch_size"), ("input", "limit"), ("classify", "top_k"), ("classify", "min_score"),
               ("summarize", "num_beams"), ("summarize", "length_penalty"), ("dedup", "threshold"),
               ("normalize", "max_chars"), ("runner", "checkpoint_seconds")]


@pytest.mark.parametrize("section, key", NUMBER_KEYS)
@pytest.mark.parametrize("value, why", [(True, "not true"), (False, "not false"), ("3", "not text"),
                                        ("1e3", "not text")])
def test_numbers_refuse_booleans_and_text(section, key, value, why):
    message = _error({**BASE, section: {key: value}})
    assert f"{section}.{key}: must be a number, {why}" in message
    # the same through --set (a value given as YAML: `true`, `"3"`)
    raw = {True: "true", False: "no"}.get(value, f'"{value}"') if not isinstance(value, str) or value == "3" \
        else value
    assert f"{section}.{key}: must be a number" in _error(BASE, [f"{section}.{key}={raw}"])


def test_numbers_refuse_booleans_in_training_sections():
    data = {"data": {"path": "a"}, "output_dir": "m"}
    for overrides in (["seed=true"], ["model.ngram_max=yes"], ["validation_split=on"], ["adaptation.data.path=a",
                                                                                       "adaptation.rounds=true"]):
        with pytest.raises(ConfigError, match="must be a number, not true"):
            load_config(TrainConfig, data=copy.deepcopy(data), overrides=overrides)


def _sections(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _sections(sub))]


def _loose_numbers(annotation, strict: bool = False) -> bool:
    """Whether ``annotation`` admits an int or float that no ``_number`` validator guards."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        return _loose_numbers(inner, strict or any(getattr(m, "func", None) is _number for m in metadata))
    if origin in (typing.Union, types.UnionType):
        return any(_loose_numbers(arg, strict) for arg in typing.get_args(annotation))
    return annotation in (int, float) and not strict


def test_every_number_setting_of_every_section_is_strict():
    """A section added later (a runner's, say) must type its numbers Int / Float, or `true` would be 1."""
    loose = [f"{section.__name__}.{name}" for section in _sections(Section)
             for name, field in section.model_fields.items()
             if _loose_numbers(field.annotation, any(getattr(m, "func", None) is _number for m in field.metadata))]
    assert loose == []
    assert _loose_numbers(int | None) and not _loose_numbers(typing.Annotated[int, *InputConfig.model_fields[
        "batch_size"].metadata])


def test_whole_floats_are_integers_but_fractions_are_not():
    assert load_config(JobConfig, data={**BASE, "classify": {"top_k": 3.0}}).classify.top_k == 3
    assert "classify.top_k: Input should be a valid integer, got a number with a fractional part" in _error(
        {**BASE, "classify": {"top_k": 2.7}})
    assert load_config(JobConfig, data={**BASE, "dedup": {"threshold": 1}}).dedup.threshold == 1.0


@pytest.mark.parametrize("schema, key", [
    (JobConfig, "input.path"), (JobConfig, "output.path"), (JobConfig, "classify.model"),
    (JobConfig, "summarize.extractive_model"), (JobConfig, "summarize.model"), (JobConfig, "summarize.ct2_cache_dir"),
    (TrainConfig, "data.path"), (TrainConfig, "output_dir"), (EvaluateConfig, "model"),
])
def test_home_and_variables_are_expanded_in_every_path_setting(monkeypatch, tmp_path, schema, key):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEWS_DIR", "/srv/news")
    base = {JobConfig: BASE, TrainConfig: {"data": {"path": "a"}, "output_dir": "m"},
            EvaluateConfig: {"model": "m", "data": {"path": "a"}, "output_dir": "r"}}[schema]

    def value(raw: str) -> str:
        node = load_config(schema, data=copy.deepcopy(base), overrides=[f"{key}={raw}"])
        for part in key.split("."):
            node = getattr(node, part)
        return str(node)

    assert value("~/x") == str(tmp_path / "home" / "x")
    assert value("$NEWS_DIR/x") == "/srv/news/x" and value("${NEWS_DIR}x") == "/srv/newsx"
    assert value("a$$b") == "a$b"
    for raw, expected in (("$NOT_SET_ANYWHERE/x", "names the environment variable $NOT_SET_ANYWHERE, which is not set"),
                          ("~nosuchuser1234/x", "starts with ~nosuchuser1234, but there is no user")):
        with pytest.raises(ConfigError) as err:
            load_config(schema, data=copy.deepcopy(base), overrides=[f"{key}={raw}"])
        assert f"{key}: {expected}" in str(err.value)


def test_hub_ids_are_not_paths():
    cfg = load_config(JobConfig, data=BASE, overrides=["summarize.model=VietAI/vit5-base-vietnews-summarization"])
    assert cfg.summarize.model == "VietAI/vit5-base-vietnews-summarization"


@pytest.mark.parametrize("data, expected", [
    ({**BASE, "summarize": {"num_beam": 2}}, "summarize.num_beam: unknown key (did you mean 'num_beams'?"),
    ({**BASE, "ouput": {"path": "x"}}, "ouput: unknown key (did you mean 'output'"),
    ({**BASE, "classify": {"topk": 1}}, "classify.topk: unknown key (did you mean 'top_k'?"),
    ({**BASE, "runner": {"zzz": 1}}, "runner.zzz: unknown key (check the spelling;"),
])
def test_unknown_keys_suggest_the_closest_ones(data, expected):
    assert expected in _error(data)


def test_unknown_keys_in_a_model_kind_suggest_that_kinds_keys():
    for model, expected in (({"kind": "tfidf_linear", "ngram_mx": 2}, "did you mean 'ngram_max'?"),
                            ({"kind": "transformer", "max_lenght": 8}, "did you mean 'max_length'?")):
        with pytest.raises(ConfigError, match=expected):
            load_config(TrainConfig, data={"data": {"path": "a"}, "output_dir": "m", "model": model})


def test_values_that_may_be_secrets_are_never_quoted():
    message = _error({**BASE, "output": {"path": "o", "url": ["postgresql://u:hunter2@db/news"]}})
    assert "output.url" in message and "hunter2" not in message
    long_value = "x" * 500
    message = _error({**BASE, "normalize": {"tone_style": long_value}})
    assert "normalize.tone_style" in message and long_value not in message


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
