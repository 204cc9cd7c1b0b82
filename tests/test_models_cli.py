"""`vnnews models convert` and a `vnnews run` job on the converted model, end to end."""

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import SAMPLES, job

runner = CliRunner()


def test_convert_then_run_with_ctranslate2(tmp_path, tiny_t5):
    out = tmp_path / "t5-ct2"
    result = runner.invoke(app, ["models", "convert", str(tiny_t5), str(out), "--quantization", "int8"])
    assert result.exit_code == 0, result.output
    assert "summarize.backend=ctranslate2" in result.output
    card = json.loads((out / "conversion.json").read_text(encoding="utf-8"))
    assert card["quantization"] == "int8" and card["source"] == str(Path(tiny_t5).resolve())

    data = job(tmp_path, SAMPLES, summarize={
        "kind": "abstractive", "backend": "ctranslate2", "model": str(out), "compute_type": "int8",
        "max_new_tokens": 5, "num_beams": 2, "max_input_tokens": 48, "long_input": "chunk", "max_chunks": 2})
    cfg = tmp_path / "job.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["run", str(cfg), "-q"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 10 and all(isinstance(r["summary"], str) for r in rows)
    manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    stage = manifest["stages"]["summarize"]
    assert stage["backend"] == "ctranslate2" and stage["long_input"] == "chunk"
    assert stage["chunked"] == 10  # every sample article is longer than 48 tokens


def test_convert_refuses_existing_output_and_bad_quantization(tmp_path, tiny_t5):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "file").write_text("x")
    result = runner.invoke(app, ["models", "convert", str(tiny_t5), str(out), "-q"])
    assert result.exit_code == 5 and "--force" in result.output
    result = runner.invoke(app, ["models", "convert", str(tiny_t5), str(tmp_path / "new"), "--quantization", "int3"])
    assert result.exit_code == 2 and "int8" in result.output


def test_convert_missing_source_is_one_paragraph(tmp_path):
    result = runner.invoke(app, ["models", "convert", str(tmp_path / "missing"), str(tmp_path / "out"), "-q"])
    assert result.exit_code == 3
    assert result.output.startswith("error: ") and "Traceback" not in result.output
