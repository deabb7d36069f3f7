"""The estimator protocol shared by every temporal resampler and spatial interpolator.

In the style of scikit-learn and verde's ``BaseGridder``:

* ``__init__`` only stores parameters (every argument is kept under its own name);
* ``fit`` learns from data and returns ``self``; learned state lives in attributes ending in
  ``_``; predicting before ``fit`` raises :class:`NotFittedError`;
* ``predict`` returns plain arrays; the labelled results (a resampled point dataset, a grid)
  come from one function each, :func:`insarfusion.temporal.resample_dataset` and
  :func:`insarfusion.spatial.grid`, which work for every estimator;
* :func:`clone` makes an unfitted copy from the parameters, so model selection
  (:mod:`insarfusion.model_selection`) fits fresh copies without knowing the estimator.

The LSTM, the CNN and every baseline follow it, so every comparison and cross-validation runs
through the same code path, and no caller needs to inspect an estimator's signature. What an
estimator can do beyond the protocol is declared by class attributes, not discovered:
``learned`` (a resampler that learns across series; a spatial interpolator that trains a
network, with ``best_epoch_`` once fitted), ``provides_std`` (a spatial interpolator whose
``predict(..., return_std=True)`` gives a standard deviation).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


class NotFittedError(RuntimeError):
    """An estimator was asked to predict before it was fitted."""


class BaseEstimator:
    """Parameters in ``__init__``, learned state in attributes ending in ``_``."""

    def get_params(self) -> dict:
        """The estimator's parameters, by the names ``__init__`` takes."""
        return {k: v for k, v in vars(self).items()
                if not k.endswith("_") and not k.startswith("_")}

    def set_params(self, **params):
        """Set parameters by name; unknown names are an error. Returns ``self``."""
        known = self.get_params()
        for key, value in params.items():
            if key not in known:
                raise InputError(f"{type(self).__name__} has no parameter {key!r}; "
                                 f"expected one of {sorted(known)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def _check_fitted(self, attr: str) -> None:
        if not hasattr(self, attr):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit() first")


def clone(estimator):
    """A new, unfitted estimator of the same type with the same parameters."""
    return type(estimator)(**estimator.get_params())


class TemporalResampler(BaseEstimator):
    """Resample each of many displacement series to new dates.

    ``fit(time, values)`` with ``time`` the observed dates (n_time,) and ``values`` the series
    (n_series, n_time) in mm, NaN where a point has no observation; ``predict(time)`` returns
    the fitted series at the new dates, shape (n_series, n_new), mm.

    ``learned`` is True for resamplers whose fit learns from all the series together (the
    LSTM's network), False for those that treat each series on its own, for which fitting a
    subset of the series is the same as fitting all of them and keeping that subset.
    """

    learned = False

    def fit(self, time, values):  # pragma: no cover - interface
        """Learn from the series ``values`` (n_series, n_time; mm) observed at ``time``."""
        raise NotImplementedError

    def predict(self, time) -> np.ndarray:  # pragma: no cover - interface
        """The fitted series at ``time``, shape (n_series, n_new), mm."""
        raise NotImplementedError

    def set_series(self, time, values):
        """Resample other series (same dates) with what was learned; default: fit again.

        Learned resamplers (the LSTM) keep their trained network, so the model scored on
        held-out epochs is the very one that then resamples the complete series.
        """
        return self.fit(time, values)


class SpatialInterpolator(BaseEstimator):
    """Interpolate point values (one or many epochs) in space.

    ``fit(coordinates, data, groups=None)``: ``coordinates`` is ``(x, y)`` in metres, each
    (n,); ``data`` is (n,) or (n, n_time) in mm; ``groups`` optionally labels each point with
    its dataset (used by methods that fuse datasets as separate channels, ignored by the
    others). ``predict(coordinates, return_std=False)`` returns (m,) or (m, n_time) mm, and
    with ``return_std`` the pair ``(values, std)``, the std being NaN where the method gives
    none (``provides_std`` False).

    ``provides_std`` is True for methods with a standard deviation of their own (kriging's
    variance, the CNN's MC-dropout spread). ``parallel_predict`` is False for methods whose
    prediction only samples a field already computed by ``fit`` (the CNN), for which sending
    the fitted estimator to Dask workers would cost more than sampling here. ``learned`` is
    True for methods that train a network in ``fit`` (the CNN; fitted, they have
    ``best_epoch_``, the 0-based epoch whose weights were kept), which held-out validation
    retrains on fewer folds (:func:`insarfusion.validate.holdout_blocks`).
    """

    provides_std = False
    parallel_predict = True
    learned = False

    def fit(self, coordinates, data, groups=None):  # pragma: no cover - interface
        """Learn from the values at the points.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)`` of the points, metres, each (n,).
        data : array_like, shape (n,) or (n, n_time)
            Values, mm; NaN where missing.
        groups : array_like, shape (n,), optional
            Dataset of each point; used by methods that fuse datasets as separate channels,
            ignored by the others.

        Returns
        -------
        self
        """
        raise NotImplementedError

    def predict(self, coordinates, return_std=False):  # pragma: no cover - interface
        """Values at the targets.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)`` of the targets, metres, each (m,).
        return_std : bool
            Also return the method's standard deviation (NaN where it has none).

        Returns
        -------
        values : ndarray, shape (m,) or (m, n_time)
            mm, 1-D when the fitted data were 1-D; NaN where the method has no value.
        std : ndarray, same shape
            mm; only with ``return_std``.
        """
        raise NotImplementedError

    def _no_std(self, values, return_std):
        """``values``, or ``(values, NaN std)`` when a std is asked of a method without one."""
        if not return_std:
            return values
        return values, np.full(np.shape(values), np.nan)


def check_coordinates(coordinates):
    """``(x, y)`` as two float arrays (metres) of one shape, flattened."""
    try:
        x, y = coordinates
    except (TypeError, ValueError):
        raise InputError("coordinates must be a pair (x, y) of arrays") from None
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise InputError(f"x has {x.size} values, y has {y.size}")
    return x, y


def check_point_data(coordinates, data, groups=None):
    """The one input check of every spatial interpolator's ``fit``.

    Parameters
    ----------
    coordinates : tuple of array_like
        ``(x, y)`` of the points, metres, each (n,); finite.
    data : array_like, shape (n,) or (n, n_time)
        Values, mm; NaN where missing.
    groups : array_like, shape (n,), optional
        Dataset label of each point.

    Returns
    -------
    x, y : ndarray, shape (n,)
    values : ndarray, shape (n, n_time)
        ``data`` as 2-D floats.
    single : bool
        Whether ``data`` was 1-D (predictions are then 1-D too).
    labels : ndarray of object, shape (n,)
        ``groups``, or zeros when not given.
    """
    x, y = check_coordinates(coordinates)
    values = np.asarray(data, dtype=float)
    single = values.ndim == 1
    if single:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != x.size:
        raise InputError(f"data of shape {np.shape(data)} does not match {x.size} points")
    if x.size == 0:
        raise InputError("no points to interpolate from")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("point coordinates must be finite")
    labels = (np.zeros(x.size, dtype=object) if groups is None
              else np.asarray(groups, dtype=object).ravel())
    if labels.size != x.size:
        raise InputError(f"groups must have {x.size} labels, got {labels.size}")
    return x, y, values, single, labels
