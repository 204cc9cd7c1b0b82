"""The summarize stage hands each article's title to the learned summarizer, through the whole pipeline.

tests/summarize/test_kernels.py pins what the shipped model picks given a title; this checks that the job
gives it the title at all, and the right one: a stage that dropped the titles would still write plausible
summaries, only worse ones.
"""

from __future__ import annotations

import gzip
import itertools
import json

from pipeline import Pipeline
from pipeline.stages.summarize import make_extractive
from tests.conftest import SAMPLES, job

ARTICLES = 300


def test_each_summary_is_the_models_pick_given_the_articles_title(shared_data, tmp_path):
    with gzip.open(shared_data / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in itertools.islice(fh, ARTICLES)]
    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, input={"text_field": "body"}, classify={"enabled": False},
                                  output={"include_text": True}))
    assert pipe.config.summarize.method == "learned"
    out = pipe.process(rows)
    assert len(out) >= ARTICLES * 0.95 and all(r["title"] for r in out)
    model = make_extractive(pipe.config.summarize)
    texts = [r["text"] for r in out]  # as the stage saw them: normalized
    with_titles = model.summarize_batch([r["title"] for r in out], texts)
    untitled = model.summarize_batch([""] * len(out), texts)
    shifted = model.summarize_batch([r["title"] for r in out[1:] + out[:1]], texts)  # each with another's title
    # the test has teeth only while titles change the model's picks
    assert sum(a != b for a, b in zip(with_titles, untitled, strict=True)) >= len(out) // 5
    assert sum(a != b for a, b in zip(with_titles, shifted, strict=True)) >= len(out) // 5
    wrong = [r["id"] for r, want in zip(out, with_titles, strict=True) if r["summary"] != want]
    assert not wrong, f"{len(wrong)} of {len(out)} summaries are not the model's pick given the title: {wrong[:5]}"
