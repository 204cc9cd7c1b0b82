"""Self-contained HTML reports: evaluate (topic, summary) and run write one file with the PNGs inside."""

import base64
import itertools
import json
import re

import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.reports.html import (
    best_worst_examples,
    table,
    topic_examples,
    write_run_report,
)
from tests.conftest import SAMPLES, write_jsonl

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def embedded_pngs(document: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', document)]


def assert_self_contained(document: str) -> None:
    """No link to another file: every picture is a data URI, no scripts or stylesheets from elsewhere."""
    assert not re.search(r'(src|href)="(?!data:)', document)
    for png in embedded_pngs(document):
        assert png.startswith(PNG_MAGIC)


def test_values_from_data_are_escaped():
    html = table(["label"], [["<script>alert(1)</script> & Thể thao"]])
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; Thể thao" in html


def test_topic_examples_are_the_misclassified_rows_cut_short():
    examples = topic_examples(["a", "b", "c"], ["x" * 500, "ngắn", "đúng"], ["A", "B", "C"], ["B", "A", "C"],
                              [0.9, 0.6, 0.8], n=5, chars=100)
    assert [e["id"] for e in examples] == ["a", "b"]
    assert len(examples[0]["text"]) == 101 and examples[1]["text"] == "ngắn"


def test_best_worst_picks_extremes_of_the_first_system():
    systems = {"s": ["p0", "p1", "p2", "p3"], "lead": ["l0", "l1", "l2", "l3"]}
    r2 = {"s": [10.0, 40.0, 5.0, 20.0], "lead": [1.0, 2.0, 3.0, 4.0]}
    picks = best_worst_examples(["0", "1", "2", "3"], ["t"] * 4, ["r"] * 4, systems, r2, n=1)
    assert [(p["tag"], p["id"]) for p in picks] == [("best", "1"), ("worst", "2")]
    assert picks[0]["lead"]["summary"] == "l1"


def test_run_report_from_a_manifest(tmp_path):
    manifest = {
        "run_id": "r1", "input": "in.jsonl", "output": "out.jsonl", "config_hash": "abc", "started_at": "t0",
        "finished_at": "t1", "counts": {"read": 4, "written": 3, "quarantined": 1, "unchanged": 0},
        "quarantine_reasons": {"empty text": 1}, "seconds": 1.5, "articles_per_second": 2.7,
        "seconds_by_step": {"start-up": 0.3, "normalize": 0.1, "commit": 0.05, "other": 0.1}, "throughput": [[0.7, 2], [1.4, 4]],
    }
    rows = [{"topic": "Thể thao"}, {"topic": "Thể thao"}, {"topic": "Kinh doanh"}]
    document = write_run_report(tmp_path / "x.report.html", manifest, rows).read_text(encoding="utf-8")
    assert "empty text" in document and "Thể thao" in document and "Kinh doanh" in document
    assert document.count("<svg ") == 2 and not embedded_pngs(document)  # topic distribution + throughput, inline
    assert_self_contained(document)


def test_vnnews_run_writes_manifest_throughput_and_report(tmp_path):
    config = {"input": {"path": str(SAMPLES), "batch_size": 4},
              "classify": {"model": "models/topic-tfidf-vntc"},
              "summarize": {"method": "lead_title"},
              "output": {"path": str(tmp_path / "out.jsonl")}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out.manifest.json").read_text(encoding="utf-8"))
    points = manifest["throughput"]
    assert [p[1] for p in points] == [0, 4, 8, 10]  # start (models loaded), then ten articles in batches of 4
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(points))
    document = (tmp_path / "out.report.html").read_text(encoding="utf-8")
    assert "out.report.html" in result.output
    topics = {json.loads(line)["topic"] for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()}
    assert all(t in document for t in topics)
    assert document.count("<svg ") == 2  # topic distribution + throughput, drawn without matplotlib
    assert_self_contained(document)


def test_run_report_can_be_switched_off(tmp_path):
    config = {"input": {"path": str(SAMPLES)}, "classify": {"enabled": False}, "summarize": {"enabled": False},
              "output": {"path": str(tmp_path / "out.jsonl"), "report": False}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert runner.invoke(app, ["run", str(path), "--quiet"]).exit_code == 0
    assert (tmp_path / "out.manifest.json").is_file() and not (tmp_path / "out.report.html").exists()


def _evaluate(tmp_path, cfg):
    """Run `vnnews evaluate` on ``cfg`` (reports under tmp_path/rep): the HTML report and metrics.json."""
    path = tmp_path / "evaluate.yaml"
    path.write_text(yaml.safe_dump({**cfg, "output_dir": str(tmp_path / "rep")}, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(path)])
    assert result.exit_code == 0, result.output
    document = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    return document, json.loads((tmp_path / "rep" / "metrics.json").read_text(encoding="utf-8"))


def test_evaluate_topic_writes_a_self_contained_report(tmp_path, sample_rows):
    rows = [{"id": r["id"], "text": r["title"] + ". " + r["text"], "label": r.get("topic") or "Thể thao"}
            for r in sample_rows]
    rows[0]["text"] = "<b>không phải HTML</b> " + rows[0]["text"]
    data = write_jsonl(tmp_path / "eval.jsonl", rows)
    document, metrics = _evaluate(tmp_path, {"task": "topic", "model": "models/topic-tfidf-vntc",
                                             "data": {"path": str(data)}})
    assert f"{metrics['accuracy']:.4f}" in document and f"{metrics['macro_f1']:.4f}" in document
    assert all(label in document for label in metrics["per_class"])
    assert "<b>không phải HTML</b>" not in document
    assert len(embedded_pngs(document)) == 1  # the confusion matrix
    assert_self_contained(document)


def test_evaluate_summary_writes_both_rouge_variants_and_examples(tmp_path, sample_rows):
    rows = [{"id": r["id"], "title": r["title"], "body": r["text"], "abstract": r["text"].split(". ")[0]}
            for r in sample_rows]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    cfg = {"task": "summary", "data": {"path": str(data), "text_field": "body", "title_field": "title",
                                       "summary_field": "abstract"},
           "summarize": {"kind": "extractive", "method": "lead_title"}, "lead_baseline": 2, "examples": 2}
    document, metrics = _evaluate(tmp_path, cfg)
    for system in metrics["systems"].values():
        assert f"{system['vietnamese']['rouge2']:.2f}" in document
        assert f"{system['rouge_score_default']['rouge2']:.2f}" in document
    assert document.count("[best]") == 2 and document.count("[worst]") == 2
    assert len(embedded_pngs(document)) == 1  # the ROUGE distribution
    assert_self_contained(document)


def test_report_plots_leave_the_matplotlib_backend_alone(tmp_path):
    """Plots use Figure directly: a notebook's inline backend survives `evaluate` and `run`."""
    import matplotlib

    from pipeline.reports.metrics import plot_confusion_matrix
    from pipeline.summarize.evaluation import plot_distribution, score_system

    before = matplotlib.get_backend()
    matplotlib.use("pdf")
    try:
        plot_confusion_matrix(["A", "B"], ["A", "A"], ["A", "B"], tmp_path / "c.png", "Thể thao")
        plot_distribution({"s": score_system(["người dân"], ["người"])}, tmp_path / "d.png", "Phân bố")
        assert matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(before)
    assert all((tmp_path / f"{n}.png").read_bytes().startswith(PNG_MAGIC) for n in "cd")


def test_run_report_charts_escape_labels_and_draw_every_point():
    from pipeline.reports.html import svg_bars, svg_throughput

    bars = svg_bars({"<b>Thể thao</b>": 3, "Kinh doanh": 1}, "topics")
    assert "&lt;b&gt;Thể thao&lt;/b&gt;" in bars and bars.count("<rect ") == 2
    assert bars.index("Thể thao") < bars.index("Kinh doanh")  # largest on top
    line = svg_throughput([[0.5, 0], [1.0, 64], [2.0, 128], [2.5, 150]])
    assert line.count("<polyline ") == 2 and line.split('points="')[1].split('"')[0].count(",") == 4
    assert "<polyline " in svg_throughput([[0.3, 0]])  # models loaded, nothing read: no division by zero
