"""A config that needs a missing extra stops before any work: exit 2, one paragraph with the pip command.

Each case runs ``vnnews`` in a subprocess whose imports of the extra's packages are blocked (a
``sys.meta_path`` finder that refuses them, as in a venv without the extra); the default job runs
with every optional package blocked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("torch,transformers,accelerate,datasets,underthesea,ctranslate2,ray,psycopg,sentencepiece,tokenizers,"
            "sklearn,matplotlib,rouge_score,nltk")

DRIVER = """
import sys

class Blocked:
    names = set(sys.argv[1].split(","))

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Blocked())
from pipeline.cli import main
sys.argv = ["vnnews", *sys.argv[2:]]
main()
"""


def vnnews_without(blocked: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DRIVER, blocked, *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
VIT5 = str(ROOT / "configs" / "vit5.yaml")


def cases(tmp: Path) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (blocked modules, extra named, vnnews arguments)."""
    out = ["--set", f"output.path={tmp / 'out' / 'out.jsonl'}"]
    (tmp / "saved").mkdir()
    transformer_model = tmp / "phobert-topics"
    transformer_model.mkdir()
    write(transformer_model / "config.json", json.dumps({"kind": "transformer", "params": {"word_segment": True}}))
    labelled = write(tmp / "labelled.jsonl", '{"text": "bóng đá", "label": "sport"}\n' * 4)
    topic_train = write(tmp / "topic.yaml", f"task: topic\ndata: {{path: {labelled}}}\nmodel: {{kind: transformer}}\n"
                                            f"output_dir: {tmp / 'model'}\n")
    summary_train = write(tmp / "summary.yaml", f"task: summary\ndata: {{path: {ROOT / 'samples' / 'articles.jsonl'}, "
                                                "text_field: text, summary_field: title}\nmodel: {kind: seq2seq, "
                                                f"base_model: {tmp / 'base'}}}\noutput_dir: {tmp / 'model'}\n")
    samples = ROOT / "samples" / "articles.jsonl"
    summary_eval = write(tmp / "evaluate.yaml", f"task: summary\ndata: {{path: {samples}, text_field: text, "
                                                "summary_field: title}\nsummarize: {kind: abstractive}\n"
                                                f"output_dir: {tmp / 'report'}\n")
    topic_eval = write(tmp / "eval_topic.yaml", f"task: topic\nmodel: {transformer_model}\n"
                                                f"data: {{path: {labelled}}}\noutput_dir: {tmp / 'r'}\n")
    return {
        "abstractive summaries (torch)": ("torch", "transformers", ["run", VIT5, *out]),
        "abstractive summaries (ctranslate2)": ("ctranslate2", "ct2",
                                                ["run", VIT5, *out, "--set", "summarize.backend=ctranslate2"]),
        "transformer topic model": ("transformers", "transformers",
                                    ["run", QUICKSTART, *out, "--set", f"classify.model={transformer_model}"]),
        "word segmentation of a transformer topic model": (
            "underthesea", "transformers", ["run", QUICKSTART, *out, "--set", f"classify.model={transformer_model}"]),
        "Ray runner": ("ray", "ray", ["run", QUICKSTART, *out, "--set", "runner.kind=ray"]),
        "PostgreSQL output": ("psycopg", "postgres",
                              ["run", QUICKSTART, *out, "--set", "output.format=sql", "--set",
                               "output.url=postgresql+psycopg://user@localhost:1/news"]),
        "saved HF dataset input": ("datasets", "hf",
                                   ["run", QUICKSTART, *out, "--set", f"input.path={tmp / 'saved'}",
                                    "--set", "input.format=hf_dataset"]),
        "train a transformer topic model": ("accelerate", "transformers", ["train", str(topic_train)]),
        "train a seq2seq summarizer": ("torch", "transformers", ["train", str(summary_train)]),
        "evaluate an abstractive summarizer": ("transformers", "transformers", ["evaluate", str(summary_eval)]),
        "evaluate a transformer topic model": ("torch", "transformers", ["evaluate", str(topic_eval)]),
        "train a topic model": ("sklearn", "train", ["train", str(ROOT / "configs" / "train_topic.yaml")]),
        "train the learned summarizer": ("rouge_score", "train",
                                         ["train", str(ROOT / "configs" / "train_summary_extractive.yaml")]),
        "evaluate a topic model": ("matplotlib", "train", ["evaluate", str(ROOT / "configs" / "evaluate_topic.yaml")]),
        "evaluate the learned summarizer": ("rouge_score", "train",
                                            ["evaluate", str(ROOT / "configs" / "evaluate_summary.yaml")]),
        "models convert": ("ctranslate2", "ct2", ["models", "convert", str(tmp / "base"), str(tmp / "converted")]),
    }


NAMES = ["abstractive summaries (torch)", "abstractive summaries (ctranslate2)", "transformer topic model",
         "word segmentation of a transformer topic model", "Ray runner", "PostgreSQL output", "saved HF dataset input",
         "train a transformer topic model", "train a seq2seq summarizer", "evaluate an abstractive summarizer",
         "evaluate a transformer topic model", "train a topic model", "train the learned summarizer",
         "evaluate a topic model", "evaluate the learned summarizer", "models convert"]


@pytest.mark.parametrize("name", NAMES)
def test_a_missing_extra_stops_before_any_work_with_the_pip_command(tmp_path, name):
    blocked, extra, args = cases(tmp_path)[name]
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = vnnews_without(blocked, args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert f"pip install 'vnnews[{extra}]'" in lines[0], lines[0]
    assert {"sklearn": "scikit-learn", "rouge_score": "rouge-score"}.get(blocked, blocked) in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no side files, no model folder


def test_a_saved_dataset_found_by_its_folder_names_the_hf_extra(tmp_path):
    """input.format auto finds a saved Hugging Face dataset by its files: the reader stops before reading."""
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"id": "1", "title": "t", "text": "x"}]).save_to_disk(str(tmp_path / "saved"))
    proc = vnnews_without("datasets", ["run", QUICKSTART, "--set", f"input.path={tmp_path / 'saved'}", "--set",
                                       f"output.path={tmp_path / 'out.jsonl'}"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'vnnews[hf]'" in proc.stderr and not (tmp_path / "out.jsonl").exists()


def test_the_default_job_needs_no_extra(tmp_path):
    """The quickstart job (topics and learned extractive summaries) with every optional package blocked."""
    out = tmp_path / "out.jsonl"
    proc = vnnews_without(OPTIONAL, ["run", QUICKSTART, "-q", "--set", f"output.path={out}"], ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 10 and all(row["topic"] and row["summary"] for row in rows)
