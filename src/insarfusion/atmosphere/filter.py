"""The APS estimator of one point dataset: :class:`APSFilter` and the options' names."""

from __future__ import annotations

import numpy as np

from ..conventions import as_days
from ..errors import InputError
from ..estimators import BaseEstimator, check_coordinates
from .spatial import DEFAULT_SCALE_M, _epoch_median, robust_lowpass
from .temporal import (
    DEFAULT_DEGREE,
    DEFAULT_TEMPORAL,
    DEFAULT_WINDOW_DAYS,
    _check_days,
    temporal_residuals,
)

#: Names of the APS options.
METHODS = ("none", "common_mode", "spatiotemporal")
#: Default option: the full filter (see ``benchmarks/README.md`` for the measurements).
DEFAULT_METHOD = "spatiotemporal"


def _check_method(method):
    if method not in METHODS:
        raise InputError(f"unknown APS method {method!r}; expected one of {METHODS}")


class APSFilter(BaseEstimator):
    """Estimate the atmospheric phase screen of one point dataset.

    Parameters
    ----------
    method : {"none", "common_mode", "spatiotemporal"}
        What to estimate (see the module's text).
    temporal : {"trend_gaussian", "gaussian", "polynomial"}
        Smooth temporal model whose residual is filtered (:func:`temporal_residuals`).
    window_days : float
        Standard deviation of the temporal Gaussian, days.
    degree : int
        Degree of the polynomial temporal model.
    annual : bool
        Annual term in the polynomial temporal model.
    scale_m : float
        Standard deviation of the spatial Gaussian, metres.
    iterations : int
        Robust reweighting passes of the spatial low-pass.
    ramp : bool
        Include a robust per-epoch plane in the spatial model.
    cell_m : float, optional
        Binning cell of the spatial low-pass, metres (default ``scale_m / 2``).

    Attributes
    ----------
    aps_ : ndarray, shape (n_point, n_time)
        The APS estimate at the points, mm, relative to the first epoch (zero there);
        zeros for ``"none"``.
    time_ : ndarray of datetime64[D]
        The dates it was fitted on.
    rms_ : float
        RMS of ``aps_`` over all points and epochs, mm.
    """

    def __init__(self, method=DEFAULT_METHOD, temporal=DEFAULT_TEMPORAL,
                 window_days=DEFAULT_WINDOW_DAYS, degree=DEFAULT_DEGREE, annual=True,
                 scale_m=DEFAULT_SCALE_M, iterations=1, ramp=False, cell_m=None):
        self.method = method
        self.temporal = temporal
        self.window_days = window_days
        self.degree = degree
        self.annual = annual
        self.scale_m = scale_m
        self.iterations = iterations
        self.ramp = ramp
        self.cell_m = cell_m

    def fit(self, coordinates, time, values):
        """Estimate the APS of ``values`` (n_point, n_time; mm) at points ``(x, y)`` (m).

        Returns
        -------
        APSFilter
            ``self``, with ``aps_``, ``time_`` and ``rms_`` set.
        """
        _check_method(self.method)
        x, y = check_coordinates(coordinates)
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[0] != x.size:
            raise InputError(f"values of shape {values.shape} do not match {x.size} points")
        self.time_ = as_days(np.atleast_1d(time))
        _check_days(self.time_, values.shape[1])
        if self.method == "none":
            aps = np.zeros(values.shape)
        else:
            resid = temporal_residuals(self.time_, values, self.temporal, self.window_days,
                                       self.degree, self.annual)
            if self.method == "common_mode":
                common = _epoch_median(resid)
                aps = np.broadcast_to(np.where(np.isfinite(common), common, 0.0),
                                      values.shape).copy()
            else:
                aps = robust_lowpass(x, y, resid, self.scale_m, self.iterations, self.ramp,
                                     self.cell_m)
            aps = aps - aps[:, :1]
        self.aps_ = aps
        self.rms_ = float(np.sqrt(np.mean(aps**2))) if aps.size else 0.0
        return self

    def transform(self, values) -> np.ndarray:
        """``values`` with the fitted APS removed (same shape, mm)."""
        self._check_fitted("aps_")
        values = np.asarray(values, dtype=float)
        if values.shape != self.aps_.shape:
            raise InputError(f"values of shape {values.shape} do not match the fitted "
                             f"{self.aps_.shape}")
        return values - self.aps_

