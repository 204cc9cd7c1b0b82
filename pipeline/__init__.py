"""vnnews: read Vietnamese news, classify each article's topic, summarize it, write the results.

>>> from pipeline import Pipeline
>>> rows = Pipeline.from_yaml("configs/quickstart.yaml").process([{"title": "...", "text": "..."}])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.run.pipeline import Pipeline

__version__ = "0.1.0"
__all__ = ["Pipeline", "__version__"]


def __getattr__(name: str):
    # ``Pipeline`` is imported on first use: ``vnnews --help`` and other commands that never build one
    # do not pay for the config schema and the runner.
    if name == "Pipeline":
        from pipeline.run.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
