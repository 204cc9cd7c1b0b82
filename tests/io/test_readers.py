import csv
import gzip
import json
import os
import re
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import InputConfig
from pipeline.errors import InputError
from pipeline.io.readers import (
    OUTSIDE_LINK,
    CsvReader,
    FolderReader,
    JsonlReader,
    TxtFolderReader,
    _split_lines,
    detect_format,
    list_folder,
    open_reader,
    read_batches,
)
from pipeline.io.records import Quarantined, carry_problem, to_record
from tests.conftest import write_jsonl

ROWS = [
    {"id": "a", "title": "Tiêu đề một", "text": "Nội dung thứ nhất.", "tags": ["x", "y"], "views": 10},
    {"id": "b", "title": "Tiêu đề hai", "text": "Nội dung\nthứ hai, có xuống dòng và \"ngoặc kép\".", "views": 3},
]


def _read(path, **kw):
    batches = list(read_batches(InputConfig(path=path, **kw)))
    records = [r for b in batches for r in b.records]
    quarantined = [q for b in batches for q in b.quarantined]
    return records, quarantined


def _core(records):
    return [(r["id"], r["title"], r["text"]) for r in records]


def test_jsonl_and_gzip_roundtrip(tmp_path):
    plain = write_jsonl(tmp_path / "a.jsonl", ROWS)
    zipped = tmp_path / "a.jsonl.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, zipped):
        records, bad = _read(path)
        assert _core(records) == [(r["id"], r["title"], r["text"]) for r in ROWS] and not bad
        assert records[0]["tags"] == ["x", "y"] and records[0]["views"] == 10


def test_jsonl_bad_lines_quarantined_with_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"id": "ok", "text": "t\xe1\xba\xa1i"}\n'
        b"{not json}\n"
        b"\n"
        b"[1, 2]\n"
        b'{"id": "latin", "text": "caf\xe9"}\n'
        b'{"id": "empty", "text": ""}\n'
    )
    records, bad = _read(path)
    assert [r["id"] for r in records] == ["ok"]
    reasons = {q.source: q.reason for q in bad}
    assert reasons["bad.jsonl:2"].startswith("invalid JSON")
    assert reasons["bad.jsonl:4"] == "expected a JSON object, got list"
    assert reasons["bad.jsonl:5"].startswith("line is not valid utf-8")
    assert any(q.reason == "field 'text' is empty" for q in bad)
    assert len(records) + len(bad) == 5  # the blank line is not a row


def test_jsonl_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(ROWS[0]).encode() + b"\r\n" + json.dumps(ROWS[1]).encode() + b"\r\n")
    records, bad = _read(path)
    assert len(records) == 2 and not bad


def test_csv_with_embedded_newlines_quotes_and_field_mapping(tmp_path):
    path = tmp_path / "a.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["uid", "headline", "body", "views"])
        writer.writeheader()
        for r in ROWS:
            writer.writerow({"uid": r["id"], "headline": r["title"], "body": r["text"], "views": r["views"]})
        fh.write("extra,row,with,too,many\n")
    records, bad = _read(path, text_field="body", title_field="headline", id_field="uid")
    assert _core(records) == [(r["id"], r["title"], r["text"]) for r in ROWS]
    assert records[0]["views"] == "10"  # CSV carries strings
    assert [q.reason for q in bad] == ["row has more fields than the header (5 for 4: column 5 on has no name)"]


def test_parquet_roundtrip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in ("id", "title", "text", "views")} for r in ROWS]), path)
    records, bad = _read(path)
    assert _core(records) == [(r["id"], r["title"], r["text"]) for r in ROWS] and not bad
    assert records[1]["views"] == 3


def test_txt_folder_first_line_is_title(tmp_path):
    folder = tmp_path / "txt"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.txt").write_text("Tiêu đề\nDòng một.\nDòng hai.", encoding="utf-8")
    (folder / "sub" / "two.txt").write_text("\nTiêu đề hai\n\nNội dung.", encoding="utf-8")
    (folder / "bad.txt").write_bytes(b"\xc3\x28 garbage \xff")
    (folder / "utf16.txt").write_bytes("Tiêu đề ba\nNội dung.".encode("utf-16"))
    records, bad = _read(folder)
    assert [(r["id"], r["title"]) for r in records] == [("one", "Tiêu đề"), ("sub/two", "Tiêu đề hai"),
                                                         ("utf16", "Tiêu đề ba")]
    assert records[0]["text"] == "Dòng một.\nDòng hai."
    assert bad[0].id == "bad" and "not valid utf-8" in bad[0].reason


def test_saved_hf_dataset_and_split(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list([{k: r[k] for k in ("id", "title", "text")} for r in ROWS])
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(tmp_path / "dd")
    records, _ = _read(tmp_path / "dd", split="test")
    assert _core(records) == [("a", "Tiêu đề một", "Nội dung thứ nhất.")]
    with pytest.raises(InputError, match=r"set input\.split"):
        open_reader(InputConfig(path=tmp_path / "dd"))


def test_missing_input_and_unknown_extension(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_reader(InputConfig(path=tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match=r"set input\.format"):
        detect_format(tmp_path / "file.xml")


def test_batches_and_limit(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", [{"id": i, "text": f"bài {i}"} for i in range(25)])
    batches = list(read_batches(InputConfig(path=path, batch_size=10, limit=23)))
    assert [b.size for b in batches] == [10, 10, 3]


def test_reading_is_streamed_memory_does_not_grow_with_input(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(30_000):
            fh.write(json.dumps({"id": i, "text": "Nội dung bài báo khá dài. " * 20}, ensure_ascii=False) + "\n")
    tracemalloc.start()
    count = sum(b.size for b in read_batches(InputConfig(path=path, batch_size=100)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 30_000
    assert path.stat().st_size > 15_000_000
    assert peak < 3_000_000  # one batch of 100 articles, not the 15+ MB file


# --- rows no later stage could carry ------------------------------------------------------------

@pytest.mark.parametrize(("row", "reason"), [
    ({"text": "a\ud83d"}, "contains a lone surrogate (\\ud83d) in field 'text'"),
    ({"text": "a", "meta": {"tags": [{"x": "\udc00"}]}}, "lone surrogate (\\udc00) in field 'meta'"),
    ({"text": "a", "m": {"\ud800": 1}}, "lone surrogate (\\ud800) in a field name in field 'm'"),
    ({"text": "a", "n": 2**63}, "integer in field 'n' does not fit in 64 bits (64 bits)"),
    ({"text": "a", "n": [-(2**63) - 1]}, "does not fit in 64 bits"),
    ({"text": "a", "x": json.loads("[" * 64 + "]" * 64)}, "nested deeper than 64 levels in field 'x'"),
])
def test_carry_problem_finds_what_no_output_could_hold(row, reason):
    assert reason in carry_problem(row)
    item = to_record(row, text_field="text", title_field="title", id_field="id", source="row 1")
    assert isinstance(item, Quarantined) and reason in item.reason
    json.dumps(item.to_json(), ensure_ascii=False).encode("utf-8")  # the entry itself can be written


def test_carry_problem_accepts_ordinary_rows():
    row = {"text": "Tiếng Việt 👍", "n": 2**63 - 1, "m": -(2**63), "f": 1.5, "b": True,
           "x": json.loads("[" * 63 + "]" * 63), "meta": {"tags": ["a", None]}}
    assert carry_problem(row) is None


def test_jsonl_nan_and_infinity_become_null_and_huge_integers_are_quarantined(tmp_path):
    path = tmp_path / "nan.jsonl"
    path.write_text('{"id": "n", "text": "t", "a": NaN, "b": [Infinity, -Infinity]}\n'
                    '{"id": "d", "text": "t", "n": ' + "1" * 5000 + "}\n", encoding="utf-8")
    records, bad = _read(path)
    assert records[0]["a"] is None and records[0]["b"] == [None, None]
    assert bad[0].reason.startswith("invalid JSON: Exceeds the limit") and bad[0].source == "nan.jsonl:2"


# --- line splitting -----------------------------------------------------------------------------

@pytest.mark.parametrize("block", [1, 2, 3, 5, 1000])
def test_split_lines_on_lf_crlf_and_lone_cr_across_block_boundaries(block):
    data = b"a\r\nbb\rccc\n\r\nlong-line-here\rlast"
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    lines = [(line.rstrip(b"\r\n"), too_long) for line, too_long in
             _split_lines(blocks, limit=8)]
    assert lines == [(b"a", False), (b"bb", False), (b"ccc", False), (b"", False), (lines[4][0], True),
                     (b"last", False)]
    assert lines[4][0] and b"long-line-here".startswith(lines[4][0])


def test_utf16_jsonl_with_lone_cr_and_a_line_over_the_cap(tmp_path):
    path = tmp_path / "u.jsonl"
    text = "\r".join([json.dumps({"id": "a", "text": "x" * 3000}), json.dumps({"id": "b", "text": "ý"})])
    path.write_bytes(text.encode("utf-16"))
    records, bad = _read(path, max_line_bytes=2000)
    assert [r["id"] for r in records] == ["b"]
    assert bad[0].reason == "line is longer than input.max_line_bytes=2,000" and bad[0].source == "u.jsonl:1"


# --- CSV ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "rows", "bad", "reason"), [
    # the quote swallows lines until the field count comes out wrong
    ('id,title,text\na,"ok, fine","line one\nline two"\nb,"broken,text b\nc,t,text c\nd,t,"text d ""quoted"""\n',
     [("a", "ok, fine", "line one\nline two"), ("c", "t", "text c"), ("d", "t", 'text d "quoted"')],
     ("q.csv:4", 'b,"broken,text b\n'), "unclosed quote on this line (it swallows 2 more lines into a row of 2 "
     "fields, the header has 3)"),
    # the field count comes out right: the quote pairs with the one that opens a field two lines down, and the text
    # after that one gives the pairing away
    ('id,title,text\n1,Tin một,"Nội dung một\n2,Tin hai,Nội dung hai.\n3,Tin ba,"Nội dung ""ba""."\n'
     '4,Tin bốn,"Dòng một\nDòng hai"\n',
     [("2", "Tin hai", "Nội dung hai."), ("3", "Tin ba", 'Nội dung "ba".'), ("4", "Tin bốn", "Dòng một\nDòng hai")],
     ("q.csv:2", '1,Tin một,"Nội dung một\n'), "unclosed quote on this line (it pairs with a quote 2 lines further "
     "down that text follows, not a delimiter)"),
])
def test_csv_unclosed_quote_quarantines_one_line_and_reads_the_next_ones(tmp_path, text, rows, bad, reason):
    path = tmp_path / "q.csv"
    path.write_text(text, encoding="utf-8")
    records, quarantined = _read(path)
    assert _core(records) == rows
    assert [(q.source, q.to_json()["raw"]) for q in quarantined] == [bad]
    assert quarantined[0].reason == f"{reason}; the lines after it are read again as rows"


@pytest.mark.parametrize(("delimiter", "setting"), [(";", "auto"), ("\t", "auto"), ("|", "auto"), (";", ";")])
def test_csv_delimiter_sniffed_from_the_header_or_set(tmp_path, delimiter, setting):
    path = tmp_path / "d.csv"
    path.write_text(delimiter.join(["id", "title", "text"]) + "\n" + delimiter.join(["a", "T, t", "x, y"]) + "\n",
                    encoding="utf-8")
    records, bad = _read(path, csv_delimiter=setting)
    assert _core(records) == [("a", "T, t", "x, y")] and not bad


def test_csv_line_over_the_cap_is_quarantined_and_reading_goes_on(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("id,title,text\n" + "a,t," + "x" * 5000 + "\nb,t,fine\n", encoding="utf-8")
    records, bad = _read(path, max_line_bytes=1000)
    assert [r["id"] for r in records] == ["b"]
    assert [(q.reason, q.source) for q in bad] == [("line is longer than input.max_line_bytes=1,000", "long.csv:2")]


def test_csv_cell_beyond_the_csv_module_s_128_kib_is_read_whole(tmp_path):
    """A long article in one cell: the csv module refuses cells over 128 KiB by default; the reader lifts that
    limit (input.max_line_bytes is the cap a user sets)."""
    text = "Một bài rất dài, có dấu phẩy. " * 8_000
    path = tmp_path / "long.csv"
    path.write_text(f'id,title,text\na,t,"{text}"\nb,t,ngắn\n', encoding="utf-8")
    before = csv.field_size_limit(128 * 1024)
    try:
        records, bad = _read(path)
    finally:
        csv.field_size_limit(before)
    assert [(r["id"], r["text"]) for r in records] == [("a", text), ("b", "ngắn")] and bad == []


def test_csv_delimiter_and_encoding_are_validated():
    with pytest.raises(ValueError, match="one character"):
        InputConfig(path="x.csv", csv_delimiter=";;")
    with pytest.raises(ValueError, match="unknown text encoding 'utf-9'"):
        InputConfig(path="x.csv", encoding="utf-9")


# --- Parquet ------------------------------------------------------------------------------------

def test_parquet_damaged_in_a_row_group_costs_that_row_group_only(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    rows = [{"id": str(i), "text": os.urandom(200).hex()} for i in range(30)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=10)
    offset = pq.ParquetFile(path).metadata.row_group(1).column(1).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset + 10: offset + 500] = b"\xff" * 490  # (inside the second row group's text column)
    path.write_bytes(bytes(data))
    records, bad = _read(path, batch_size=4)
    assert [r["id"] for r in records] == [str(i) for i in (*range(10), *range(20, 30))]
    assert [q.source for q in bad] == ["d.parquet:row 11"]
    assert bad[0].reason.startswith("Parquet row group 2 is damaged: its rows 11 to 20 (10 rows) cannot be read: ")


def test_parquet_cut_short_says_no_row_can_be_found(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "day"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": "a", "text": "Nội dung"}]), folder / "a.parquet")
    whole = (folder / "a.parquet").read_bytes()
    (folder / "b.parquet").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="a file cut short or with a damaged footer gives no row"):
        open_reader(InputConfig(path=folder / "b.parquet"))
    records, bad = _read(folder)  # in a folder: one entry, the other files read
    assert [r["id"] for r in records] == ["a"]
    assert [q.source for q in bad] == ["b.parquet"] and "cannot read file: Cannot read Parquet input" in bad[0].reason


# --- folders ------------------------------------------------------------------------------------

def _mixed_folder(tmp_path):
    folder = tmp_path / "day"
    (folder / "b").mkdir(parents=True)
    write_jsonl(folder / "a.jsonl", ROWS)
    with open(folder / "b" / "c.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["id", "title", "text"], ["c", "Tc", "Nội dung c"]])
    (folder / "b" / "d.TXT").write_text("Td\nNội dung d", encoding="utf-8")
    (folder / "README").write_text("not an article", encoding="utf-8")
    write_jsonl(folder / "e.ndjson", [{"id": "e", "text": "Nội dung e"}])
    return folder


def test_folder_rows_are_numbered_across_files_and_resume_by_row_index(tmp_path):
    folder = _mixed_folder(tmp_path)
    cfg = InputConfig(path=folder, batch_size=2)
    assert detect_format(folder) == "folder" and isinstance(open_reader(cfg), FolderReader)
    batches = list(read_batches(cfg))
    assert [(b.start, b.end) for b in batches] == [(0, 2), (2, 4), (4, 6)]
    ids = [r["id"] for b in batches for r in b.records]
    assert ids == ["a", "b", "c", "b/d", "e"]  # the .txt row keeps its shape: id is the relative path
    (entry,) = [q for b in batches for q in b.quarantined]
    assert entry.source == "README" and entry.reason.startswith("not an input file: README")
    resumed = list(read_batches(cfg, start=3))
    assert [r["id"] for b in resumed for r in b.records] == ["c", "b/d", "e"] and resumed[0].start == 3


def test_folder_with_a_declared_format_reads_unknown_extensions_with_it(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    write_jsonl(folder / "day.log", ROWS)
    records, bad = _read(folder, format="jsonl")
    assert [r["id"] for r in records] == ["a", "b"] and not bad


def test_folder_with_nothing_readable_names_what_it_found(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    with pytest.raises(InputError, match="is empty"):
        open_reader(InputConfig(path=folder))
    for name in ("a.md", "b.md", "notes"):
        (folder / name).write_text("x", encoding="utf-8")
    (folder / "gone.jsonl").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError) as err:
        open_reader(InputConfig(path=folder))
    for found in ("holds 2 .md files, ", "1 (no extension) file", "1 broken symbolic link", " and no .jsonl, "):
        assert found in str(err.value)


def test_list_folder_follows_linked_folders_and_stops_at_loops(tmp_path):
    folder, other = tmp_path / "in", tmp_path / "other"
    (folder / "sub").mkdir(parents=True)
    other.mkdir()
    (other / "x.jsonl").write_text("{}\n", encoding="utf-8")
    (folder / "sub" / "link").symlink_to(other)
    (folder / "sub" / "up").symlink_to(folder)
    os.mkfifo(folder / "fifo.csv")
    entries = [(e.rel, e.fmt, e.problem) for e in list_folder(folder, follow_symlinks=True)]
    assert entries == [
        ("fifo.csv", None, "not a regular file (FIFO): fifo.csv"),
        ("sub/link/x.jsonl", "jsonl", None),
        ("sub/up", None, "symbolic link loop: sub/up leads back to a folder that contains it"),
    ]


def test_links_out_of_the_folder_are_counted_not_read_unless_followed(tmp_path):
    folder, private = tmp_path / "in", tmp_path / "private"
    (folder / "sub").mkdir(parents=True)
    private.mkdir()
    write_jsonl(private / "secret.jsonl", [{"id": "s", "text": "riêng tư"}])
    write_jsonl(folder / "a.jsonl", ROWS[:1])
    (folder / "secret.jsonl").symlink_to(private / "secret.jsonl")  # a file outside
    (folder / "sub" / "private").symlink_to(private)  # a folder outside
    (folder / "sub" / "same.jsonl").symlink_to(folder / "a.jsonl")  # inside: read
    (folder / "sub" / "dots.jsonl").symlink_to("../../private/secret.jsonl")  # relative, outside
    reader = open_reader(InputConfig(path=folder))
    assert [e.rel for e in reader.entries] == ["a.jsonl", "sub/same.jsonl"]
    assert reader.skipped == {OUTSIDE_LINK: 3}
    records, _ = _read(folder)
    assert [r["id"] for r in records] == ["a", "a"]
    records, _ = _read(folder, follow_symlinks=True)
    assert sorted(r["id"] for r in records) == ["a", "a", "s", "s", "s"]


def test_a_folder_of_links_out_of_it_says_how_to_read_them(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(tmp_path / "elsewhere.jsonl", ROWS)
    (folder / "x.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    message = "holds no input file of its own; check input.path. 1 symbolic link in it leads outside it and is not read"
    with pytest.raises(InputError, match=re.escape(message + ": set input.follow_symlinks: true")):
        open_reader(InputConfig(path=folder))


def test_an_input_path_that_is_a_link_is_read(tmp_path):
    write_jsonl(tmp_path / "real.jsonl", ROWS)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "today.jsonl").symlink_to(tmp_path / "real.jsonl")
    assert len(_read(tmp_path / "in" / "today.jsonl")[0]) == 2
    write_jsonl(tmp_path / "in" / "own.jsonl", ROWS)
    (tmp_path / "linked").symlink_to(tmp_path / "in")  # the folder named by input.path may be a link itself
    assert [r["id"] for r in _read(tmp_path / "linked")[0]] == ["a", "b"]  # (today.jsonl leads out of it)


def test_csv_reasons_name_the_line_and_column_never_the_contents(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("id,title,text\n1,Tiêu đề,Nội dung SECRET-A\n2,t,x,SECRET-B\n".encode() + b"3,\xff SECRET-C,x\n")
    _, bad = _read(path)
    reasons = {q.source: q.reason for q in bad}
    assert reasons == {"s.csv:3": "row has more fields than the header (4 for 3: column 4 on has no name)",
                       "s.csv:4": "column 2 (title) is not valid utf-8"}
    assert not any("SECRET" in q.reason for q in bad)
    headerless = tmp_path / "h.csv"
    headerless.write_bytes(b"1,secret value one,x\n2,\xff,y\n")
    _, bad = _read(headerless)
    assert [q.reason for q in bad] == ["column 2 is not valid utf-8"]  # the header is data here: not named


def test_unreadable_subfolder_is_an_entry_not_a_silent_skip(tmp_path, monkeypatch):
    """Simulated with os.scandir failing: tests run as root here, where chmod 000 does not block."""
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    write_jsonl(folder / "a.jsonl", ROWS)
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr("pipeline.io.readers.os.scandir", scandir)
    records, bad = _read(folder)
    assert len(records) == 2 and [(q.source, q.reason) for q in bad] == [
        ("locked", "cannot list folder: Permission denied")]


def test_ray_lists_a_local_folder_like_the_local_reader(tmp_path):
    from pipeline.run.ray import list_input_files, read_file

    folder = _mixed_folder(tmp_path)
    write_jsonl(tmp_path / "private.jsonl", [{"id": "secret", "text": "Không được đọc."}])
    (folder / "link.jsonl").symlink_to(tmp_path / "private.jsonl")  # a link out of the folder: not followed
    items = list_input_files(str(folder), detect_format(folder))
    input_data = InputConfig(path=folder).model_dump(mode="json")
    rows = [json.loads(r["json"]) for item in items for r in read_file(item, input_data)]
    assert [r["r"]["id"] for r in rows if "r" in r] == ["a", "b", "c", "b/d", "e"]
    assert [r["q"]["source"] for r in rows if "q" in r] == ["README"]
    # each file ends with how many rows it gave, the file that cannot be read with its one quarantine entry
    assert [(items[r["i"]].get("rel"), r["e"]) for r in rows if "e" in r] == \
        [("README", 1), ("a.jsonl", 2), ("b/c.csv", 1), ("b/d.TXT", 1), ("e.ndjson", 1)]


# --- inputs that are not files ------------------------------------------------------------------

def test_fifo_and_devices_are_refused_before_opening(tmp_path):
    os.mkfifo(tmp_path / "in.jsonl")
    for path in (tmp_path / "in.jsonl", Path("/dev/null")):
        with pytest.raises(InputError, match="must be a regular file or a folder; save the stream to a file first"):
            open_reader(InputConfig(path=path))


def test_txt_file_over_the_cap_is_not_read_whole(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "big.txt").write_text("T\n" + "x" * 5000, encoding="utf-8")
    (folder / "mac.txt").write_bytes("Tiêu đề\rDòng một.\rDòng hai.".encode())
    records, bad = _read(folder, max_line_bytes=1000)
    assert [(r["id"], r["title"], r["text"]) for r in records] == [("mac", "Tiêu đề", "Dòng một.\rDòng hai.")]
    assert [(q.id, q.reason) for q in bad] == [("big", "file is longer than input.max_line_bytes=1,000")]


@pytest.mark.parametrize("escape, carried", [
    ("\\ud83d", False), ("\\uD83D", False), ("\\udc00", False), ("\\uDFFF", False),  # lone halves, any case
    ("\\ud83d\\ude00", True), ("\\\\ud83d", True), ("\\u00e0", True),  # a whole pair, an escaped backslash, à
])
def test_only_lone_surrogate_escapes_are_quarantined(tmp_path, escape, carried):
    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "x", "text": "Tin tức ' + escape + ' hôm nay"}\n', encoding="utf-8")
    records, bad = _read(path)
    assert (len(records), len(bad)) == ((1, 0) if carried else (0, 1))
    if not carried:
        assert bad[0].reason.startswith("contains a lone surrogate") and bad[0].id == "x"


def test_jsonl_rows_are_what_python_s_json_reads(tmp_path):
    """Lines are parsed by orjson, with Python's json for what orjson reads differently or refuses: every
    object must come out exactly as Python's json reads it (int stays int, NaN becomes null, last key wins)."""
    import json as stdlib_json

    from pipeline.io.readers import JsonlReader

    lines = ['{"a": 1, "b": "Thể thao"}', '{"a": 12345678901234567890123}', '{"a": -92233720368547758080}',
             '{"a": 18446744073709551615}', '{"a": 1e400}', '{"a": NaN, "b": -Infinity}', '{"a": [1, {"b": 1.5e300}]}',
             '{"a": "x", "a": "y"}', '{"a": "\\ud83d\\ude00"}', '{"a": "\\u0000", "b": -0.0, "c": 1E3}',
             '{"a": 9.3e18}', '{"a": 9223372036854775807}']
    path = tmp_path / "in.jsonl"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    rows = list(JsonlReader(path).rows())
    expected = [stdlib_json.loads(line, parse_constant=lambda _: None) for line in lines]
    assert [repr(r) for r in rows] == [repr(e) for e in expected]


# Properties (hypothesis): the readers never fail in an unplanned way, whatever bytes they are given.


def _drain(rows) -> None:
    for row in rows:
        assert isinstance(row, (dict, Quarantined))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_readers_survive_any_bytes(tmp_path, data):
    for name in ("x.jsonl", "x.csv", "x.txt"):
        path = tmp_path / name
        path.write_bytes(data)
        reader = {"x.jsonl": JsonlReader, "x.csv": CsvReader, "x.txt": TxtFolderReader}[name](path)
        _drain(reader.rows())
        reader.estimate_total()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=200), st.just(b'{"id": 1, "text": "a"}')), max_size=20))
def test_gzip_jsonl_survives_any_lines(tmp_path, lines):
    import gzip

    path = tmp_path / "x.jsonl.gz"
    blob = gzip.compress(b"\n".join(lines))
    path.write_bytes(blob[: max(2, len(blob) - len(lines))])  # often truncated
    _drain(JsonlReader(path).rows())


@pytest.mark.parametrize("pieces", [
    [b'{"id": 1}\n'] * 5,
    [b'{"id": 1}\r\n'] * 5 + [b'{"id": 2}'],
    [b'{"id": 1}\r'] * 7,
    [b'{"id": 1, "text": "' + b"x" * 400_000 + b'"}\n'] * 3 + [b'{"id": 2}\r'] * 4 + [b'{"id": 3}\n'],
    [b'{"id": 1}\r'] * 3 + [b'{"id": 1, "text": "' + b"x" * 1_500_000 + b'"}\n'] * 2,
])
def test_estimate_total_counts_line_breaks_in_every_block(tmp_path, pieces):
    """The row estimate is max(LF count, CR count) plus an unterminated last line, whichever blocks the CRs
    are in (CRs are only counted in blocks that hold one)."""
    data = b"".join(pieces)
    path = tmp_path / "rows.jsonl"
    path.write_bytes(data)
    expected = max(data.count(b"\n"), data.count(b"\r")) + (data[-1:] not in (b"\n", b"\r"))
    assert JsonlReader(path).estimate_total() == expected


def test_rows_refused_after_parsing_are_located_in_their_file(tmp_path):
    """A row that parses but is no article (no text, a text that is a number) names its file and line, as a line
    that does not parse does, in every reader that knows lines or rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "day"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"id": "a1", "text": "Nội dung"}, {"id": "a2", "title": "no text"}])
    (folder / "b.csv").write_text('id,text\nb1,"Nội\ndung"\nb2,\n', encoding="utf-8")
    pq.write_table(pa.Table.from_pylist([{"id": "c1", "text": "x"}, {"id": "c2", "text": None}]),
                   folder / "c.parquet")
    (folder / "d.txt").write_text("Chỉ có tiêu đề\n", encoding="utf-8")
    records, bad = _read(folder)
    assert [r["id"] for r in records] == ["a1", "b1", "c1"]
    assert [(q.source, q.reason) for q in bad] == [
        ("a.jsonl:2", "missing text field 'text'"), ("b.csv:4", "field 'text' is empty"),
        ("c.parquet:row 2", "missing text field 'text'"), ("d", "field 'text' is empty")]
