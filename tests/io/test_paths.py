"""Side-file names, the path checks made before any work, stale temporaries and the modes of results."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from pipeline.config import JobConfig, OutputConfig, load_config
from pipeline.errors import ConfigError, OutputError
from pipeline.io.paths import (
    SIDE_FILES,
    SIDE_FOLDERS,
    SIDE_SUFFIXES,
    OutputPaths,
    check_output_files,
    check_paths,
    input_mode_limit,
    input_modes,
    remove_stale_temporaries,
)


def _config(inp: Path, out: Path, **output) -> JobConfig:
    return load_config(JobConfig, data={"input": {"path": str(inp)}, "output": {"path": str(out), **output}})


def test_side_files_are_keyed_by_the_output_and_its_table(tmp_path):
    day = OutputPaths.of(OutputConfig(path=tmp_path / "day.jsonl"))
    assert (day.quarantine, day.state, day.owner) == (tmp_path / "day.quarantine.jsonl", tmp_path / "day.state",
                                                      "day.jsonl")
    for config in (OutputConfig(path=tmp_path / "news.db", table="ta"),
                   OutputConfig(path=tmp_path / "news.sqlite", format="sqlite", table="ta"),
                   OutputConfig(path=tmp_path / "news", format="sql", url="sqlite:///x.db", table="ta")):
        paths = OutputPaths.of(config)
        assert paths.quarantine == tmp_path / "news.ta.quarantine.jsonl"
        assert paths.side("dedup") == tmp_path / "news.ta.dedup"
        assert paths.owner == f"{config.path.name} (table ta)"
    other = OutputPaths.of(OutputConfig(path=tmp_path / "news.db", table="tb"))
    assert not {other.side(s) for s in SIDE_SUFFIXES} & {paths.side(s) for s in SIDE_SUFFIXES}


@pytest.mark.parametrize("suffix", SIDE_SUFFIXES)
def test_output_named_like_any_side_file_is_refused(tmp_path, suffix):
    with pytest.raises(ConfigError, match=rf"is named like a side file.*does not end in '\.{suffix}'"):
        check_paths(_config(tmp_path / "in.jsonl", tmp_path / f"day.{suffix}", format="jsonl"))
    check_paths(_config(tmp_path / "in.jsonl", tmp_path / f"{suffix}", format="jsonl"))  # no stem: no one's side file


def test_outputs_that_would_destroy_or_feed_the_input_are_refused_for_tables_too(tmp_path):
    with pytest.raises(ConfigError, match="is a side file"):
        check_paths(_config(tmp_path / "news.ta.quarantine.jsonl", tmp_path / "news.db", table="ta"))
    with pytest.raises(ConfigError, match="is a side file"):
        check_paths(_config(tmp_path / "news.ta.state" / "parts" / "x.jsonl", tmp_path / "news.db", table="ta"))
    check_paths(_config(tmp_path / "news.quarantine.jsonl", tmp_path / "news.db", table="ta"))  # not its side file


def test_links_inside_the_input_folder_are_followed_to_the_output_without_looping(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "srv" / "deep" / "results" / "day.jsonl"
    (folder / "a" / "b").mkdir(parents=True)
    out.parent.mkdir(parents=True)
    (folder / "a" / "loop").symlink_to(folder)  # a loop is walked once
    (folder / "a" / "b" / "up").symlink_to(tmp_path / "srv")
    with pytest.raises(ConfigError, match=r"through the symbolic link .*a/b/up"):
        check_paths(_config(folder, out))
    (folder / "a" / "b" / "up").unlink()
    (folder / "a" / "b" / "broken").symlink_to(tmp_path / "nowhere")
    check_paths(_config(folder, out))  # a broken link and a loop lead nowhere near the output


def test_a_linked_output_s_own_folder_counts_as_where_it_is_written(tmp_path):
    folder, archive = tmp_path / "in", tmp_path / "archive"
    folder.mkdir()
    archive.mkdir()
    (archive / "2026.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "day.jsonl").symlink_to(archive / "2026.jsonl")
    check_paths(_config(folder, tmp_path / "out" / "day.jsonl"))
    (folder / "old").symlink_to(archive)  # the results land in archive/: read back through this link
    with pytest.raises(ConfigError, match="through the symbolic link"):
        check_paths(_config(folder, tmp_path / "out" / "day.jsonl"))


@pytest.mark.parametrize("suffix", SIDE_FILES)
@pytest.mark.parametrize("kind", ["link", "fifo", "folder"])
def test_every_side_file_must_be_a_regular_file_or_absent(tmp_path, suffix, kind):
    paths = OutputPaths(tmp_path / "day.jsonl")
    side = paths.side(suffix)
    if kind == "link":
        (tmp_path / "target").write_text("keep", encoding="utf-8")
        side.symlink_to(tmp_path / "target")
    elif kind == "fifo":
        os.mkfifo(side)
    else:
        side.mkdir()
    message = {"link": "is a symbolic link", "fifo": "is a FIFO", "folder": "is a directory"}[kind]
    with pytest.raises(OutputError, match=message):
        check_output_files(paths)


@pytest.mark.parametrize("suffix", SIDE_FOLDERS)
def test_side_folders_must_be_folders_not_links(tmp_path, suffix):
    paths = OutputPaths(tmp_path / "day.jsonl")
    paths.side(suffix).symlink_to(tmp_path)
    with pytest.raises(OutputError, match="is a symbolic link"):
        check_output_files(paths)
    paths.side(suffix).unlink()
    os.mkfifo(paths.side(suffix))
    with pytest.raises(OutputError, match="is a FIFO, not a folder"):
        check_output_files(paths)


def test_output_link_is_followed_only_to_a_regular_file(tmp_path):
    paths = OutputPaths(tmp_path / "day.jsonl")
    paths.output.symlink_to(tmp_path / "real.jsonl")
    with pytest.raises(OutputError, match="which does not exist"):
        check_output_files(paths)
    (tmp_path / "real.jsonl").write_text("", encoding="utf-8")
    check_output_files(paths)
    check_output_files(OutputPaths(Path("/dev/null"), "t"), file_output=False)  # a server's table: no output file


def test_stale_temporaries_are_compared_by_name_never_by_pattern(tmp_path):
    names = ["res[12].jsonl", "res1.jsonl", "res*.jsonl", "res?.jsonl"]
    for name in names:
        for tail in ("k3j4h5g6", "old_mks1"):
            (tmp_path / f".{name}.{tail}.partial").write_text("", encoding="utf-8")
    (tmp_path / ".res[12].quarantine.jsonl.0a1b2c3d.partial").write_text("", encoding="utf-8")
    (tmp_path / ".res[12].jsonl.tooshort.x.partial").write_text("", encoding="utf-8")
    remove_stale_temporaries(OutputPaths(tmp_path / "res[12].jsonl"))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([f".{n}.{t}.partial" for n in names[1:] for t in ("k3j4h5g6", "old_mks1")]
                          + [".res[12].jsonl.tooshort.x.partial"])


def test_stale_temporaries_of_a_linked_output_are_removed_beside_its_target(tmp_path):
    (tmp_path / "archive").mkdir()
    target = tmp_path / "archive" / "real.jsonl"
    target.write_text("", encoding="utf-8")
    (tmp_path / "day.jsonl").symlink_to(target)
    stale = tmp_path / "archive" / ".real.jsonl.k3j4h5g6.partial"
    stale.write_text("", encoding="utf-8")
    remove_stale_temporaries(OutputPaths(tmp_path / "day.jsonl"))
    assert not stale.exists()


def test_earlier_side_files_of_a_table_are_named_once(tmp_path, caplog):
    (tmp_path / "news.quarantine.jsonl").write_text("", encoding="utf-8")
    config = _config(tmp_path / "in.jsonl", tmp_path / "news.db")
    with caplog.at_level(logging.INFO, logger="pipeline.io.paths"):
        check_paths(config)
    assert "news.quarantine.jsonl beside it are not read or changed" in caplog.text
    (tmp_path / "news.articles.state").mkdir()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipeline.io.paths"):
        check_paths(config)
    assert not caplog.text


def _mode_limit(tmp_path: Path, file_mode: int, folder_mode: int = 0o755) -> int:
    folder = tmp_path / f"in-{file_mode:o}-{folder_mode:o}"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.jsonl").write_text("", encoding="utf-8")
    (folder / "sub" / "a.jsonl").chmod(file_mode)
    (folder / "sub").chmod(folder_mode)
    return input_mode_limit(folder)


def test_input_mode_limit_takes_what_every_input_file_and_folder_allows(tmp_path):
    assert _mode_limit(tmp_path, 0o644) == 0
    assert _mode_limit(tmp_path, 0o600) == 0o077
    assert _mode_limit(tmp_path, 0o640) == 0o007
    assert _mode_limit(tmp_path, 0o644, 0o700) == 0o077  # files in a closed folder are private
    assert _mode_limit(tmp_path, 0o644, 0o750) == 0o007
    private = tmp_path / "private.jsonl"
    private.write_text("", encoding="utf-8")
    private.chmod(0o600)
    assert input_mode_limit(private) == 0o077
    (tmp_path / "in-644-755" / "linked.jsonl").symlink_to(private)
    assert input_mode_limit(tmp_path / "in-644-755") == 0o077
    assert input_mode_limit(tmp_path / "missing.jsonl") == 0


def test_input_modes_narrow_the_umask_while_the_run_lasts(tmp_path):
    private = tmp_path / "private.jsonl"
    private.write_text("", encoding="utf-8")
    private.chmod(0o600)
    previous = os.umask(0o022)
    try:
        with input_modes(load_config(JobConfig, data={"input": {"path": str(private)},
                                                      "output": {"path": str(tmp_path / "o.jsonl")}}).input):
            (tmp_path / "new").write_text("", encoding="utf-8")
        (tmp_path / "after").write_text("", encoding="utf-8")
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "after").stat().st_mode) == 0o644
