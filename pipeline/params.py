"""Estimator settings in one place: the config section's defaults are the estimator's defaults.

The trainable models follow the scikit-learn contract: every setting is an ``__init__`` argument
stored under its own name, so :meth:`Params.get_params` reads the names off the signature (as
``sklearn.base.BaseEstimator`` does, without importing scikit-learn at load time). Their default
values come from the config section that sets them in a YAML job (:func:`field_defaults`), so
``vnnews train`` with a section left at its defaults builds the same model as the class would.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel


def field_defaults(section: type[BaseModel]) -> dict[str, Any]:
    """Each field's default value (a default factory is called); required fields are left out."""
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in section.model_fields.items()
        if not field.is_required()
    }


class Params:
    """``get_params``: the ``__init__`` arguments and their current values, in signature order."""

    @classmethod
    def param_names(cls) -> list[str]:
        parameters = inspect.signature(cls.__init__).parameters.values()
        return [
            p.name for p in parameters
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}
