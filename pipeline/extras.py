"""Optional parts of vnnews and the packages each needs (``pip install 'vnnews[EXTRA]'``).

The core install runs the default job: read JSONL, CSV, Parquet, folders, HTML pages and WARC
files; normalize, check the language, flag near-duplicates; the TF-IDF topic model and the learned
extractive summarizer; JSONL, CSV, Parquet and SQLite outputs with their run report. Everything
else is an extra:

=================  ======================================================================
extra              what it adds
=================  ======================================================================
``train``          ``vnnews train`` and ``vnnews evaluate`` (scikit-learn, matplotlib,
                   rouge-score)
``transformers``   abstractive summaries on torch, transformer topic models, seq2seq
                   fine-tuning (torch, transformers, accelerate, datasets, underthesea...)
``ct2``            ``summarize.backend: ctranslate2`` and ``vnnews models convert``
``ray``            ``runner.kind: ray``
``postgres``       PostgreSQL output (``output.url: postgresql+psycopg://...``)
``hf``             saved Hugging Face datasets as input (``input.format: hf_dataset``)
``all``            all of the above
=================  ======================================================================

A job whose config needs a missing extra stops before any work (exit 2) with the pip command
that installs it: :func:`check_job`, :func:`check_topic_train`, :func:`check_summary_train`,
:func:`check_topic_evaluate` and :func:`check_summary_evaluate` look at a validated config;
:func:`require` is the check itself.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from pipeline.config import (
    EvaluateConfig,
    JobConfig,
    SummarizeConfig,
    SummaryEvaluateConfig,
    SummaryTrainConfig,
    TrainConfig,
    resolve_model_path,
)
from pipeline.errors import ConfigError

# The modules each extra installs that vnnews imports (the extra may install more, e.g. sentencepiece).
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("sklearn", "matplotlib", "rouge_score"),
    "transformers": ("torch", "transformers", "accelerate", "datasets", "underthesea"),
    "ct2": ("ctranslate2", "transformers", "torch"),
    "ray": ("ray",),
    "postgres": ("psycopg",),
    "hf": ("datasets",),
}
PACKAGE_NAMES = {"sklearn": "scikit-learn", "rouge_score": "rouge-score"}  # where the pip name differs
TORCH_HINT = (
    "On a machine without a GPU, install the CPU build of torch first "
    "(pip install torch --index-url https://download.pytorch.org/whl/cpu): otherwise pip downloads a multi-GB "
    "CUDA build."
)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-removed package
        return False


def require(extra: str, what: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise ConfigError (exit 2) naming ``pip install 'vnnews[extra]'`` when a module ``what`` needs is missing.

    ``modules`` are the ones this use needs (default: every module of the extra).
    """
    missing = [PACKAGE_NAMES.get(name, name) for name in (modules or EXTRAS[extra]) if not installed(name)]
    if missing:
        hint = f" {TORCH_HINT}" if "torch" in missing else ""
        raise ConfigError(
            f"{what} needs the optional package{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which "
            f"{'are' if len(missing) > 1 else 'is'} not installed. Install the '{extra}' extra: "
            f"pip install 'vnnews[{extra}]' (in a source checkout: pip install -e '.[{extra}]'), then run the "
            f"command again.{hint}"
        )


def _topic_model_settings(directory: Path) -> dict:
    """A topic model directory's config.json ({} when it cannot be read: the loader says why)."""
    try:
        settings = json.loads((resolve_model_path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def is_ct2_dir(path: str | Path) -> bool:
    """A CTranslate2 model directory (``model.bin`` next to a CTranslate2 ``config.json``)."""
    path = Path(path).expanduser()
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def check_summarizer(config: SummarizeConfig, section: str = "summarize") -> None:
    """Abstractive summaries need torch and transformers; the CTranslate2 backend also ctranslate2 (and torch
    to convert a model that is not converted yet)."""
    if not config.enabled or config.kind != "abstractive":
        return
    what = f"{section}.kind: abstractive (backend {config.backend})"
    if config.backend == "torch":
        require("transformers", what, ("torch", "transformers"))
    else:
        converted = is_ct2_dir(config.model)
        require("ct2", what, ("ctranslate2", "transformers") if converted else EXTRAS["ct2"])


def _check_topic_model_dir(directory: Path, key: str) -> None:
    settings = _topic_model_settings(directory)
    if settings.get("kind") == "transformer":
        params = settings.get("params")
        segment = isinstance(params, dict) and params.get("word_segment") is True
        require("transformers", f"{key}: {directory} (a transformer topic model)",
                ("torch", "transformers", "underthesea") if segment else ("torch", "transformers"))


def _check_hf(fmt: str, key: str) -> None:
    if fmt == "hf_dataset":
        require("hf", f"{key}: hf_dataset")


def check_job(config: JobConfig) -> None:
    """Every extra a `vnnews run` job needs is installed, or ConfigError (exit 2) with the pip command."""
    _check_hf(config.input.format, "input.format")
    if config.classify.enabled:
        _check_topic_model_dir(config.classify.model, "classify.model")
    check_summarizer(config.summarize)
    if config.runner.kind == "ray":
        require("ray", "runner.kind: ray")
    if config.output.format == "sql" and config.output.url:
        scheme = config.output.url.split(":", 1)[0].lower()
        dialect, _, driver = scheme.partition("+")
        if dialect == "postgresql" and driver in ("", "psycopg"):
            require("postgres", "output.url (PostgreSQL through psycopg)")


def check_topic_train(config: TrainConfig) -> None:
    """What `vnnews train` with ``task: topic`` needs beyond the core install."""
    require("train", "vnnews train (task: topic)", ("sklearn", "matplotlib"))
    _check_hf(config.data.format, "data.format")
    if config.adaptation is not None:
        _check_hf(config.adaptation.data.format, "adaptation.data.format")
    if config.model.kind == "transformer":
        modules = ("torch", "transformers", "accelerate", "datasets")
        require("transformers", "model.kind: transformer", (*modules, "underthesea") if config.model.word_segment
                else modules)


def check_topic_evaluate(config: EvaluateConfig) -> None:
    """What `vnnews evaluate` with ``task: topic`` needs beyond the core install."""
    require("train", "vnnews evaluate (task: topic)", ("sklearn", "matplotlib"))
    _check_hf(config.data.format, "data.format")
    _check_topic_model_dir(config.model, "model")


def check_summary_train(config: SummaryTrainConfig) -> None:
    """What `vnnews train` with ``task: summary`` needs beyond the core install."""
    require("train", "vnnews train (task: summary)", ("sklearn", "rouge_score"))
    _check_hf(config.data.format, "data.format")
    if config.validation is not None:
        _check_hf(config.validation.format, "validation.format")
    if config.model.kind == "seq2seq":
        require("transformers", "model.kind: seq2seq", ("torch", "transformers", "accelerate", "datasets"))


def check_summary_evaluate(config: SummaryEvaluateConfig) -> None:
    """What `vnnews evaluate` with ``task: summary`` needs beyond the core install."""
    require("train", "vnnews evaluate (task: summary)", ("matplotlib", "rouge_score"))
    _check_hf(config.data.format, "data.format")
    check_summarizer(config.summarize)
