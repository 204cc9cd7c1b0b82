"""`vnnews train` with ``task: summary``: the learned extractive model, or fine-tuning any seq2seq model.

Both write a model directory with ``metrics.json``, ``train_config.json`` and a ``README.md``
model card naming the data, the held-out metrics (ROUGE both ways, see
:mod:`pipeline.summarize.evaluation`) and the command that rebuilt it.

Seq2seq fine-tuning uses ``Seq2SeqTrainer`` on (body, reference) pairs; the result is saved with
``save_pretrained`` (safetensors) next to its tokenizer, so ``summarize.model: DIR`` runs it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import LearnedExtractiveConfig, Seq2SeqTrainConfig, SummarizeConfig, SummaryTrainConfig
from pipeline.errors import ConfigError, ModelNotFoundError, OutputError, first_line
from pipeline.extras import check_summary_train
from pipeline.progress import ProgressSettings
from pipeline.provenance import package_versions
from pipeline.summarize.data import SummaryPairs, load_pairs
from pipeline.summarize.evaluation import score_system
from pipeline.text.normalize import split_sentences

log = logging.getLogger(__name__)


def _progress(config: SummaryTrainConfig) -> ProgressSettings:
    return ProgressSettings(config.progress, config.log_every_seconds)


def split_pairs(config: SummaryTrainConfig, tone_style: str = "keep") -> tuple[SummaryPairs, SummaryPairs | None]:
    """Training pairs and held-out pairs: the validation file, or a seeded share of the data."""
    pairs = load_pairs(config.data, tone_style, _progress(config))
    if config.validation is not None:
        return pairs, load_pairs(config.validation, tone_style, _progress(config))
    if config.validation_split == 0:
        return pairs, None
    order = list(range(len(pairs)))
    random.Random(config.seed).shuffle(order)
    n_val = max(1, round(len(pairs) * config.validation_split))
    if n_val >= len(pairs):
        raise ConfigError(f"validation_split={config.validation_split} leaves no training pairs of {len(pairs)}.")
    return pairs.subset(sorted(order[n_val:])), pairs.subset(sorted(order[:n_val]))


def _validation_metrics(references: list[str], predictions: list[str], seconds: float) -> dict[str, Any]:
    scores = score_system(references, predictions)
    scores.pop("per_article_vietnamese")
    scores["n"] = len(references)
    scores["articles_per_second"] = round(len(references) / seconds, 1) if seconds else None
    return scores


def _write_common(out: Path, config: SummaryTrainConfig, metrics: dict[str, Any], card: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "train_config.json").write_text(
        json.dumps(config.model_dump(mode="json"), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    (out / "README.md").write_text(card, encoding="utf-8")


def _metrics_lines(metrics: dict[str, Any]) -> str:
    val = metrics.get("validation")
    if not val:
        return "No held-out pairs (validation_split: 0); evaluate with `vnnews evaluate`."
    vi = " / ".join(f"{v:.2f}" for v in val["vietnamese"].values())
    ascii_ = " / ".join(f"{v:.2f}" for v in val["rouge_score_default"].values())
    return (
        f"On {val['n']} held-out pairs, ROUGE F1 R1 / R2 / RL:\n\n"
        f"| tokenizer | R1 / R2 / RL |\n|---|---|\n| Vietnamese-aware | {vi} |\n"
        f"| `rouge-score` default (ASCII only) | {ascii_} |\n\n"
        f"Summary length: mean {val['length_syllables']['mean']} syllables; "
        f"speed {val['articles_per_second']} articles/s."
    )


# -- learned extractive ------------------------------------------------------------------------
def train_learned_extractive(config: SummaryTrainConfig, config_path: str | None = None) -> dict[str, Any]:
    from pipeline.summarize.learned import LearnedExtractiveSummarizer

    settings: LearnedExtractiveConfig = config.model  # type: ignore[assignment]
    train_pairs, val_pairs = split_pairs(config)
    model = LearnedExtractiveSummarizer(**settings.model_dump(exclude={"kind"}), seed=config.seed)
    started = time.perf_counter()
    bar = _progress(config).start(len(train_pairs), "fit: label and featurize")
    try:
        model.fit(list(zip(train_pairs.titles, train_pairs.texts, strict=True)), train_pairs.references,
                  on_article=lambda: bar.update(1))
    finally:
        bar.close()
    metrics: dict[str, Any] = {
        "n_train": len(train_pairs),
        "n_training_sentences": model.n_training_sentences_,
        "train_seconds": round(time.perf_counter() - started, 1),
        **model.timings_,
        "feature_importances": dict(
            sorted(zip(_feature_names(), model.feature_importances_, strict=True), key=lambda kv: -kv[1])
        ),
    }
    if val_pairs is not None:
        started = time.perf_counter()
        bar = _progress(config).start(len(val_pairs), "validation summaries")
        predictions = []
        for title, text in zip(val_pairs.titles, val_pairs.texts, strict=True):
            predictions.append(model.summarize(title, text))
            bar.update(1)
        bar.close()
        metrics["validation"] = _validation_metrics(val_pairs.references, predictions, time.perf_counter() - started)
        lead = [" ".join(split_sentences(t)[:2]) for t in val_pairs.texts]
        metrics["validation_lead2"] = score_system(val_pairs.references, lead)["vietnamese"]
    out = config.output_dir
    model.save(out)
    command = f"vnnews train {config_path}" if config_path else "vnnews train <config>"
    _write_common(out, config, metrics, learned_card(config, metrics, command))
    return metrics


def _feature_names() -> tuple[str, ...]:
    from pipeline.summarize.features import FEATURE_NAMES

    return FEATURE_NAMES


def learned_card(config: SummaryTrainConfig, metrics: dict[str, Any], command: str) -> str:
    name = config.name or config.output_dir.name
    importances = "\n".join(f"| {k} | {v:.3f} |" for k, v in metrics["feature_importances"].items())
    params = "\n".join(f"- `{k}`: {v}" for k, v in config.model.model_dump().items())
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    held_out = (
        f"`{config.validation.path}`"
        if config.validation
        else f"a seeded {config.validation_split} share of the training file (seed {config.seed})"
    )
    limit = f", its first {config.data.limit} rows" if config.data.limit else ""
    size = f"{metrics['n_train']} articles, {metrics['n_training_sentences']} candidates"
    lead = metrics.get("validation_lead2")
    lead_line = (
        "Lead-2 on the same pairs (Vietnamese-aware): " + " / ".join(f"{v:.2f}" for v in lead.values()) + "."
        if lead
        else ""
    )
    return f"""# {name}

Learned extractive summarizer for Vietnamese news: gradient-boosted regression trees (scikit-learn's
histogram gradient boosting) predict the ROUGE F1 with the newsroom's own summary of each candidate
(a sentence, or with `trim_clauses` the sentence without its leading or trailing comma clause) from
cheap features (position, length, TF-IDF similarity to the title, to the rest of the article and to
the first sentence, shared bigrams, numbers, capitalized names, punctuation, the trim) and from
statistics learned from the unlabeled training articles: corpus idf and {config.model.embedding_dim}-dimensional
LSA vectors of the {config.model.embedding_terms} most frequent syllables and syllable pairs (similarity to
the article, the title and the lead, TextRank centrality, idf-weighted title recall);
the `max_sentences` best candidates (one per sentence) are kept in article order. No download, no GPU.
Stored without pickle: `config.json` (settings, feature names), `trees.safetensors` (the trees'
split features, thresholds, children and leaf values), `vocabulary.json` and `vectors.safetensors`
(the corpus idf and float16 vectors); features and trees are computed by the compiled kernels (csrc/summarize.c).

## Data
- Training file: `{config.data.path}`{limit} ({size};
  fields `{config.data.title_field}`, `{config.data.text_field}`, reference `{config.data.summary_field}`)
- Held out: {held_out}
- Candidate labels: ROUGE F1 (`{config.model.target}`, Vietnamese-aware tokenizer) of the candidate with the reference.

## Held-out metrics
{_metrics_lines(metrics)}

{lead_line}
Scores on VietNews dev (never used for training): `vnnews evaluate configs/evaluate_summary.yaml`
(docs/summarizer.md has the table).

Training took {metrics["train_seconds"]} s (corpus vectors {metrics.get("vectors_seconds")} s, splitting and
featurizing {metrics.get("featurize_seconds")} s, trees {metrics.get("trees_seconds")} s; `n_jobs`
{config.model.n_jobs}).

## Feature importances
| feature | importance |
|---|---|
{importances}

## Settings
{params}

## Rebuild
```
{command}
```
Built {datetime.now(UTC).date().isoformat()} with {versions}.
"""


# -- seq2seq fine-tuning -----------------------------------------------------------------------
def _check_precision(settings: Seq2SeqTrainConfig, cuda: bool) -> None:
    if settings.precision != "fp32" and not cuda:
        raise ConfigError(f"model.precision={settings.precision} needs a CUDA device; use fp32 on CPU.")


def _device_flags(settings: Seq2SeqTrainConfig) -> dict[str, Any]:
    import torch

    from pipeline.hub import resolve_device

    cuda = resolve_device(settings.device) == "cuda"
    if settings.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("model.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'.")
    _check_precision(settings, cuda)
    return {"use_cpu": not cuda, "fp16": settings.precision == "fp16", "bf16": settings.precision == "bf16"}


def _tokenized_dataset(pairs: SummaryPairs, tokenizer: Any, settings: Seq2SeqTrainConfig):
    from datasets import Dataset

    def encode(batch: dict[str, list[str]]) -> dict[str, Any]:
        inputs = tokenizer(
            [settings.prefix + t for t in batch["text"]], max_length=settings.max_input_tokens, truncation=True
        )
        labels = tokenizer(text_target=batch["summary"], max_length=settings.max_target_tokens, truncation=True)
        inputs["labels"] = labels["input_ids"]
        return inputs

    dataset = Dataset.from_dict({"text": pairs.texts, "summary": pairs.references})
    return dataset.map(encode, batched=True, remove_columns=["text", "summary"])


def train_seq2seq(config: SummaryTrainConfig, config_path: str | None = None) -> dict[str, Any]:
    """Fine-tune ``model.base_model`` on the pairs; save model + tokenizer; score held-out pairs."""
    from pipeline.hub import load_source, missing_model_message

    settings: Seq2SeqTrainConfig = config.model  # type: ignore[assignment]
    if settings.device == "cpu":
        _check_precision(settings, cuda=False)  # a config error comes first, without torch's import
    source = load_source(settings.base_model, "model.base_model")  # before torch: an unreachable hub fails at once
    from transformers import (
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        set_seed,
    )

    from pipeline.hub import local_dir
    from pipeline.modelfiles import BadModelFile, check_hf_folder
    from pipeline.summarize.abstractive import Seq2SeqSummarizer

    flags = _device_flags(settings)
    train_pairs, val_pairs = split_pairs(config, settings.tone_style)
    set_seed(config.seed)
    local = local_dir(source)
    try:
        if local is not None:
            check_hf_folder(local)  # a local model is read from safetensors only, never unpickled
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
        model = AutoModelForSeq2SeqLM.from_pretrained(source, trust_remote_code=False,
                                                      use_safetensors=True if local is not None else None)
    except BadModelFile as exc:
        raise ModelNotFoundError(missing_model_message(settings.base_model, str(exc), "model.base_model")) from None
    except Exception as exc:  # from_pretrained reads a folder of any files: whatever it raises is that folder
        reason = f"{type(exc).__name__}: {first_line(exc)}"
        raise ModelNotFoundError(missing_model_message(settings.base_model, reason, "model.base_model")) from None
    out = config.output_dir
    args = Seq2SeqTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_steps,
        label_smoothing_factor=settings.label_smoothing,
        logging_steps=settings.logging_steps,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        **flags,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=_tokenized_dataset(train_pairs, tokenizer, settings),
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        processing_class=tokenizer,
    )
    started = time.perf_counter()
    result = trainer.train()
    metrics: dict[str, Any] = {
        "n_train": len(train_pairs),
        "base_model": settings.base_model,
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_loss": round(float(result.training_loss), 4),
        "steps": int(result.global_step),
        "loss_history": [{"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e],
    }
    # save_pretrained, not trainer.save_model: the latter also writes training_args.bin, a pickle.
    trainer.model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    (out / "training_args.json").write_text(args.to_json_string(), encoding="utf-8")
    checkpoints = out / "checkpoints"
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()
    if val_pairs is not None:
        summarizer = Seq2SeqSummarizer(
            SummarizeConfig(
                kind="abstractive",
                model=str(out),
                prefix=settings.prefix,
                max_input_tokens=settings.max_input_tokens,
                max_new_tokens=settings.max_new_tokens,
                num_beams=settings.num_beams,
                batch_size=settings.batch_size,
                device="cpu" if flags["use_cpu"] else "cuda",
            )
        )
        started = time.perf_counter()
        predictions = summarizer.summarize(val_pairs.texts)
        metrics["validation"] = _validation_metrics(val_pairs.references, predictions, time.perf_counter() - started)
    command = f"vnnews train {config_path}" if config_path else "vnnews train <config>"
    _write_common(out, config, metrics, seq2seq_card(config, metrics, command))
    return metrics


def seq2seq_card(config: SummaryTrainConfig, metrics: dict[str, Any], command: str) -> str:
    name = config.name or config.output_dir.name
    params = "\n".join(f"- `{k}`: {v}" for k, v in config.model.model_dump().items())
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    return f"""# {name}

Abstractive summarizer fine-tuned from `{metrics["base_model"]}` with `Seq2SeqTrainer` on
(`{config.data.text_field}`, `{config.data.summary_field}`) pairs from `{config.data.path}`
({metrics["n_train"]} pairs, {metrics["steps"]} steps, final training loss {metrics["train_loss"]}).
Use it with `summarize.kind: abstractive` and `summarize.model: {config.output_dir}`.

## Held-out metrics
{_metrics_lines(metrics)}

## Settings
{params}

## Rebuild
```
{command}
```
Built {datetime.now(UTC).date().isoformat()} with {versions}.
"""


def train(config: SummaryTrainConfig, config_path: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Dispatch on ``model.kind``, once the optional packages it needs are installed and ``output_dir`` holds
    no model, or ``overwrite`` says to replace it."""
    check_summary_train(config)
    if not overwrite and (config.output_dir / "config.json").exists():
        raise OutputError(
            f"output_dir {config.output_dir} already holds a model (its config.json); training would replace it. "
            f"Pass --overwrite to replace it, or write the new model elsewhere "
            f"(--set output_dir={config.output_dir}-new)."
        )
    if config.model.kind == "seq2seq":
        return train_seq2seq(config, config_path)
    return train_learned_extractive(config, config_path)


def format_train_report(metrics: dict[str, Any]) -> str:
    lines = [f"trained on {metrics['n_train']} pairs in {metrics['train_seconds']} s"]
    val = metrics.get("validation")
    if val:
        vi = " / ".join(f"{v:.2f}" for v in val["vietnamese"].values())
        ascii_ = " / ".join(f"{v:.2f}" for v in val["rouge_score_default"].values())
        lines.append(
            f"held-out ({val['n']} pairs) ROUGE F1 R1/R2/RL: Vietnamese-aware {vi} | rouge-score default {ascii_}"
        )
    return "\n".join(lines)
