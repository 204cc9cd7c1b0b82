"""`vnnews evaluate` for summaries: ROUGE computed two ways side by side, lengths, examples, a histogram.

Why two ways: the `rouge-score` default tokenizer keeps only ASCII letters and digits, so a
Vietnamese word is split into its unaccented fragments and scores inflate. Published ViT5 and
BARTpho numbers used it, so we print it for comparison, always next to the Vietnamese-aware
score (Unicode syllables, NFC, lower case, one tone style), which is the one to trust.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from pipeline.config import SummaryEvaluateConfig, resolve_model_path
from pipeline.extras import check_summary_evaluate
from pipeline.reports.training_data import training_overlap
from pipeline.summarize.data import SummaryPairs, load_pairs
from pipeline.summarize.rouge import ROUGE_TYPES, VietnameseTokenizer, rouge_per_pair
from pipeline.text.normalize import split_sentences

log = logging.getLogger(__name__)

BATCH = 64
LABELS = {"rouge1": "R1", "rouge2": "R2", "rougeL": "RL"}


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 2) if values else 0.0


def length_stats(texts: list[str]) -> dict[str, float]:
    """Syllables per text: mean, median, 10th and 90th percentile (summaries too long or short show here)."""
    tokenizer = VietnameseTokenizer()
    lengths = sorted(len(tokenizer.tokenize(t)) for t in texts)
    if not lengths:
        return {"mean": 0.0, "median": 0.0, "p10": 0.0, "p90": 0.0}

    def pct(q: float) -> float:
        return float(lengths[min(len(lengths) - 1, int(q * len(lengths)))])

    return {
        "mean": _mean([float(v) for v in lengths]),
        "median": float(statistics.median(lengths)),
        "p10": pct(0.1),
        "p90": pct(0.9),
    }


def score_system(references: list[str], predictions: list[str]) -> dict[str, Any]:
    """Mean F1 both ways, per-article Vietnamese-aware F1 (for the plot) and length statistics."""
    vi = rouge_per_pair(references, predictions, vietnamese=True)
    ascii_ = rouge_per_pair(references, predictions, vietnamese=False)
    return {
        "vietnamese": {k: _mean(vi[k]) for k in ROUGE_TYPES},
        "rouge_score_default": {k: _mean(ascii_[k]) for k in ROUGE_TYPES},
        "length_syllables": length_stats(predictions),
        "per_article_vietnamese": vi,
    }


def summarize_all(config: SummaryEvaluateConfig, pairs: SummaryPairs) -> tuple[list[str], dict[str, Any], float]:
    """Run the configured summarize stage over every article, in batches like the batch job."""
    from pipeline.stages.summarize import SummarizeStage

    stage = SummarizeStage(config.summarize)
    predictions: list[str] = []
    started = time.perf_counter()
    for start in range(0, len(pairs), BATCH):
        records = [
            {"id": pairs.ids[i], "title": pairs.titles[i], "text": pairs.texts[i]}
            for i in range(start, min(start + BATCH, len(pairs)))
        ]
        predictions.extend(r["summary"] for r in stage(records))
    seconds = time.perf_counter() - started
    stage.finish()
    return predictions, stage.describe(), seconds


def pick_examples(pairs: SummaryPairs, systems: dict[str, list[str]], scores: dict[str, Any], n: int) -> list[dict]:
    """``n`` articles spread evenly over the file (deterministic), each with every system's summary."""
    if n <= 0:
        return []
    step = max(1, len(pairs) // n)
    examples = []
    for i in list(range(0, len(pairs), step))[:n]:
        example: dict[str, Any] = {"id": pairs.ids[i], "title": pairs.titles[i], "reference": pairs.references[i]}
        for name, predictions in systems.items():
            r2 = scores[name]["per_article_vietnamese"]["rouge2"][i]
            example[name] = {"summary": predictions[i], "rouge2_vietnamese": round(r2, 2)}
        examples.append(example)
    return examples


def plot_distribution(scores: dict[str, Any], path: Path, title: str) -> Path:
    """Histograms of per-article Vietnamese-aware F1 (R1, R2, RL), one colour per system."""
    from matplotlib.figure import Figure  # no pyplot: no backend switch, notebooks keep inline plots

    fig = Figure(figsize=(13, 4))
    axes = fig.subplots(1, 3, sharey=True)
    bins = [i * 5 for i in range(21)]
    for ax, key in zip(axes, ROUGE_TYPES, strict=True):
        for name, system in scores.items():
            values = system["per_article_vietnamese"][key]
            ax.hist(values, bins=bins, alpha=0.55, label=f"{name} (trung bình {_mean(values):.1f})")
        ax.set_xlabel(f"{LABELS[key]} F1 (Vietnamese-aware, %)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("số bài báo (articles)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def examples_markdown(examples: list[dict], systems: list[str]) -> str:
    parts = ["# Side-by-side examples\n"]
    for ex in examples:
        parts.append(f"## {ex['title'] or ex['id']}\n\n**reference**: {ex['reference']}\n")
        for name in systems:
            parts.append(f"**{name}** (R2 {ex[name]['rouge2_vietnamese']:.1f}): {ex[name]['summary']}\n")
    return "\n".join(parts)


def _training_overlap(config: SummaryEvaluateConfig) -> list[str]:
    """Warnings when ``data.path`` is a file the evaluated summarizer's model was trained on."""
    settings = config.summarize
    if settings.kind == "extractive":
        model_dir = resolve_model_path(settings.extractive_model) if settings.method == "learned" else None
    else:
        model_dir = Path(settings.model).expanduser() if Path(settings.model).expanduser().is_dir() else None
    return training_overlap(model_dir, config.data.path) if model_dir is not None else []


def evaluate(config: SummaryEvaluateConfig) -> dict[str, Any]:
    """Score the configured summarizer (and Lead-k) on reference summaries; write the report files."""
    check_summary_evaluate(config)
    warnings = _training_overlap(config)
    for warning in warnings:
        log.warning("%s", warning)
    pairs = load_pairs(config.data, config.tone_style)
    predictions, described, seconds = summarize_all(config, pairs)
    systems = {"summarizer": predictions}
    if config.lead_baseline:
        k = config.lead_baseline
        systems[f"lead-{k}"] = [" ".join(split_sentences(t)[:k]) for t in pairs.texts]
    scores = {name: score_system(pairs.references, preds) for name, preds in systems.items()}
    examples = pick_examples(pairs, systems, scores, config.examples)
    metrics: dict[str, Any] = {
        "n": len(pairs),
        "data": str(config.data.path),
        "skipped_rows": pairs.skipped,
        "summarizer": described,
        "articles_per_second": round(len(pairs) / seconds, 1) if seconds else None,
        "reference_length_syllables": length_stats(pairs.references),
        "systems": {name: {k: v for k, v in s.items() if k != "per_article_vietnamese"} for name, s in scores.items()},
        "examples": examples,
    }
    if warnings:
        metrics["warnings"] = warnings
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "examples.md").write_text(examples_markdown(examples, list(systems)), encoding="utf-8")
    title = f"Phân bố ROUGE trên {len(pairs)} bài báo: {config.data.path.name}"
    plot_distribution(scores, out / "rouge_distribution.png", title)
    from pipeline.reports.html import best_worst_examples, write_summary_report

    r2 = {name: s["per_article_vietnamese"]["rouge2"] for name, s in scores.items()}
    extremes = best_worst_examples(pairs.ids, pairs.titles, pairs.references, systems, r2, n=2)
    write_summary_report(out, metrics, extremes)
    return metrics


def format_report(metrics: dict[str, Any]) -> str:
    """The side-by-side ROUGE table, length statistics and the examples, as plain text."""
    head = (
        f"{'system':<12} {'Vietnamese-aware R1/R2/RL':>27} {'rouge-score default R1/R2/RL':>30}"
        f" {'length mean/median':>19}"
    )
    lines = [f"{metrics['n']} articles from {metrics['data']}; ROUGE F1 x100", head]
    for name, system in metrics["systems"].items():
        vi = " / ".join(f"{v:5.2f}" for v in system["vietnamese"].values())
        ascii_ = " / ".join(f"{v:5.2f}" for v in system["rouge_score_default"].values())
        length = system["length_syllables"]
        lines.append(f"{name:<12} {vi:>27} {ascii_:>30} {length['mean']:>10.1f} / {length['median']:<6.0f}")
    ref = metrics["reference_length_syllables"]
    lines.append(f"{'reference':<12} {'':>27} {'':>30} {ref['mean']:>10.1f} / {ref['median']:<6.0f}")
    lines.append(
        "(default tokenizer keeps only ASCII letters/digits: comparable with published ViT5/BARTpho numbers, "
        "not with the left column)"
    )
    for ex in metrics["examples"]:
        lines.append("")
        lines.append(f"# {ex['title'] or ex['id']}")
        lines.append(f"  reference: {ex['reference']}")
        for name in metrics["systems"]:
            lines.append(f"  {name} (R2 {ex[name]['rouge2_vietnamese']:.1f}): {ex[name]['summary']}")
    if metrics.get("articles_per_second"):
        lines.append(f"\nsummarizer speed: {metrics['articles_per_second']} articles/s")
    lines.extend(f"WARNING: {warning}" for warning in metrics.get("warnings", []))
    return "\n".join(lines)
