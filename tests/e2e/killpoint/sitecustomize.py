"""SIGKILL a `vnnews` subprocess at a named instant of its output's commit (tests/e2e/test_reliability.py).

Python imports this module at start-up when its folder is on the subprocess's PYTHONPATH. With
``VNNEWS_TEST_KILL_OUTPUT`` (the output's path) and ``VNNEWS_TEST_KILL_AT`` set, the process kills itself
with SIGKILL, as a power loss would, at one of these instants of the documented commit (a temporary file
beside the output, renamed over it):

- ``begun``: the output's temporary file was just created, nothing written into it yet;
- ``written``: the temporary file is written whole and is about to be renamed over the output;
- ``renamed``: just after the rename, before the run is marked complete.

``VNNEWS_TEST_KILL_SIGNAL`` (a signal's name, SIGKILL by default) sends another signal at that instant instead:
SIGTERM, as a scheduler stopping the job would.

Polling the file system for these instants would race them: on a loaded machine a poll can miss the short
window, or its kill land after the run has ended.
"""

import os
import signal
from pathlib import Path

_AT = os.environ.get("VNNEWS_TEST_KILL_AT")
_OUTPUT = os.environ.get("VNNEWS_TEST_KILL_OUTPUT")


_SIGNAL = signal.Signals[os.environ.get("VNNEWS_TEST_KILL_SIGNAL", "SIGKILL")]


def _die() -> None:
    os.kill(os.getpid(), _SIGNAL)


if _AT and _OUTPUT:
    _output = Path(_OUTPUT).resolve()
    _open, _replace = os.open, os.replace

    def open_(path, flags, *args, **kwargs):  # the writers create their temporary files with os.open
        fd = _open(path, flags, *args, **kwargs)
        created = Path(os.fsdecode(path))
        if (_AT == "begun" and flags & os.O_CREAT and created.parent.resolve() == _output.parent
                and created.name.startswith(f".{_output.name}.") and created.name.endswith(".partial")):
            _die()
        return fd

    def replace(src, dst, **kwargs):
        onto_output = Path(os.fsdecode(dst)).resolve() == _output
        if onto_output and _AT == "written":
            _die()
        _replace(src, dst, **kwargs)
        if onto_output and _AT == "renamed":
            _die()

    os.open, os.replace = open_, replace
