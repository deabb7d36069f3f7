"""What every section of the run configuration shares.

Strict keys, finite numbers, and defaults read from the estimators.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, field_validator


def _defaults(estimator) -> dict:
    """The defaults of an estimator's parameters, read from its signature.

    The estimators are the one place a method's default is set; the config sections that
    configure them take their defaults from here, under the same names.
    """
    import inspect

    return {name: p.default for name, p in inspect.signature(estimator).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _estimator_defaults(name: str) -> dict:
    """Defaults of the estimator of a spatial method (``"idw"``, ``"kriging"``)."""
    from ..spatial.factory import estimator_class

    return _defaults(estimator_class(name))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*")
    @classmethod
    def _finite(cls, v):
        """Refuse ``.nan`` and ``.inf`` in every number (and list of numbers) of the config."""
        values = v if isinstance(v, list) else [v]
        if any(isinstance(x, float) and not math.isfinite(x) for x in values):
            raise ValueError("must be a finite number (not .nan or .inf)")
        return v
