import pytest

from pipeline.summarize.rouge import VietnameseTokenizer, rouge_scores


def test_vietnamese_tokenizer_keeps_letters_and_unifies_tone_style():
    assert VietnameseTokenizer().tokenize("Người dân Hoà Bình") == ["người", "dân", "hòa", "bình"]


def test_identical_texts_score_100_and_tone_style_does_not_matter():
    scores = rouge_scores(["Sức khoẻ người dân"], ["sức khỏe người dân"])
    assert scores == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}


def test_default_tokenizer_splits_vietnamese_words_apart():
    # "người" -> "ng", "i" under the ASCII-only tokenizer, so unrelated words overlap.
    vi = rouge_scores(["người"], ["ngủ ít"], vietnamese=True)
    ascii_only = rouge_scores(["người"], ["ngủ ít"], vietnamese=False)
    assert vi["rouge1"] == 0.0
    assert ascii_only["rouge1"] > 0.0


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        rouge_scores(["a", "b"], ["a"])
