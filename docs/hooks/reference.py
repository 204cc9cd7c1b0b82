"""MkDocs hook: the reference pages, generated at every build so they cannot drift from the code.

- ``reference/config.md``: every config key of every job kind, with its type, default and
  description, read from the pydantic models in :mod:`pipeline.config`;
- ``reference/cli.md``: every ``vnnews`` command with its ``--help``, read from the typer app.
"""

from __future__ import annotations

import typing
from typing import Any

from mkdocs.structure.files import File
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

JOBS = [  # (title, schema name in pipeline.config, what the file configures)
    ("vnnews run", "JobConfig", "a batch job"),
    ("vnnews train (task: topic)", "TrainConfig", "training a topic classifier"),
    ("vnnews evaluate (task: topic)", "EvaluateConfig", "evaluating a topic classifier"),
    ("vnnews train (task: summary)", "SummaryTrainConfig", "training a summarizer"),
    ("vnnews evaluate (task: summary)", "SummaryEvaluateConfig", "scoring a summarizer"),
]


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if args and origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "null")


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "`true`", False: "`false`"}[value]
    return f"`{value}`"


def _sections(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    """``(dotted prefix, section model)`` for the model and every nested section, depth first."""
    found = [(prefix, model)]
    for name, field in model.model_fields.items():
        for candidate in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (candidate, *typing.get_args(candidate)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    found += _sections(inner, f"{prefix}{name}.")
    return found


def config_reference() -> str:
    import pipeline.config as config

    out = ["# Config reference", "",
           "Every key of every job file, generated from the pydantic models in `pipeline/config.py` at each "
           "docs build. Unknown keys are errors; `vnnews config show FILE` prints a file with every default "
           "filled in.", ""]
    for title, schema, what in JOBS:
        out += [f"## {title}", "", f"The YAML file for {what} (`{schema}`).", ""]
        seen: set[tuple[str, str]] = set()
        for prefix, section in _sections(getattr(config, schema)):
            if (prefix, section.__name__) in seen:
                continue
            seen.add((prefix, section.__name__))
            rows = [(name, field) for name, field in section.model_fields.items()
                    if not _is_section(field.annotation)]
            if not rows:
                continue
            out += [f"### `{prefix.rstrip('.') or '(top level)'}` ({section.__name__})", "",
                    (section.__doc__ or "").strip().splitlines()[0] if section.__doc__ else "", "",
                    "| key | type | default | description |", "|---|---|---|---|"]
            for name, field in rows:
                description = (field.description or "").replace("|", "\\|").replace("\n", " ")
                out.append(f"| `{prefix}{name}` | {_type(field.annotation)} | {_default(field)} | {description} |")
            out.append("")
    return "\n".join(out) + "\n"


def _is_section(annotation: Any) -> bool:
    candidates = (annotation, *typing.get_args(annotation))
    return any(isinstance(c, type) and issubclass(c, BaseModel) for c in candidates) or any(
        isinstance(i, type) and issubclass(i, BaseModel) for c in candidates for i in typing.get_args(c))


def cli_reference() -> str:
    import click
    import typer
    from typer.testing import CliRunner

    from pipeline.cli import app

    out = ["# CLI reference", "",
           "Every `vnnews` command with its `--help`, generated from the CLI at each docs build.", ""]
    runner = CliRunner()

    def visit(command: click.Command, path: list[str]) -> None:
        shown = runner.invoke(app, [*path, "--help"], prog_name="vnnews", terminal_width=100, color=False).output
        out.extend([f"## `{' '.join(['vnnews', *path])}`", "", "```text", shown.rstrip(), "```", ""])
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in sorted(command.list_commands(ctx)):
                visit(command.get_command(ctx, name), [*path, name])

    visit(typer.main.get_command(app), [])
    return "\n".join(out) + "\n"


def on_files(files, config):
    """Add the generated pages to the build (they exist only in the built site)."""
    for uri, content in (("reference/config.md", config_reference()), ("reference/cli.md", cli_reference())):
        files.append(File.generated(config, uri, content=content))
    return files
