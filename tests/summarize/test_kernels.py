"""The compiled candidate features agree with the plain-Python definitions of the string-derived ones,
and the shipped summarizer still picks what it picked before the features were compiled."""

import gzip
import hashlib
import itertools
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.summarize.clauses import MIN_TRIMMED_SYLLABLES, without_leading_clause, without_trailing_clause
from pipeline.summarize.embeddings import CorpusVectors
from pipeline.summarize.features import FEATURE_NAMES, candidate_features
from pipeline.summarize.learned import LearnedExtractiveSummarizer
from pipeline.text.normalize import split_sentences, syllables
from tests.conftest import REGENERATE_GOLDEN, ROOT, regenerate_command

CHOICES = ROOT / "tests" / "summarize" / "data" / "summary_choices_dev.json"
REGENERATE_COMMAND = regenerate_command("tests/summarize/test_kernels.py -k recorded")
_CAPITALIZED_RE = re.compile(r"\b[A-ZÀ-ỸĐ]\w*", re.UNICODE)
_QUOTES = ('"', "“", "”", "«", "»")

WORDS = st.sampled_from(["Hà", "Nội", "UBND", "ông", "cho", "biết", "iPhone", "TP.HCM", "10,5", "2027", "x3",
                         "Ảnh", "ý", "đ", "Đà", "×", "A1", "_", "“Tốt”", "(NLĐ)", "«", "'", ")", "…", ":", "!", "?"])
SEPARATORS = st.sampled_from([" ", " ", " ", ", ", ",  ", ",\t", ". ", " - ", "\u00a0", ","])


@st.composite
def sentences(draw):
    words = draw(st.lists(WORDS, min_size=1, max_size=30))
    text = words[0]
    for word in words[1:]:
        text += draw(SEPARATORS) + word
    return text.strip() or "x"


@pytest.fixture(scope="module")
def tiny_vectors():
    texts = ["Hà Nội cho biết", "ông UBND 2027", "Đà Nẵng iPhone x3", "Ảnh ý đ"]
    return CorpusVectors.fit([syllables(t) for t in texts], dim=2, max_terms=100, min_df=1, seed=0)


def expected_candidates(article):
    """(sentence, trim, text) of every candidate, defined with the clause functions and syllables()."""
    out = [(i, 0, s) for i, s in enumerate(article)]
    for kind, trim in ((1, without_leading_clause), (2, without_trailing_clause)):
        for i, s in enumerate(article):
            variant = trim(s)
            if variant is not None and len(syllables(variant)) >= MIN_TRIMMED_SYLLABLES:
                out.append((i, kind, variant))
    return out


@settings(max_examples=150, deadline=None)
@given(title=sentences(), article=st.lists(sentences(), min_size=1, max_size=5))
def test_string_features_match_their_python_definitions(tiny_vectors, title, article):
    candidates, features = candidate_features(title, article, tiny_vectors)
    assert [(c.sentence, c.trim, c.text) for c in candidates] == expected_candidates(article)
    col = {name: features[:, i] for i, name in enumerate(FEATURE_NAMES)}
    for j, c in enumerate(candidates):
        tokens = syllables(c.text)
        stripped = c.text.rstrip()
        assert col["length"][j] == len(tokens)
        assert col["numbers"][j] == sum(not t.isalpha() and re.search(r"\d", t) is not None for t in tokens)
        assert col["entities"][j] == (len(_CAPITALIZED_RE.findall(c.text.lstrip()[1:])) if c.text.strip() else 0)
        assert col["ends_with_stop"][j] == stripped.rstrip("\"”»')").endswith((".", "!", "?", "…"))
        assert col["has_quote"][j] == any(q in c.text for q in _QUOTES)
        assert col["ends_with_colon"][j] == stripped.endswith(":")
        title_terms = set(syllables(title))
        overlap = len(title_terms & set(tokens)) / len(title_terms) if title_terms else 0.0
        assert col["title_overlap"][j] == pytest.approx(overlap, abs=1e-6)
    assert np.isfinite(features).all()


def test_the_kernel_writes_one_column_per_feature_name(tiny_vectors):
    from pipeline.summarize import kernels

    assert len(FEATURE_NAMES) == kernels.N_FEATURES
    features = candidate_features("Tiêu đề", ["Một câu có chữ.", "Câu hai."], tiny_vectors)[1]
    assert features.shape == (2, len(FEATURE_NAMES))


def _choices(model, rows):
    titles = [r.get("title") or "" for r in rows]
    chosen = model.select_batch(titles, [split_sentences(r["body"]) for r in rows])
    return {r["id"]: [[c.sentence, c.trim] for c in cs] for r, cs in zip(rows, chosen, strict=True)}


def test_shipped_summarizer_picks_the_recorded_sentences(shared_data):
    """The first 1,000 VietNews dev articles: the shipped model picks the same (sentence, trim) as when
    recorded. After retraining the model the test fails; record the choices again with
    ``VNNEWS_REGENERATE_GOLDEN=1`` (this test then rewrites them from the model as it is, see :func:`record`)."""
    if REGENERATE_GOLDEN:
        record()
        return
    recorded = json.loads(CHOICES.read_text(encoding="utf-8"))
    model_dir = ROOT / "models" / "summary-extractive-vietnews"
    assert recorded["trees_sha256"] == hashlib.sha256((model_dir / "trees.safetensors").read_bytes()).hexdigest(), (
        f"the shipped model changed since the choices were recorded: record them again with {REGENERATE_COMMAND}"
    )
    with gzip.open(shared_data / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in itertools.islice(fh, len(recorded["choices"]))]
    got = _choices(LearnedExtractiveSummarizer.load(model_dir), rows)
    assert got == recorded["choices"]


def record() -> None:
    """Write tests/summarize/data/summary_choices_dev.json from the shipped model (ids and indices, no text)."""
    from tests.conftest import SHARED_DATA

    model_dir = ROOT / "models" / "summary-extractive-vietnews"
    with gzip.open(SHARED_DATA / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in itertools.islice(fh, 1000)]
    data = {
        "trees_sha256": hashlib.sha256((model_dir / "trees.safetensors").read_bytes()).hexdigest(),
        "choices": _choices(LearnedExtractiveSummarizer.load(model_dir), rows),
    }
    CHOICES.parent.mkdir(exist_ok=True)
    CHOICES.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
