"""The Python API on tables (DataFrames, datasets, dicts): every row back, under the caller's index, with a reason
when rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import Pipeline
from tests.conftest import SAMPLES, job


def test_process_frame_keeps_every_row_and_the_index(tmp_path, sample_rows):
    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, summarize={"enabled": False}))
    frame = pd.DataFrame(sample_rows[:5], index=["a", "b", "c", "d", "e"])
    frame.loc["b", "title"] = np.nan  # pandas' missing value: an untitled article, still processed
    frame.loc["c", "text"] = None  # no text: rejected, with its reason
    frame.loc["d", "title"] = None
    frame["views"] = [1.0, np.nan, 3.0, 4.0, 5.0]
    out = pipe.process_frame(frame)
    assert out.index.tolist() == ["a", "b", "c", "d", "e"]
    assert out.loc["c", "quarantine_reason"] == "missing text field 'text'"
    assert out.loc["c", "id"] == frame.loc["c", "id"] and pd.isna(out.loc["c", "topic"])
    assert out["quarantine_reason"].drop("c").isna().all()
    assert out.loc["b", "title"] == "" and isinstance(out.loc["b", "topic"], str)
    assert out.loc[["a", "d", "e"], "topic"].notna().all()
    joined = frame[["views"]].join(out[["topic"]])  # results join back on the caller's index
    assert joined.loc["e", "views"] == 5.0


def test_stage_rejections_keep_their_position(tmp_path, sample_rows):
    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, summarize={"enabled": False}))
    rows = [dict(sample_rows[0]), {"id": "en", "title": "Hello", "text": "The team won the match last night. " * 5},
            dict(sample_rows[1])]
    out = pipe.process_frame(pd.DataFrame(rows))
    assert out.index.tolist() == [0, 1, 2]
    assert out["id"].tolist() == [sample_rows[0]["id"], "en", sample_rows[1]["id"]]
    assert "not Vietnamese" in out.loc[1, "quarantine_reason"]
    assert [r["id"] for r in pipe.process(rows)] == [sample_rows[0]["id"], sample_rows[1]["id"]]


def _tables(rows):
    datasets = pytest.importorskip("datasets")
    return {
        "DataFrame": pd.DataFrame(rows),
        "datasets.Dataset": datasets.Dataset.from_list(rows),
        "list of dicts": rows,
        "generator of dicts": (dict(row) for row in rows),
    }


def test_process_frame_takes_a_dataset_or_dicts_as_it_takes_a_dataframe(tmp_path, sample_rows):
    """The same rows as a DataFrame, a datasets.Dataset, a list or a generator of dicts: the same results,
    rows without text rejected with their reason, under 0, 1, 2..."""
    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, summarize={"enabled": False}))
    rows = [dict(row) for row in sample_rows[:4]]
    rows[2]["text"] = None
    results = {name: pipe.process_frame(table) for name, table in _tables(rows).items()}
    expected = results.pop("DataFrame")
    assert expected.loc[2, "quarantine_reason"] == "missing text field 'text'"
    for name, out in results.items():
        assert out.index.tolist() == [0, 1, 2, 3], name
        pd.testing.assert_frame_equal(out[["id", "topic", "quarantine_reason"]],
                                      expected[["id", "topic", "quarantine_reason"]], obj=name)


def test_process_frame_refuses_what_is_not_a_table(tmp_path, sample_rows):
    datasets = pytest.importorskip("datasets")
    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, summarize={"enabled": False}))
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list(sample_rows[:2])})
    with pytest.raises(TypeError, match=r"DatasetDict: pass one split"):
        pipe.process_frame(splits)
    with pytest.raises(TypeError, match="not str"):
        pipe.process_frame("articles.jsonl")
    with pytest.raises(TypeError, match="row 1 is a str"):
        pipe.process_frame([sample_rows[0], "text"])


def test_any_hashable_label_becomes_a_field_name_by_str(tmp_path, sample_rows):
    """Integer, tuple and None column labels, integer keys in dicts (top level and nested), mixed with text: no
    TypeError; each label is the field str(label) in the results, under the caller's index."""
    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, summarize={"enabled": False}))
    frame = pd.DataFrame(sample_rows[:3], index=[7, 8, 9])
    frame[1] = [10, 20, 30]
    frame[("a", "b")] = 1.5
    frame[None] = "n"
    frame[2.5] = [{1: "x", "y": 2}, None, {0: [{3: 4}]}]
    out = pipe.process_frame(frame)
    assert out.index.tolist() == [7, 8, 9] and out["quarantine_reason"].isna().all()
    assert out["1"].tolist() == [10, 20, 30] and (out["('a', 'b')"] == 1.5).all() and (out["None"] == "n").all()
    assert out.loc[7, "2.5"] == {"1": "x", "y": 2} and out.loc[9, "2.5"] == {"0": [{"3": 4}]}

    rows = [{**sample_rows[0], 5: "five", (1, 2): None}, {**sample_rows[1], "meta": {1: "a", "b": {2: "c"}}}]
    out = pipe.process_frame(rows)
    assert out.loc[0, "5"] == "five" and out.loc[1, "meta"] == {"1": "a", "b": {"2": "c"}}
    assert [r["5"] for r in pipe.process(rows[:1])] == ["five"]


@pytest.mark.parametrize(("table", "message"), [
    (lambda rows: pd.DataFrame(rows).assign(**{"1": 2}).rename(columns={"published": 1}),
     r"DataFrame columns: the labels 1 and '1' both become the field name '1'"),
    (lambda rows: pd.concat([pd.DataFrame(rows), pd.DataFrame(rows)[["title", "text"]]], axis=1),
     r"the DataFrame has the column label 'title' more than once"),  # (the first label that repeats)
    (lambda rows: [rows[0], {**rows[1], 1: "a", "1": "b"}], r"row 2: the labels 1 and '1' both become"),
    (lambda rows: [{**rows[0], "meta": {None: 1, "None": 2}}], r"row 1: the labels None and 'None' both become"),
])
def test_labels_that_collide_after_str_are_an_error_naming_both(tmp_path, sample_rows, table, message):
    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, summarize={"enabled": False}))
    with pytest.raises(ValueError, match=message):
        pipe.process_frame(table([dict(r) for r in sample_rows[:2]]))
    if isinstance(table(sample_rows[:2]), list):  # rows given to process() are named the same way
        with pytest.raises(ValueError, match=message):
            pipe.process(table([dict(r) for r in sample_rows[:2]]))


@pytest.mark.parametrize("wrap", [lambda v: {"k": v}, lambda v: [v]], ids=["mappings", "lists"])
def test_labels_become_names_down_to_the_depth_limit_and_deeper_rows_are_refused(tmp_path, sample_rows, wrap):
    """Keys of any type become names in every mapping a row holds down to MAX_DEPTH levels (the row is the first);
    a row nested deeper is refused as too deep with its fields left as they are, however deep it goes."""
    from pipeline.io.records import MAX_DEPTH

    def nest(levels: int):  # `levels` containers in field "x", the innermost {1: "a"}
        value = {1: "a"}
        for _ in range(levels - 1):
            value = wrap(value)
        return value

    def innermost(value):
        while not (isinstance(value, dict) and "k" not in value):
            value = value["k"] if isinstance(value, dict) else value[0]
        return value

    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, summarize={"enabled": False}, classify={"enabled": False}))
    rows = [{**sample_rows[0], "x": nest(MAX_DEPTH - 1)}, {**sample_rows[1], "x": nest(MAX_DEPTH)},
            {**sample_rows[2], "x": nest(5_000)}]
    out = pipe.process_frame(rows)
    assert innermost(out.loc[0, "x"]) == {"1": "a"} and pd.isna(out.loc[0, "quarantine_reason"])
    assert innermost(out.loc[1, "x"]) == {1: "a"}
    assert out["quarantine_reason"].tolist()[1:] == ["nested deeper than 64 levels in field 'x'"] * 2
    assert [innermost(r["x"]) for r in pipe.process(rows)] == [{"1": "a"}]


def test_a_row_without_an_id_that_a_stage_refuses_keeps_the_id_it_was_given(tmp_path):
    """A row with no id gets one from its content (``sha1-...``) before the stages run; when a stage refuses it,
    process_frame's row carries that id, the one the batch job's quarantine file names, not a missing value."""
    pipe = Pipeline.from_dict(job(tmp_path, SAMPLES, summarize={"enabled": False}, classify={"enabled": False},
                                  normalize={"max_chars": 100}))
    sentence = "Thị trường chứng khoán Việt Nam hôm nay tăng điểm mạnh nhờ dòng tiền từ nhà đầu tư trong nước. "
    out = pipe.process_frame([{"title": "dài", "text": sentence * 3}, {"title": "ngắn", "text": sentence}])
    assert out["quarantine_reason"].str.startswith("text has 285 characters").tolist() == [True, False]
    assert all(str(i).startswith("sha1-") for i in out["id"])
    assert out.loc[0, "id"] == pipe.process_frame([{"title": "dài", "text": sentence * 3}]).loc[0, "id"]
