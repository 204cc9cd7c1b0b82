"""The ``vnnews`` command line: run, train, evaluate, config show.

Errors the user can fix print one paragraph (no traceback) and exit non-zero; see
:mod:`pipeline.errors` for the exit codes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Annotated

import typer

from pipeline.errors import STOP_SIGNALS, Interrupted, Signalled, VnnewsError, interrupt_signal
from pipeline.redact import redact

app = typer.Typer(
    help="vnnews: topic classification and summaries for Vietnamese news, driven by YAML configs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")
models_app = typer.Typer(help="Prepare models (convert for the fast CTranslate2 backend).", no_args_is_help=True)
app.add_typer(models_app, name="models")

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: --set summarize.num_beams=2 (repeatable)."),
]
ConfigArg = Annotated[Path, typer.Argument(help="YAML config file.")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing but errors: no progress, warnings or results table.")
]

log = logging.getLogger("pipeline")


# What -q sets before any library is imported (and what processes the job starts inherit): no
# progress bar (ours and the libraries' are tqdm's), no library warnings or advisory messages.
QUIET_ENVIRONMENT = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "PYTHONWARNINGS": "ignore",
    "RAY_DATA_LOG_LEVEL": "ERROR",  # (Ray Data sets its logger apart from Ray's, at INFO, when a dataset runs)
}


def _print_version(value: bool) -> None:
    if value:
        from pipeline import __version__

        typer.echo(f"vnnews {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


def _setup_logging(quiet: bool) -> None:
    """Log lines to stderr, URL passwords masked; with ``quiet`` only errors, from us or any library."""
    if quiet:
        os.environ.update(QUIET_ENVIRONMENT)
        warnings.simplefilter("ignore")
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactingFilter())
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # An unreachable hub logs every retry twice; the error message that follows says what to do.
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)


class _RedactingFilter(logging.Filter):
    """Masks URL passwords in every log line (a library may log the database URL it connects to)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _fail(exc: VnnewsError) -> None:
    typer.echo(f"error: {redact(str(exc))}", err=True)
    raise typer.Exit(exc.exit_code)


def _on_signal(signum, frame) -> None:
    """SIGTERM (a scheduler stopping the job) and SIGHUP (a closed terminal, a dropped ssh session) unwind
    like Ctrl-C, so batches in flight are dropped cleanly and finished ones are saved."""
    raise Signalled(signal.Signals(signum).name)


def _after_work():
    from pipeline.__main__ import stop

    return stop("after the command's work was over; what it wrote is whole.")


@contextlib.contextmanager
def _interruptible(what_now: str):
    """Turn SIGINT/SIGTERM/SIGHUP into one line and exit 130/143/129 instead of a traceback or a silent exit.

    The runner reports where a run stopped (its own :class:`Interrupted`); a signal outside it
    (while models load, say) gets ``what_now``. A signal that lands inside a compiled kernel
    surfaces as another exception caused by the interrupt (:func:`~pipeline.errors.interrupt_signal`).
    """
    previous = {signum: signal.signal(signum, _on_signal) for signum in STOP_SIGNALS}
    try:
        yield
    except (typer.Exit, VnnewsError):
        raise
    except BaseException as exc:
        name = interrupt_signal(exc)
        if name is None:
            raise
        _fail(Interrupted(f"interrupted by {name}; {what_now}", name))
    finally:  # a signal from here on finds the work done (or its failure said): one line, exit 128 + n
        after = _after_work()
        for signum in previous:
            signal.signal(signum, after)


def _print_preview(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    # Titles and paths are shown as they are: no [markup] (a title "[/b] ..." is text, not a closing tag), no
    # :emoji: codes, no colouring; a line longer than the terminal is left for the terminal to wrap, so that a
    # path copied from it is whole.
    console = Console(markup=False, emoji=False, highlight=False, soft_wrap=True)
    if summary.up_to_date:
        console.print(
            f"up to date: this input was already processed with this config (run {summary.run_id}: "
            f"read {summary.read}, written {summary.written}, quarantined {summary.quarantined}); "
            f"results: {summary.output}"
        )
        return

    table = Table(title=f"{summary.written} articles processed (first {len(summary.preview)} shown)")
    for column in ("title", "topic", "score", "summary"):
        table.add_column(column, overflow="fold", max_width=60 if column != "summary" else 70)
    for row in summary.preview:
        score = row.get("topic_score")
        words = (row.get("summary") or "").split()
        table.add_row(
            (row.get("title") or row.get("id") or "")[:60],
            str(row.get("topic") or "-"),
            f"{score:.2f}" if isinstance(score, float) else "-",
            " ".join(words[:14]) + (" ..." if len(words) > 14 else ""),
        )
    console.print(table)
    console.print(f"results:    {summary.output}")
    console.print(f"quarantine: {summary.quarantine} ({summary.quarantined} rows)")
    console.print(f"manifest:   {summary.manifest}")
    report = Path(summary.manifest).with_name(Path(summary.manifest).name.replace(".manifest.json", ".report.html"))
    if report.is_file():
        console.print(f"report:     {report}")
    resumed = f", resumed at row {summary.resumed_from}" if summary.resumed_from else ""
    unchanged = f", unchanged {summary.unchanged}" if summary.unchanged else ""
    refreshed = f" ({summary.refreshed} refreshed without model work)" if summary.refreshed else ""
    skipped = f", skipped {summary.skipped} records that are not rows (see manifest)" if summary.skipped else ""
    console.print(
        f"read {summary.read}, written {summary.written}{refreshed}, quarantined {summary.quarantined}{unchanged}"
        f"{skipped} in {summary.seconds:.1f}s ({summary.articles_per_second:.1f} articles/s{resumed})"
    )


@app.command()
def run(config: ConfigArg, set_: SetOption = None, quiet: QuietOption = False) -> None:
    """Run the batch job: read, normalize, classify, summarize, write."""
    from pipeline.config import JobConfig, load_config
    from pipeline.run.job import process_start
    from pipeline.run.pipeline import Pipeline

    _setup_logging(quiet)
    with _interruptible("finished batches are saved: run the same command to resume."):
        try:
            summary = Pipeline(load_config(JobConfig, config, set_ or [])).run(since=process_start())
        except VnnewsError as exc:
            _fail(exc)
    if not quiet:
        _print_preview(summary)


def config_task(config: Path, overrides: list[str] | None) -> str:
    """The YAML's `task` key (a --set task=... wins); `topic` when absent, as before tasks existed."""
    from pipeline.config import parse_override, read_yaml

    try:
        task = read_yaml(config).get("task", "topic")
        for item in overrides or []:
            key, value = parse_override(item)
            if key == "task":
                task = value
    except VnnewsError as exc:
        _fail(exc)
    return str(task)


def _load_and_call(schema, config: Path, set_: list[str] | None, job):
    """Validate the config file (with overrides) and run ``job`` on it; user errors exit cleanly."""
    from pipeline.config import load_config

    try:
        cfg = load_config(schema, config, set_ or [])
        return cfg, job(cfg)
    except VnnewsError as exc:
        _fail(exc)


def _train_summary(config: Path, set_: list[str] | None, overwrite: bool, quiet: bool) -> None:
    from pipeline.config import SummaryTrainConfig
    from pipeline.summarize.training import format_train_report
    from pipeline.summarize.training import train as train_summary

    cfg, metrics = _load_and_call(SummaryTrainConfig, config, set_,
                                  lambda c: train_summary(c, config_path=str(config), overwrite=overwrite))
    if quiet:
        return
    typer.echo(format_train_report(metrics))
    typer.echo(f"model: {cfg.output_dir} (model card: {cfg.output_dir / 'README.md'})")


def _evaluate_summary(config: Path, set_: list[str] | None, quiet: bool) -> None:
    from pipeline.config import SummaryEvaluateConfig
    from pipeline.summarize.evaluation import evaluate as evaluate_summary
    from pipeline.summarize.evaluation import format_report

    cfg, metrics = _load_and_call(SummaryEvaluateConfig, config, set_, evaluate_summary)
    if quiet:
        return
    typer.echo(format_report(metrics))
    out = cfg.output_dir
    typer.echo(f"report: {out / 'metrics.json'}, {out / 'rouge_distribution.png'}, {out / 'examples.md'}")
    typer.echo(f"html report: {out / 'report.html'}")


@app.command()
def train(
    config: ConfigArg,
    set_: SetOption = None,
    quiet: QuietOption = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the model already in output_dir (else training refuses).")
    ] = False,
) -> None:
    """Train a topic classifier (task: topic) or a summarizer (task: summary); writes a model directory."""
    from pipeline.config import TrainConfig
    from pipeline.topic.training import format_table
    from pipeline.topic.training import train as train_model

    _setup_logging(quiet)
    with _interruptible("training stopped; run the same command to start it again."):
        if config_task(config, set_) == "summary":
            _train_summary(config, set_, overwrite, quiet)
            return
        cfg, metrics = _load_and_call(TrainConfig, config, set_,
                                      lambda c: train_model(c, config_path=str(config), overwrite=overwrite))
    if quiet:
        return
    typer.echo(format_table(metrics))
    typer.echo(f"trained in {metrics['train_seconds']}s; model: {cfg.output_dir}")


@app.command()
def evaluate(config: ConfigArg, set_: SetOption = None, quiet: QuietOption = False) -> None:
    """Evaluate a topic model (task: topic) or a summarizer against reference summaries (task: summary)."""
    from pipeline.config import EvaluateConfig
    from pipeline.topic.training import evaluate as evaluate_model
    from pipeline.topic.training import format_table

    _setup_logging(quiet)
    with _interruptible("evaluation stopped; run the same command to start it again."):
        if config_task(config, set_) == "summary":
            _evaluate_summary(config, set_, quiet)
            return
        cfg, metrics = _load_and_call(EvaluateConfig, config, set_, evaluate_model)
    if quiet:
        return
    typer.echo(format_table(metrics))
    if metrics["unseen_labels"]:
        typer.echo(f"labels the model never saw: {', '.join(metrics['unseen_labels'])}")
    typer.echo(f"report: {cfg.output_dir / 'metrics.json'}, {cfg.output_dir / 'confusion_matrix.png'}")
    typer.echo(f"html report: {cfg.output_dir / 'report.html'}")


def schemas() -> dict[str, type]:
    """The schema of each kind of job file (imported when a command needs one: ``--help`` stays fast)."""
    from pipeline.config import EvaluateConfig, JobConfig, TrainConfig

    return {"run": JobConfig, "train": TrainConfig, "evaluate": EvaluateConfig}


def guess_kind(data: dict) -> str:
    """A job file has `input` (run); an evaluation names a model directory; training configures one."""
    if "input" in data:
        return "run"
    if data.get("task") == "summary" and "summarize" in data:
        return "evaluate"  # a summary evaluation configures the summarizer it scores
    return "evaluate" if isinstance(data.get("model"), str) else "train"


@config_app.command("show")
def config_show(
    config: ConfigArg,
    set_: SetOption = None,
    kind: Annotated[
        str, typer.Option(help="Which job the file is for: run, train or evaluate (default: guessed).")
    ] = "auto",
) -> None:
    """Print the resolved config with every default filled in."""
    from pipeline.config import dump_config, load_config, read_yaml

    try:
        if kind == "auto":
            kind = guess_kind(read_yaml(config))
        if kind not in schemas():
            raise typer.BadParameter(f"--kind must be one of {sorted(schemas())}")
        schema = schemas()[kind]
        if kind != "run" and config_task(config, set_) == "summary":
            from pipeline.config import SummaryEvaluateConfig, SummaryTrainConfig

            schema = SummaryTrainConfig if kind == "train" else SummaryEvaluateConfig
        typer.echo(dump_config(load_config(schema, config, set_ or [])), nl=False)
    except VnnewsError as exc:
        _fail(exc)


@models_app.command("convert")
def models_convert(
    source: Annotated[str, typer.Argument(help="Hugging Face seq2seq model: hub id or local directory.")],
    output: Annotated[Path, typer.Argument(help="Directory to write the CTranslate2 model into.")],
    quantization: Annotated[
        str, typer.Option(help="Weight type: int8 (fastest on CPU), int8_float32, float16, bfloat16, float32...")
    ] = "int8",
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Convert a seq2seq model (T5/ViT5, BART/mBART/BARTpho...) for summarize.backend: ctranslate2."""
    from pipeline.summarize.ct2 import QUANTIZATIONS, convert_model

    _setup_logging(quiet)
    if quantization not in QUANTIZATIONS:
        raise typer.BadParameter(f"must be one of {', '.join(QUANTIZATIONS)}", param_hint="--quantization")
    with _interruptible("the conversion stopped; its output folder is left as it was: run the same command again."):
        try:
            out = convert_model(source, output, quantization=quantization, force=force)
        except VnnewsError as exc:
            _fail(exc)
    if quiet:
        return
    typer.echo(f"converted {source} -> {out} ({quantization}); model card: {out / 'README.md'}")
    typer.echo(f"use it with: --set summarize.backend=ctranslate2 --set summarize.model={out}")


def _report_bug(exc: BaseException) -> None:
    """One paragraph for an unexpected exception; its traceback goes to a file for the bug report."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "".join(traceback.format_exception(exc))
    try:
        fd, path = tempfile.mkstemp(prefix=f"vnnews-crash-{stamp}-", suffix=".txt")
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        where = f"the traceback is in {path}"
    except OSError:
        where = "the traceback could not be saved"
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    message = redact(str(exc).split("\n")[0][:300])
    typer.echo(
        f"error: internal error{at}: {type(exc).__name__}: {message}. This is a bug in vnnews, not a problem "
        f"with your input or config; {where}: please report it with that file. Finished batches are saved: "
        "after a fix, the same command resumes.",
        err=True,
    )


def main() -> None:
    try:
        app()
    except Exception as exc:  # the CLI's last line of defence: a bug prints a paragraph, never a traceback
        _report_bug(exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
