"""End to end through the `vnnews` command line, in process (CliRunner) and as a real subprocess."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipeline import Pipeline
from pipeline.cli import app
from tests.conftest import ROOT, SAMPLES, job, write_jsonl

runner = CliRunner()


def _config_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_quickstart_job(tmp_path):
    out = tmp_path / "q.jsonl"
    result = runner.invoke(app, ["run", str(ROOT / "configs" / "quickstart.yaml"), "--set", f"output.path={out}",
                                 "--set", "runner.progress=off"])
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert len(rows) == 10
    # the topic each sample was written for (samples/README.md), all ten
    expected = {"sample-001": "Thể thao", "sample-002": "Kinh doanh", "sample-003": "Sức khỏe",
                "sample-004": "Pháp luật", "sample-005": "Vi tính", "sample-006": "Thế giới",
                "sample-007": "Văn hóa", "sample-008": "Đời sống", "sample-009": "Chính trị Xã hội",
                "sample-010": "Khoa học"}
    assert {r["id"]: r["topic"] for r in rows} == expected
    for row in rows:
        assert 0.0 <= row["topic_score"] <= 1.0 and len(row["topic_top_k"]) == 3
        assert row["summary"] and row["published"] and row["source"] == "vnnews-samples"
        assert "text" not in row
    manifest = json.loads((tmp_path / "q.manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"] == {"read": 10, "written": 10, "quarantined": 0, "unchanged": 0, "refreshed": 0}
    assert manifest["versions"]["transformers"].startswith("5.")
    assert yaml.safe_load((tmp_path / "q.config.yaml").read_text(encoding="utf-8"))["summarize"]["num_beams"] == 4
    assert "Thể thao" in result.output and str(out) in result.output


def test_seed_page_through_vnnews_run(seed_page, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    shutil.copy(seed_page, pages / "infonet.txt")
    cfg = _config_file(tmp_path, job(tmp_path, pages, input={"raw_pages": True}, output={"include_text": True}))
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 0, result.output
    (row,) = _rows(tmp_path / "out" / "results.jsonl")
    assert row["title"] == "Hà Nội nghiêm túc triển khai Nghị quyết Đại hội Đảng các cấp"
    assert row["author"] == "N. Huyền"
    for phrase in ("cùng chuyên mục", "Kéo xuống để xem tiếp nội dung", "Xem thêm trên infonet"):
        assert phrase.lower() not in row["text"].lower()
        assert phrase.lower() not in row["summary"].lower()
    assert row["topic"] == "Chính trị Xã hội"


def test_quarantine_counts_add_up(tmp_path):
    src = tmp_path / "mixed.jsonl"
    good = [{"id": f"g{i}", "title": "Bóng đá", "text": "Đội tuyển thắng trận đấu quan trọng tối qua."}
            for i in range(5)]
    lines = [json.dumps(r, ensure_ascii=False) for r in good]
    lines[2:2] = ["{broken", json.dumps({"id": "n", "text": None}), json.dumps({"id": "w", "text": 5}),
                  json.dumps({"id": "e", "text": "\u200b  "}), json.dumps({"id": "huge", "text": "x" * 300})]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = _config_file(tmp_path, job(tmp_path, src, normalize={"max_chars": 200}))
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    written = _rows(out / "results.jsonl")
    quarantined = _rows(out / "results.quarantine.jsonl")
    assert [r["id"] for r in written] == [f"g{i}" for i in range(5)]
    assert len(quarantined) == 5
    assert {q["id"] for q in quarantined} == {None, "n", "w", "e", "huge"}
    reasons = {q["id"]: q["reason"] for q in quarantined}
    assert reasons["e"] == "text is empty after normalization"
    assert "above normalize.max_chars=200" in reasons["huge"]
    counts = json.loads((out / "results.manifest.json").read_text(encoding="utf-8"))["counts"]
    assert counts == {"read": 10, "written": 5, "quarantined": 5, "unchanged": 0, "refreshed": 0}
    assert "read 10, written 5, quarantined 5" in result.output


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet", "db"])
def test_every_sink_through_the_job(tmp_path, suffix):
    cfg = _config_file(tmp_path, job(tmp_path, SAMPLES, output={"path": str(tmp_path / f"r.{suffix}")}))
    assert runner.invoke(app, ["run", str(cfg)]).exit_code == 0
    if suffix == "jsonl":
        ids = [r["id"] for r in _rows(tmp_path / "r.jsonl")]
    elif suffix == "csv":
        import pandas as pd

        ids = pd.read_csv(tmp_path / "r.csv")["id"].tolist()
    elif suffix == "parquet":
        import pandas as pd

        ids = pd.read_parquet(tmp_path / "r.parquet")["id"].tolist()
    else:
        import sqlite3

        ids = [r[0] for r in sqlite3.connect(tmp_path / "r.db").execute("SELECT id FROM articles ORDER BY id")]
    assert sorted(ids) == [f"sample-{i:03d}" for i in range(1, 11)]


def test_set_overrides_change_the_job(tmp_path):
    cfg = _config_file(tmp_path, job(tmp_path, SAMPLES))
    result = runner.invoke(app, ["run", str(cfg), "--set", "classify.enabled=false", "--set",
                                 "summarize.max_sentences=1", "--set", "input.limit=3"])
    assert result.exit_code == 0, result.output
    rows = _rows(tmp_path / "out" / "results.jsonl")
    assert len(rows) == 3 and all("topic" not in r for r in rows)
    assert all(r["summary"].count(". ") == 0 for r in rows)  # one sentence each


def test_python_api_matches_cli(tmp_path, sample_rows):
    cfg = _config_file(tmp_path, job(tmp_path, SAMPLES, classify={"top_k": 2}))
    assert runner.invoke(app, ["run", str(cfg)]).exit_code == 0
    from_cli = _rows(tmp_path / "out" / "results.jsonl")
    assert len({r.pop("run_id") for r in from_cli}) == 1  # the only field a batch run adds
    pipe = Pipeline.from_yaml(cfg)
    assert pipe.process(sample_rows) == from_cli
    import pandas as pd

    frame = pipe.process_frame(pd.DataFrame(sample_rows))
    assert frame["topic"].tolist() == [r["topic"] for r in from_cli]


def test_abstractive_job_with_local_tiny_model(tmp_path, tiny_t5):
    cfg = _config_file(tmp_path, job(tmp_path, SAMPLES, summarize={
        "kind": "abstractive", "model": str(tiny_t5), "max_new_tokens": 5, "num_beams": 1, "device": "cpu"}))
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 0, result.output
    rows = _rows(tmp_path / "out" / "results.jsonl")
    assert len(rows) == 10 and all(isinstance(r["summary"], str) for r in rows)
    manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["summarize"]["model"] == str(tiny_t5)


def test_bad_config_exit_code_and_key_path(tmp_path):
    cfg = _config_file(tmp_path, job(tmp_path, SAMPLES))
    result = runner.invoke(app, ["run", str(cfg), "--set", "summarize.num_beams=0"])
    assert result.exit_code == 2
    assert "summarize.num_beams" in result.output and "Traceback" not in result.output


def test_missing_model_fails_before_reading_input(tmp_path):
    cfg = _config_file(tmp_path, job(tmp_path, tmp_path / "not-there.jsonl", classify={"model": "models/nope"}))
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 3
    assert "No topic model at models/nope" in result.output
    assert not (tmp_path / "out").exists()


def test_unreadable_input(tmp_path):
    cfg = _config_file(tmp_path, job(tmp_path, tmp_path / "not-there.jsonl"))
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 4 and "does not exist" in result.output


def test_config_show_fills_defaults(tmp_path):
    result = runner.invoke(app, ["config", "show", str(ROOT / "configs" / "quickstart.yaml"),
                                 "--set", "summarize.num_beams=2"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["summarize"]["num_beams"] == 2 and shown["normalize"]["max_chars"] == 200000
    train = runner.invoke(app, ["config", "show", str(ROOT / "configs" / "train_topic.yaml")])
    assert yaml.safe_load(train.output)["model"]["kind"] == "tfidf_linear"


def test_real_subprocess_console_script_no_traceback(tmp_path):
    bad = write_jsonl(tmp_path / "x.jsonl", [{"id": 1, "text": "a"}])
    cfg = _config_file(tmp_path, job(tmp_path, bad, summarize={"kind": "extractive", "num_beams": -3}))
    exe = Path(sys.executable).parent / "vnnews"
    proc = subprocess.run([str(exe), "run", str(cfg)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: Invalid config") and "Traceback" not in proc.stderr


def test_titles_and_paths_are_printed_as_they_are(tmp_path):
    """What the run prints is text: a title that reads like console markup ("[/b]", "[video]", ":fire:") or an
    output folder named "[/x]" is shown as it is, never parsed (a closing tag that matches nothing failed the
    run after its output was written), and a path longer than the terminal is printed on one line."""
    text = ("Thị trường chứng khoán Việt Nam hôm nay tăng điểm mạnh nhờ dòng tiền từ nhà đầu tư trong nước. "
            "Các cổ phiếu ngân hàng dẫn dắt đà tăng của cả thị trường.")
    titles = ["[/b] Tin nóng về thị trường", "[video] Bóng đá :fire: thắng đậm", "[bold red]Giá vàng[/bold red]"]
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": str(i), "title": t, "text": text}
                                                 for i, t in enumerate(titles)])
    out = tmp_path / "[/x]" / "[draft]" / ("thư-mục-rất-dài-" * 6) / "out.jsonl"
    cfg = _config_file(tmp_path, job(tmp_path, source, output={"path": str(out)}))
    exe = Path(sys.executable).parent / "vnnews"
    proc = subprocess.run([str(exe), "run", str(cfg)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert f"results:    {out}\n" in proc.stdout and f"report:     {out.with_suffix('')}.report.html\n" in proc.stdout
    shown = " ".join(proc.stdout.split())  # (table cells wrap titles across lines)
    assert all(" ".join(t.split()) in shown.replace(" │ ", " ") for t in ["[/b] Tin nóng", "[video] Bóng đá :fire:"])
    assert "[bold red]Giá" in shown and "3 articles processed (first 3 shown)" in shown


def test_unreachable_hub_model_fails_fast_with_local_directory_hint(tmp_path):

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    exe = Path(sys.executable).parent / "vnnews"
    proc = subprocess.run([str(exe), "run", str(ROOT / "configs" / "vit5.yaml"), "--set",
                           f"output.path={tmp_path / 'v.jsonl'}"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 3, proc.stderr
    assert "summarize.model" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "v.jsonl").exists()


DRIVER = """
import json, sys
from pipeline.cli import main
sys.argv = ["vnnews", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers", "underthesea", "matplotlib"})
print(json.dumps(heavy))
"""


@pytest.mark.parametrize("name, sets", [
    ("topic only", ["summarize.enabled=false"]),
    ("quickstart: learned extractive summaries", []),
])
def test_jobs_without_transformer_models_import_neither_torch_nor_transformers(tmp_path, name, sets):
    """A job whose models are ours (topic, learned extractive) never pays for torch's import (seconds):
    sentences are split without underthesea, whose __init__ imports torch when it is installed, and
    the run report draws its charts without matplotlib."""
    args = ["run", str(ROOT / "configs" / "quickstart.yaml"), "-q", "--set", f"output.path={tmp_path / 'out.jsonl'}"]
    for item in sets:
        args += ["--set", item]
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 10


def test_the_removed_openmp_setting_is_accepted_with_a_warning(caplog):
    """runner.omp_wait_policy steered numba's OpenMP threads; the kernels no longer use OpenMP. A daily job's
    config that still sets it keeps working, and the log says the key does nothing."""
    from pipeline.config import JobConfig, load_config

    config = load_config(JobConfig, ROOT / "configs" / "quickstart.yaml", ["runner.omp_wait_policy=active"])
    assert "omp_wait_policy" not in config.runner.model_dump()
    assert "runner.omp_wait_policy has no effect any more" in caplog.text


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    proc = subprocess.run([str(Path(sys.executable).with_name("vnnews")), "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"vnnews {version('vnnews')}\n"
