"""`vnnews evaluate` with `task: summary`: both ROUGE variants side by side, lengths, examples, PNG."""

import json
import warnings

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.summarize.evaluation import length_stats, plot_distribution, score_system
from pipeline.text.normalize import split_sentences
from tests.conftest import write_jsonl

runner = CliRunner()


@pytest.fixture
def pairs_file(tmp_path, sample_rows):
    """The team's sample articles with their first sentence as the reference summary (our own text)."""
    rows = [
        {"id": r["id"], "title": r["title"], "body": r["text"], "abstract": split_sentences(r["text"])[0]}
        for r in sample_rows
    ]
    rows.append({"id": "no-abstract", "title": "x", "body": "Một câu thôi.", "abstract": ""})
    return write_jsonl(tmp_path / "pairs.jsonl", rows)


def _config(tmp_path, pairs_file, **summarize):
    data = {
        "task": "summary",
        "data": {"path": str(pairs_file)},
        "summarize": {"kind": "extractive", **summarize},
        "lead_baseline": 1,
        "examples": 2,
        "output_dir": str(tmp_path / "report"),
    }
    path = tmp_path / "evaluate_summary.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_evaluate_prints_both_rouge_variants_and_writes_the_report(tmp_path, pairs_file):
    result = runner.invoke(app, ["evaluate", str(_config(tmp_path, pairs_file))])
    assert result.exit_code == 0, result.output
    assert "Vietnamese-aware" in result.output and "rouge-score default" in result.output
    assert "lead-1" in result.output and "reference:" in result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n"] == 10 and metrics["skipped_rows"] == 1
    lead = metrics["systems"]["lead-1"]
    assert lead["vietnamese"]["rouge1"] == 100.0  # Lead-1 is exactly the reference here
    # the ASCII-only tokenizer scores the same identical pairs 100 too: the variants only differ on mismatches
    assert lead["rouge_score_default"]["rouge1"] == 100.0
    assert set(metrics["systems"]["summarizer"]) == {"vietnamese", "rouge_score_default", "length_syllables"}
    assert metrics["summarizer"]["method"] == "learned"
    assert len(metrics["examples"]) == 2
    assert (tmp_path / "report" / "rouge_distribution.png").stat().st_size > 10_000
    assert "**reference**" in (tmp_path / "report" / "examples.md").read_text(encoding="utf-8")


def test_evaluate_other_summarizer_by_override(tmp_path, pairs_file):
    config = _config(tmp_path, pairs_file)
    result = runner.invoke(app, ["evaluate", str(config), "--set", "summarize.method=lead_title"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["summarizer"]["method"] == "lead_title"


def test_evaluate_abstractive_tiny_model(tmp_path, pairs_file, tiny_t5):
    config = _config(tmp_path, pairs_file, kind="abstractive", model=str(tiny_t5), max_new_tokens=4, num_beams=1,
                     device="cpu", max_input_tokens=64)
    result = runner.invoke(app, ["evaluate", str(config)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["summarizer"]["architecture"] == "T5ForConditionalGeneration"


def test_bad_summary_config_names_the_key(tmp_path, pairs_file):
    result = runner.invoke(app, ["evaluate", str(_config(tmp_path, pairs_file)), "--set", "lead_baseline=-1"])
    assert result.exit_code == 2 and "lead_baseline" in result.output
    result = runner.invoke(app, ["evaluate", str(_config(tmp_path, pairs_file)), "--set", "data.summary_field=nope"])
    assert result.exit_code == 4 and "summary_field" in result.output


def test_config_show_resolves_a_summary_evaluation(tmp_path, pairs_file):
    result = runner.invoke(app, ["config", "show", str(_config(tmp_path, pairs_file))])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["task"] == "summary" and shown["summarize"]["method"] == "learned"


def test_vietnamese_aware_and_default_tokenizers_disagree_on_vietnamese():
    # One word differs only by its Vietnamese letters: the ASCII-only tokenizer cannot see it.
    scores = score_system(["người dân đi bầu cử"], ["ngươi dân đi bầu cử"])
    assert scores["vietnamese"]["rouge1"] < 100.0 == scores["rouge_score_default"]["rouge1"]


def test_length_stats():
    stats = length_stats(["một hai ba", "một", "một hai ba bốn năm"])
    assert stats["mean"] == 3.0 and stats["median"] == 3.0 and stats["p10"] == 1.0 and stats["p90"] == 5.0


def test_distribution_plot_renders_vietnamese_without_missing_glyphs(tmp_path):
    scores = {"tóm tắt": score_system(["người dân Hà Nội"], ["người Hà Nội"])}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_distribution(scores, tmp_path / "d.png", "Phân bố ROUGE: thuỷ, hoà, Đắk Lắk, ưởng")
    assert not [w for w in caught if "Glyph" in str(w.message)]
    assert (tmp_path / "d.png").stat().st_size > 5_000
