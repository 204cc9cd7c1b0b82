"""One source of truth for estimator settings: a config section's defaults are its estimator's.

`vnnews train` builds each estimator from its config section, and the estimators are also used
directly (notebooks, tests): both ways must give the same model. The shipped learned extractive
model records the settings it was trained with; its train config plus the defaults reproduce them.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from pipeline.config import (
    LearnedExtractiveConfig,
    SummaryTrainConfig,
    TfidfLinearConfig,
    TrainConfig,
    TransformerConfig,
    load_config,
)
from pipeline.params import field_defaults
from pipeline.summarize.learned import LearnedExtractiveSummarizer
from pipeline.topic.tfidf_linear import TfidfLinearClassifier
from pipeline.topic.transformer import TransformerClassifier

ROOT = Path(__file__).resolve().parents[1]

PAIRS = [
    (LearnedExtractiveConfig, LearnedExtractiveSummarizer, SummaryTrainConfig),
    (TfidfLinearConfig, TfidfLinearClassifier, TrainConfig),
    (TransformerConfig, TransformerClassifier, TrainConfig),
]


def _signature_defaults(cls) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.default is not p.empty
    }


def _same(a, b) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return list(a) == list(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(("section", "estimator", "job"), PAIRS, ids=[p[1].__name__ for p in PAIRS])
def test_config_section_defaults_equal_the_estimator_signature(section, estimator, job):
    config = field_defaults(section)
    config.pop("kind")
    signature = _signature_defaults(estimator)
    # Every setting of the section is an estimator argument with the same default...
    assert set(config) <= set(signature), set(config) - set(signature)
    different = {k: (config[k], signature[k]) for k in config if not _same(config[k], signature[k])}
    assert not different, different
    # ...and what the section lacks is the train job's own setting (the seed), with its default.
    assert set(signature) - set(config) == {"seed"}
    assert signature["seed"] == field_defaults(job)["seed"]


@pytest.mark.parametrize("estimator", [p[1] for p in PAIRS], ids=[p[1].__name__ for p in PAIRS])
def test_get_params_lists_every_init_argument_in_signature_order(estimator):
    names = [n for n in inspect.signature(estimator.__init__).parameters if n != "self"]
    params = estimator().get_params()
    assert list(params) == names
    assert all(_same(params[n], v) for n, v in _signature_defaults(estimator).items())


def test_the_train_config_reproduces_the_shipped_extractive_model():
    """`vnnews train configs/train_summary_extractive.yaml` builds the shipped model's settings."""
    shipped = json.loads((ROOT / "models/summary-extractive-vietnews/config.json").read_text(encoding="utf-8"))
    job = load_config(SummaryTrainConfig, ROOT / "configs/train_summary_extractive.yaml")
    model = LearnedExtractiveSummarizer(**job.model.model_dump(exclude={"kind"}), seed=job.seed)
    assert model.get_params() == shipped["params"]


def test_the_defaults_are_the_shipped_models_tree_settings():
    shipped = json.loads((ROOT / "models/summary-extractive-vietnews/config.json").read_text(encoding="utf-8"))
    defaults = LearnedExtractiveSummarizer().get_params()
    trees = ("n_estimators", "learning_rate", "max_depth", "max_leaf_nodes", "min_samples_leaf",
             "min_sentence_syllables", "target", "trim_clauses", "embedding_dim", "embedding_terms",
             "embedding_min_df", "seed")
    assert {k: defaults[k] for k in trees} == {k: shipped["params"][k] for k in trees}
