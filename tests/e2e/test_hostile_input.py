"""The bad-input corpus: 40 kinds of broken or hostile input, each handled or quarantined.

Every case is written by the test itself. For each, the run must not crash, the counts must add
up (read = written + quarantined), and the case must land where the table in docs/daily-job.md says:
processed correctly, or quarantined with a specific reason.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import pytest

from pipeline import Pipeline
from pipeline.errors import QuarantineThresholdError
from tests.conftest import job

VI = "Đội tuyển bóng đá Việt Nam đã giành chiến thắng thuyết phục trong trận đấu tối qua trên sân nhà. " * 3
EN = "The national football team won a convincing victory in last night's match at the home stadium. " * 3
ZH = "国家足球队昨晚在主场比赛中取得了令人信服的胜利，球迷们非常高兴。" * 4


def _j(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


# (case id, raw line, expected): expected is ("ok", check) or ("quarantine", reason substring)
LINE_CASES: list[tuple[str, bytes, tuple]] = [
    ("bom-first-line", b"\xef\xbb\xbf" + _j({"id": "bom", "title": "BOM", "text": VI}), ("ok", None)),
    ("invalid-json", b'{"id": "x1", "text": "unterminated', ("quarantine", "invalid JSON")),
    ("empty-text", _j({"id": "empty", "text": ""}), ("quarantine", "field 'text' is empty")),
    ("whitespace-text", _j({"id": "ws", "text": " \t\u3000 "}), ("quarantine", "is empty")),
    ("missing-text", _j({"id": "missing", "title": "Không có nội dung"}), ("quarantine", "missing text field")),
    ("text-number", _j({"id": "num", "text": 12345}), ("quarantine", "must be a string, got int")),
    ("text-list", _j({"id": "list", "text": ["a", "b"]}), ("quarantine", "must be a string, got list")),
    ("text-null", _j({"id": "null", "text": None}), ("quarantine", "missing text field")),
    ("text-object", _j({"id": "obj", "text": {"vi": VI}}), ("quarantine", "must be a string, got dict")),
    ("title-number", _j({"id": "tnum", "title": 7, "text": VI}), ("quarantine", "'title' must be a string")),
    ("id-list", _j({"id": [1, 2], "text": VI}), ("quarantine", "must be a string or integer")),
    ("id-integer", _j({"id": 42, "text": VI}), ("ok", lambda r: r["id"] == "42")),
    ("nfd", _j({"id": "nfd", "title": unicodedata.normalize("NFD", "Tiếng Việt"),
                "text": unicodedata.normalize("NFD", VI)}), ("ok", lambda r: r["title"] == "Tiếng Việt")),
    ("windows-1258", _j({"id": "cp1258", "text": "x"}).replace(b'"x"', b'"Ti\xea\xecng Vi\xea\xf2t c\xf3 d\xe2\xecu"'),
     ("quarantine", "not valid utf-8")),
    ("vni-bytes", _j({"id": "vni", "text": "x"}).replace(b'"x"', b'"Vi\xe4\xf6t Nam th\xe9ng l\xf8i"'),
     ("quarantine", "not valid utf-8")),
    ("vni-as-unicode", _j({"id": "vni2", "text": "Tieáng Vieät laø ngoân ngöõ chính thöùc cuûa Vieät Nam. " * 4}),
     ("quarantine", "not Vietnamese")),
    ("crlf", _j({"id": "crlf", "text": VI.replace(". ", ".\r\n")}), ("ok", lambda r: "\r" not in r["text"])),
    ("huge-article", _j({"id": "huge", "text": VI * 18_000}), ("quarantine", "above normalize.max_chars")),
    ("raw-nul-byte", b'{"id": "nul", "text": "a\x00b"}', ("quarantine", "invalid JSON: Invalid control character")),
    ("escaped-nul", _j({"id": "enul", "text": VI + "\u0000\u0007"}), ("ok", lambda r: "\x00" not in r["text"])),
    ("binary-garbage", bytes(b for b in range(256) if b not in (10, 13)) * 2,  # CR and LF end lines
     ("quarantine", "not valid utf-8")),
    ("html-only", _j({"id": "htmlonly", "text": "<html><head><script>var a = 1;</script></head><body><div></div>"
                      "</body></html>"}), ("quarantine", "empty after normalization")),
    ("html-article", _j({"id": "html", "text": f"<div><p>{VI}</p><script>track()</script><p>Hết.</p></div>"}),
     ("ok", lambda r: "<p>" not in r["text"] and "track" not in r["text"] and "Hết." in r["text"])),
    ("english", _j({"id": "en", "text": EN}), ("quarantine", "no Vietnamese diacritics")),
    ("chinese", _j({"id": "zh", "text": ZH}), ("quarantine", "mostly non-Latin script")),
    ("duplicate-id", _j({"id": "bom", "title": "Khác", "text": VI + " Thêm."}), ("quarantine", "duplicate id 'bom'")),
    ("long-title", _j({"id": "ltitle", "title": "Rất dài " * 800, "text": VI}),
     ("quarantine", "above normalize.max_title_chars")),
    ("emoji", _j({"id": "emoji", "title": "Vui quá 🎉", "text": VI + " 👍"}), ("ok", lambda r: "👍" in r["text"])),
    ("zero-width", _j({"id": "zw", "title": "Hà\u200bNội\u200d", "text": VI.replace(" ", " \u200b")}),
     ("ok", lambda r: "\u200b" not in r["text"] and r["title"] == "HàNội")),
    ("json-array", b"[1, 2, 3]", ("quarantine", "expected a JSON object, got list")),
    ("json-scalar", b"42", ("quarantine", "expected a JSON object, got int")),
    ("deep-nesting", b'{"id": "deep", "text": "a", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     ("quarantine", "nested too deeply")),
    ("extra-fields", _j({"id": "extra", "text": VI, "meta": {"tags": ["a", {"b": None}]}, "views": 3}),
     ("ok", lambda r: r["meta"] == {"tags": ["a", {"b": None}]} and r["views"] == 3)),
    ("title-control-chars", _j({"id": "tctl", "title": "Dòng\tmột\nDòng hai\x1b", "text": VI}),
     ("ok", lambda r: "\x1b" not in r["title"])),
    ("truncated-last-line", '{"id": "trunc", "text": "Bài viết bị cắt ngang gi'.encode(),
     ("quarantine", "invalid JSON")),
]


def _run(tmp_path: Path, input_path: Path, **sections):
    cfg = job(tmp_path, input_path, output={"include_text": True}, **sections)
    summary = Pipeline.from_dict(cfg).run()
    out = Path(cfg["output"]["path"])
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    quarantine = [json.loads(x) for x in out.with_name("results.quarantine.jsonl").read_text(
        encoding="utf-8").splitlines()]
    assert summary.read == summary.written + summary.quarantined + summary.unchanged
    assert summary.written == len(rows) and summary.quarantined == len(quarantine)
    return summary, rows, quarantine


def test_line_level_corpus(tmp_path):
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(line for _, line, _ in LINE_CASES))  # no final newline: last line truncated
    summary, rows, quarantine = _run(tmp_path, path)
    assert summary.read == len(LINE_CASES)
    # Unparseable lines are located as "file:line", parsed rows that fail validation as "row N".
    by_line = {int(q["source"].rsplit(":", 1)[1] if ":" in q["source"] else q["source"].split()[1]): q
               for q in quarantine if ":" in q["source"] or q["source"].startswith("row ")}
    by_id = {q["id"]: q for q in quarantine if q["id"] is not None}
    for lineno, (case, raw, (outcome, check)) in enumerate(LINE_CASES, start=1):
        try:
            rid = str(json.loads(raw.decode("utf-8").lstrip("\ufeff"))["id"])
        except (ValueError, KeyError, TypeError, RecursionError):
            rid = None
        if outcome == "ok":
            assert rid in rows, f"{case}: expected in output"
            if check is not None:
                assert check(rows[rid]), case
            continue
        entry = by_id.get(rid) if rid in by_id and case != "duplicate-id" else by_line.get(lineno)
        if case == "duplicate-id":
            entry = next(q for q in quarantine if "duplicate" in q["reason"])
        assert entry is not None, f"{case}: expected in quarantine"
        assert check in entry["reason"], f"{case}: {entry['reason']}"


def test_line_longer_than_limit_is_skipped_without_reading_it_whole(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(_j({"id": "big", "text": VI * 100}) + b"\n" + _j({"id": "fine", "text": VI}) + b"\n")
    _, rows, quarantine = _run(tmp_path, path, input={"max_line_bytes": 5_000})
    assert list(rows) == ["fine"]
    assert "longer than input.max_line_bytes=5,000" in quarantine[0]["reason"]


def test_utf16_file(tmp_path):
    path = tmp_path / "utf16.jsonl"
    path.write_bytes(("\n".join(json.dumps({"id": f"u{i}", "text": VI}, ensure_ascii=False) for i in range(3)))
                     .encode("utf-16"))
    summary, rows, _ = _run(tmp_path, path)
    assert sorted(rows) == ["u0", "u1", "u2"] and summary.quarantined == 0


def test_truncated_gzip(tmp_path):
    data = gzip.compress(b"".join(_j({"id": f"g{i}", "text": VI + str(i) * 500}) + b"\n" for i in range(200)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    _summary, rows, quarantine = _run(tmp_path, path)
    assert 0 < len(rows) < 200
    assert any("input ends abruptly" in q["reason"] for q in quarantine)


def test_csv_embedded_newlines_quotes_and_ragged_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        'id,title,text\n'
        f'c1,"Tiêu đề, có dấu phẩy","{VI}\nDòng hai có ""ngoặc kép"" ở đây."\n'
        f'c2,Thừa cột,{VI},thừa\n'
        'c3,Thiếu cột\n', encoding="utf-8")
    _summary, rows, quarantine = _run(tmp_path, path)
    assert list(rows) == ["c1"] and '"ngoặc kép"' in rows["c1"]["text"]
    reasons = sorted(q["reason"] for q in quarantine)
    assert reasons == ["missing text field 'text'",
                       "row has more fields than the header (4 for 3: column 4 on has no name)"]


@pytest.mark.parametrize(("columns", "reason"), [
    ({"uid": ["p1"], "content": ["x"]}, "missing text field 'text'"),
    ({"id": ["p1"], "text": [5]}, "must be a string, got int"),
])
def test_parquet_with_a_different_schema(tmp_path, columns, reason):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table(columns), path)
    # Every row quarantined: the run fails (runner.max_quarantined_fraction) and names the reason.
    with pytest.raises(QuarantineThresholdError, match=reason):
        Pipeline.from_dict(job(tmp_path, path)).run()
    out = tmp_path / "out"
    rejected = [json.loads(x) for x in (out / "results.rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert reason in rejected[0]["reason"] and not (out / "results.jsonl").exists()


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    summary, rows, _ = _run(tmp_path, path)
    assert summary.read == 0 and not rows


def test_txt_folder_with_binary_file(tmp_path):
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "good.txt").write_text("Tiêu đề\n" + VI, encoding="utf-8")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    _, rows, quarantine = _run(tmp_path, folder)
    assert list(rows) == ["good"] and "not valid utf-8" in quarantine[0]["reason"]


def test_ids_cannot_escape_the_output_directory(tmp_path):
    path = tmp_path / "evil.jsonl"
    path.write_bytes(b"\n".join(_j({"id": i, "text": VI}) for i in ("../../escape", "/etc/passwd", "a/../../b")))
    out_dir = tmp_path / "out"
    _run(tmp_path, path)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(p.startswith("out/") or p in ("evil.jsonl",) for p in written), written
    assert not (tmp_path.parent / "escape").exists() and out_dir.is_dir()


def test_sql_values_are_bound_not_interpolated(tmp_path):
    import sqlite3

    path = tmp_path / "sql.jsonl"
    path.write_bytes(_j({"id": "x'); DROP TABLE articles; --", "title": "'; DELETE FROM articles; --", "text": VI}))
    cfg = job(tmp_path, path, output={"path": str(tmp_path / "out" / "r.db")})
    Pipeline.from_dict(cfg).run()
    rows = sqlite3.connect(tmp_path / "out" / "r.db").execute("SELECT id, title FROM articles").fetchall()
    assert rows == [("x'); DROP TABLE articles; --", "'; DELETE FROM articles; --")]
