"""vnnews: read Vietnamese news, classify each article's topic, summarize it, write the results.

>>> from pipeline import Pipeline
>>> rows = Pipeline.from_yaml("configs/quickstart.yaml").process([{"title": "...", "text": "..."}])  # doctest: +SKIP
"""

from pipeline.run.pipeline import Pipeline

__version__ = "0.1.0"
__all__ = ["Pipeline", "__version__"]
