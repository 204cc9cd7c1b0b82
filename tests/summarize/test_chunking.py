"""Long-article chunking: the pure packing functions, then the summarizer and stage with a tiny T5."""

from __future__ import annotations

import logging
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import SummarizeConfig
from pipeline.stages.summarize import SummarizeStage
from pipeline.summarize.abstractive import Seq2SeqSummarizer
from pipeline.summarize.chunking import pack_sentences, plan_chunks

# Our own text: six short sentences on two paragraphs.
ARTICLE = (
    "Mưa lớn kéo dài từ đêm qua khiến nhiều tuyến phố ngập sâu. Người đi xe máy phải dắt bộ qua các đoạn trũng. "
    "Công ty thoát nước đã đặt máy bơm ở mười điểm.\n"
    "Trường học cho học sinh nghỉ một buổi để bảo đảm an toàn. Chính quyền khuyến cáo người dân hạn chế ra đường. "
    "Dự báo mưa sẽ giảm từ chiều mai."
)


def _words(sentences: list[str]) -> list[int]:
    return [len(s.split()) for s in sentences]


@given(st.lists(st.integers(min_value=1, max_value=30), max_size=40), st.integers(min_value=1, max_value=40))
def test_packing_covers_every_sentence_in_order_within_budget(lengths, budget):
    spans = pack_sentences(lengths, budget)
    assert [i for start, end in spans for i in range(start, end)] == list(range(len(lengths)))
    for start, end in spans:
        assert end > start
        assert sum(lengths[start:end]) <= budget or end - start == 1  # only a lone sentence may overflow
    for (start, end), (nxt, _) in pairwise(spans):
        assert sum(lengths[start:end]) + lengths[nxt] > budget  # greedy: the next sentence did not fit


def test_plan_chunks_keeps_sentences_whole_and_caps_work():
    plan = plan_chunks(ARTICLE, _words, budget=25, max_chunks=10)
    assert not plan.truncated and len(plan.chunks) > 1
    assert all(len(c.split()) <= 25 for c in plan.chunks)
    assert " ".join(plan.chunks).split() == ARTICLE.split()  # nothing lost, order kept
    assert all(c.rstrip().endswith(".") for c in plan.chunks)  # every window ends on a sentence boundary

    capped = plan_chunks(ARTICLE, _words, budget=25, max_chunks=1)
    assert capped.truncated and capped.chunks == plan.chunks[:1]


def test_plan_chunks_flags_a_sentence_longer_than_the_window():
    plan = plan_chunks("Một câu rất dài có nhiều chữ hơn cửa sổ cho phép.", _words, budget=4, max_chunks=3)
    assert plan.truncated and len(plan.chunks) == 1


def _config(model, **kw) -> SummarizeConfig:
    settings = dict(kind="abstractive", model=str(model), max_new_tokens=4, num_beams=1, batch_size=4,
                    max_input_tokens=40, device="cpu", long_input="chunk", max_chunks=8)
    settings.update(kw)
    return SummarizeConfig(**settings)


class RecordingSummarizer(Seq2SeqSummarizer):
    """The real tiny model; remembers how many inputs each generate() call received."""

    def _generate(self, texts):
        self.calls = [*getattr(self, "calls", []), len(texts)]
        return super()._generate(texts)


def test_chunk_mode_summarizes_windows_then_merges(tiny_t5):
    summarizer = RecordingSummarizer(_config(tiny_t5))
    short = "Giá xăng giảm nhẹ."
    summaries = summarizer.summarize([ARTICLE, short])
    windows = len(plan_chunks(ARTICLE, summarizer.sentence_token_counts, summarizer.chunk_budget(), 8).chunks)
    assert windows > 1
    assert sum(summarizer.calls) == windows + 1 + 1  # the windows and the short article, then one merge
    assert summarizer.chunked_ == 1 and summarizer.truncated_ == 0
    assert summaries[1] == Seq2SeqSummarizer(_config(tiny_t5, long_input="truncate")).summarize([short])[0]


def test_join_merge_skips_the_second_pass_and_cap_counts_truncation(tiny_t5):
    summarizer = RecordingSummarizer(_config(tiny_t5, chunk_merge="join", max_chunks=2))
    summarizer.summarize([ARTICLE])
    assert summarizer.calls == [2]  # two windows, no merge pass: the cap bounds the work
    assert summarizer.truncated_ == 1 and summarizer.chunked_ == 1


def test_truncate_mode_counts_and_stage_warns_once(tiny_t5, sample_rows, caplog):
    stage = SummarizeStage(_config(tiny_t5, long_input="truncate"))
    for row in sample_rows[:4]:
        stage([dict(row)])
    with caplog.at_level(logging.WARNING):
        stage.finish()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].getMessage().startswith("4 article(s)")


@pytest.mark.parametrize("merge", ["summarize", "join"])
def test_chunk_stage_describes_counts(tiny_t5, sample_rows, merge):
    stage = SummarizeStage(_config(tiny_t5, chunk_merge=merge, max_chunks=2))
    stage([dict(r) for r in sample_rows[:3]])
    description = stage.describe()
    assert description["long_input"] == "chunk" and description["chunked"] == 3
