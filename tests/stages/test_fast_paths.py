"""The batch fast paths of the normalize and classify stages give the same output as the
straightforward per-record code they replaced, on real VNTC/VietNews articles and on crafted
edge cases (junk characters, CRLF, NBSP, tone styles, decomposed and non-Vietnamese text).

The references below are the previous implementations, kept here verbatim in spirit: a Python
loop over every character for the language check's letter counts (the identifier it falls back
on for doubtful texts is the same function on both sides), ``clean_text`` per text, Python
``round`` per score.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import ClassifyConfig, NormalizeConfig
from pipeline.stages import QUARANTINE_KEY
from pipeline.stages.classify import ClassifyStage, classifier_input, round6
from pipeline.stages.normalize import NormalizeStage
from pipeline.text.language import (
    CLEARLY_VIETNAMESE,
    MIN_DIACRITICS,
    MIN_LETTERS_FOR_LANGUAGE_CHECK,
    MIN_VIETNAMESE_ONLY,
    identify,
    language_verdicts,
)
from pipeline.text.normalize import (
    clean_batch,
    clean_text,
    html_to_text,
    looks_like_html,
    set_tone_style,
)
from pipeline.text.scan import scan_texts
from pipeline.topic import load_topic_model

_MARKED = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵð")
_VIETNAMESE_ONLY = set("ăđĩũơư") | {chr(c) for c in range(0x1EA0, 0x1EFA)}


def language_problems(texts, counts) -> list[str | None]:
    return language_verdicts(texts, counts).problems


def reference_language_problem(text: str) -> str | None:
    """The per-character Python loop the compiled scan replaced, then the identifier if doubtful."""
    letters = [ch for ch in text.lower() if ch.isalpha()]
    if len(letters) < MIN_LETTERS_FOR_LANGUAGE_CHECK:
        return None
    latin = sum(1 for ch in letters if ch < "\u0250" or ch in _MARKED or "\u1e00" <= ch <= "\u1eff")
    if latin / len(letters) < 0.5:
        return "text is not Vietnamese (mostly non-Latin script)"
    foreign = sum(1 for ch in letters if "\u00c0" <= ch < "\u0250" and ch not in _MARKED)
    if foreign / latin > 0.01:
        return "text is not Vietnamese Unicode (letters like ä, ö, ø: mis-encoded VNI/TCVN3 text or another language)"
    marked = sum(1 for ch in letters if ch in _MARKED)
    if marked / latin >= CLEARLY_VIETNAMESE:
        return None
    lang = identify(text)
    if lang == "vi" or sum(ch in _VIETNAMESE_ONLY for ch in letters) >= MIN_VIETNAMESE_ONLY * latin:
        return None
    if marked / latin < MIN_DIACRITICS:
        return f"text is not Vietnamese (no Vietnamese diacritics, identified as '{lang}')"
    return f"text is not Vietnamese (identified as '{lang}')"


def reference_counts(text: str) -> list[int]:
    letters = [ch for ch in text.lower() if ch.isalpha()]
    latin = sum(1 for ch in letters if ch < "\u0250" or ch in _MARKED or "\u1e00" <= ch <= "\u1eff")
    foreign = sum(1 for ch in letters if "\u00c0" <= ch < "\u0250" and ch not in _MARKED)
    return [len(letters), latin, foreign, sum(1 for ch in letters if ch in _MARKED)]


def reference_normalize(record: dict, config: NormalizeConfig) -> dict:
    """The former per-record NormalizeStage.normalize (raw_pages off)."""
    if len(record["text"]) > config.max_chars:
        chars = len(record["text"])
        record[QUARANTINE_KEY] = f"text has {chars:,} characters, above normalize.max_chars={config.max_chars:,}"
        return record
    if len(record.get("title") or "") > config.max_title_chars:
        chars = len(record.get("title") or "")
        record[QUARANTINE_KEY] = (
            f"title has {chars:,} characters, above normalize.max_title_chars={config.max_title_chars:,}"
        )
        return record
    text = record["text"]
    if config.strip_html and looks_like_html(text):
        text = html_to_text(text)
    record["title"] = clean_text(record.get("title") or "", config.tone_style)
    text = clean_text(text, config.tone_style)
    record["text"] = text
    if not text:
        record[QUARANTINE_KEY] = "text is empty after normalization"
    elif config.language_check and (problem := reference_language_problem(text)):
        record[QUARANTINE_KEY] = problem
    elif config.language_check and reference_diacritics(text) is False:
        record["diacritics"] = False
    return record


def reference_diacritics(text: str) -> bool:
    """False for a text judged (enough letters, Latin, no foreign ones) with few Vietnamese marks."""
    letters, latin, foreign, marked = reference_counts(text)
    judged = letters >= MIN_LETTERS_FOR_LANGUAGE_CHECK and latin / letters >= 0.5 and foreign / latin <= 0.01
    return not judged or marked / latin >= MIN_DIACRITICS


def reference_classify(records: list[dict], stage: ClassifyStage) -> list[dict]:
    """The former per-record loop of ClassifyStage."""
    classes, cfg = stage.model.classes_, stage.config
    proba = stage.model.predict_proba([classifier_input(r) for r in records])
    best = proba.argmax(axis=1)
    order = np.argsort(-proba, axis=1)[:, : cfg.top_k] if cfg.top_k else None
    for i, record in enumerate(records):
        score = float(proba[i, best[i]])
        record["topic"] = None if cfg.min_score is not None and score < cfg.min_score else classes[best[i]]
        record["topic_score"] = round(score, 6)
        if order is not None:
            record["topic_top_k"] = [{"label": classes[j], "score": round(float(proba[i, j]), 6)} for j in order[i]]
    return records


VI = "Hà Nội mưa to, nước ngập nhiều tuyến phố trung tâm khiến giao thông ùn tắc kéo dài tới tối. " * 3
EDGE_CASES = [
    "", " ", "\n", "\r\n", "a", VI, VI.strip(), " " + VI, VI + "\n", "\n" + VI,
    VI.replace(" ", "  "), VI.replace(" ", "\u00a0"), VI.replace(" ", "\t"), VI.replace(". ", ".\r\n"),
    VI.replace(". ", ".\r"), VI.replace(". ", ".\n\n\n"), VI.replace(". ", ".\n\n"), VI.replace(". ", ". \n "),
    VI.replace("a", "a\u200b"), VI.replace("Nội", "N\u00adội"), "\ufeff" + VI, VI + "\x00\x07\x1f\x7f",
    unicodedata.normalize("NFD", VI), "Hoà thuỷ khoẻ quý hoàng. " * 6, "Hòa thủy khỏe quý hoàng. " * 6,
    "Ha Noi mua to, nuoc ngap nhieu tuyen pho trung tam khien giao thong un tac keo dai toi toi. " * 3,
    "The quick brown fox jumps over the lazy dog near the river bank every single morning. " * 3,
    "北京今天下雨，交通拥堵严重，很多人迟到了。" * 10, "Москва сегодня дождь, пробки на дорогах города. " * 4,
    "Hµ Néi m­a to, n­íc ngËp nhiÒu tuyÕn phè trung t©m khiÕn giao th«ng ïn t¾c. " * 3,
    "Größe Übung Ärger Ölförderung für schöne Straßen in München. " * 4,
    "Le conseil municipal a adopté mardi le nouveau budget après un long débat sur les transports. " * 3,
    VI + " 😀🎉 " + VI, "𐐀𐐁𐐂 " * 40 + VI, VI + "\ud800 lone surrogate", "a\u2028b\u2029c\x85d\u1680e",
    "\u2028" + VI, VI + "\u3000", "x" + "\u2003" * 5 + "y", "e\u0301 \u1100\u1161\u11a8 " + VI,
    "\u212b\u2126 " + VI, "İstanbul ΣΑΣ ΟΔΥΣΣΕΥΣ " * 10,
    "<div><p>" + VI + "</p><script>x()</script><p>Hết.</p></div>", "a < b and c > d " + VI,
]
JUNK = "\r\n\t \u00a0\u200b\ufeff\u00ad\x00\x1f\u2028\u3000\u2003\u0301\u1161ạăđÄ😀\ud800Σİ"
junky_text = st.text(alphabet=st.sampled_from(list(JUNK) + list("Hà Nội mưa to.") + list("abcXYZ")), max_size=60)


def _real_texts(shared_data, n: int = 400) -> list[dict]:
    rows = []
    with gzip.open(shared_data / "vntc" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in itertools.islice(fh, 0, 20_000, 50):  # every 50th article, all ten topics
            rows.append({"title": "", "text": json.loads(line)["text"]})
    with gzip.open(shared_data / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in itertools.islice(fh, 200):
            row = json.loads(line)
            rows.append({"title": row["title"], "text": row["body"]})
    return rows[:n] + rows[-200:]


@pytest.fixture(scope="module")
def real_rows(shared_data) -> list[dict]:
    return _real_texts(shared_data)


def _records(rows: list[dict]) -> list[dict]:
    return [{"id": str(i), "title": r.get("title", ""), "text": r["text"]} for i, r in enumerate(rows)]


@pytest.mark.parametrize("style", ["keep", "old", "new"])
def test_clean_batch_and_language_match_references_on_crafted_texts(style):
    cleaned, counts = clean_batch(EDGE_CASES, style)
    assert cleaned == [clean_text(t, style) for t in EDGE_CASES]
    assert counts.tolist() == [reference_counts(t) for t in cleaned]
    assert language_problems(cleaned, counts) == [reference_language_problem(t) for t in cleaned]
    stripped, counts = clean_batch(EDGE_CASES, style, html=True)
    assert stripped == [clean_text(html_to_text(t) if looks_like_html(t) else t, style) for t in EDGE_CASES]
    assert stripped != cleaned  # the crafted cases include markup
    assert counts.tolist() == [reference_counts(t) for t in stripped]


def test_crafted_cases_exercise_every_language_verdict():
    verdicts = {reference_language_problem(clean_text(t)) for t in EDGE_CASES}
    assert len({v.split(" (")[0] if v else v for v in verdicts}) == 3  # None, not Vietnamese (Unicode)
    assert len(verdicts) == 5  # None, non-Latin, mis-encoded, identified as English (no diacritics), French


@settings(max_examples=400, deadline=None)
@given(st.lists(junky_text, max_size=6))
def test_scan_never_calls_a_dirty_text_clean(texts):
    scan = scan_texts(texts)
    for text, clean, counts in zip(texts, scan.clean.tolist(), scan.counts.tolist(), strict=True):
        if clean:
            assert clean_text(text) == text
        assert counts == reference_counts(text)


def test_fast_paths_match_references_on_real_articles(real_rows):
    texts = [r["text"] for r in real_rows]
    scan = scan_texts(texts)
    assert scan.clean.mean() > 0.9  # the shortcut does fire on real news
    for style in ("keep", "new"):
        cleaned, counts = clean_batch(texts, style)
        assert cleaned == [clean_text(t, style) for t in texts]
        assert language_problems(cleaned, counts) == [reference_language_problem(t) for t in cleaned]


@pytest.mark.parametrize("config", [
    NormalizeConfig(), NormalizeConfig(tone_style="new"), NormalizeConfig(tone_style="old", strip_html=False),
    NormalizeConfig(language_check=False, max_chars=2_000, max_title_chars=10),
])
def test_normalize_stage_matches_per_record_reference(real_rows, config):
    rows = real_rows[::4] + [{"title": t[:40], "text": t} for t in EDGE_CASES if t.strip()]
    ours = NormalizeStage(config)(_records(rows))
    reference = [reference_normalize(r, config) for r in _records(rows)]
    assert ours == reference
    assert any(QUARANTINE_KEY in r for r in ours)


@pytest.mark.parametrize("config", [
    ClassifyConfig(top_k=3), ClassifyConfig(top_k=0, batch_size=7), ClassifyConfig(top_k=10, min_score=0.9),
])
def test_classify_stage_matches_per_record_reference(real_rows, config):
    stage = ClassifyStage(config)
    rows = real_rows[::3]
    ours = stage(_records(rows))
    assert ours == reference_classify(_records(rows), stage)
    assert stage([]) == []


def test_round6_is_pythons_round_bit_for_bit():
    rng = random.Random(7)
    values = [rng.random() for _ in range(20_000)] + [rng.random() * 1e-4 for _ in range(2_000)]
    values += [k / 1e6 + 5e-7 for k in range(0, 1_000_000, 997)]  # ties in decimal, not quite in binary
    values += [2.0**-7, 2.0**-9 * 3, 0.0, 1.0, 0.5, 1e-7, 4.9999999e-7, 5e-7, float("nan")]
    ours = round6(np.array(values)).tolist()
    expected = [round(v, 6) for v in values]
    assert [np.float64(a).tobytes() for a in ours] == [np.float64(b).tobytes() for b in expected]
    grid = np.array(values[:60]).reshape(6, 10)
    assert round6(grid).tolist() == [[round(v, 6) for v in row] for row in grid.tolist()]


def test_vectorizer_gives_the_same_scores_in_utf16_and_utf32_batches(real_rows):
    model = load_topic_model("models/topic-tfidf-vntc")
    texts = [r["text"] for r in real_rows[:50]]
    alone = model.decision_function(texts)  # no astral character: one UTF-16 array
    mixed = model.decision_function([*texts, "Bóng đá 😀 thắng lớn"])  # one emoji: the batch goes UTF-32
    assert np.array_equal(alone, mixed[:-1])
    assert np.array_equal(model.decision_function(["Bóng đá 😀 thắng"]), model.decision_function(["Bóng đá   thắng"]))
    assert model.decision_function(["Bóng đá \ud800 thắng"]).shape == (1, len(model.classes_))  # no crash


def test_tone_style_fast_path_equals_set_tone_style_after_cleaning():
    texts = ["Hoà thuỷ khoẻ quý hoàng", "Hòa  thủy\r\nkhỏe"]
    for style in ("old", "new"):
        assert clean_batch(texts, style)[0] == [set_tone_style(clean_text(t), style) for t in texts]


def test_scan_tables_saved_on_disk_are_the_tables_built(tmp_path, monkeypatch):
    """The scan's tables are built once and kept in the user's cache folder: what is loaded must be what
    is built, and a damaged file is rebuilt, not trusted."""
    import numpy as np

    from pipeline.text import scan

    monkeypatch.setenv("VNNEWS_CACHE_DIR", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / f"scan_tables.{scan._tables_key()}.npz"
    built = scan.build_scan_tables()
    for damage in (None, b"not an npz file"):
        if damage:
            cache.write_bytes(damage)
        scan.scan_tables.cache_clear()
        first = scan.scan_tables()  # builds (and saves) when the file is missing or damaged
        scan.scan_tables.cache_clear()
        loaded = scan.scan_tables()
        for a, b, c in zip(built, first, loaded, strict=True):
            assert a.dtype == b.dtype == c.dtype and np.array_equal(a, b) and np.array_equal(a, c)
    scan.scan_tables.cache_clear()
