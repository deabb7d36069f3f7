"""The temporal high-pass of the APS filter: each series' residual from a smooth model.

Models (:data:`TEMPORAL_MODELS`, :func:`temporal_residuals`): ``"trend_gaussian"`` (default;
polynomial of ``degree`` plus an annual term, then a leave-one-out Gaussian moving mean of
what it leaves), ``"gaussian"`` (a leave-one-out Gaussian-weighted local linear fit) and
``"polynomial"``. Matrix products in time, points in blocks. Units: mm, days.
"""

from __future__ import annotations

import numpy as np

from ..conventions import DAYS_PER_YEAR, as_days
from ..errors import InputError

#: Names of the smooth temporal models whose residual is filtered in space.
TEMPORAL_MODELS = ("gaussian", "polynomial", "trend_gaussian")
#: Default smooth temporal model (see :func:`temporal_residuals`).
DEFAULT_TEMPORAL = "trend_gaussian"
#: Default standard deviation of the temporal Gaussian, days.
DEFAULT_WINDOW_DAYS = 90.0
#: Default degree of the polynomial trend.
DEFAULT_DEGREE = 2
#: Rows (points) per block of the temporal step, to bound memory.
_BLOCK_ROWS = 32768


def _check_days(time, n_time) -> np.ndarray:
    days = as_days(np.atleast_1d(time)).astype("int64").astype(float)
    if days.ndim != 1 or days.size != n_time:
        raise InputError(f"{days.size} dates for {n_time} epochs of values")
    if days.size > 1 and (np.diff(days) <= 0).any():
        raise InputError("dates must be strictly increasing")
    return days


def _local_linear(days, values, window_days, leave_out=True):
    """Gaussian-weighted local linear fit of every series at its own dates (mm).

    At each date ``t_i`` the fit minimises ``sum_j K_ij (v_j - a - b (t_j - t_i))^2`` with
    ``K_ij = exp(-(t_j - t_i)^2 / (2 window^2))`` over the series' finite values; the fitted
    value is ``a``. Where fewer than two distinct dates carry weight, the local mean is used.
    """
    d = (days[None, :] - days[:, None]) / float(window_days)     # (i, j), in windows
    kernel = np.exp(-0.5 * d**2)
    if leave_out:
        np.fill_diagonal(kernel, 0.0)
    k0, k1, k2 = kernel.T, (kernel * d).T, (kernel * d**2).T
    out = np.empty(values.shape)
    for start in range(0, values.shape[0], _BLOCK_ROWS):
        v = values[start:start + _BLOCK_ROWS]
        mask = np.isfinite(v)
        v0 = np.where(mask, v, 0.0)
        if mask.all():
            m = np.ones((1, v.shape[1]))
        else:
            m = mask.astype(float)
        s0, s1, s2 = m @ k0, m @ k1, m @ k2
        t0, t1 = v0 @ k0, v0 @ k1
        det = s0 * s2 - s1**2
        with np.errstate(invalid="ignore", divide="ignore"):
            linear = (s2 * t0 - s1 * t1) / det
            constant = t0 / s0
        ok = det > 1e-9 * np.maximum(s0, 1e-300) ** 2
        out[start:start + _BLOCK_ROWS] = np.where(ok, linear, constant)
    return out


def _design(days, degree, annual):
    """Columns of the polynomial (+ annual) model at the dates, time in centred years."""
    years = (days - days.mean()) / DAYS_PER_YEAR
    cols = [years**k for k in range(int(degree) + 1)]
    if annual:
        cols += [np.cos(2 * np.pi * days / DAYS_PER_YEAR), np.sin(2 * np.pi * days / DAYS_PER_YEAR)]
    return np.stack(cols, axis=1)


def _polynomial(days, values, degree, annual):
    """Least-squares polynomial (+ annual) model of every series at its dates (mm)."""
    a = _design(days, degree, annual)
    k = a.shape[1]
    mask = np.isfinite(values)
    if mask.all():
        return values @ (a @ np.linalg.pinv(a)).T
    out = np.full(values.shape, np.nan)
    for start in range(0, values.shape[0], _BLOCK_ROWS):
        m = mask[start:start + _BLOCK_ROWS].astype(float)
        v0 = np.where(m > 0, values[start:start + _BLOCK_ROWS], 0.0)
        gram = np.einsum("nt,tk,tl->nkl", m, a, a)
        rhs = v0 @ a
        enough = m.sum(axis=1) > k
        coef = np.einsum("nkl,nl->nk", np.linalg.pinv(gram[enough]), rhs[enough])
        block = out[start:start + _BLOCK_ROWS]
        block[enough] = coef @ a.T
    return out


def _local_mean(days, values, window_days):
    """Leave-one-out Gaussian moving mean of every series at its dates (mm)."""
    d = (days[None, :] - days[:, None]) / float(window_days)
    kernel = np.exp(-0.5 * d**2)
    np.fill_diagonal(kernel, 0.0)
    mask = np.isfinite(values)
    v0 = np.where(mask, values, 0.0)
    den = (np.ones((1, values.shape[1])) if mask.all() else mask.astype(float)) @ kernel.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (v0 @ kernel.T) / den, 0.0)


def temporal_residuals(time, values, model=DEFAULT_TEMPORAL, window_days=DEFAULT_WINDOW_DAYS,
                       degree=DEFAULT_DEGREE, annual=True) -> np.ndarray:
    """Residual of every series from a smooth temporal model (mm).

    Parameters
    ----------
    time : array_like of dates, shape (n_time,)
        Strictly increasing; may be irregular.
    values : array_like, shape (n_point, n_time)
        Displacement series, mm; NaN where missing (the residual is NaN there).
    model : {"trend_gaussian", "gaussian", "polynomial"}
        ``"polynomial"``: least-squares polynomial of ``degree`` in time, plus an annual
        cosine and sine when ``annual``. ``"trend_gaussian"``: that polynomial plus a
        leave-one-out Gaussian moving mean (standard deviation ``window_days``) of its
        residual. ``"gaussian"``: leave-one-out Gaussian-weighted local linear fit, standard
        deviation ``window_days``. A steady velocity leaves no residual with any of them.
    window_days : float
        Standard deviation of the temporal Gaussian, days.
    degree : int
        Degree of the polynomial model.
    annual : bool
        Add an annual term to the polynomial model.

    Returns
    -------
    ndarray, shape (n_point, n_time)
        ``values - model``, mm.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise InputError(f"values must be 2-D (point, time), got shape {values.shape}")
    days = _check_days(time, values.shape[1])
    if model in ("gaussian", "trend_gaussian"):
        if not (np.isfinite(window_days) and window_days > 0):
            raise InputError(f"window_days must be positive, got {window_days!r}")
    if model in ("polynomial", "trend_gaussian") and int(degree) < 0:
        raise InputError(f"degree must be >= 0, got {degree!r}")
    if model == "gaussian":
        smooth = _local_linear(days, values, window_days)
    elif model == "polynomial":
        smooth = _polynomial(days, values, degree, annual)
    elif model == "trend_gaussian":
        smooth = _polynomial(days, values, degree, annual)
        smooth = smooth + _local_mean(days, values - smooth, window_days)
    else:
        raise InputError(f"unknown temporal model {model!r}; expected one of {TEMPORAL_MODELS}")
    return values - smooth

