"""The dedup stage: near-duplicates of earlier rows and of the output's rows, flagged or spared the models,
and the same flags after a kill and a rerun as in an uninterrupted run."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasketch import MinHash

from pipeline import Pipeline
from pipeline.config import DedupConfig
from pipeline.errors import ConfigError
from pipeline.stages import SKIP_MODELS_KEY
from pipeline.stages.dedup import DUPLICATE_OF, SIMILARITY, DedupStage
from pipeline.text.minhash import Signer, canonical_syllables
from tests.conftest import job, write_jsonl
from tests.synthetic import OBJECTS, SUBJECTS, TAILS, VERBS

VNNEWS = str(Path(sys.executable).parent / "vnnews")
SYLLABLES = sorted({w for phrase in SUBJECTS + VERBS + OBJECTS + TAILS for w in phrase.lower().split()})


def distinct_article(rng: random.Random, index: int, sentences: int = 16) -> dict:
    """An article of random syllables (our own word lists): two of them share almost no 3-syllable run."""
    body = " ".join(" ".join(rng.choice(SYLLABLES) for _ in range(rng.randint(10, 16))).capitalize() + "."
                    for _ in range(sentences))
    return {"id": f"a{index:04d}", "title": f"Tin số {index}", "text": body}


def republished(row: dict, rng: random.Random, new_id: str) -> dict:
    """A copy as another outlet runs it: wire credit added, one sentence dropped, one syllable changed."""
    sentences = row["text"].split(". ")
    sentences.pop(rng.randrange(1, len(sentences)))
    words = ". ".join(sentences).split(" ")
    words[rng.randrange(len(words))] = rng.choice(SYLLABLES)
    return {"id": new_id, "title": row["title"] + " (cập nhật)", "text": "Hà Nội (TTXVN) - " + " ".join(words)
            + "\nTheo TTXVN"}


def stream(count: int, copies: int, seed: int = 3) -> tuple[list[dict], dict[str, str]]:
    """``count`` distinct articles with ``copies`` republished copies placed after their originals."""
    rng = random.Random(seed)
    originals = [distinct_article(rng, i) for i in range(count)]
    rows = list(originals)
    truth = {}
    for n, index in enumerate(rng.sample(range(count - 1), copies)):
        copy = republished(originals[index], rng, f"copy{n:03d}")
        truth[copy["id"]] = originals[index]["id"]
        rows.insert(rng.randint(rows.index(originals[index]) + 1, len(rows)), copy)
    return rows, truth


def records(rows: list[dict]) -> list[dict]:
    return [{**row, "content_hash": row["id"]} for row in rows]


def test_signatures_are_datasketch_minhashes():
    """The batch kernel gives the hash values of a datasketch MinHash updated with the same shingle hashes."""
    signer = Signer(num_perm=64, seed=5, shingle_size=3)
    texts = ["Hà Nội (TTXVN) - Giá vàng hôm nay tăng mạnh, theo các chuyên gia.", "", "một", "hai ba",
             "Hoà bình và thuỷ lợi", " - , . "]
    signatures, lengths = signer.sign(texts)
    for text, signature in zip(texts, signatures, strict=True):
        reference = MinHash(num_perm=64, seed=5, hashfunc=lambda value: value)
        reference.update_batch(signer.shingle_hashes(text))
        assert (reference.hashvalues == signature).all(), text
    assert lengths.tolist() == [len(canonical_syllables(t)) for t in texts] == [13, 0, 1, 2, 5, 0]
    # Tone-mark style, case and punctuation do not change a signature.
    one, other = signer.sign(["Hòa bình, thủy lợi!", "hoà bình thuỷ lợi"])[0]
    assert (one == other).all()


def test_flags_copies_of_earlier_rows_only():
    rows, truth = stream(120, 15)
    out = DedupStage(DedupConfig(enabled=True))(records(rows))
    flagged = {r["id"]: r[DUPLICATE_OF] for r in out if r[DUPLICATE_OF]}
    assert flagged == truth
    assert all(0.8 <= r[SIMILARITY] <= 1.0 for r in out if r[DUPLICATE_OF])
    assert all(r[SIMILARITY] is None for r in out if not r[DUPLICATE_OF])
    assert not any(SKIP_MODELS_KEY in r for r in out)


def test_within_a_batch_same_key_and_short_texts():
    rng = random.Random(1)
    original = distinct_article(rng, 0)
    copy = republished(original, rng, "c1")
    short = {"id": "s1", "title": "", "text": "Ảnh: TTXVN"}
    stage = DedupStage(DedupConfig(enabled=True, action="skip"))
    out = stage(records([original, copy, short, {**short, "id": "s2"}]))
    assert [r[DUPLICATE_OF] for r in out] == [None, "a0000", None, None]  # short texts are not compared
    assert out[1][SKIP_MODELS_KEY] is True and SKIP_MODELS_KEY not in out[0]
    # A new version of a row (same key, as an upsert sends it) is not a copy of its previous version.
    again = stage(records([{**copy, "id": "a0000"}]))
    assert again[0][DUPLICATE_OF] is None
    assert stage.describe()["duplicates"] == 1


def test_dedup_on_ray_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"dedup.enabled needs runner.kind: local"):
        Pipeline.from_dict(job(tmp_path, tmp_path / "in.jsonl", dedup={"enabled": True}, runner={"kind": "ray"}))
    with pytest.raises(ConfigError, match=r"dedup.threshold"):
        Pipeline.from_dict(job(tmp_path, tmp_path / "in.jsonl", dedup={"enabled": True, "threshold": 1.5}))


def test_skip_spares_the_models_and_keeps_input_order(tmp_path):
    rows, truth = stream(30, 5)
    pipe = Pipeline.from_dict(job(tmp_path, tmp_path / "in.jsonl", dedup={"enabled": True, "action": "skip"},
                                  summarize={"method": "lead_title"}))
    out = pipe.process(rows)
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    for row in out:
        if row["id"] in truth:
            assert row[DUPLICATE_OF] == truth[row["id"]] and "topic" not in row and "summary" not in row
        else:
            assert row[DUPLICATE_OF] is None and row["topic"] and row["summary"]


def _write_job(tmp_path: Path, input_path: Path, output_path: Path, **sections) -> Path:
    data = job(tmp_path, input_path, **sections)
    data["output"]["path"] = str(output_path)
    data["input"]["batch_size"] = 25
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _run(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([VNNEWS, "run", str(cfg), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def _flags(output: Path) -> dict[str, str | None]:
    return {r["id"]: r.get(DUPLICATE_OF) for r in map(json.loads, output.read_text(encoding="utf-8").splitlines())}


def test_append_job_compares_with_the_rows_already_in_the_output(tmp_path):
    """Day 2 of an append job: copies of day 1's articles are flagged (their signatures were kept beside the
    output); with the signatures gone, an output without text cannot be compared and says so."""
    rows, _ = stream(60, 0)
    day1 = write_jsonl(tmp_path / "day1.jsonl", rows[:40])
    rng = random.Random(9)
    day2_rows = [republished(rows[i], rng, f"day2-copy{i}") for i in (3, 17)] + rows[40:]
    day2 = write_jsonl(tmp_path / "day2.jsonl", day2_rows)
    output = tmp_path / "out" / "news.jsonl"
    sections = {"dedup": {"enabled": True}, "output": {"mode": "append"}, "classify": {"enabled": False},
                "summarize": {"enabled": False}}
    _run(_write_job(tmp_path, day1, output, **sections))
    assert (tmp_path / "out" / "news.dedup").is_dir()
    _run(_write_job(tmp_path, day2, output, **sections))
    flags = _flags(output)
    assert {k: v for k, v in flags.items() if v} == {"day2-copy3": "a0003", "day2-copy17": "a0017"}
    manifest = json.loads((tmp_path / "out" / "news.manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["dedup"] | {"indexed_from_output": 40, "duplicates": 2, "not_indexed": 0} \
        == manifest["stages"]["dedup"]
    assert "Near-duplicates" in (tmp_path / "out" / "news.report.html").read_text(encoding="utf-8")

    # Without the stored signatures: an output with text is signed again, one without is not compared.
    for include_text, flagged, not_indexed in ((True, 2, 0), (False, 0, 40)):
        shutil.rmtree(tmp_path / "out")
        sections["output"]["include_text"] = include_text
        _run(_write_job(tmp_path, day1, output, **sections))
        shutil.rmtree(tmp_path / "out" / "news.dedup")
        proc = _run(_write_job(tmp_path, day2, output, **sections))
        assert sum(1 for v in _flags(output).values() if v) == flagged
        manifest = json.loads((tmp_path / "out" / "news.manifest.json").read_text(encoding="utf-8"))
        assert manifest["stages"]["dedup"]["not_indexed"] == not_indexed
        assert ("have no stored signature" in proc.stderr) == bool(not_indexed)


def _upsert_dedup_run(tmp_path: Path, rows: list[dict]) -> tuple[Path, Path, Path]:
    """A first upsert run with dedup only (no models) over ``rows``: (input, output, config)."""
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out" / "news.jsonl"
    cfg = _write_job(tmp_path, path, output, dedup={"enabled": True}, output={"mode": "upsert"},
                     classify={"enabled": False}, summarize={"enabled": False})
    _run(cfg)
    return path, output, cfg


def test_upsert_replaces_the_previous_version_in_the_index(tmp_path):
    """An edited article (same id) is not its own copy; a copy of its old text is no longer flagged."""
    rows, _ = stream(30, 0)
    path, output, cfg = _upsert_dedup_run(tmp_path, rows)
    rng = random.Random(4)
    old = rows[5]
    rows[5] = {**republished(old, rng, old["id"])}  # today's version of a5 (same id, edited)
    copy_of_new = republished(rows[5], rng, "copy-of-new")
    write_jsonl(path, [*rows, copy_of_new])
    _run(cfg)
    flags = _flags(output)
    assert flags["a0005"] is None
    assert flags["copy-of-new"] == "a0005"


@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_a_killed_run_gives_the_flags_of_an_uninterrupted_one(tmp_path, mode):
    """Kill-and-rerun with the tests' harness: the resumed index equals the uninterrupted one at every row."""
    from tests.e2e.test_reliability import _kill_and_finish

    rows, truth = stream(1000, 100, seed=11)  # 45 batches: every kill lands well before the end
    rng = random.Random(12)
    earlier_rows = [distinct_article(rng, 5000 + i) for i in range(20)]  # ids apart from the stream's
    earlier = write_jsonl(tmp_path / "earlier.jsonl", earlier_rows)
    rows.append(republished(earlier_rows[0], rng, "late0"))  # a copy of a row the append job's output has
    by_id = {row["id"]: row for row in rows}
    rows += [republished(by_id[f"a{i:04d}"], rng, f"tail{i}") for i in (2, 250)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    results = {}
    for name in ("straight", "killed"):
        output = tmp_path / name / "news.jsonl"
        sections = {"dedup": {"enabled": True}, "output": {"mode": mode},
                    "runner": {"checkpoint_seconds": 0}}  # a part per batch: kills land between saved batches
        if mode == "append":
            _run(_write_job(tmp_path, earlier, output, **sections))
        cfg = _write_job(tmp_path, path, output, **sections)
        if name == "straight":
            _run(cfg)
        else:
            _kill_and_finish(cfg, output, kills=3, seed=7, max_batches=3)
        results[name] = _flags(output)
    assert results["killed"] == results["straight"]
    flagged = {k: v for k, v in results["straight"].items() if v}
    copies = {k: v for k, v in flagged.items() if k in truth}
    assert all(truth[k] == v for k, v in copies.items()) and len(copies) >= 0.95 * len(truth)  # (estimates vary)
    assert flagged["tail2"] == "a0002" and flagged["tail250"] == "a0250"
    assert ("late0" in flagged) == (mode == "append")
    assert len(flagged) == len(copies) + 2 + (mode == "append")  # nothing else


def test_dedup_fields_survive_an_upsert_refresh(tmp_path):
    """A row whose content is unchanged but whose other fields changed keeps its duplicate_of."""
    rows, truth = stream(20, 2)
    path, output, cfg = _upsert_dedup_run(tmp_path, rows)
    write_jsonl(path, [{**row, "views": 7} for row in rows])
    _run(cfg)
    out = {r["id"]: r for r in map(json.loads, output.read_text(encoding="utf-8").splitlines())}
    assert all(r["views"] == 7 for r in out.values())
    assert {k: r[DUPLICATE_OF] for k, r in out.items() if r[DUPLICATE_OF]} == truth


def test_signature_files_cut_by_a_kill_are_ignored_not_fatal(tmp_path):
    """A kill during a store write leaves a hidden temporary file (never read); a damaged batch file is skipped
    with a warning, and compacting removes both."""
    import numpy as np

    from pipeline.stages.dedup import SignatureStore

    store = SignatureStore(tmp_path / "news.dedup", {"version": 1})
    store.append(["a", "b"], ["h1", "h2"], np.ones((2, 4), dtype=np.uint32))
    whole = store.files()[0].read_bytes()
    (store.directory / f".{store.files()[0].name}.tmp").write_bytes(whole[: len(whole) // 2])  # a killed write
    (store.directory / "damaged.npz").write_bytes(whole[: len(whole) // 2])  # a file cut some other way
    assert len(store.files()) == 2  # the temporary file is not a stored batch
    assert set(store.load({("a", "h1"), ("b", "h2")})) == {("a", "h1"), ("b", "h2")}
    store.compact(store.load({("a", "h1")}))
    assert [p.name.startswith("compact-") for p in store.directory.iterdir() if p.suffix != ".json"] == [True]
