"""Small, vectorised operations on displacement time series shared by every stage."""

from __future__ import annotations

import numpy as np

from .conventions import DAYS_PER_YEAR, as_days


def linear_rate(time, values, axis=-1):
    """Least-squares slope of each series, ignoring NaN, in value units per year.

    Parameters
    ----------
    time : array_like of dates
        Dates of the last axis of ``values``.
    values : array_like
        Displacements (mm); any leading shape, time along ``axis``.

    Returns
    -------
    ndarray
        Rates (mm/yr); NaN where fewer than two finite epochs exist.
    """
    v = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    t = as_days(time).astype("int64").astype(float) / DAYS_PER_YEAR
    t = t - t.mean()
    w = np.isfinite(v)
    n = w.sum(-1)
    tw = np.where(w, t, 0.0)
    vw = np.where(w, v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tbar = tw.sum(-1) / n
        vbar = vw.sum(-1) / n
        dt = np.where(w, t - tbar[..., None], 0.0)
        num = (dt * (vw - vbar[..., None] * w)).sum(-1)
        den = (dt**2).sum(-1)
        rate = num / den
    return np.where((n >= 2) & (den > 0), rate, np.nan)
