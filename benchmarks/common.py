"""What the benchmarks share: the project root, the shared data folder and their argument parser.

Run a benchmark from the project root as ``.venv/bin/python benchmarks/<name>.py``; the real data
is read from ``../shared/data`` beside the checkout, or from ``$VNNEWS_SHARED_DATA`` (as the tests do).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("VNNEWS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose help is the benchmark's docstring, layout kept."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
