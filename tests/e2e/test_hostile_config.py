"""What a user hands `vnnews` besides its input: config files, settings, model folders, `-q`.

Each case runs the real console script as a subprocess, as cron would, and checks the promise:
the documented exit code with one paragraph that names the file or key, never a traceback, never
the contents of a file that is not a config (a password file given by mistake), never a pickle
loaded, and with `-q` nothing at all but errors.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SAMPLES, write_jsonl
from tests.synthetic import articles

VNNEWS = str(Path(sys.executable).parent / "vnnews")
SECRET = "hunter2-Zq8"  # in every hostile file below; must never be printed
FAST = {"classify": {"enabled": False}, "summarize": {"enabled": False}, "runner": {"progress": "off"}}


def _vnnews(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([VNNEWS, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          **kwargs)


def _one_paragraph(proc: subprocess.CompletedProcess, code: int) -> str:
    """The error of a failed command: the documented code, one paragraph on stderr, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    return proc.stderr


def _job(tmp_path: Path, **sections) -> Path:
    data = {"input": {"path": str(write_jsonl(tmp_path / "in.jsonl", articles(3)))},
            "output": {"path": str(tmp_path / "out" / "res.jsonl")}, **json.loads(json.dumps(FAST))}
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# -- files that are not configs: named, never echoed ----------------------------------------------

NOT_CONFIGS = {
    "shadow": f"root:$6${SECRET}$abc:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
    "env": f"DB_PASSWORD={SECRET}\nAPI_KEY={SECRET}\n",
    "ini": f"[default]\naws_access_key_id = AKIA\naws_secret_access_key = {SECRET}\n",
    "ssh-key": f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{SECRET}\n"
               "-----END OPENSSH PRIVATE KEY-----\n",
    "json-list": json.dumps([SECRET, {"password": SECRET}]),
    "k8s-secret": f"apiVersion: v1\nkind: Secret\ndata:\n  password: {SECRET}\n",
    "netrc-like": f"machine db.example.com login admin password {SECRET}\n",
    "invalid-yaml": f"input: {{path: [{SECRET}\n",
    "tab-yaml": f"input:\n\tpath: {SECRET}\n",
    "undefined-alias": f"input: *{SECRET}\n",
    "number": "12345\n",
}


def _hostile_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.conf"
    if name == "binary":
        path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + SECRET.encode() + bytes(range(256)))
    elif name == "latin-1":
        path.write_bytes(f"password: {SECRET} \xe9t\xe9\n".encode("latin-1"))
    elif name == "huge":
        path.write_text(f"input:\n  path: a\n# {SECRET}\n" + "#" * (2 << 20), encoding="utf-8")
    else:
        path.write_text(NOT_CONFIGS[name], encoding="utf-8")
    return path


@pytest.mark.parametrize("name", [*NOT_CONFIGS, "binary", "latin-1", "huge"])
@pytest.mark.parametrize("command", [["run"], ["train"], ["evaluate"], ["config", "show"]])
def test_a_file_that_is_not_a_config_is_named_and_never_echoed(tmp_path, name, command):
    path = _hostile_file(tmp_path, name)
    proc = _vnnews(*command, str(path))
    message = _one_paragraph(proc, 2)
    assert SECRET not in proc.stdout + proc.stderr
    assert str(path) in message and "is not a YAML mapping of vnnews config keys" in message


def test_yaml_errors_give_the_line_and_column_not_the_line_itself(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(f"input:\n  path: in.jsonl\noutput: {{path: [{SECRET}\n", encoding="utf-8")
    message = _one_paragraph(_vnnews("run", str(path)), 2)
    assert "it is not valid YAML: line 4, column 1" in message and SECRET not in message


@pytest.mark.parametrize("kind", ["folder", "fifo", "device", "missing", "empty"])
def test_config_paths_that_are_no_files_fail_at_once(tmp_path, kind):
    path = tmp_path / "job.yaml"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # nobody writes to it: reading must not wait for a writer
    elif kind == "device":
        path = Path("/dev/zero")
    elif kind == "empty":
        path.write_text("", encoding="utf-8")
    message = _one_paragraph(_vnnews("run", str(path), timeout=60), 2)
    assert str(path) in message


def test_unknown_keys_of_a_real_config_are_named_but_values_under_url_never_quoted(tmp_path):
    cfg = _job(tmp_path, output={"url": {"password": SECRET}}, classify={"top_kk": 3})
    message = _one_paragraph(_vnnews("run", str(cfg)), 2)
    assert "output.url: Input should be a valid string" in message
    assert "classify.top_kk: unknown key (did you mean 'top_k'?" in message
    assert SECRET not in message


def test_a_line_of_another_file_inside_a_config_is_pointed_at_by_line(tmp_path):
    cfg = _job(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8") + f"root:$6${SECRET}:19000:0:99999:7:::\n", encoding="utf-8")
    message = _one_paragraph(_vnnews("run", str(cfg)), 2)
    lines = len(cfg.read_text(encoding="utf-8").splitlines())
    assert f"(top level): a key that is not a vnnews key name (line {lines})" in message and SECRET not in message


# -- keys twice, numbers, paths ---------------------------------------------------------------------

def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    cfg = _job(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8") + "runner:\n  progress: bar\n", encoding="utf-8")
    first = next(i for i, line in enumerate(cfg.read_text(encoding="utf-8").splitlines(), 1)
                 if line.startswith("runner:"))
    message = _one_paragraph(_vnnews("run", str(cfg)), 2)
    last = len(cfg.read_text(encoding="utf-8").splitlines()) - 1
    assert f"runner (lines {first} and {last})" in message
    assert "runner.progress=" not in message
    message = _one_paragraph(_vnnews("run", str(_job(tmp_path)), "--set", "input.limit=2", "--set",
                                     "input.limit=3"), 2)
    assert "--set input.limit is given more than once" in message


@pytest.mark.parametrize("override", ["classify.top_k=true", "input.batch_size=yes", "dedup.threshold=on",
                                      "runner.checkpoint_seconds=false", 'input.limit="5"'])
def test_booleans_and_text_are_not_numbers(tmp_path, override):
    message = _one_paragraph(_vnnews("run", str(_job(tmp_path)), "--set", override), 2)
    assert f"{override.split('=')[0]}: must be a number, not " in message


def test_home_and_variables_in_paths_are_expanded_never_a_folder_named_tilde(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    source = write_jsonl(home / "in.jsonl", articles(3))
    data = {"input": {"path": "$NEWS_IN/in.jsonl"}, "output": {"path": "~/out/res.jsonl"}, **FAST}
    cfg = work / "job.yaml"
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {**os.environ, "HOME": str(home), "NEWS_IN": str(source.parent)}
    proc = _vnnews("run", str(cfg), "-q", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    assert len((home / "out" / "res.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    assert sorted(p.name for p in work.iterdir()) == ["job.yaml"]
    env.pop("NEWS_IN")
    message = _one_paragraph(_vnnews("run", str(cfg), cwd=work, env=env), 2)
    assert "input.path: names the environment variable $NEWS_IN, which is not set" in message
    assert sorted(p.name for p in work.iterdir()) == ["job.yaml"]



@pytest.mark.parametrize(("key", "value"), [("input.path", "s3://bucket/day/"), ("output.path", "$OUT/day.jsonl"),
                                            ("classify.model", "file:///srv/models/topic")])
def test_a_url_where_a_path_belongs_is_refused_by_name_never_a_local_folder(tmp_path, key, value):
    """As a path, s3://bucket/day/ would be a folder s3: in the working directory (and a run would read or write
    there): refused before anything is read, saying to copy the files first."""
    work = tmp_path / "work"
    work.mkdir()
    cfg = _job(tmp_path)
    env = {**os.environ, "OUT": "gs://news-results"}
    message = _one_paragraph(_vnnews("run", str(cfg), "--set", f"{key}={value}", cwd=work, env=env), 2)
    scheme = "gs://" if value.startswith("$") else value.split("//")[0] + "//"
    assert f"{key}: is a URL ({scheme}...), not a path on this machine" in message and "copy the files" in message
    assert sorted(p.name for p in work.iterdir()) == []

# -- model folders: the model error, never exit 1, never a pickle loaded -------------------------

class _Marker:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _model_folder(tmp_path: Path, source: Path | None, damage: str) -> tuple[Path, Path]:
    """A copy of ``source`` damaged as ``damage`` says (or a folder made from nothing), and the marker file a
    loaded pickle would create."""
    folder, marker = tmp_path / f"model-{damage}", tmp_path / "unpickled"
    if damage in ("empty", "pickle-only"):
        folder.mkdir()
    else:
        shutil.copytree(source, folder)
    if damage == "pickle-only":
        (folder / "model.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    elif damage == "pickled-weights":
        for weights in folder.glob("*.safetensors"):
            weights.unlink()
        (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Marker(marker)))
    elif damage == "config-cut":
        config = folder / "config.json"
        config.write_bytes(config.read_bytes()[: len(config.read_bytes()) // 2])
    elif damage == "config-list":
        (folder / "config.json").write_text("[1, 2]", encoding="utf-8")
    elif damage == "weights-cut":
        for weights in folder.glob("*.safetensors"):
            weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "weights-junk":
        for weights in folder.glob("*.safetensors"):
            weights.write_bytes(b"not a tensor file\n" * 10)
    return folder, marker


SETTINGS = {
    "classify.model": ({"classify": {"enabled": True}}, ROOT / "models" / "topic-tfidf-vntc"),
    "summarize.extractive_model": ({"summarize": {"enabled": True}}, ROOT / "models" / "summary-extractive-vietnews"),
    "summarize.model": ({"summarize": {"enabled": True, "kind": "abstractive"}}, None),
    "summarize.model (ctranslate2)": ({"summarize": {"enabled": True, "kind": "abstractive",
                                                     "backend": "ctranslate2"}}, None),
}


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("damage", ["empty", "pickle-only", "pickled-weights", "config-cut", "config-list",
                                    "weights-cut", "weights-junk"])
def test_a_folder_that_is_not_a_model_is_the_model_error(tmp_path, tiny_t5, setting, damage):
    sections, source = SETTINGS[setting]
    folder, marker = _model_folder(tmp_path, source or tiny_t5, damage)
    key = setting.split(" ")[0]
    sections = {**sections, "runner": {"progress": "off"}}
    if "ctranslate2" in setting:
        sections["summarize"] = {**sections["summarize"], "ct2_cache_dir": str(tmp_path / "ct2")}
    proc = _vnnews("run", str(_job(tmp_path, **sections)), "-q", "--set", f"{key}={folder}", timeout=300)
    message = _one_paragraph(proc, 3)
    assert str(folder) in message
    assert "model.safetensors" in message or "weights.safetensors" in message or "trees.safetensors" in message
    assert not marker.exists(), "a pickle was loaded"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task", ["summary", "topic"])
@pytest.mark.parametrize("damage", ["pickled-weights", "weights-cut", "config-list"])
def test_a_training_base_model_that_is_not_a_model_is_the_model_error(tmp_path, tiny_t5, task, damage):
    folder, marker = _model_folder(tmp_path, tiny_t5, damage)
    rows = write_jsonl(tmp_path / "pairs.jsonl", [{"title": f"Tin {i}", "text": f"Bài báo số {i} về bóng đá.",
                                                    "label": "a" if i % 2 else "b"} for i in range(40)])
    if task == "summary":
        data = {"task": "summary", "data": {"path": str(rows), "text_field": "text", "summary_field": "title"},
                "model": {"kind": "seq2seq", "base_model": str(folder), "max_steps": 1}}
    else:
        data = {"data": {"path": str(rows)}, "model": {"kind": "transformer", "model": str(folder), "epochs": 1}}
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump({**data, "output_dir": str(tmp_path / "model")}), encoding="utf-8")
    message = _one_paragraph(_vnnews("train", str(cfg), "-q", timeout=300), 3)
    assert str(folder) in message and "model.safetensors" in message
    assert not marker.exists(), "a pickle was loaded"


# -- -q: nothing but errors ---------------------------------------------------------------------------

def test_quiet_abstractive_run_prints_nothing(tmp_path, tiny_t5):
    cfg = _job(tmp_path, summarize={"enabled": True, "kind": "abstractive", "model": str(tiny_t5),
                                    "max_new_tokens": 4, "num_beams": 1},
               runner={"progress": "bar"}, input={"path": str(SAMPLES)})
    proc = _vnnews("run", str(cfg), "-q", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def test_quiet_on_a_terminal_draws_no_bar(tmp_path, tiny_t5):
    """On a terminal the run would draw a progress bar and transformers its loading bar; with -q, nothing
    visible (a terminal may still get an invisible colour reset, which numba's import leaves behind)."""
    import pty

    cfg = _job(tmp_path, summarize={"enabled": True, "kind": "abstractive", "model": str(tiny_t5),
                                    "max_new_tokens": 4, "num_beams": 1}, input={"path": str(SAMPLES)})
    master, slave = pty.openpty()
    proc = subprocess.Popen([VNNEWS, "run", str(cfg), "-q", "--set", "runner.progress=auto"], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    assert proc.wait(timeout=300) == 0
    reader.join(timeout=10)
    os.close(master)
    visible = re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", b"".join(chunks)).strip()
    assert visible == b"", visible.decode(errors="replace")


def test_quiet_model_error_is_the_error_alone(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "evil"}', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    cfg = _job(tmp_path, summarize={"enabled": True, "kind": "abstractive", "model": str(folder)})
    proc = _vnnews("run", str(cfg), "-q", timeout=300)
    message = _one_paragraph(proc, 3)
    assert proc.stdout == "" and message.count("\n") == 1 and "[transformers]" not in message


def test_quiet_train_evaluate_and_convert_print_nothing(tmp_path, tiny_t5):
    rows = [{"id": f"{label}-{i}", "label": label,
             "text": f"Hôm nay {word} số {i} được nhắc đến. Chuyện {word} còn dài."}
            for label, word in (("Thể thao", "bóng đá"), ("Kinh doanh", "giá vàng")) for i in range(12)]
    data = write_jsonl(tmp_path / "labelled.jsonl", rows)
    train = tmp_path / "train.yaml"
    train.write_text(yaml.safe_dump({"data": {"path": str(data)}, "output_dir": str(tmp_path / "model"),
                                     "model": {"kind": "tfidf_linear", "min_df": 1, "calibration_folds": 0}},
                                    allow_unicode=True), encoding="utf-8")
    evaluate = tmp_path / "evaluate.yaml"
    evaluate.write_text(yaml.safe_dump({"model": str(tmp_path / "model"), "data": {"path": str(data)},
                                        "output_dir": str(tmp_path / "report")}, allow_unicode=True), encoding="utf-8")
    for args in (["train", str(train)], ["evaluate", str(evaluate)],
                 ["models", "convert", str(tiny_t5), str(tmp_path / "ct2")]):
        proc = _vnnews(*args, "-q", timeout=300)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout == "" and proc.stderr == "", (args, proc.stdout, proc.stderr)
    assert (tmp_path / "report" / "metrics.json").is_file() and (tmp_path / "ct2" / "model.bin").is_file()
