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
