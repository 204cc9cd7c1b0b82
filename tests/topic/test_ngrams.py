"""The compiled n-gram TF-IDF vectorizer: same numbers as scikit-learn, Vietnamese-aware, batch-safe."""

import numpy as np
import pytest
from pipeline.topic._kernels import unique_grams
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.text.normalize import set_tone_style
from pipeline.topic.ngrams import DocumentFrequencies, NgramTfidfVectorizer

TEXTS = [
    "Đội tuyển Việt Nam thắng 2-0 trong trận bóng đá tối qua ở Hà Nội.",
    "Giá vàng hôm nay tăng mạnh; ngân hàng giữ lãi suất.",
    "Bệnh viện Bạch Mai điều trị cho bệnh nhân cúm, bác sĩ khuyên tiêm vắc xin.",
    "Hà Nội mưa lớn, nhiều tuyến phố ngập; người dân đi làm muộn.",
    "Ở xã ven biển, ý kiến của người dân về giá điện được ghi nhận.",
    "Hoà bình và hợp tác: thuỷ sản xuất khẩu khoẻ mạnh năm nay.",
    "Cầu thủ ghi bàn thắng quyết định, đội bóng Hà Nội vô địch.",
] * 3


def sklearn_reference(texts, **kwargs):
    vec = TfidfVectorizer(token_pattern=r"(?u)\w+", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float64,
                          **kwargs)
    return vec, vec.fit_transform([set_tone_style(t, "new") for t in texts])


def row_values(matrix, i):
    return np.sort(matrix[i].toarray().ravel()[matrix[i].toarray().ravel() > 0])


def test_matches_scikit_learn_tfidf():
    ours = NgramTfidfVectorizer(min_df=1, max_df=1.0)
    X = ours.fit_transform(TEXTS)
    ref, R = sklearn_reference(TEXTS, min_df=1, max_df=1.0)
    assert ours.n_features == len(ref.vocabulary_)
    assert X.shape == R.shape and X.nnz == R.nnz
    for i in range(len(TEXTS)):
        np.testing.assert_allclose(row_values(X, i), row_values(R, i), rtol=1e-5)
    np.testing.assert_allclose(np.sort(ours.idf_), np.sort(ref.idf_), rtol=1e-5)


def test_min_df_max_df_and_max_features_select_like_scikit_learn():
    ours = NgramTfidfVectorizer(min_df=2, max_df=0.9).fit(TEXTS[:7] + TEXTS[:3])
    ref, _ = sklearn_reference(TEXTS[:7] + TEXTS[:3], min_df=2, max_df=0.9)
    assert ours.n_features == len(ref.vocabulary_)
    assert NgramTfidfVectorizer(min_df=1, max_features=10).fit(TEXTS).n_features == 10


def test_case_tone_marks_and_one_letter_syllables():
    vec = NgramTfidfVectorizer(min_df=1, max_df=1.0).fit(["hòa bình ở xã", "khỏe thủy"])
    a, b = vec.transform(["HOÀ BÌNH Ở XÃ khoẻ thuỷ"]), vec.transform(["hòa bình ở xã khỏe thủy"])
    np.testing.assert_allclose(a.toarray(), b.toarray())
    assert a.nnz == vec.n_features  # all 10 known n-grams ("xã khỏe" is not one: never seen in training)
    quy = NgramTfidfVectorizer(min_df=1, max_df=1.0).fit(["quý"])
    assert quy.transform(["quý"]).nnz == 1 and quy.transform(["qúy"]).nnz == 0  # "quý" keeps its spelling


def test_drop_digits_and_character_ngrams():
    plain = NgramTfidfVectorizer(min_df=1, max_df=1.0).fit(TEXTS)
    no_digits = NgramTfidfVectorizer(min_df=1, max_df=1.0, drop_digits=True).fit(TEXTS)
    assert no_digits.n_features < plain.n_features
    assert no_digits.transform(["2 0 2024"]).nnz == 0
    chars = NgramTfidfVectorizer(min_df=1, max_df=1.0, char_ngram_min=2, char_ngram_max=3).fit(TEXTS)
    assert chars.n_features > plain.n_features
    assert chars.transform(["bóngg"]).nnz > 0  # a misspelling still shares character n-grams


def test_batches_empty_texts_and_determinism():
    vec = NgramTfidfVectorizer(min_df=1, max_df=1.0, chunk_size=4).fit(TEXTS)
    X = vec.transform(["", "!!!", *TEXTS])
    assert X.shape == (len(TEXTS) + 2, vec.n_features)
    assert X[0].nnz == 0 and X[1].nnz == 0
    np.testing.assert_allclose(np.asarray(X[2:].multiply(X[2:]).sum(axis=1)).ravel(), 1.0, rtol=1e-5)
    one_by_one = [vec.transform([t]).toarray() for t in TEXTS[:5]]
    np.testing.assert_allclose(np.vstack(one_by_one), X[2:7].toarray(), rtol=1e-6)
    again = NgramTfidfVectorizer(min_df=1, max_df=1.0).fit(TEXTS)
    assert np.array_equal(again.keys_, vec.keys_)
    assert vec.transform([]).shape == (0, vec.n_features)


def test_empty_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="empty vocabulary"):
        NgramTfidfVectorizer(min_df=5).fit(["một lần"])


def test_stop_syllables_are_skipped_in_any_case_and_tone_style():
    vec = NgramTfidfVectorizer(min_df=1, max_df=1.0, stop_syllables=["NLĐ", "hoà"]).fit(["(NLĐ)- hòa bình", "bình yên"])
    assert vec.n_features == 3  # "bình", "yên", "bình yên": neither "nlđ" nor "hòa" (nor n-grams with them)
    assert vec.transform(["nlđ hoà"]).nnz == 0


def test_char_table_is_kept_in_the_cache_folder_and_equals_the_computed_one(tmp_path, monkeypatch):
    from pipeline.topic import ngrams

    monkeypatch.setenv("VNNEWS_CACHE_DIR", str(tmp_path))
    for _ in range(2):  # built and saved, then loaded
        ngrams.char_table.cache_clear()
        table = ngrams.char_table()
        assert np.array_equal(table, ngrams.build_char_table())
        saved = list(tmp_path.glob("char_table.*.npz"))
        assert len(saved) == 1 and np.array_equal(np.load(saved[0])["lower_word"], table)
    ngrams.char_table.cache_clear()


def test_first_line_scores_equal_scores_of_the_first_lines_as_texts():
    from pipeline.text.scan import encode_batch

    vec = NgramTfidfVectorizer(min_df=1, max_df=1.0).fit(TEXTS)
    coef = np.random.default_rng(0).normal(size=(vec.n_features, 3)).astype(np.float32)
    intercept = np.array([0.5, 0.0, -0.5], dtype=np.float32)
    texts = ["Hà Nội mưa lớn\nGiá vàng tăng mạnh", "không xuống dòng: bóng đá", "", "\nbệnh viện", "a\r\nb\nc",
             "Đội bóng 😀 thắng\nngân hàng"]  # (the astral character makes the batch UTF-32)
    for batch in (texts, texts[:-1]):
        cp, offsets = encode_batch(batch)
        firsts = [text.partition("\n")[0] for text in batch]
        np.testing.assert_array_equal(vec.scores(cp, offsets, coef, intercept, first_line=True),
                                      vec.transform_dot(firsts, coef, intercept))
        np.testing.assert_array_equal(vec.scores(cp, offsets, coef, intercept),
                                      vec.transform_dot(batch, coef, intercept))


def test_document_frequencies_merged_in_chunks_equal_those_counted_at_once(monkeypatch):
    """The vocabulary is counted chunk by chunk (bounded memory); merging the chunks' counts gives the
    vocabulary, columns and idf of one count over all the texts, from a list or a generator."""
    texts = [f"{t} {i % 5} lần {i % 7}" for i, t in enumerate(TEXTS * 20)]

    def at_once(vectorizer):  # what counting every document's n-grams in one array gives
        _, values = unique_grams(*vectorizer._kernel_args(texts), 1)
        keys, df = np.unique(values, return_counts=True)
        return keys, df

    monkeypatch.setattr(DocumentFrequencies, "merge_size", 16)  # merge after nearly every chunk
    whole = NgramTfidfVectorizer(min_df=1, max_df=1.0)
    chunked_vec = NgramTfidfVectorizer(min_df=2, max_df=0.5, max_features=50, chunk_size=7)
    frequencies = DocumentFrequencies()
    for start in range(0, len(texts), 7):
        chunked_vec.count(texts[start : start + 7], frequencies)
    keys, df = frequencies.result()
    expected_keys, expected_df = at_once(whole)
    np.testing.assert_array_equal(keys, expected_keys)
    np.testing.assert_array_equal(df, expected_df)
    assert frequencies.n_docs == len(texts)
    reference = NgramTfidfVectorizer(min_df=2, max_df=0.5, max_features=50, chunk_size=10_000).fit(texts)
    streamed = NgramTfidfVectorizer(min_df=2, max_df=0.5, max_features=50, chunk_size=7).fit(t for t in texts)
    np.testing.assert_array_equal(streamed.keys_, reference.keys_)
    np.testing.assert_array_equal(streamed.idf_, reference.idf_)
