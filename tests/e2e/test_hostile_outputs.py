"""Hostile things where a run writes: a real `vnnews run` subprocess against special files, links, names,
damaged outputs and private inputs.

Each case sets up the output folder as a user (or someone else) left it and checks what
docs/daily-job.md promises: the run refuses before any work with the documented exit code and one
paragraph, leaving every file as it was, or it finishes with every row exactly once; a special file
is never replaced by a regular one, a side file is never written through a link, results are never
more readable than the input, and a damaged output never makes every rerun fail with exit 1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_jsonl
from tests.synthetic import articles

VNNEWS = str(Path(sys.executable).parent / "vnnews")
BAD_LINE = '{"id": "bad-json", "text": '


def _input(path: Path, count: int = 6, prefix: str = "a") -> Path:
    rows = [{**row, "id": f"{prefix}{i}"} for i, row in enumerate(articles(count))]
    write_jsonl(path, rows)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(BAD_LINE + "\n")
    return path


def _job(tmp_path: Path, input_path: Path, output: Path, name: str = "job.yaml", **output_extra) -> Path:
    data = {
        "input": {"path": str(input_path), "batch_size": 4},
        "classify": {"enabled": False},
        "summarize": {"enabled": False},
        "output": {"path": str(output), **output_extra},
        "runner": {"progress": "off"},
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _run(cfg: Path, *sets: str, code: int = 0, umask: int | None = None) -> subprocess.CompletedProcess:
    args = [VNNEWS, "run", str(cfg)]
    for item in sets:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          preexec_fn=None if umask is None else lambda: os.umask(umask))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    if code:  # one paragraph, the last thing said
        assert done.stderr.strip().splitlines()[-1].startswith("error: "), done.stderr
        assert done.stderr.count("error: ") == 1, done.stderr
    done.said = done.stdout + done.stderr
    return done


def _ids(output: Path) -> list[str]:
    if output.suffix == ".db":
        return [r[0] for r in sqlite3.connect(output).execute("SELECT id FROM articles")]
    if output.suffix == ".csv":
        import pandas as pd

        return pd.read_csv(output, dtype=str)["id"].tolist()
    if output.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(output)["id"].tolist()
    return [json.loads(line)["id"] for line in output.read_text(encoding="utf-8").splitlines()]


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` with its type and size (links not followed): what a refused run must not touch."""
    found = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        found[str(path.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_size)
    return found


def _make_special(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    else:  # a character device like /dev/null, made here: a test must never risk the machine's own
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))


SPECIALS = ["fifo", "socket", pytest.param("device", marks=pytest.mark.skipif(
    os.geteuid() != 0, reason="only root makes device files (and only root could replace /dev/null)"))]


# --- 1. special files are never replaced ----------------------------------------------------------

@pytest.mark.parametrize("kind", SPECIALS)
def test_special_file_as_output_is_refused_and_stays(tmp_path, kind):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "day.jsonl"
    _make_special(output, kind)
    before = _listing(out_dir)
    done = _run(_job(tmp_path, _input(tmp_path / "in.jsonl"), output), code=5)
    words = {"fifo": "FIFO", "socket": "socket", "device": "character device"}[kind]
    assert f"output.path {output} is a {words}, not a regular file" in done.stderr
    assert _listing(out_dir) == before  # the special file is still there, and nothing was written beside it


def test_dev_null_as_output_is_refused(tmp_path):
    """The null device itself: refused before anything is written (as root, a rename would replace it)."""
    try:
        done = _run(_job(tmp_path, _input(tmp_path / "in.jsonl"), Path("/dev/null"), format="jsonl"), code=5)
        assert "output.path /dev/null is a character device" in done.stderr
        assert not list(Path("/dev").glob("null.*"))
    finally:  # a regression must not leave the machine without its null device, or with side files in /dev
        for side in Path("/dev").glob("null.*"):
            if side.is_dir():
                shutil.rmtree(side)
            else:
                side.unlink()
        replaced = not stat.S_ISCHR(os.lstat("/dev/null").st_mode)
        if replaced and os.geteuid() == 0:
            os.remove("/dev/null")
            os.mknod("/dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
            os.chmod("/dev/null", 0o666)
        assert not replaced, "/dev/null was replaced by a regular file"


@pytest.mark.parametrize(("side", "kind"), [("quarantine.jsonl", "fifo"), ("manifest.json", "socket"),
                                            ("runs.jsonl", "fifo"), ("report.html", "fifo"),
                                            ("config.yaml", "socket"), ("rejected.jsonl", "fifo"),
                                            ("state", "fifo"), ("quarantine.jsonl", "device")])
def test_special_file_where_a_side_file_goes_is_refused_and_stays(tmp_path, side, kind):
    if kind == "device" and os.geteuid() != 0:
        pytest.skip("only root makes device files")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _make_special(out_dir / f"day.{side}", kind)
    before = _listing(out_dir)
    done = _run(_job(tmp_path, _input(tmp_path / "in.jsonl"), out_dir / "day.jsonl"), code=5)
    assert str(out_dir / f"day.{side}") in done.stderr and "not a" in done.stderr
    assert _listing(out_dir) == before


# --- 2. links -------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet", "db"])
def test_linked_output_is_written_through_the_link(tmp_path, suffix):
    """The link stays a link and the file it points to holds the results, in every mode that rewrites it."""
    archive = tmp_path / "archive"
    archive.mkdir()
    target = archive / f"2026-11-30.{suffix}"
    output = tmp_path / "out" / f"latest.{suffix}"
    output.parent.mkdir()
    cfg = _job(tmp_path, _input(tmp_path / "in.jsonl"), output, mode="upsert")
    _run(cfg)  # a first output, then moved to the archive and linked
    output.rename(target)
    output.symlink_to(target)
    _run(cfg, "runner.resume=false")
    assert output.is_symlink() and os.readlink(output) == str(target)
    assert sorted(_ids(target)) == [f"a{i}" for i in range(6)]
    assert not [p for p in archive.iterdir() if p.name.startswith(".")]  # no temporary left by the target
    assert "up to date" in _run(cfg).said


@pytest.mark.parametrize("case", ["dangling", "to a FIFO", "to a folder"])
def test_output_link_to_nothing_or_to_no_regular_file_is_refused(tmp_path, case):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = tmp_path / "elsewhere" / "day.jsonl"
    target.parent.mkdir()
    if case == "to a FIFO":
        os.mkfifo(target)
    elif case == "to a folder":
        target.mkdir()
    (out_dir / "day.jsonl").symlink_to(target)
    before = _listing(tmp_path / "elsewhere")
    done = _run(_job(tmp_path, _input(tmp_path / "in.jsonl"), out_dir / "day.jsonl"), code=5)
    assert f"is a symbolic link to {target}" in done.stderr
    assert _listing(tmp_path / "elsewhere") == before and not (out_dir / "day.state").exists()


@pytest.mark.parametrize(("side", "mode"), [("quarantine.jsonl", "upsert"), ("quarantine.jsonl", "overwrite"),
                                            ("runs.jsonl", "upsert"), ("manifest.json", "upsert"),
                                            ("report.html", "upsert"), ("state", "upsert")])
def test_planted_side_file_link_is_never_followed(tmp_path, side, mode):
    """A link planted where a side file goes (``day.quarantine.jsonl -> /etc/passwd``): refused, the file it
    points to neither read into the results nor written."""
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"password": "hunter2"}\n', encoding="utf-8")
    secret.chmod(0o600)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / f"day.{side}").symlink_to(secret if side != "state" else tmp_path)
    done = _run(_job(tmp_path, _input(tmp_path / "in.jsonl"), out_dir / "day.jsonl", mode=mode), code=5)
    assert "is a symbolic link" in done.stderr and "never writes" in done.stderr
    assert secret.read_text(encoding="utf-8") == '{"password": "hunter2"}\n'
    assert (out_dir / f"day.{side}").is_symlink()
    assert not (out_dir / "day.jsonl").exists()
    assert not any("hunter2" in p.read_text(errors="replace") for p in out_dir.rglob("*")
                   if p.is_file() and not p.is_symlink())


@pytest.mark.parametrize("link", ["folder", "parent folder", "output file", "quarantine file"])
def test_output_reached_through_a_link_inside_the_input_folder_is_refused(tmp_path, link):
    folder = tmp_path / "in"
    folder.mkdir()
    _input(folder / "day1.jsonl")
    output = tmp_path / "srv" / "results" / "day.jsonl"
    output.parent.mkdir(parents=True)
    (folder / "sub").mkdir()
    place = folder / "sub" / "shortcut"
    target = {"folder": output.parent, "parent folder": output.parent.parent, "output file": output,
              "quarantine file": output.with_name("day.quarantine.jsonl")}[link]
    if link.endswith("file"):
        target.write_text("", encoding="utf-8")
    place.symlink_to(target)
    done = _run(_job(tmp_path, folder, output), code=2)
    assert "through the symbolic link" in done.stderr and str(place) in done.stderr
    assert not output.with_name("day.state").exists()


def test_output_link_into_the_input_folder_is_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _input(folder / "day1.jsonl")
    (folder / "archive.jsonl").write_text("", encoding="utf-8")
    output = tmp_path / "out" / "day.jsonl"
    output.parent.mkdir()
    output.symlink_to(folder / "archive.jsonl")
    done = _run(_job(tmp_path, folder, output), code=2)
    assert "inside the input folder" in done.stderr


# --- 3. side files belong to one output and its table ---------------------------------------------

def test_two_tables_of_one_sqlite_file_keep_their_own_side_files(tmp_path):
    db = tmp_path / "out" / "news.db"
    first = _job(tmp_path, _input(tmp_path / "a.jsonl", 4, "a"), db, "a.yaml", mode="upsert", table="ta")
    second = _job(tmp_path, _input(tmp_path / "b.jsonl", 5, "b"), db, "b.yaml", mode="upsert", table="tb")
    _run(first)
    _run(second)
    for table, count in (("ta", 4), ("tb", 5)):
        quarantine = db.with_name(f"news.{table}.quarantine.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(x)["reason"].split(":")[0] for x in quarantine] == ["invalid JSON"]
        manifest = json.loads(db.with_name(f"news.{table}.manifest.json").read_text(encoding="utf-8"))
        assert manifest["counts"]["written"] == count
        assert sqlite3.connect(db).execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count
    assert not db.with_name("news.state").exists() and not db.with_name("news.quarantine.jsonl").exists()
    assert "up to date" in _run(first).said and "up to date" in _run(second).said


@pytest.mark.parametrize("name", ["day.quarantine.jsonl", "day.rejected.jsonl", "day.manifest.json",
                                  "day.runs.jsonl", "day.state", "day.dedup", "news.articles.quarantine.jsonl",
                                  ".day.jsonl.k3j4h5g6.partial"])
def test_output_named_like_a_side_file_is_refused_by_name(tmp_path, name):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for other in ("day.jsonl", "day.quarantine.jsonl", "day.manifest.json", "news.db"):  # whose files it would take
        (out_dir / other).write_text("{}\n", encoding="utf-8")
    before = _listing(out_dir)
    done = _run(_job(tmp_path, _input(tmp_path / "in.jsonl"), out_dir / name, format="jsonl"), code=2)
    assert f"output.path {out_dir / name} is named like a" in done.stderr
    assert _listing(out_dir) == before


# --- 4. names are never patterns ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["res[12].jsonl", "res*.jsonl", "res?.jsonl", "res[!x].jsonl"])
def test_glob_characters_in_a_name_touch_no_other_output_s_files(tmp_path, name):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    others = [out_dir / f".{other}.{tail}.partial" for other in ("res1.jsonl", "res2.jsonl", "resx.jsonl")
              for tail in ("k3j4h5g6", "0a1b2c3d")]
    others += [out_dir / ".res1.quarantine.jsonl.k3j4h5g6.partial", out_dir / f".{name}.1.partial"]
    own = [out_dir / f".{name}.k3j4h5g6.partial", out_dir / f".{Path(name).stem}.quarantine.jsonl.0a1b2c3d.partial",
           out_dir / f".{Path(name).stem}.manifest.json.0a1b2c3d.partial"]
    for path in others + own:
        path.write_text("x", encoding="utf-8")
    _run(_job(tmp_path, _input(tmp_path / "in.jsonl"), out_dir / name))
    assert all(path.exists() for path in others), [p.name for p in others if not p.exists()]
    assert not any(path.exists() for path in own)
    assert sorted(_ids(out_dir / name)) == [f"a{i}" for i in range(6)]


# --- 5. a damaged output never blocks reruns with exit 1 -------------------------------------------

def _cut(path: Path, keep: int) -> bytes:
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    return data[keep:]


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
@pytest.mark.parametrize("mode", ["upsert", "append"])
@pytest.mark.parametrize("damage", ["cut in the last row", pytest.param("NUL bytes at the end", marks=pytest.mark.slow),
                                    pytest.param("cut in the header", marks=pytest.mark.slow)])
def test_output_cut_short_is_repaired_and_its_end_kept_aside(tmp_path, suffix, mode, damage):
    """A full disk or an interrupted copy: the whole rows are kept, the cut bytes moved to a file named in a
    warning, and the run goes on (upsert computes the lost row again)."""
    output = tmp_path / "out" / f"day.{suffix}"
    cfg = _job(tmp_path, _input(tmp_path / "in.jsonl"), output, mode=mode, include_text=True)
    _run(cfg)
    data = output.read_bytes()
    if damage == "cut in the last row":
        cut = data[: len(data) - 40]
    elif damage == "NUL bytes at the end":
        cut = data + b"\0" * 4096
    else:
        cut = data[:5]
    output.write_bytes(cut)

    done = _run(cfg, "runner.resume=false")
    (aside,) = output.parent.glob(f"day.damaged-*.{suffix}")
    moved = aside.read_bytes()
    kept = cut[: len(cut) - len(moved)]
    assert moved and cut.endswith(moved) and str(aside) in done.stderr
    assert kept == {"cut in the last row": kept, "NUL bytes at the end": data, "cut in the header": b""}[damage]
    assert not kept or kept.endswith(b"\r\n" if suffix == "csv" else b"\n")  # whole rows only
    ids = _ids(output)
    if mode == "upsert":
        assert sorted(ids) == [f"a{i}" for i in range(6)]  # every row once: the lost one computed again
    else:  # append: the whole rows kept, this run's rows after them
        assert len(ids) == 6 + len(_ids_of_bytes(kept, suffix)) and set(ids) == {f"a{i}" for i in range(6)}
    if damage == "cut in the last row":
        assert len(_ids_of_bytes(kept, suffix)) == 5
    _run(cfg)


def _ids_of_bytes(data: bytes, suffix: str) -> list[str]:
    if suffix == "jsonl":
        return [json.loads(line)["id"] for line in data.splitlines() if line.strip()]
    import csv
    import io

    return [row["id"] for row in csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))]


def test_quarantine_file_cut_short_is_repaired(tmp_path):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, _input(tmp_path / "in.jsonl"), output, mode="upsert")
    _run(cfg)
    quarantine = output.with_name("day.quarantine.jsonl")
    quarantine.write_bytes(quarantine.read_bytes()[:-10])
    done = _run(cfg, "runner.resume=false")
    assert "The quarantine file" in done.stderr and "day.quarantine.damaged-" in done.stderr
    assert [json.loads(x)["id"] for x in quarantine.read_text(encoding="utf-8").splitlines()] == [None]


@pytest.mark.parametrize(("suffix", "damage"), [("parquet", "cut"), ("db", "not a database"), ("db", "cut"),
                                                ("jsonl", "a bad line inside")])
def test_output_that_cannot_be_read_is_refused_with_what_to_do(tmp_path, suffix, damage):
    """Rows that cannot be read are never dropped silently: exit 5 saying how to go on, every rerun the same,
    and moving the file aside (as the message says) lets the job start a new output."""
    output = tmp_path / "out" / f"day.{suffix}"
    cfg = _job(tmp_path, _input(tmp_path / "in.jsonl", 40), output, mode="upsert", include_text=True)
    _run(cfg)
    if damage == "cut":
        _cut(output, output.stat().st_size // 2)
    elif damage == "not a database":
        output.write_text('{"id": "x"}\n', encoding="utf-8")
    else:
        lines = output.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[3] = lines[3][:50] + "\n"
        output.write_text("".join(lines), encoding="utf-8")
    before = output.read_bytes()
    for _ in range(2):
        done = _run(cfg, code=5)
        if damage == "not a database":
            assert "holds JSON lines, not a SQLite database" in done.stderr and "aside" in done.stderr
        else:
            assert "restore it from a backup" in done.stderr.lower()
        assert output.read_bytes() == before
    if damage == "a bad line inside":
        assert "line 4 is not JSON" in done.stderr
    output.rename(output.with_name(f"{output.name}.damaged"))
    _run(cfg)
    assert sorted(_ids(output)) == sorted(f"a{i}" for i in range(40))


@pytest.mark.parametrize(("suffix", "mode"), [("jsonl", "append"), ("csv", "upsert"), ("parquet", "upsert"),
                                            ("parquet", "append"), ("db", "upsert")])
def test_empty_output_file_is_an_output_without_rows(tmp_path, suffix, mode):
    output = tmp_path / "out" / f"day.{suffix}"
    output.parent.mkdir()
    output.write_bytes(b"")
    _run(_job(tmp_path, _input(tmp_path / "in.jsonl"), output, mode=mode))
    assert sorted(_ids(output)) == [f"a{i}" for i in range(6)]


@pytest.mark.parametrize("new_format", ["csv", "parquet", "sqlite"])
def test_switching_output_format_on_one_path_is_refused_when_rows_are_kept(tmp_path, new_format):
    output = tmp_path / "out" / "day.jsonl"
    cfg = _job(tmp_path, _input(tmp_path / "in.jsonl"), output, mode="upsert")
    _run(cfg)
    before = output.read_bytes()
    done = _run(cfg, f"output.format={new_format}", code=5)
    assert "holds JSON lines, not" in done.stderr and "output.format: jsonl" in done.stderr
    assert output.read_bytes() == before
    if new_format == "csv":  # overwrite replaces the file whatever it held
        _run(cfg, "output.format=csv", "output.mode=overwrite")
        assert output.read_text(encoding="utf-8").startswith('"id",')  # (every cell quoted: output.csv_formulas)


# --- 6. results never more readable than their inputs ----------------------------------------------

def _modes(out_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(out_dir)): stat.S_IMODE(p.stat().st_mode) for p in out_dir.rglob("*")
            if not p.is_symlink()}


@pytest.mark.parametrize("how", ["the input file", "a link in the input folder", "a subfolder"])
def test_results_of_a_private_input_are_private(tmp_path, how):
    private = _input(tmp_path / "private.jsonl")
    private.chmod(0o600)
    if how == "the input file":
        source = private
    else:
        source = tmp_path / "in"
        source.mkdir()
        _input(source / "public.jsonl", 3, "p").chmod(0o644)
        if how == "a link in the input folder":
            (source / "linked.jsonl").symlink_to(private)
        else:
            (source / "closed").mkdir(mode=0o700)
            (source / "closed").chmod(0o700)
            private.chmod(0o644)
            private.rename(source / "closed" / "inside.jsonl")
    out_dir = tmp_path / "out"
    cfg = _job(tmp_path, source, out_dir / "day.jsonl", mode="upsert")
    done = _run(cfg, umask=0o022)
    assert done.returncode == 0
    modes = _modes(out_dir)
    assert modes and all(mode & 0o077 == 0 for mode in modes.values()), {k: oct(v) for k, v in modes.items()}

    private_path = private if how == "the input file" else None
    if private_path is not None:  # the input made public again: new files follow the umask, replaced ones keep 0600
        private_path.chmod(0o644)
        _run(cfg, "runner.resume=false", umask=0o022)
        assert stat.S_IMODE((out_dir / "day.jsonl").stat().st_mode) == 0o600


def test_group_readable_input_gives_results_no_others_read_and_the_umask_still_applies(tmp_path):
    source = _input(tmp_path / "in.jsonl")
    source.chmod(0o640)
    out_dir = tmp_path / "out"
    _run(_job(tmp_path, source, out_dir / "day.jsonl"), umask=0o002)  # the group may write: the umask says so
    assert stat.S_IMODE((out_dir / "day.jsonl").stat().st_mode) == 0o660
    assert stat.S_IMODE((out_dir / "day.quarantine.jsonl").stat().st_mode) == 0o660
    source.chmod(0o644)
    _run(_job(tmp_path, source, tmp_path / "other" / "day.jsonl"), umask=0o077)
    assert set(_modes(tmp_path / "other").values()) <= {0o600, 0o700}


def test_sqlite_database_is_narrowed_before_private_rows_go_in(tmp_path):
    db = tmp_path / "out" / "news.db"
    public = _input(tmp_path / "public.jsonl", 3, "p")
    _run(_job(tmp_path, public, db, mode="upsert"), umask=0o022)
    assert stat.S_IMODE(db.stat().st_mode) == 0o644
    private = _input(tmp_path / "private.jsonl", 3, "s")
    private.chmod(0o600)
    _run(_job(tmp_path, private, db, mode="upsert"), umask=0o022)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert sorted(r[0] for r in sqlite3.connect(db).execute("SELECT id FROM articles")) == \
        ["p0", "p1", "p2", "s0", "s1", "s2"]
