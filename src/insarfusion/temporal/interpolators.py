"""The interpolating resamplers: piecewise-linear and shape-preserving cubic (PCHIP).

Both treat each series on its own (``learned = False``). Outside a series' observed span they
hold the end value by default (``outside="hold"``) or continue the end slope
(``outside="linear"``). Holding is the default because the error it makes is bounded by the
motion over the missing stretch, whereas a slope estimated from the last one or two noisy epochs
can run away. A series with fewer than two valid observations gives NaN everywhere.

The input checks of every resampler (:func:`_days`, :func:`_check_values`) live here too.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from ..conventions import as_days
from ..errors import InputError
from ..estimators import TemporalResampler
from ..log import logger

_OUTSIDE = ("hold", "linear")

#: Series are processed in blocks of this many rows to bound memory (not a per-series loop).
_BLOCK_ROWS = 16384

def _days(time) -> np.ndarray:
    """Dates as float days since 1970, checked to be strictly increasing."""
    days = as_days(np.atleast_1d(time)).astype("int64").astype(float)
    if days.ndim != 1:
        raise InputError(f"dates must be 1-D, got shape {days.shape}")
    if days.size > 1 and (np.diff(days) <= 0).any():
        raise InputError("dates must be strictly increasing")
    return days


def _check_values(values, n_time) -> np.ndarray:
    arr = np.array(values, dtype=float, ndmin=2)
    if arr.ndim != 2 or arr.shape[1] != n_time:
        raise InputError(f"values must have shape (n_series, {n_time}), got {arr.shape}")
    return arr


def _check_outside(outside):
    if outside not in _OUTSIDE:
        raise ValueError(f"outside must be one of {_OUTSIDE}, got {outside!r}")


class _SeriesInterpolator(TemporalResampler):
    """Shared set-up of the interpolating resamplers: the ``outside`` rule and the checks."""

    def __init__(self, outside="hold"):
        self.outside = outside

    def _store(self, time, values) -> np.ndarray:
        """Check the parameters and inputs; keep the dates; return the values (mm)."""
        _check_outside(self.outside)
        self.days_ = _days(time)
        return _check_values(values, self.days_.size)


class LinearResampler(_SeriesInterpolator):
    """Piecewise-linear interpolation of each series between its own valid observations.

    Fully vectorised: the previous and next valid observation of every series at every date
    come from running maxima/minima of index arrays, so NaN gaps at different places in
    different series cost nothing extra.

    Parameters
    ----------
    outside : {"hold", "linear"}
        Before the first / after the last valid observation of a series: hold the end value
        (default), or extend the line through the two end observations.

    Attributes
    ----------
    days_ : ndarray (n_time,)
        Observed dates, days since 1970.
    values_ : ndarray (n_series, n_time)
        Observed displacements, mm.
    prev_valid_, next_valid_ : ndarray (n_series, n_time) of int32
        Index of the last valid observation at or before / first at or after each date
        (-1 / n_time where none).
    """

    def fit(self, time, values):
        """Store the series and the neighbour-index tables.

        ``time``: dates (n_time,), strictly increasing; ``values``: displacements (n_series,
        n_time), mm, NaN where not observed (:meth:`TemporalResampler.fit
        <insarfusion.estimators.TemporalResampler.fit>`). Returns ``self``.
        """
        self.values_ = self._store(time, values)
        n_time = self.days_.size
        valid = np.isfinite(self.values_)
        index = np.arange(n_time, dtype=np.int32)
        self.prev_valid_ = np.maximum.accumulate(np.where(valid, index, -1), axis=1).astype(np.int32)
        next_valid = np.minimum.accumulate(np.where(valid, index, n_time)[:, ::-1], axis=1)
        self.next_valid_ = np.ascontiguousarray(next_valid[:, ::-1]).astype(np.int32)
        self.n_valid_ = valid.sum(axis=1)
        return self

    def predict(self, time) -> np.ndarray:
        """Interpolated displacements (n_series, n_new), mm, at ``time``."""
        self._check_fitted("values_")
        query = _days(time)
        out = np.empty((self.values_.shape[0], query.size))
        for start in range(0, self.values_.shape[0], _BLOCK_ROWS):
            rows = slice(start, start + _BLOCK_ROWS)
            out[rows] = self._predict_block(query, rows)
        return out

    def _predict_block(self, query, rows):
        days, values = self.days_, self.values_[rows]
        prev_valid, next_valid = self.prev_valid_[rows], self.next_valid_[rows]
        n_time = days.size
        # last observation date <= query and first >= query, shared by all series
        left = np.searchsorted(days, query, side="right") - 1
        right = np.searchsorted(days, query, side="left")
        lo = np.where(left >= 0, prev_valid[:, np.clip(left, 0, None)], -1)
        hi = np.where(right < n_time, next_valid[:, np.clip(right, None, n_time - 1)], n_time)

        first = next_valid[:, :1]
        last = prev_valid[:, -1:]
        before, after = lo < 0, hi >= n_time
        if self.outside == "hold":
            lo = np.where(before, first, lo)
            hi = np.where(before, first, hi)
            hi = np.where(after, last, hi)
            lo = np.where(after, last, lo)
        else:
            series = np.arange(values.shape[0])
            second = next_valid[series, np.clip(first[:, 0] + 1, None, n_time - 1)][:, None]
            second_last = prev_valid[series, np.clip(last[:, 0] - 1, 0, None)][:, None]
            lo, hi = np.where(before, first, lo), np.where(before, second, hi)
            lo, hi = np.where(after, second_last, lo), np.where(after, last, hi)

        usable = self.n_valid_[rows, None] >= 2
        lo = np.clip(np.where(usable, lo, 0), 0, n_time - 1)
        hi = np.clip(np.where(usable, hi, 0), 0, n_time - 1)
        v_lo = np.take_along_axis(values, lo, axis=1)
        v_hi = np.take_along_axis(values, hi, axis=1)
        t_lo, t_hi = days[lo], days[hi]
        span = t_hi - t_lo
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(span > 0, (query - t_lo) / span, 0.0)
        result = v_lo + weight * (v_hi - v_lo)
        return np.where(usable, result, np.nan)


class PchipResampler(_SeriesInterpolator):
    """Shape-preserving piecewise-cubic (PCHIP) interpolation of each series.

    Monotone between observations wherever the data are, so a step is not turned into an
    overshoot as a cubic spline would. Series are grouped by their pattern of valid epochs and
    scipy's :class:`~scipy.interpolate.PchipInterpolator` is built once per group along
    ``axis=1``; the cost therefore grows with the number of distinct gap patterns (real
    stacks have few), not with the number of series.

    Parameters
    ----------
    outside : {"hold", "linear"}
        Before the first / after the last valid observation: hold the end value (default), or
        continue with the interpolant's end slope.

    Attributes
    ----------
    n_patterns_ : int
        Number of distinct patterns of valid epochs.
    """

    def fit(self, time, values):
        """Group the series by gap pattern and build one interpolator per group.

        ``time``: dates (n_time,), strictly increasing; ``values``: displacements (n_series,
        n_time), mm, NaN where not observed (:meth:`TemporalResampler.fit
        <insarfusion.estimators.TemporalResampler.fit>`). Returns ``self``.
        """
        values = self._store(time, values)
        valid = np.isfinite(values)
        patterns, group_of_series = np.unique(np.packbits(valid, axis=1), axis=0,
                                              return_inverse=True)
        group_of_series = group_of_series.ravel()
        order = np.argsort(group_of_series, kind="stable")
        bounds = np.flatnonzero(np.diff(group_of_series[order])) + 1
        self.n_series_ = values.shape[0]
        self.n_patterns_ = patterns.shape[0]
        self.groups_ = []
        for rows in np.split(order, bounds):
            cols = valid[rows[0]]
            if cols.sum() < 2:
                self.groups_.append((rows, None))
                continue
            interp = PchipInterpolator(self.days_[cols], values[np.ix_(rows, cols)], axis=1,
                                       extrapolate=True)
            self.groups_.append((rows, interp))
        logger.debug("PCHIP: %d series in %d gap patterns", self.n_series_, self.n_patterns_)
        return self

    def predict(self, time) -> np.ndarray:
        """Interpolated displacements (n_series, n_new), mm, at ``time``."""
        self._check_fitted("groups_")
        query = _days(time)
        out = np.full((self.n_series_, query.size), np.nan)
        for rows, interp in self.groups_:
            if interp is None:
                continue
            start, end = interp.x[0], interp.x[-1]
            inside = np.clip(query, start, end)
            result = interp(inside)
            if self.outside == "linear":
                slope = interp.derivative()(np.array([start, end]))
                result = (result + np.where(query < start, query - start, 0.0) * slope[:, :1]
                          + np.where(query > end, query - end, 0.0) * slope[:, 1:])
            out[rows] = result
        return out
