"""The ``vnnews`` command (and ``python -m pipeline``): signals are answered from the first instant, then the CLI runs.

Importing the CLI and its libraries takes a noticeable moment; a SIGINT, SIGTERM or SIGHUP in it,
or anywhere outside a command's own handling (:func:`pipeline.cli._interruptible`), ends the
process with one line and exit 128 + the signal's number, never a traceback or a silent death; once
the command is over, a signal no longer changes its exit status.
"""

from __future__ import annotations

import os
import signal

from pipeline.errors import SIGNAL_EXIT_CODES, STOP_SIGNALS, Signalled


def stop(when: str):
    """A handler that ends the process with one line (``when`` says what was done) and exit 128 + the signal."""

    def handler(signum: int, frame) -> None:
        name = signal.Signals(signum).name
        # os.write: the line must not wait in (or re-enter) a buffer the interrupted code was writing
        os.write(2, f"error: interrupted by {name} {when}\n".encode())
        raise SystemExit(SIGNAL_EXIT_CODES.get(name, 128 + signum))

    return handler


def main() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, stop("before the command began its work; nothing was changed."))
    try:
        from pipeline.cli import main as cli_main

        cli_main()
    except Signalled as exc:  # (one that landed between a command's own handling and its end)
        stop("while the command finished; run the same command again to check that its work is done.")(
            getattr(signal, exc.signal_name), None)
    finally:
        # The command is over (done, failed or stopped, its exit status decided): a signal now, while the
        # interpreter shuts down, must not turn that status into a death by signal. Ignored, process-wide
        # (any thread may receive it), and kept ignored by the interpreter's own shutdown, which resets
        # Python handlers to the default action, which is death.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


if __name__ == "__main__":
    main()
