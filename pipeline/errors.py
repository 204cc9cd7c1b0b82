"""Errors a user can act on.

Every failure that is the user's to fix (a bad config, a missing model, an unreadable input)
raises a subclass of :class:`VnnewsError`. The CLI prints its message as one paragraph and exits
non-zero without a traceback. Anything else is a bug: the CLI prints one paragraph saying so and
saves the traceback to a file (exit 1).

Exit codes: 0 done, 1 internal error (a bug), 2 config, 3 model, 4 input, 5 output, 6 too many rows
quarantined, 129/130/143 interrupted by SIGHUP / SIGINT (Ctrl-C) / SIGTERM.
"""

from __future__ import annotations

import signal


class VnnewsError(Exception):
    """Base class for errors whose message tells the user what to change."""

    exit_code = 1


class ConfigError(VnnewsError):
    """The YAML config (or a ``--set`` override) is invalid."""

    exit_code = 2


class ModelNotFoundError(VnnewsError):
    """A model directory or hub id could not be loaded."""

    exit_code = 3


class InputError(VnnewsError):
    """The configured input cannot be opened at all (individual bad rows are quarantined instead)."""

    exit_code = 4


class OutputError(VnnewsError):
    """The configured output cannot be written."""

    exit_code = 5


class QuarantineThresholdError(VnnewsError):
    """Too large a share of the input was quarantined (``runner.max_quarantined_fraction``): the output is kept."""

    exit_code = 6


SIGNAL_EXIT_CODES = {"SIGHUP": 129, "SIGINT": 130, "SIGTERM": 143}
# The signals a run stops on cleanly (one line, the exit code above): the CLI and the Ray runner handle these.
STOP_SIGNALS = tuple(signal.Signals[name] for name in SIGNAL_EXIT_CODES)


class Interrupted(VnnewsError):
    """The run was stopped by a signal; finished batches are saved and a rerun resumes after them.

    Exit code 128 + the signal's number, as a shell reports a process the signal ended.
    """

    def __init__(self, message: str, signal_name: str = "SIGINT") -> None:
        super().__init__(message)
        self.exit_code = SIGNAL_EXIT_CODES.get(signal_name, 130)


class Signalled(BaseException):
    """SIGINT, SIGTERM or SIGHUP received by the ``vnnews`` command, unwinding the work like Ctrl-C.

    Not a :class:`KeyboardInterrupt`, which the command-line framework would turn into a silent exit 130
    whatever the signal: the command catches this one and says what stopped, with exit 128 + its number.
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def interrupt_signal(exc: BaseException) -> str | None:
    """The signal behind ``exc`` ("SIGINT", "SIGTERM", "SIGHUP"), or None when it is not an interrupt.

    A signal turned into :class:`KeyboardInterrupt` or :class:`Signalled` can surface as another exception: one that
    arrives while a compiled extension returns can become ``SystemError(... returned a result with
    an exception set)``, with the interrupt as its cause. The chain of causes tells.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Signalled):
            return exc.signal_name
        if isinstance(exc, KeyboardInterrupt):
            return str(exc.args[0]) if exc.args else "SIGINT"
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without a final full stop: a reason to quote in ours."""
    return str(exc).strip().split("\n")[0].rstrip(".")
