"""vnnews: read Vietnamese news, classify each article's topic, summarize it, write the results.

>>> from pipeline import Pipeline
>>> rows = Pipeline.from_yaml("configs/quickstart.yaml").process([{"title": "...", "text": "..."}])  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# numba's parallel kernels run on OpenMP, whose threads by default spin after every parallel region
# waiting for the next one. Between two kernels a job runs Python (reading, hashing, writing), so
# the spinning threads take the cores that Python needs, and on a machine shared with other work
# they wait at each region's barrier for a descheduled thread. Sleeping instead costs a wake-up of
# microseconds per kernel call (docs/throughput.md). Read once, when OpenMP starts; a value the
# user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
