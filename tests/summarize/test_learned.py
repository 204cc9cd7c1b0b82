"""The learned extractive summarizer: features, the tree model's save/load, the shipped default."""

import gzip
import json

import numpy as np
import pytest

from pipeline.config import SummarizeConfig
from pipeline.errors import ModelNotFoundError
from pipeline.stages.summarize import SummarizeStage
from pipeline.summarize.clauses import without_leading_clause, without_trailing_clause
from pipeline.summarize.embeddings import CorpusVectors
from pipeline.summarize.features import FEATURE_NAMES, candidate_features, sentence_features
from pipeline.summarize.learned import LearnedExtractiveSummarizer, sentence_targets
from pipeline.summarize.rouge import rouge_scores
from pipeline.text.normalize import clean_text, split_sentences, syllables
from tests.conftest import ROOT

SHIPPED = ROOT / "models" / "summary-extractive-vietnews"
SENTENCES = [
    "Sáng nay, UBND thành phố Đà Nẵng công bố kế hoạch xây dựng 3 cây cầu mới qua sông Hàn.",
    "Ảnh: Minh Anh",
    "Theo kế hoạch, tổng vốn đầu tư khoảng 5.000 tỷ đồng, hoàn thành trong năm 2027.",
    "Người dân ven sông cho biết họ mong chờ dự án từ lâu:",
]


def _col(features, name):
    return features[:, FEATURE_NAMES.index(name)]


@pytest.fixture(scope="module")
def vectors(sample_rows):
    """Corpus vectors learned from the team's sample articles (min_df 1: the corpus is tiny)."""
    texts = [r["title"] + "\n" + r["text"] for r in sample_rows] + SENTENCES
    return CorpusVectors.fit([syllables(t) for t in texts], dim=8, max_terms=2000, min_df=1, seed=0)


def test_features_describe_position_length_title_numbers_and_names(vectors):
    features = sentence_features("Đà Nẵng xây 3 cầu mới qua sông Hàn", SENTENCES, vectors)
    assert features.shape == (4, len(FEATURE_NAMES)) and features.dtype == np.float32
    assert list(_col(features, "position")) == [0, 1, 2, 3]
    assert _col(features, "is_first").tolist() == [1, 0, 0, 0]
    assert _col(features, "length")[1] == 3  # "Ảnh: Minh Anh": a caption is short
    assert _col(features, "title_cosine_rank")[0] == 0  # the first sentence restates the title
    assert _col(features, "numbers")[2] == 3  # 5.000 is two digit syllables, 2027 one
    assert _col(features, "entities")[0] >= 4  # UBND, Đà, Nẵng, Hàn (the sentence's first word is not counted)
    assert _col(features, "ends_with_colon").tolist() == [0, 0, 0, 1]
    assert _col(features, "ends_with_stop").tolist() == [1, 0, 1, 0]
    assert sentence_features("", [], vectors).shape == (0, len(FEATURE_NAMES))
    # Corpus statistics: the first sentence restates the title in the corpus vectors' space too,
    # the caption has no specific word in common with it, and TextRank averages 1 over the article.
    assert _col(features, "title_embedding_rank")[0] == 0
    assert _col(features, "title_idf_recall")[1] == 0.0 and _col(features, "title_idf_recall")[0] > 0.5
    assert abs(_col(features, "textrank").mean() - 1.0) < 1e-5


def test_lines_without_a_syllable_get_features_too(vectors):
    """A line of punctuation (a divider, an ellipsis) has no syllable: it must neither crash nor shift pairs."""
    sentences = ["...", "Đà Nẵng xây 3 cây cầu mới qua sông Hàn, theo kế hoạch năm nay.", "—"]
    candidates, features = candidate_features("Đà Nẵng xây cầu", sentences, vectors)
    assert features.shape == (len(candidates), len(FEATURE_NAMES)) and np.isfinite(features).all()
    assert _col(features, "length")[[0, 2]].tolist() == [0, 0]
    alone = candidate_features("Đà Nẵng xây cầu", sentences[1:2], vectors)[1]
    assert _col(features, "title_bigram_overlap")[1] == _col(alone, "title_bigram_overlap")[0] > 0


def test_corpus_vectors_place_terms_of_the_same_articles_together_and_round_trip(tmp_path):
    football = ["đội tuyển bóng đá thắng trận đấu", "trận đấu bóng đá của đội tuyển", "cầu thủ bóng đá ghi bàn"]
    prices = ["giá xăng tăng mạnh", "giá xăng dầu giảm", "xăng dầu tăng giá"]
    docs = [syllables(t) for t in football * 3 + prices * 3]
    model = CorpusVectors.fit(docs, dim=2, max_terms=500, min_df=1, seed=0)
    sport, fuel, sport2 = model.embed([syllables("bóng đá"), syllables("giá xăng"), syllables("trận đấu")])
    assert sport @ sport2 > 0.9 and sport @ fuel < 0.5
    assert model.idf[model.index["bóng"]] < model.idf[model.index["ghi"]]  # rarer terms weigh more
    assert not model.embed([[], ["từ_lạ"]]).any()  # no known term: a zero vector, not NaN
    model.save(tmp_path)
    loaded = CorpusVectors.load(tmp_path)
    assert loaded.vocabulary == model.vocabulary
    np.testing.assert_array_equal(loaded.embed([syllables("bóng đá")]), model.embed([syllables("bóng đá")]))
    again = CorpusVectors.fit(docs, dim=2, max_terms=500, min_df=1, seed=0)
    np.testing.assert_array_equal(again.vectors, model.vectors)  # seeded: the same corpus gives the same vectors


def test_fast_ngram_f1_equals_rouge_score(sample_rows):
    from rouge_score import rouge_scorer

    from pipeline.summarize.rouge import VietnameseTokenizer, ngram_f1

    tokenizer = VietnameseTokenizer()
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"], use_stemmer=False, tokenizer=tokenizer)
    for row in sample_rows:
        reference = row["title"]
        for sentence in split_sentences(row["text"]):
            expected = scorer.score(reference, sentence)
            ref, cand = tokenizer.tokenize(reference), tokenizer.tokenize(sentence)
            assert ngram_f1(ref, cand, 1) == pytest.approx(expected["rouge1"].fmeasure, abs=1e-12)
            assert ngram_f1(ref, cand, 2) == pytest.approx(expected["rouge2"].fmeasure, abs=1e-12)


def test_sentence_targets_rank_the_sentence_that_matches_the_reference_first():
    reference = "Đà Nẵng sẽ xây 3 cây cầu mới qua sông Hàn."
    targets = sentence_targets(SENTENCES, reference)
    assert targets.argmax() == 0 and targets[1] == 0.0
    with pytest.raises(ValueError, match="target"):
        sentence_targets(SENTENCES, reference, target="bleu")


def _synthetic(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, len(FEATURE_NAMES)), dtype=np.float32) * 10
    y = (X[:, 0] > 5).astype(np.float32) + 0.1 * X[:, 7]
    return X, y


def test_saved_trees_predict_exactly_what_sklearn_predicts(tmp_path, vectors):
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = _synthetic()
    settings = {"n_estimators": 20, "learning_rate": 0.2, "max_leaf_nodes": 7, "min_samples_leaf": 5}
    model = LearnedExtractiveSummarizer(**settings, seed=1).fit_features(X, y)
    reference = HistGradientBoostingRegressor(
        max_iter=20, learning_rate=0.2, max_leaf_nodes=7, min_samples_leaf=5, early_stopping=False, random_state=1
    ).fit(X, y)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-6, atol=1e-9)
    assert abs(sum(model.feature_importances_) - 1) < 1e-9 and np.argmax(model.feature_importances_) == 0
    assert model._complete is not None  # shallow trees are scored as complete trees ...
    y_deep = np.sin(X[:, 0] * 3) * X[:, 1]  # rough in X0: best-first splitting grows long branches
    deep = LearnedExtractiveSummarizer(**{**settings, "max_depth": None, "max_leaf_nodes": 60, "min_samples_leaf": 1},
                                       seed=1).fit_features(X, y_deep)
    deep_reference = HistGradientBoostingRegressor(
        max_iter=20, learning_rate=0.2, max_leaf_nodes=60, min_samples_leaf=1, early_stopping=False, random_state=1
    ).fit(X, y_deep)
    assert deep._complete is None  # ... deeper ones node by node; both score what scikit-learn scores
    np.testing.assert_allclose(deep.predict(X), deep_reference.predict(X), rtol=1e-6, atol=1e-9)
    model.vectors_ = vectors
    loaded = LearnedExtractiveSummarizer.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=0, atol=0)
    assert loaded.get_params() == model.get_params()
    assert not list((tmp_path / "m").glob("*.pkl")) and not list((tmp_path / "m").glob("*.joblib"))


def test_fit_on_own_pairs_then_summarize_keeps_article_order(sample_rows):
    # Reference = the article's third sentence: the model must learn to look past the lead.
    docs, refs = [], []
    for row in sample_rows:
        sentences = split_sentences(row["text"])
        docs.append((row["title"], row["text"]))
        refs.append(sentences[min(2, len(sentences) - 1)])
    settings = {"n_estimators": 30, "min_samples_leaf": 5, "embedding_min_df": 1, "embedding_dim": 8}
    model = LearnedExtractiveSummarizer(max_sentences=2, min_sentence_syllables=0, **settings).fit(docs, refs)
    assert model.n_training_sentences_ > 20
    for title, text in docs[:3]:
        sentences = split_sentences(text)
        chosen = model.select_candidates(title, sentences)
        assert [c.sentence for c in chosen] == sorted({c.sentence for c in chosen})  # article order, one each
        assert len(chosen) == min(2, len(sentences))
        for c in chosen:
            whole = sentences[c.sentence]
            assert c.text in (whole, without_leading_clause(whole), without_trailing_clause(whole))
        assert model.summarize(title, text) == " ".join(c.text for c in chosen)


def test_clause_trims_keep_decimal_commas_and_close_the_sentence(vectors):
    sentence = "Theo kế hoạch, tổng vốn khoảng 10,5 tỷ đồng, hoàn thành năm 2027."
    assert without_leading_clause(sentence) == "Tổng vốn khoảng 10,5 tỷ đồng, hoàn thành năm 2027."
    assert without_trailing_clause(sentence) == "Theo kế hoạch, tổng vốn khoảng 10,5 tỷ đồng."
    assert without_leading_clause("Giá 10,5 tỷ đồng.") is None and without_trailing_clause("Giá 10,5 tỷ.") is None
    candidates, features = candidate_features("Đà Nẵng xây cầu", SENTENCES, vectors)
    assert [c.sentence for c in candidates[:4]] == [0, 1, 2, 3]
    assert features.shape == (len(candidates), len(FEATURE_NAMES))
    trimmed = {(c.sentence, c.trim): c.text for c in candidates[4:]}
    assert trimmed[(2, 1)].startswith("Tổng vốn") and trimmed[(2, 2)].endswith("5.000 tỷ đồng.")
    assert (3, 1) not in trimmed  # no clause break: nothing to trim
    assert _col(features, "trimmed_syllables")[4:].min() > 0 and _col(features, "trim")[:4].tolist() == [0] * 4
    _, whole_only = candidate_features("Đà Nẵng xây cầu", SENTENCES, vectors, trim_clauses=False)
    np.testing.assert_array_equal(whole_only, features[:4])  # trimmed candidates change no whole sentence's row


def test_trimming_is_learned_when_references_drop_the_framing_clause(sample_rows):
    """References without the third sentence's leading clause: the trimming model must match them better."""
    docs, refs = [], []
    for row in sample_rows:
        sentences = split_sentences(row["text"])
        third = sentences[min(2, len(sentences) - 1)]
        docs.append((row["title"], row["text"]))
        refs.append(without_leading_clause(third) or third)
    scores = {}
    for trim in (True, False):
        settings = {"max_sentences": 1, "n_estimators": 30, "min_sentence_syllables": 0, "min_samples_leaf": 5,
                    "embedding_min_df": 1, "embedding_dim": 8}
        model = LearnedExtractiveSummarizer(**settings, trim_clauses=trim)
        model = model.fit(docs, refs)
        scores[trim] = rouge_scores(refs, [model.summarize(t, x) for t, x in docs])["rouge2"]
    assert scores[True] > scores[False], scores


def test_short_article_is_returned_whole_and_captions_rank_last():
    model = LearnedExtractiveSummarizer.load(SHIPPED, max_sentences=3)
    assert model.summarize("", "Câu một.\nCâu hai.") == "Câu một. Câu hai."
    chosen = model.select("Đà Nẵng xây cầu", SENTENCES, k=3)
    assert 1 not in chosen  # "Ảnh: Minh Anh" is shorter than min_sentence_syllables


def test_missing_or_foreign_model_directory_says_how_to_rebuild(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"train_summary_extractive\.yaml"):
        LearnedExtractiveSummarizer.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"kind": "tfidf_linear"}), encoding="utf-8")
    (tmp_path / "trees.safetensors").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match=r"config\.json is not a learned_extractive model's"):
        LearnedExtractiveSummarizer.load(tmp_path)


def test_stage_uses_the_learned_model_by_default_and_lead_title_on_request(sample_rows):
    assert SummarizeConfig().method == "learned"
    learned = SummarizeStage(SummarizeConfig())
    assert learned.describe()["method"] == "learned"
    assert isinstance(learned.extractive, LearnedExtractiveSummarizer)
    rows = learned([dict(r) for r in sample_rows[:3]])
    assert all(r["summary"] for r in rows)
    lead_title = SummarizeStage(SummarizeConfig(method="lead_title"))
    assert lead_title.describe()["method"] == "lead_title"
    with pytest.raises(ModelNotFoundError):
        SummarizeStage(SummarizeConfig(extractive_model="no/such/model"))


def test_shipped_model_beats_lead2_on_vietnews_dev(shared_data):
    """The quickstart default must beat Lead-2 on held-out data (400 dev articles keep this fast)."""
    with gzip.open(shared_data / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(400), fh, strict=False)]
    model = LearnedExtractiveSummarizer.load(SHIPPED, max_sentences=1)  # the quickstart's setting
    refs = [r["abstract"] for r in rows]
    ours = [model.summarize(clean_text(r["title"]), clean_text(r["body"])) for r in rows]
    lead = [" ".join(split_sentences(clean_text(r["body"]))[:2]) for r in rows]
    mine, base = rouge_scores(refs, ours), rouge_scores(refs, lead)
    assert mine["rouge2"] >= base["rouge2"] + 1.5, (mine, base)  # +2.95 on all 2,000 (docs/summarizer.md)
    assert mine["rouge1"] >= base["rouge1"] and mine["rougeL"] >= base["rougeL"], (mine, base)


def test_syllable_budget_caps_the_summary_but_keeps_the_best_sentence():
    model = LearnedExtractiveSummarizer.load(SHIPPED, max_sentences=3)
    title = "Đà Nẵng xây 3 cầu mới qua sông Hàn"
    assert len(model.select(title, SENTENCES)) == 3
    model.max_syllables = 25  # the first and third sentences have 20 and 17 syllables
    chosen = model.select(title, SENTENCES)
    assert len(chosen) == 1
    model.max_syllables = 5  # smaller than any sentence: the best one is still kept
    assert len(model.select(title, SENTENCES)) == 1


def test_quickstart_uses_the_learned_one_sentence_default(tmp_path):
    from pipeline.run.pipeline import Pipeline

    overrides = {"output.path": str(tmp_path / "q.jsonl")}
    pipe = Pipeline.from_yaml(ROOT / "configs" / "quickstart.yaml", overrides=overrides)
    rows = pipe.process([{"id": "1", "title": "Đà Nẵng xây 3 cầu mới", "text": "\n".join(SENTENCES)}])
    allowed = {*SENTENCES, *(f(s) for s in SENTENCES for f in (without_leading_clause, without_trailing_clause))}
    assert rows[0]["summary"] in allowed
