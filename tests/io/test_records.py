import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.io.records import Quarantined, content_id, to_record

FIELDS = dict(text_field="text", title_field="title", id_field="id", source="row 1")


def test_record_keeps_extra_fields_untouched():
    rec = to_record({"id": 7, "title": "T", "text": "Nội dung", "tags": ["a"], "meta": {"k": 1}}, **FIELDS)
    assert rec == {"id": "7", "title": "T", "text": "Nội dung", "tags": ["a"], "meta": {"k": 1}}


def test_missing_id_gets_stable_content_hash():
    a = to_record({"title": "T", "text": "Nội dung"}, **FIELDS)
    b = to_record({"title": "T", "text": "Nội dung"}, **FIELDS)
    assert a["id"] == b["id"] == content_id("T", "Nội dung")


def test_field_mapping():
    rec = to_record({"headline": "H", "body": "B", "uid": "x"}, text_field="body", title_field="headline",
                    id_field="uid", source="row 1")
    assert (rec["id"], rec["title"], rec["text"]) == ("x", "H", "B")


def test_bad_rows_are_quarantined_with_reasons():
    cases = {
        "missing text field 'text'": {"id": "a"},
        "field 'text' is empty": {"id": "b", "text": "   "},
        "field 'text' must be a string, got int": {"id": "c", "text": 12},
        "field 'text' must be a string, got list": {"id": "d", "text": ["x"]},
        "field 'title' must be a string, got int": {"id": "e", "text": "ok", "title": 3},
        "field 'id' must be a string or integer, got list": {"id": [1], "text": "ok"},
    }
    for reason, raw in cases.items():
        out = to_record(raw, **FIELDS)
        assert isinstance(out, Quarantined)
        assert out.reason.startswith(reason), out.reason
        assert out.raw is raw


def test_an_id_text_or_title_given_as_utf8_bytes_is_read_as_text():
    """A Parquet BINARY column holds text written without its UTF-8 mark: the same record as from strings."""
    raw = {"id": b"a", "title": "Tiêu đề".encode(), "text": "Nội dung".encode(), "thumb": b"\x89PNG"}
    assert to_record(raw, **FIELDS) == {"id": "a", "title": "Tiêu đề", "text": "Nội dung", "thumb": b"\x89PNG"}


@pytest.mark.parametrize("field, rid", [("id", None), ("title", "a"), ("text", "a")])
def test_bytes_that_are_not_utf8_quarantine_the_row_naming_the_field(field, rid):
    raw = {"id": b"a", "title": b"T", "text": "Nội dung".encode(), field: b"N\xf4i"}  # (Latin-1, not UTF-8)
    out = to_record(raw, **FIELDS)
    assert isinstance(out, Quarantined) and out.raw is raw and out.id == rid
    assert out.reason.startswith(f"field '{field}' holds bytes that are not UTF-8 text ("), out.reason


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("title", "text")),  # (content_id's fields)
                       st.one_of(st.text(max_size=20), st.integers(), st.none(), st.booleans(),
                                 st.floats(allow_nan=True), st.lists(st.integers(), max_size=3)),
                       max_size=6))
def test_input_hash_hashes_what_json_dumps_writes(meta):
    """input_hash assembles the usual fields' JSON itself: it must be json.dumps's text, character for character
    (the hashes of rows in existing outputs decide which rows are unchanged)."""
    import hashlib

    from pipeline.io.records import _flat_json, input_hash

    expected = json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)
    assert _flat_json(meta) in (None, expected)
    record = {"title": "t", "text": "x", **meta}
    assert input_hash(record) == hashlib.sha1(expected.encode()).hexdigest()[:16]


def test_output_row_drops_internal_marks_and_text_keeping_order():
    from pipeline.io.records import output_row

    record = {"id": "a", "_position": 3, "title": "T", "text": "x", "topic": "Thể thao", "_": 1, "_id": 2,
              "_skip_models": True, "_quarantine_reason": "r"}
    assert list(output_row(record, False)) == ["id", "title", "topic", "_", "_id"]
    assert list(output_row(record, True)) == ["id", "title", "text", "topic", "_", "_id"]


def test_stage_marks_are_the_records_internal_fields():
    from pipeline import stages
    from pipeline.io.records import INTERNAL_FIELDS, RESERVED_FIELDS

    assert {stages.QUARANTINE_KEY, stages.SKIP_MODELS_KEY} <= INTERNAL_FIELDS <= RESERVED_FIELDS


@pytest.mark.parametrize(("row", "fields", "expected"), [
    ({"topic": 1}, {}, {"input_topic": 1}),
    ({"topic": 1, "input_topic": 2}, {}, {"input_input_topic": 1, "input_topic": 2}),
    ({"input_topic": 2, "topic": 1}, {}, {"input_topic": 2, "input_input_topic": 1}),
    ({"id": "x", "title": "y", "text": "z"}, dict(id_field="uid", title_field="headline", text_field="body"),
     {"input_id": "x", "input_title": "y", "input_text": "z"}),
    ({"_skip_models": True, "_position": 0}, {}, {"input__skip_models": True, "input__position": 0}),
    ({"_id": 1, "__v": 0, "": 3, "a.b": 4}, {}, {"_id": 1, "__v": 0, "": 3, "a.b": 4}),
])
def test_input_fields_named_as_our_own_are_kept_under_a_prefix(row, fields, expected):
    names = {**FIELDS, **fields}
    base = {names["text_field"]: "Nội dung", names["title_field"]: "Tiêu đề", names["id_field"]: "k1"}
    record = to_record({**base, **row}, **names)
    assert {k: v for k, v in record.items() if k not in ("id", "title", "text")} == expected
    assert (record["id"], record["title"], record["text"]) == ("k1", "Tiêu đề", "Nội dung")
    assert list(to_record({**base, "topic": 1}, **names, prefix="src.")) == ["id", "title", "text", "src.topic"]
