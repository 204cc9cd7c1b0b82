"""Hostile input files through a real `vnnews run` subprocess: what a user's daily job meets.

Each case writes its own file, runs the command line as a user would (topics and summaries off,
so it is fast) and checks the promise: exit 0 with every input row exactly once in the output or
in the quarantine with a reason, or a documented exit code with a one-paragraph message; never a
traceback, never a hang.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pipeline.config import InputConfig
from pipeline.io.readers import read_batches

VNNEWS = str(Path(sys.executable).parent / "vnnews")
VI = "Đội tuyển bóng đá Việt Nam đã giành chiến thắng thuyết phục trong trận đấu tối qua trên sân nhà. " * 2


@dataclass
class Result:
    code: int
    stderr: str
    rows: dict[str, dict]
    quarantine: list[dict]
    counts: dict[str, int]

    def reasons(self) -> list[str]:
        return [q["reason"] for q in self.quarantine]


def vnnews_run(tmp_path: Path, input_path: str | Path, timeout: float = 120, **input_extra) -> Result:
    """`vnnews run` on ``input_path`` with topics and summaries off; the output and quarantine read back."""
    out = tmp_path / "out" / "results.jsonl"
    cfg = {
        "input": {"path": str(input_path), **input_extra},
        "classify": {"enabled": False},
        "summarize": {"enabled": False},
        "output": {"path": str(out), "include_text": True},
        "runner": {"progress": "off"},
    }
    cfg_path = tmp_path / "job.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run([VNNEWS, "run", str(cfg_path), "-q"], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    rows, quarantine, counts = {}, [], {}
    if proc.returncode == 0:
        text = out.read_text(encoding="utf-8")
        assert "NaN" not in text and "Infinity" not in text
        rows = {r["id"]: r for r in map(json.loads, text.splitlines())}
        quarantine = [json.loads(x) for x in out.with_name("results.quarantine.jsonl").read_text(
            encoding="utf-8").splitlines()]
        counts = json.loads(out.with_name("results.manifest.json").read_text(encoding="utf-8"))["counts"]
        assert counts["read"] == counts["written"] + counts["quarantined"] + counts["unchanged"]
        assert counts["written"] == len(rows) and counts["quarantined"] == len(quarantine)
    return Result(proc.returncode, proc.stderr, rows, quarantine, counts)


def _line(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _good(i) -> str:
    return _line({"id": f"ok{i}", "title": f"Bài {i}", "text": VI})


# --- 1. poison rows -----------------------------------------------------------------------------

POISON = [
    ('{"id": "s-text", "text": "' + VI + '\\ud83d"}', "lone surrogate (\\ud83d) in field 'text'"),
    ('{"id": "s-title", "title": "Vui \\ud83d", "text": "' + VI + '"}', "lone surrogate (\\ud83d) in field 'title'"),
    ('{"id": "s-id-\\udc00", "text": "' + VI + '"}', "lone surrogate (\\udc00) in field 'id'"),
    ('{"id": "s-extra", "text": "' + VI + '", "meta": {"tags": ["a", "\\ud83d"]}}',
     "lone surrogate (\\ud83d) in field 'meta'"),
    ('{"id": "s-key", "text": "' + VI + '", "\\ud83d": 1}', "lone surrogate (\\ud83d) in a field name"),
    ('{"id": "digits", "text": "' + VI + '", "n": ' + "9" * 5000 + "}", "invalid JSON: Exceeds the limit"),
    ('{"id": "int128", "text": "' + VI + '", "n": ' + str(2**70) + "}", "field 'n' does not fit in 64 bits"),
    ('{"id": "deep", "text": "' + VI + '", "x": ' + "[" * 900 + "]" * 900 + "}", "nested deeper than 64 levels"),
]


def test_poison_rows_are_quarantined_and_every_rerun_succeeds(tmp_path):
    lines = [_good(0)] + [line for line, _ in POISON] + [
        '{"id": "nan", "text": "' + VI + '", "score": NaN, "hi": Infinity, "lo": [-Infinity]}', _good(1)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for _ in range(2):  # a poison row must not make every later run fail either
        result = vnnews_run(tmp_path, path)
        assert result.code == 0, result.stderr
        assert sorted(result.rows) == ["nan", "ok0", "ok1"]
        assert result.counts["read"] == len(lines)
    assert (result.rows["nan"]["score"], result.rows["nan"]["hi"], result.rows["nan"]["lo"]) == (None, None, [None])
    reasons = result.reasons()
    for _, expected in POISON:
        assert sum(expected in r for r in reasons) == 1, (expected, reasons)


def test_damaged_parquet_keeps_the_rows_around_the_damaged_row_group(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    rows = [{"id": f"p{i}", "title": f"Bài {i}", "text": VI + f" Số {i} " + os.urandom(64).hex()} for i in range(400)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100)
    meta = pq.ParquetFile(path).metadata
    third = meta.row_group(2).column(2)  # the text column of the third row group (rows 201-300)
    start = third.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + 20: start + 520] = os.urandom(500)  # (inside the chunk: it ends about 900 bytes after its data page)
    path.write_bytes(bytes(data))

    result = vnnews_run(tmp_path, path)
    assert result.code == 0, result.stderr
    assert sorted(result.rows) == sorted(f"p{i}" for i in (*range(200), *range(300, 400))), result.reasons()
    (entry,) = result.quarantine
    assert entry["reason"].startswith("Parquet row group 3 is damaged: its rows 201 to 300 (100 rows) cannot be read")
    assert entry["source"] == "in.parquet:row 201"


def test_parquet_text_in_a_binary_column_is_read_as_utf8(tmp_path):
    """Writers that store strings as BINARY (no UTF-8 mark) give bytes: the text is read; bytes that are not
    UTF-8 are one quarantine entry naming the field and row, never a row of escaped bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    texts = [f"{VI} Số {i}.".encode() for i in range(3)]
    texts[1] = f"{VI} Số 1.".encode("utf-16")
    pq.write_table(pa.table({"id": ["b0", "b1", "b2"], "text": pa.array(texts, pa.binary())}), path)

    result = vnnews_run(tmp_path, path)
    assert result.code == 0, result.stderr
    assert sorted(result.rows) == ["b0", "b2"], result.reasons()
    assert result.rows["b2"]["text"].endswith(" Số 2.")
    (entry,) = result.quarantine
    assert entry["reason"].startswith("field 'text' holds bytes that are not UTF-8 text (")
    assert (entry["id"], entry["source"]) == ("b1", "in.parquet:row 2")


# --- 2. silent skips ----------------------------------------------------------------------------

def _write_csv(path: Path, rows: list[dict], delimiter: str = ",", lineterminator: str = "\r\n") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator=lineterminator)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_folder_is_read_file_by_file_by_extension(tmp_path):
    folder = tmp_path / "day"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jsonl").write_text(_good("a1") + "\n" + _good("a2") + "\n", encoding="utf-8")
    (folder / "sub" / "b.JSONL").write_text(_good("b1") + "\n", encoding="utf-8")
    _write_csv(folder / "c.csv", [{"id": "okc1", "title": "Bài", "text": VI}])
    (folder / "sub" / "d.txt").write_text("Tiêu đề d\n" + VI, encoding="utf-8")
    (folder / "UPPER.TXT").write_text("Tiêu đề hoa\n" + VI, encoding="utf-8")
    (folder / "notes.md").write_text("# not an article\n", encoding="utf-8")

    result = vnnews_run(tmp_path, folder)
    assert result.code == 0, result.stderr
    assert sorted(result.rows) == ["UPPER", "oka1", "oka2", "okb1", "okc1", "sub/d"]
    assert result.rows["sub/d"]["title"] == "Tiêu đề d" and result.rows["UPPER"]["title"] == "Tiêu đề hoa"
    assert result.reasons() == [
        "not an input file: notes.md (input files end in .jsonl, .jsonl.gz, .json, .ndjson, .csv, .csv.gz, "
        ".parquet, .txt, .html, .htm, .html.gz, .htm.gz, .warc, .warc.gz; set input.format to read every file as "
        "one format)"]


def test_folder_without_input_files_is_an_input_error(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.md", "b.md", "c.md"):
        (folder / name).write_text("# x\n", encoding="utf-8")
    result = vnnews_run(tmp_path, folder)
    assert result.code == 4
    assert "holds 3 .md files and no .jsonl" in result.stderr


def test_folder_links_fifos_and_loops_are_followed_or_quarantined(tmp_path):
    folder, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (elsewhere / "e.jsonl").write_text(_good("e") + "\n", encoding="utf-8")
    (folder / "a.jsonl").write_text(_good("a") + "\n", encoding="utf-8")
    (folder / "linked").symlink_to(elsewhere)  # a folder outside: read with input.follow_symlinks only
    (folder / "loop").symlink_to(folder)  # ... and one leading back up is not read forever
    (folder / "gone.jsonl").symlink_to(tmp_path / "missing.jsonl")
    os.mkfifo(folder / "pipe.jsonl")

    result = vnnews_run(tmp_path, folder, timeout=60)
    assert result.code == 0, result.stderr
    assert sorted(result.rows) == ["oka"]
    manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text(encoding="utf-8"))
    assert list(manifest["skipped"].values()) == [1] and "outside the input folder" in next(iter(manifest["skipped"]))
    result = vnnews_run(tmp_path, folder, timeout=60, follow_symlinks=True)
    assert result.code == 0, result.stderr
    assert sorted(result.rows) == ["oka", "oke"]
    reasons = sorted(result.reasons())
    assert reasons[0].startswith("broken symbolic link: gone.jsonl")
    assert reasons[1] == "not a regular file (FIFO): pipe.jsonl"
    assert reasons[2].startswith("symbolic link loop: loop")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_unreadable_subfolder_is_quarantined(tmp_path):
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    (folder / "a.jsonl").write_text(_good("a") + "\n", encoding="utf-8")
    (folder / "locked" / "b.jsonl").write_text(_good("b") + "\n", encoding="utf-8")
    (folder / "locked").chmod(0)
    try:
        result = vnnews_run(tmp_path, folder)
    finally:
        (folder / "locked").chmod(0o755)
    assert result.code == 0, result.stderr
    assert list(result.rows) == ["oka"] and result.reasons() == ["cannot list folder: Permission denied"]


def test_lone_cr_line_ends_in_jsonl_csv_and_txt(tmp_path):
    jsonl = tmp_path / "mac.jsonl"
    jsonl.write_bytes("\r".join(_good(i) for i in range(30)).encode("utf-8") + b"\r")
    result = vnnews_run(tmp_path, jsonl)
    assert result.code == 0 and len(result.rows) == 30 and not result.quarantine

    rows = [{"id": f"c{i}", "title": f"Bài {i}", "text": VI + "\rDòng hai."} for i in range(5)]
    result = vnnews_run(tmp_path, _write_csv(tmp_path / "mac.csv", rows, lineterminator="\r"))
    assert result.code == 0 and sorted(result.rows) == [f"c{i}" for i in range(5)], result.quarantine

    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "one.txt").write_bytes(("Tiêu đề\r" + VI).encode("utf-8"))
    result = vnnews_run(tmp_path, folder)
    assert result.code == 0 and result.rows["one"]["title"] == "Tiêu đề"


def test_csv_unclosed_quote_loses_one_line_not_the_rest(tmp_path):
    path = tmp_path / "quote.csv"
    lines = ["id,title,text", f'c0,"Tiêu đề, có dấu phẩy","{VI}\nDòng hai có ""ngoặc kép""."',
             f'c1,"Tiêu đề hỏng,{VI}']  # the quote is never closed
    lines += [f"c{i},Bài {i},{VI}" for i in range(2, 97)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = vnnews_run(tmp_path, path)
    assert result.code == 0, result.stderr
    assert sorted(result.rows) == sorted(f"c{i}" for i in range(97) if i != 1)
    assert '"ngoặc kép"' in result.rows["c0"]["text"] and "\n" in result.rows["c0"]["text"]
    (entry,) = result.quarantine
    assert entry["reason"].startswith("unclosed quote on this line") and entry["source"] == "quote.csv:4"

    path.write_text("\n".join([*lines[:2], f"c2,Bài,{VI}", lines[2]]) + "\n", encoding="utf-8")  # quote runs to EOF
    result = vnnews_run(tmp_path, path)
    assert sorted(result.rows) == ["c0", "c2"]
    assert "the file ends inside the quoted field" in result.reasons()[0]


def test_csv_unclosed_quote_that_a_later_rows_quote_closes_loses_one_line_not_the_rows_between(tmp_path):
    """The quote left open on c1's line pairs with the quote that opens c5's text: three fields, as the header
    says, but the text after that quote gives the pairing away. Rows c2 to c5 are read, not merged into c1's."""
    path = tmp_path / "quote.csv"
    lines = ["id,title,text", f'c0,Bài 0,{VI}', f'c1,Bài 1,"{VI}']
    lines += [f"c{i},Bài {i},{VI}" for i in range(2, 5)] + [f'c5,Bài 5,"Lời kể ""ngắn"". {VI}"', f"c6,Bài 6,{VI}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = vnnews_run(tmp_path, path)
    assert result.code == 0, result.stderr
    assert sorted(result.rows) == [f"c{i}" for i in range(7) if i != 1]
    assert result.rows["c5"]["text"].startswith('Lời kể "ngắn".')
    (entry,) = result.quarantine
    assert entry["source"] == "quote.csv:3" and "it pairs with a quote 4 lines further down" in entry["reason"]


def test_semicolon_csv_is_sniffed_or_set(tmp_path):
    rows = [{"id": f"s{i}", "title": f"Bài {i}", "text": VI.replace(",", "")} for i in range(5)]
    path = _write_csv(tmp_path / "semi.csv", rows, delimiter=";")
    result = vnnews_run(tmp_path, path)
    assert result.code == 0 and sorted(result.rows) == [f"s{i}" for i in range(5)], result.quarantine
    result = vnnews_run(tmp_path, path, csv_delimiter=";")
    assert result.code == 0 and len(result.rows) == 5


# --- 3. limits in every reader ------------------------------------------------------------------

def test_limits_apply_to_utf16_jsonl_csv_records_and_txt_files(tmp_path):
    cap = {"max_line_bytes": 10_000}
    utf16 = tmp_path / "u16.jsonl"
    utf16.write_bytes("\n".join([_line({"id": "big", "text": VI * 200}), _good(1)]).encode("utf-16"))
    result = vnnews_run(tmp_path, utf16, **cap)
    assert list(result.rows) == ["ok1"] and result.reasons() == ["line is longer than input.max_line_bytes=10,000"]

    path = tmp_path / "big.csv"
    path.write_text(f'id,title,text\nc0,Bài,"{VI * 30}\n{VI * 30}"\nc1,Bài,{VI}\n', encoding="utf-8")
    result = vnnews_run(tmp_path, path, **cap)
    assert list(result.rows) == ["c1"]
    assert result.reasons()[0].startswith("record from line 2 is longer than input.max_line_bytes=10,000")

    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "huge.txt").write_text("Tiêu đề\n" + VI * 200, encoding="utf-8")
    (folder / "fine.txt").write_text("Tiêu đề\n" + VI, encoding="utf-8")
    result = vnnews_run(tmp_path, folder, **cap)
    assert list(result.rows) == ["fine"]
    assert result.reasons() == ["file is longer than input.max_line_bytes=10,000"]


@pytest.mark.parametrize("name", ["long.jsonl", "long-utf16.jsonl", "long.csv"])
def test_an_overlong_line_is_never_held_in_memory(tmp_path, name):
    """A 50 MB line with a 1 MB cap: the reader's peak allocation is a few MB, not the line."""
    path = tmp_path / name
    body = "Nội dung rất dài " * 3_000_000  # ~50 MB of UTF-8, no line break
    if name.endswith(".csv"):
        path.write_text(f'id,title,text\nc0,Bài,"{body}"\nc1,Bài,ok\n', encoding="utf-8")
    elif "utf16" in name:
        path.write_bytes(f'{{"text": "{body[:len(body) // 2]}"}}\n{{"text": "ok"}}\n'.encode("utf-16"))
    else:
        path.write_text(f'{{"text": "{body}"}}\n{{"text": "ok"}}\n', encoding="utf-8")
    del body
    tracemalloc.start()
    batches = list(read_batches(InputConfig(path=path, max_line_bytes=1_000_000)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [len(b.records) for b in batches] == [1] and [len(b.quarantined) for b in batches] == [1]
    assert peak < 8_000_000


# --- 4. inputs that would hang or crash before reading ------------------------------------------

def test_streams_and_devices_are_refused_at_once(tmp_path):
    fifo = tmp_path / "stream.jsonl"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/null", "/dev/stdin"):
        result = vnnews_run(tmp_path, path, timeout=60)
        assert result.code == 4, (path, result.stderr)
        assert "input.path must be a regular file or a folder; save the stream to a file first" in result.stderr


def test_unknown_encoding_is_a_config_error(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(_good(0) + "\n", encoding="utf-8")
    result = vnnews_run(tmp_path, path, encoding="utf-9")
    assert result.code == 2
    assert "input.encoding" in result.stderr and "utf-9" in result.stderr


# --- 5. file names as the operating system gives them ---------------------------------------------

def _create(folder: Path, name: bytes, content: str) -> None:
    """A file named by raw bytes (not necessarily UTF-8), as another program might have made it."""
    fd = os.open(os.fsencode(folder) + b"/" + name, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    try:
        os.write(fd, content.encode("utf-8"))
    finally:
        os.close(fd)


def _read_back(path: Path) -> list[dict]:
    """The rows of a JSONL, CSV, Parquet or SQLite output, as dicts."""
    import sqlite3


    if path.suffix == ".db":
        with sqlite3.connect(path) as db:
            return [json.loads(r) for (r,) in db.execute("SELECT record FROM articles")]
    if path.suffix == ".csv":  # (csv, not pandas: pandas renames a column without a name)
        from pipeline.io.writers import unescape_formula  # (cells a spreadsheet would run are escaped: docs/outputs.md)

        with open(path, encoding="utf-8", newline="") as fh:
            return [{unescape_formula(k): unescape_formula(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    if path.suffix == ".parquet":  # (fields beyond the pipeline's are one JSON object per row: extra_fields)
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        return [{**{k: v for k, v in r.items() if k != "extra_fields"}, **json.loads(r.get("extra_fields") or "{}")}
                for r in rows]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("output", ["results.jsonl", "results.csv", "results.parquet", "results.db"])
def test_file_names_that_are_not_utf8_reach_every_output(tmp_path, output):
    """Names with bytes that are not UTF-8, a line break, a leading '-', 200 characters: read, and written
    everywhere in the backslashreplace form (b'\\xe9' -> '\\\\xe9'); a rerun is up to date, a new file is read."""
    folder = tmp_path / "in"
    folder.mkdir()
    _create(folder, b"b\xff\xfe.jsonl", _good("b") + "\n{bad\n")
    _create(folder, b"t\xe9.txt", "Ti\u00eau \u0111\u1ec1\n" + VI)
    _create(folder, b"x\xe9.md", "# not an article\n")
    _create(folder, b"new\nline.jsonl", _good("nl") + "\n")
    _create(folder, b"-dash.jsonl", _good("dash") + "\n")
    _create(folder, b"L" * 200 + b".jsonl", _good("long") + "\n")
    out = tmp_path / "out" / output
    cfg = {"input": {"path": str(folder)}, "classify": {"enabled": False}, "summarize": {"enabled": False},
           "output": {"path": str(out), "mode": "upsert"}, "runner": {"progress": "off"}}
    cfg_path = tmp_path / "job.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")

    def run() -> subprocess.CompletedProcess:
        proc = subprocess.run([VNNEWS, "run", str(cfg_path)], capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        return proc

    run()
    rows = {r["id"]: r for r in _read_back(out)}
    assert sorted(rows) == ["okb", "okdash", "oklong", "oknl", "t\\xe9"]
    if output != "results.db":  # (the SQL table's columns are its own; the row's path is in `record`)
        assert rows["t\\xe9"]["path"] == (folder / "t").as_posix() + "\\xe9.txt"
    quarantine = out.with_name(out.stem + (".articles" if output.endswith(".db") else "") + ".quarantine.jsonl")
    sources = sorted(json.loads(line)["source"] for line in quarantine.read_text(encoding="utf-8").splitlines())
    assert sources == ["b\\xff\\xfe.jsonl:2", "x\\xe9.md"]
    manifest = json.loads(quarantine.with_name(quarantine.name.replace("quarantine.jsonl", "manifest.json"))
                          .read_text(encoding="utf-8"))
    assert manifest["counts"]["read"] == 7

    assert "up to date" in run().stdout
    _create(folder, b"n\xe9w.jsonl", _good("new") + "\n")
    assert "up to date" not in run().stdout
    assert "oknew" in {r["id"] for r in _read_back(out)}


def test_an_input_path_that_is_not_utf8(tmp_path):
    """input.path itself with a byte that is not UTF-8 (from the shell, through --set): read, and the manifest
    and quarantine name it in the backslashreplace form."""
    _create(tmp_path, b"s\xe9.jsonl", _good(7) + "\n{bad\n")
    out = tmp_path / "out" / "results.jsonl"
    cfg = {"input": {"path": "unset"}, "classify": {"enabled": False}, "summarize": {"enabled": False},
           "output": {"path": str(out)}, "runner": {"progress": "off"}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = subprocess.run([os.fsencode(VNNEWS), b"run", os.fsencode(tmp_path / "job.yaml"), b"--set",
                           b"input.path=" + os.fsencode(tmp_path) + b"/s\xe9.jsonl"], capture_output=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    (entry,) = map(json.loads, out.with_name("results.quarantine.jsonl").read_text(encoding="utf-8").splitlines())
    assert entry["source"] == "s\\xe9.jsonl:2"
    manifest = json.loads(out.with_name("results.manifest.json").read_text(encoding="utf-8"))
    assert manifest["input"] == tmp_path.as_posix() + "/s\\xe9.jsonl"


# --- 6. what a folder is: detection never overrides input.format ------------------------------------

def _saved_dataset(folder: Path, ids: list[str]) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"id": i, "title": "Bài", "text": VI} for i in ids]).save_to_disk(str(folder))


STRAY = {
    "state.json": '{"cursor": 1042, "last_url": "https://example.vn/tin-moi"}\n',  # a scraper's state
    "dataset_info.json": "{}\n",
    ".DS_Store": "\x00\x00\x00\x01Bud1\x00",
    "README": "Scraped 2026-12-01\n",
}


@pytest.mark.parametrize("fmt", ["auto", "jsonl"])
@pytest.mark.parametrize("stray", [["state.json"], ["state.json", "dataset_info.json"], list(STRAY)])
def test_stray_files_do_not_turn_a_folder_of_jsonl_into_a_dataset(tmp_path, stray, fmt):
    folder = tmp_path / "day"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(_good(i) for i in range(3)) + "\n", encoding="utf-8")
    for name in stray:
        (folder / name).write_text(STRAY[name], encoding="utf-8")
    result = vnnews_run(tmp_path, folder, format=fmt)
    assert result.code == 0, result.stderr
    assert sorted(result.rows) == ["ok0", "ok1", "ok2"]
    sources = sorted(q["source"].split(":")[0] for q in result.quarantine)
    assert sources == sorted(stray)  # each stray file is one entry with its reason, nothing more, nothing less


def test_a_saved_dataset_is_read_only_when_it_is_one_whole_and_alone(tmp_path):
    saved = tmp_path / "saved"
    _saved_dataset(saved, ["h1", "h2"])
    result = vnnews_run(tmp_path, saved)
    assert result.code == 0 and sorted(result.rows) == ["h1", "h2"]

    (saved / "extra.jsonl").write_text(_good("x") + "\n", encoding="utf-8")  # a dataset and a JSONL file: ambiguous
    result = vnnews_run(tmp_path, saved)
    assert result.code == 4 and not result.rows
    message = " ".join(result.stderr.split())
    assert "holds a saved Hugging Face dataset (state.json, dataset_info.json, data-00000-of-00001.arrow) and " \
           "other input files (extra.jsonl); set input.format: hf_dataset" in message
    assert sorted(vnnews_run(tmp_path, saved, format="hf_dataset").rows) == ["h1", "h2"]
    result = vnnews_run(tmp_path, saved, format="jsonl")  # every file read as JSON lines, as asked
    assert result.code == 0 and list(result.rows) == ["okx"]

    (saved / "extra.jsonl").unlink()
    next(saved.glob("*.arrow")).unlink()  # some of a dataset's files and nothing else to read
    result = vnnews_run(tmp_path, saved)
    assert result.code == 4
    assert "holds part of a saved Hugging Face dataset (state.json, dataset_info.json) but not a whole one" in \
        " ".join(result.stderr.split())


def test_an_explicit_format_is_never_overridden_by_a_name(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "part-1.txt").write_text(_good(1) + "\n" + _good(2) + "\n", encoding="utf-8")  # JSON lines in a .txt
    (folder / "part-2.csv").write_text(_good(3) + "\n", encoding="utf-8")
    result = vnnews_run(tmp_path, folder, format="jsonl")
    assert result.code == 0 and sorted(result.rows) == ["ok1", "ok2", "ok3"] and not result.quarantine
    single = tmp_path / "news.csv"
    single.write_text(_good(4) + "\n", encoding="utf-8")
    result = vnnews_run(tmp_path, single, format="jsonl")
    assert result.code == 0 and list(result.rows) == ["ok4"]


# --- 7. extra fields whatever their names ------------------------------------------------------------

EXTRA = {"_id": {"$oid": "65a1f0c2e4b0a1b2c3d4e5f6"}, "_score": 1.5, "__v": 0, "$oid": "x", "a.b": 1, "a b": 2,
         "tên bài": 3, "": 4, "@timestamp": "2026-12-01T00:00:00Z", "_source": {"nested.key": [1, {"": None}]}}
COLLIDING = {"topic": "the input's topic", "summary": "the input's summary", "content_hash": "h", "run_id": "r",
             "quarantine_reason": "q", "_quarantine_reason": "not a stage's", "_skip_models": True,
             "input_topic": "taken"}
RENAMED = {"input_input_topic": "the input's topic", "input_summary": "the input's summary", "input_content_hash": "h",
           "input_run_id": "r", "input_quarantine_reason": "q", "input__quarantine_reason": "not a stage's",
           "input__skip_models": True, "input_topic": "taken"}


@pytest.mark.parametrize("output", ["results.jsonl", "results.csv", "results.parquet", "results.db"])
def test_extra_fields_are_kept_whatever_their_names_in_every_output(tmp_path, output):
    """MongoDB and Elasticsearch exports (_id, $oid, _score, __v, @timestamp), dots, spaces, non-ASCII, the empty
    name; input fields named as vnnews's own are kept under input_ + their name, and the stages' own win."""
    from tests.conftest import ROOT

    path = tmp_path / "export.jsonl"
    path.write_text(_line({"id": "m1", "title": "Bài", "text": VI, **EXTRA, **COLLIDING}) + "\n" + _good(2) + "\n",
                    encoding="utf-8")
    out = tmp_path / "out" / output
    cfg = {"input": {"path": str(path)}, "classify": {"model": str(ROOT / "models" / "topic-tfidf-vntc")},
           "summarize": {"method": "lead_title", "max_sentences": 1}, "output": {"path": str(out)},
           "runner": {"progress": "off"}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run([VNNEWS, "run", str(tmp_path / "job.yaml"), "-q"], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    row = next(r for r in _read_back(out) if r["id"] == "m1")
    assert set(EXTRA) | set(RENAMED) <= set(row), sorted(set(EXTRA) | set(RENAMED) - set(row))
    assert row["topic"] != "the input's topic" and row["summary"] != "the input's summary"
    assert row["content_hash"].startswith("sha1-") and row["run_id"] != "r"
    if output.endswith(".csv"):  # text cells; nested values as JSON
        assert json.loads(row["_id"]) == EXTRA["_id"] and row["a.b"] == "1" and row[""] == "4"
        return
    want = {**EXTRA, **RENAMED}
    if output.endswith(".parquet"):  # (Parquet structs give every row all of the struct's keys)
        want = {k: v for k, v in want.items() if k != "_source"}
    assert {k: row[k] for k in want} == want
