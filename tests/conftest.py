"""Shared fixtures: paths to the real data, and tiny seq2seq models built once per session.

The tiny models are real Hugging Face models (a T5 and a BART with a `tokenizers` tokenizer
trained on our own sample articles), saved with ``save_pretrained`` and loaded back through the
same ``from_pretrained`` code the pipeline uses for ViT5 or BARTpho. Their weights are random,
so tests assert mechanics (shapes, order, determinism), never summary quality.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "articles.jsonl"
SHARED_DATA = Path(os.environ.get("VNNEWS_SHARED_DATA", ROOT.parent / "shared" / "data"))
# Recorded (golden) tests rewrite their fixture from the code as it is, instead of comparing with it, when
# VNNEWS_REGENERATE_GOLDEN=1: after a retrain, the one way to make them pass again, on purpose.
REGENERATE_GOLDEN = os.environ.get("VNNEWS_REGENERATE_GOLDEN") == "1"


def regenerate_command(test: str) -> str:
    """The command that records ``test``'s fixture again (a recorded test's failure message names it)."""
    return f"`VNNEWS_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest {test}`"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real VNTC/VietNews files). CI always has it, so there a missing copy fails."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {SHARED_DATA}; set VNNEWS_SHARED_DATA")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def seed_page(shared_data: Path) -> Path:
    return shared_data / "seed" / "infonet-article.txt"


@pytest.fixture(scope="session")
def sample_rows() -> list[dict]:
    return [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]


def _train_tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "</s>", "<unk>", "<s>"]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=specials))
    tok.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", bos_token="<s>"
    )


@pytest.fixture(scope="session")
def tiny_tokenizer(sample_rows):
    return _train_tokenizer([r["title"] + "\n" + r["text"] for r in sample_rows])


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory, tiny_tokenizer) -> Path:
    """A 2-layer T5 (ViT5's architecture, tiny sizes) saved as safetensors with its tokenizer."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tiny_tokenizer), d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2,
        num_decoder_layers=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    path = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bart(tmp_path_factory, tiny_tokenizer) -> Path:
    """A 1+1-layer BART (BARTpho's architecture, tiny sizes)."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=len(tiny_tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=256, pad_token_id=0, eos_token_id=1, bos_token_id=3,
        decoder_start_token_id=1, forced_eos_token_id=1,
    )
    path = tmp_path_factory.mktemp("tiny-bart")
    BartForConditionalGeneration(config).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def vntc_subset(shared_data: Path, tmp_path_factory) -> Path:
    """A 1,000-article stratified-by-order slice of VNTC train (100 per topic), for fast training tests."""
    import gzip

    per_label: dict[str, list[str]] = {}
    with gzip.open(shared_data / "vntc" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            label = json.loads(line)["label"]
            bucket = per_label.setdefault(label, [])
            if len(bucket) < 100:
                bucket.append(line)
    path = tmp_path_factory.mktemp("vntc") / "subset.jsonl"
    path.write_text("".join(line for lines in per_label.values() for line in lines), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def job(tmp_path: Path, input_path: Path, **sections) -> dict:
    """A minimal job config dict writing into tmp_path; sections override the defaults."""
    data = {
        "input": {"path": str(input_path)},
        "summarize": {"kind": "extractive"},
        "output": {"path": str(tmp_path / "out" / "results.jsonl")},
        "runner": {"progress": "off"},
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request, tmp_path) -> str:
    """A SQLAlchemy URL for the SQL sink tests: SQLite always, PostgreSQL from :func:`postgres_url`."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sink.db'}"
    return postgres_url()


class _TestPostgres:
    """A throwaway PostgreSQL server for this test session (started on first use, stopped at the end).

    Started from Debian's server binaries (/usr/lib/postgresql/<version>/bin) in a temporary data folder,
    listening on 127.0.0.1 at a free port, trusting local connections; as root the server runs as the
    unprivileged user ``vnnews-pg`` (PostgreSQL refuses to run as root), as .ci/start_test_postgres.sh does.
    """

    USER = "vnnews-pg"

    def __init__(self) -> None:
        self.url: str | None = None
        self.data: Path | None = None
        self.bin: Path | None = None
        self.problem: str | None = None

    def _as_server_user(self) -> dict:
        if os.geteuid() != 0:
            return {}
        import pwd
        import subprocess

        try:
            pwd.getpwnam(self.USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", self.USER], check=True, capture_output=True)
        return {"user": self.USER}

    def start(self) -> str | None:
        """The server's URL, starting it once; None (and ``problem`` says why) when it cannot be started."""
        if self.url or self.problem:
            return self.url
        import glob
        import shutil
        import socket
        import subprocess
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: [
            int(part) if part.isdigit() else 0 for part in Path(p).parent.parent.name.split(".")])
        if not found:
            self.problem = ("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): install them "
                            "(apt-get install postgresql) or set VNNEWS_TEST_POSTGRES_URL")
            return None
        self.bin = Path(found[-1]).parent
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.data = Path(tempfile.mkdtemp(prefix="vnnews-test-pg-"))
        try:
            who = self._as_server_user()
            if who:
                shutil.chown(self.data, who["user"])
            run = {"check": True, "capture_output": True, "text": True, "timeout": 120, **who}
            subprocess.run([self.bin / "initdb", "-D", self.data / "db", "-A", "trust", "-U", "postgres", "-E", "UTF8",
                            "--no-sync"], **run)
            subprocess.run([self.bin / "pg_ctl", "-D", self.data / "db", "-l", self.data / "server.log", "-w", "-o",
                            f"-p {port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], **run)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            self.problem = f"the test PostgreSQL server did not start: {str(detail).strip()[-500:]}"
            shutil.rmtree(self.data, ignore_errors=True)
            return None
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        os.environ["VNNEWS_TEST_POSTGRES_URL"] = self.url  # (for the commands the tests start)
        return self.url

    def stop(self) -> None:
        import shutil
        import subprocess

        if self.url and self.data is not None:
            subprocess.run([self.bin / "pg_ctl", "-D", self.data / "db", "-m", "immediate", "stop"],
                           capture_output=True, timeout=60, **self._as_server_user())
            os.environ.pop("VNNEWS_TEST_POSTGRES_URL", None)
            shutil.rmtree(self.data, ignore_errors=True)
            self.url = None


_TEST_POSTGRES = _TestPostgres()
_GIVEN_POSTGRES_URL = os.environ.get("VNNEWS_TEST_POSTGRES_URL")


@pytest.fixture(scope="session", autouse=True)
def _stop_test_postgres():
    """Stops the test session's own PostgreSQL server (if a test started one) when the session ends."""
    yield
    _TEST_POSTGRES.stop()


def postgres_url() -> str:
    """The test PostgreSQL server's URL: VNNEWS_TEST_POSTGRES_URL when set, else a server this session starts
    (:class:`_TestPostgres`); skips the test when neither can be had, fails it under CI (which must have one)."""
    url = _GIVEN_POSTGRES_URL or _TEST_POSTGRES.start()
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"no PostgreSQL server for the SQL tests under CI: {_TEST_POSTGRES.problem}")
        pytest.skip(f"no PostgreSQL server: {_TEST_POSTGRES.problem}")
    return url


def unique_table() -> str:
    import uuid

    return f"t_{uuid.uuid4().hex[:12]}"
