"""Where a run writes, and what it refuses to write over.

An output has side files beside it, named ``<base>.<suffix>`` (:data:`SIDE_SUFFIXES`): the run
state folder, the quarantine, the rejected entries of a failed run, the manifest, the resolved
config, the run log, the HTML report and the dedup store. ``<base>`` is the output's name stem for
a file output (``day.jsonl`` -> ``day.quarantine.jsonl``) and the stem and the table for a table
(``news.db``, table ``articles`` -> ``news.articles.quarantine.jsonl``), so two jobs writing two
tables of one database never share a quarantine or a run state (:class:`OutputPaths`).

:func:`check_paths` runs before any work and refuses (one paragraph, nothing written):
- exit 2: an output that is the input, lies inside the input folder, or is reached from it through
  a symbolic link (the next run would read it back), whose side file is the input, or whose name is
  that of another output's side file (``day.quarantine.jsonl``) or of a temporary file;
- exit 5: an output that is a FIFO, a socket or a device, a link to one of them, to a folder or to
  nothing; a side file that is a symbolic link (never written through: a link planted beside an
  output must not make a run overwrite what it points to), a folder or a special file; a state or
  dedup folder that is not a folder. Paths are compared resolved (links and ``..`` followed).

:func:`input_modes` narrows the permissions of every file a run creates to those of its input:
results are never readable by anyone who could not read the input files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import InputConfig, JobConfig, OutputConfig
from pipeline.errors import ConfigError, OutputError
from pipeline.io.writers import (
    TEMPORARY_NAME,
    current_umask,
    detect_output_format,
    file_kind,
    is_temporary_of,
    write_target,
)

log = logging.getLogger(__name__)

# What a run writes beside its output, as ``<base>.<suffix>``: folders first, then files.
SIDE_FOLDERS = ("state", "dedup")
SIDE_FILES = ("quarantine.jsonl", "rejected.jsonl", "manifest.json", "config.yaml", "runs.jsonl", "report.html")
SIDE_SUFFIXES = SIDE_FOLDERS + SIDE_FILES
# What each side file is, in messages.
SIDE_WORDS = {"state": "run state", "dedup": "dedup store", "quarantine.jsonl": "quarantine file",
              "rejected.jsonl": "rejected entries", "manifest.json": "manifest", "config.yaml": "resolved config",
              "runs.jsonl": "run log", "report.html": "report"}
# Side files written whole through a temporary file (see pipeline.io.writers), whose leftovers a killed run leaves.
REPLACED_SIDE_FILES = ("quarantine.jsonl", "rejected.jsonl", "manifest.json", "config.yaml", "report.html")


@dataclass(frozen=True)
class OutputPaths:
    """An output and the names of its side files (see the module docstring).

    ``table`` is the SQL table for a table output (SQLite or ``format: sql``), None for a file.
    """

    output: Path
    table: str | None = None

    @classmethod
    def of(cls, config: OutputConfig) -> OutputPaths:
        fmt = detect_output_format(config.path, config.format)
        return cls(config.path, config.table if fmt in ("sqlite", "sql") else None)

    @property
    def base(self) -> str:
        return f"{self.output.stem}.{self.table}" if self.table else self.output.stem

    @property
    def owner(self) -> str:
        """What the side files belong to, as recorded in the run state: the file name (and the table)."""
        return f"{self.output.name} (table {self.table})" if self.table else self.output.name

    def side(self, suffix: str) -> Path:
        """``day.jsonl`` -> ``day.<suffix>``; ``news.db``, table ``articles`` -> ``news.articles.<suffix>``."""
        return self.output.with_name(f"{self.base}.{suffix}")

    @property
    def state(self) -> Path:
        return self.side("state")

    @property
    def quarantine(self) -> Path:
        return self.side("quarantine.jsonl")

    @property
    def rejected(self) -> Path:
        return self.side("rejected.jsonl")

    @property
    def manifest(self) -> Path:
        return self.side("manifest.json")

    @property
    def config(self) -> Path:
        return self.side("config.yaml")

    @property
    def runs(self) -> Path:
        return self.side("runs.jsonl")

    @property
    def report(self) -> Path:
        return self.side("report.html")


def output_owner(config: OutputConfig) -> str:
    """What the side files of the configured output belong to (see :attr:`OutputPaths.owner`)."""
    return OutputPaths.of(config).owner


def _real(path: Path) -> Path:
    """``path`` with every link and ``..`` resolved (what it names on disk, whether or not it exists)."""
    return Path(os.path.realpath(path))


def _real_side(path: Path) -> Path:
    """Where a side file is on disk: its folder resolved, its own name kept (side files are never followed)."""
    return _real(path.parent) / path.name


def check_paths(config: JobConfig) -> None:
    """Refuse, before any work, an output that would destroy, read back or take over files it must not."""
    paths = OutputPaths.of(config.output)
    _check_name(config.output)
    _check_against_input(config, paths)
    check_output_files(paths, file_output=config.output.format != "sql")
    _note_earlier_side_files(paths)


def _check_name(config: OutputConfig) -> None:
    name = config.path.name
    for suffix in SIDE_SUFFIXES:
        if name.endswith(f".{suffix}") and len(name) > len(suffix) + 1:
            other = name[: -len(suffix) - 1]
            raise ConfigError(
                f"output.path {config.path} is named like a side file: vnnews writes {name} beside the output "
                f"{other}.<extension> (its {SIDE_WORDS[suffix]}), so this output and that one would overwrite "
                f"each other. Give output.path a name that does not end in '.{suffix}'."
            )
    if TEMPORARY_NAME.fullmatch(name):
        raise ConfigError(
            f"output.path {config.path} is named like a temporary file of an unfinished write, which the next run "
            "beside it deletes. Give output.path another name."
        )


def _check_against_input(config: JobConfig, paths: OutputPaths) -> None:
    given, out_cfg = config.input.path, config.output
    inp = _real(given)
    out = _real(out_cfg.path)
    if out_cfg.format != "sql" and out == inp:
        raise ConfigError(
            f"output.path {out_cfg.path} is the input file {given}: writing results would destroy the input. "
            "Give output.path another file."
        )
    sides = {_real_side(paths.side(suffix)) for suffix in SIDE_SUFFIXES}
    if inp in sides or any(parent in sides for parent in inp.parents):
        raise ConfigError(
            f"input.path {given} is a side file of output.path {out_cfg.path} (quarantine, manifest, state ...), "
            "which the run rewrites. Read another file or give output.path another name."
        )
    if not inp.is_dir():
        return
    folder = _real(out_cfg.path.parent)
    written_in = (folder, out.parent) if out_cfg.format != "sql" else (folder,)  # (a linked output: its file too)
    if any(place == inp or inp in place.parents for place in written_in):
        raise ConfigError(
            f"output.path {out_cfg.path} is inside the input folder {given}: the next run would read this run's "
            "output and side files as input. Put the output outside the input folder."
        )
    written = {out, folder / out_cfg.path.name, *sides}
    link = _link_reaching(inp, set(written_in), written)
    if link is not None:
        raise ConfigError(
            f"output.path {out_cfg.path} can be reached from the input folder {given} through the symbolic link "
            f"{link} (to {os.readlink(link)}): the next run would read this run's output and side files as input. "
            "Put the output elsewhere, or remove the link."
        )


def _link_reaching(folder: Path, target_folders: set[Path], target_files: set[Path]) -> Path | None:
    """The first symbolic link inside ``folder`` (at any depth, links followed as a folder reader follows them)
    that leads to one of ``target_folders``, a folder above one, or one of ``target_files``; None when there is
    none."""
    stack: list[tuple[Path, Path | None]] = [(folder, None)]  # (real folder, the link that led there)
    seen: set[Path] = set()
    while stack:
        current, via = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if via is not None and any(current == target or current in target.parents for target in target_folders):
            return via
        try:
            entries = list(os.scandir(current))
        except OSError:  # unreadable: the reader quarantines it and reads nothing there
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    real = _real(path)
                    if real.is_dir():
                        stack.append((real, via or path))
                    elif real in target_files:
                        return via or path
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((current / entry.name, via))
            except OSError:
                continue
    return None


def check_output_files(paths: OutputPaths, file_output: bool = True) -> None:
    """Refuse (exit 5) special files, links and folders where the output or its side files go (see the module
    docstring); ``file_output`` is False for a table on a server, whose output path only places the side files."""
    if file_output:
        write_target(paths.output, follow_link=True, role="output.path")
    for suffix in SIDE_FILES:
        write_target(paths.side(suffix), follow_link=False, role=f"The {SIDE_WORDS[suffix]}")
    for suffix in SIDE_FOLDERS:
        folder = paths.side(suffix)
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputError(f"Cannot use the {SIDE_WORDS[suffix]} folder {folder}: {exc.strerror or exc}.") from None
        if stat.S_ISLNK(mode):
            raise OutputError(
                f"The {SIDE_WORDS[suffix]} folder {folder} is a symbolic link (to {os.readlink(folder)}): vnnews "
                "never writes its side files through a link, so that a link planted beside an output cannot make a run "
                "write where it points. Remove the link (a new folder is made)."
            )
        if not stat.S_ISDIR(mode):
            raise OutputError(
                f"The {SIDE_WORDS[suffix]} folder {folder} is a {file_kind(mode)}, not a folder: the run keeps its "
                f"{SIDE_WORDS[suffix]} there. "
                "Remove it or give output.path another name."
            )


def _note_earlier_side_files(paths: OutputPaths) -> None:
    """Say once (the first run with table-keyed names) that ``<stem>.*`` side files beside a table output are
    no longer used: they are left as they are, neither read nor changed."""
    if paths.table is None or paths.state.exists():
        return
    earlier = [p for p in (paths.output.with_name(f"{paths.output.stem}.{s}") for s in SIDE_SUFFIXES) if p.exists()]
    if earlier:
        log.info(
            "the side files of %s are named %s.*; %s beside it are not read or changed (delete them, or rename "
            "%s.quarantine.jsonl and .runs.jsonl to keep their history with the new names)",
            paths.owner, paths.base, ", ".join(p.name for p in earlier), paths.output.stem,
        )


def remove_stale_temporaries(paths: OutputPaths) -> None:
    """Delete the temporary files a killed commit left beside the output and its side files (call while holding
    the run lock). Names are compared, never matched as patterns: an output named ``res[12].jsonl`` never
    touches the temporaries of ``res1.jsonl``."""
    targets = [paths.side(suffix) for suffix in REPLACED_SIDE_FILES]
    if paths.output.exists() or paths.output.is_symlink():
        with contextlib.suppress(OutputError):  # (check_output_files refused it already: nothing was written)
            targets.append(write_target(paths.output, follow_link=True, role="output.path"))
    else:
        targets.append(paths.output)
    by_folder: dict[Path, set[str]] = {}
    for target in targets:
        by_folder.setdefault(target.parent, set()).add(target.name)
    for folder, names in by_folder.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            if any(is_temporary_of(entry, name) for name in names):
                (folder / entry).unlink(missing_ok=True)


# -- file modes -----------------------------------------------------------------------------------

def input_mode_limit(path: Path) -> int:
    """The permission bits to take from results of ``path``: read and write for the group or others when
    that class cannot read every input file (links followed) or, for a folder, enter every folder read.

    Returns the bits to add to the umask: 0 when everyone could read every input file. The user who runs
    the job keeps reading and writing the results.
    """
    readable = 0o444
    try:
        top = os.stat(path)
    except OSError:  # a missing input: the reader says so, nothing is written
        return 0
    if not stat.S_ISDIR(top.st_mode):
        readable &= top.st_mode
    else:
        stack, seen = [_real(path)], set()
        while stack and readable:
            folder = stack.pop()
            if folder in seen:
                continue
            seen.add(folder)
            try:
                readable &= (os.stat(folder).st_mode & 0o111) << 2  # no x: the files inside cannot be reached
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat()  # (links followed: a link to a private file makes the results private)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(_real(Path(entry.path)))
                elif stat.S_ISREG(st.st_mode):
                    readable &= st.st_mode
    hidden = 0o044 & ~readable  # (the user keeps reading and writing the results)
    return hidden | hidden >> 1 | hidden >> 2  # who may not read may not write or enter either


@contextlib.contextmanager
def input_modes(config: InputConfig) -> Iterator[None]:
    """While the run goes on, create files no more readable than the input (see :func:`input_mode_limit`).

    The process umask is narrowed, so every file the run creates (output, side files, run state) gets at
    most the input's permissions, and the umask still applies; it is restored when the run ends.
    """
    extra = input_mode_limit(config.path)
    previous = current_umask()
    os.umask(previous | extra)
    try:
        yield
    finally:
        os.umask(previous)
