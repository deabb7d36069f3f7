"""The spatial estimators by name, as a run's configuration names them."""

from __future__ import annotations

from ..conventions import FUSED
from ..errors import InputError
from ..estimators import SpatialInterpolator
from .interpolators import IDWInterpolator, LinearInterpolator, NearestInterpolator
from .kriging import KrigingInterpolator

#: The classic estimators by method name.
ESTIMATORS = {
    "nearest": NearestInterpolator,
    "idw": IDWInterpolator,
    "linear": LinearInterpolator,
    "kriging": KrigingInterpolator,
}

#: Methods :func:`make_interpolator` knows: the classic ones and the CNN.
METHODS = (*ESTIMATORS, "cnn")


def product_name(method, main) -> str:
    """The name of spatial ``method``'s product in a run whose fusion method is ``main``."""
    return FUSED if method == main else method


def estimator_class(method) -> type:
    """The class of the spatial estimator named ``method`` (one of :data:`METHODS`)."""
    if method == "cnn":
        from ..cnn import CNNFusion  # torch is imported only when the CNN is asked for

        return CNNFusion
    try:
        return ESTIMATORS[method]
    except (KeyError, TypeError):
        raise InputError(f"unknown spatial method {method!r}; expected one of {METHODS}") from None


def make_interpolator(method, params=None, seed=0) -> SpatialInterpolator:
    """The spatial estimator named ``method``, with the given parameters.

    Parameters
    ----------
    method : {"nearest", "idw", "linear", "kriging", "cnn"}
        The method.
    params : dict, optional
        Parameters by the estimator's own names (e.g. ``{"k": 8, "radius_m": 200.0}`` for
        ``"idw"``); the defaults for the others. An unknown name is an error.
    seed : int
        Seed of anything random (kriging's fitting subsample, the CNN), set (over any
        ``seed`` in ``params``) where the estimator has a ``seed`` parameter.

    Returns
    -------
    SpatialInterpolator
        Unfitted.
    """
    estimator = estimator_class(method)()
    estimator.set_params(**(params or {}))
    if "seed" in estimator.get_params():
        estimator.set_params(seed=seed)
    return estimator
