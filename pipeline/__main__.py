"""The ``vnnews`` command (and ``python -m pipeline``): signals are answered from the first instant, then the CLI runs.

Importing the CLI and its libraries takes a noticeable moment; a SIGINT, SIGTERM or SIGHUP in it,
or anywhere outside a command's own handling (:func:`pipeline.cli._interruptible`), ends the
process with one line and exit 128 + the signal's number, never a traceback or a silent death.
"""

from __future__ import annotations

import signal
import sys

from pipeline.errors import SIGNAL_EXIT_CODES

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop(signum: int, frame) -> None:
    name = signal.Signals(signum).name
    sys.stderr.write(f"error: interrupted by {name} before the command began its work; nothing was changed.\n")
    raise SystemExit(SIGNAL_EXIT_CODES.get(name, 128 + signum))


def main() -> None:
    for signum in HANDLED:
        signal.signal(signum, _stop)
    from pipeline.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
