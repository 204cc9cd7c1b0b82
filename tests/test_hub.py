"""An unreachable Hugging Face Hub: one request, then exit 3 at once, or the model from the local cache.

Each command runs ``vnnews`` with ``HF_ENDPOINT`` at a closed local port (connection refused) and an
empty hub cache: without the probe, the libraries retried every file five times (22 warnings, 47 s).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.errors import ModelNotFoundError

ROOT = Path(__file__).resolve().parents[1]
VNNEWS = str(Path(sys.executable).with_name("vnnews"))
HUB_ID = "VietAI/vit5-base-vietnews-summarization"

pytest.importorskip("transformers")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}", HF_HOME=str(tmp_path / "hf"),
               HF_HUB_CACHE=str(tmp_path / "hf" / "hub"))
    return env


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def commands(tmp_path: Path) -> dict[str, list[str]]:
    data = ROOT / "samples" / "articles.jsonl"
    summary_train = _write(tmp_path / "train_summary.yaml", f"""task: summary
data: {{path: {data}, text_field: text, summary_field: title}}
model: {{kind: seq2seq, base_model: {HUB_ID}}}
output_dir: {tmp_path / 'seq2seq'}
""")
    topic_train = _write(tmp_path / "train_topic.yaml", f"""task: topic
data: {{path: {tmp_path / 'labelled.jsonl'}}}
model: {{kind: transformer, model: vinai/phobert-base-v2}}
output_dir: {tmp_path / 'phobert'}
""")
    _write(tmp_path / "labelled.jsonl", "".join(
        f'{{"text": "bài báo số {i} về bóng đá và giá vàng", "label": "{"ab"[i % 2]}"}}\n' for i in range(20)))
    return {
        "run abstractive (torch)": ["run", str(ROOT / "configs" / "vit5.yaml"), "--set",
                                    f"output.path={tmp_path / 'out.jsonl'}"],
        "run abstractive (ctranslate2)": ["run", str(ROOT / "configs" / "vit5.yaml"), "--set",
                                          f"output.path={tmp_path / 'out.jsonl'}", "--set",
                                          "summarize.backend=ctranslate2", "--set",
                                          f"summarize.ct2_cache_dir={tmp_path / 'ct2'}"],
        "models convert": ["models", "convert", HUB_ID, str(tmp_path / "converted")],
        "train seq2seq": ["train", str(summary_train)],
        "train transformer topic model": ["train", str(topic_train)],
    }


@pytest.mark.parametrize("name", ["run abstractive (torch)", "run abstractive (ctranslate2)", "models convert",
                                  "train seq2seq", "train transformer topic model"])
def test_unreachable_hub_fails_at_once_with_one_paragraph(tmp_path, name):
    if "ctranslate2" in name or "convert" in name:
        pytest.importorskip("ctranslate2")
    started = time.monotonic()
    proc = subprocess.run([VNNEWS, *commands(tmp_path)[name]], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=offline_env(tmp_path))
    seconds = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot be reached" in errors[0] and "not in the local cache" in errors[0], proc.stderr
    assert "Retry" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    # 47 s before (every file retried); the probe is one refused connection. The bound leaves room for a
    # loaded machine's start-up (the models' libraries are imported after the probe).
    assert seconds < 15, f"{name}: {seconds:.1f} s"
    assert not (tmp_path / "out.jsonl").exists()


def cache_model(cache: Path, repo_id: str, model_dir: Path) -> Path:
    """Lay ``model_dir`` out as huggingface_hub's cache holds a downloaded ``repo_id`` (refs/main -> snapshot)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    snapshot = repo / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    return snapshot


def test_unreachable_hub_loads_a_cached_model_without_asking_again(tmp_path, tiny_t5):
    """A hub id in the local cache runs offline: the summaries come from the cached snapshot, no retries."""
    env = offline_env(tmp_path)
    cache_model(Path(env["HF_HUB_CACHE"]), "team/tiny-t5", tiny_t5)
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    proc = subprocess.run(
        [VNNEWS, "run", str(ROOT / "configs" / "quickstart.yaml"), "-q", "--set", f"output.path={out}",
         "--set", "summarize.kind=abstractive", "--set", "summarize.model=team/tiny-t5", "--set",
         "summarize.max_new_tokens=8", "--set", "summarize.num_beams=1", "--set", "summarize.device=cpu"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Retry" not in proc.stderr, proc.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 10
    assert time.monotonic() - started < 120


def test_load_source(tmp_path, monkeypatch, tiny_t5):
    """Local directories and reachable hubs pass through; an unreachable hub means the cache or exit 3."""
    from huggingface_hub import constants

    from pipeline import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = cache_model(tmp_path / "hub", "team/tiny-t5", tiny_t5)
    monkeypatch.setattr(hub, "hub_unreachable", lambda: "ConnectError: refused")
    assert hub.load_source(str(tiny_t5), "summarize.model") == str(tiny_t5)
    assert Path(hub.load_source("team/tiny-t5", "summarize.model")) == snapshot
    with pytest.raises(ModelNotFoundError, match=r"cannot be reached .* not in the local cache"):
        hub.load_source("team/absent", "summarize.model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the libraries read only the cache themselves
    assert hub.load_source("team/absent", "summarize.model") == "team/absent"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hub, "hub_unreachable", lambda: None)
    assert hub.load_source("team/absent", "summarize.model") == "team/absent"


def test_hub_unreachable_asks_once_with_a_short_timeout(monkeypatch):
    from huggingface_hub import constants

    from pipeline import hub

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    hub.hub_unreachable.cache_clear()
    try:
        started = time.monotonic()
        assert "ConnectError" in hub.hub_unreachable()
        assert time.monotonic() - started < hub.HUB_TIMEOUT_SECONDS + 1
    finally:
        hub.hub_unreachable.cache_clear()
