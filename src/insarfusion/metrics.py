"""Validation metrics of the paper's Tables 4–7, computed the same way for every method.

Definitions (all series on the common epochs, mm; velocities mm/yr):

* **velocity error** (Table 4): ``v_method - v_gnss`` per station; the table's RMSE row is the
  root mean square over stations.
* **cross-correlation** (Table 5): the zero-lag normalised cross-correlation of the two
  displacement series, i.e. Pearson's correlation coefficient over the epochs both have, in
  percent. (The paper does not define it; this is the usual reading and gives values in the
  paper's 71–99.9 % range for series that share a trend.)
* **time-series RMSE** (Tables 6 and 7): root mean square of ``d_method - d_gnss`` over the
  epochs both have, after removing the mean difference (the datum of a series is not its
  shape; velocity errors are scored separately). ``timeseries_rmse(..., remove_mean=False)``
  gives the raw figure with both series zero at the first common epoch.
* **improvement** (§5.4): ``100 (RMSE_other - RMSE_synergic) / RMSE_other``. The paper's
  62.23 % and 85.50 % follow from its rounded RMSEs 2.33, 6.05 and 0.88 mm/yr.
"""

from __future__ import annotations

import numpy as np


def rmse(errors, axis=None):
    """Root mean square of the finite values along ``axis`` (NaN where there are none)."""
    e = np.asarray(errors, dtype=float)
    finite = np.isfinite(e)
    n = finite.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt((np.where(finite, e, 0.0) ** 2).sum(axis=axis) / n)
    out = np.where(n > 0, out, np.nan)
    return float(out) if out.ndim == 0 else out


def _paired(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    return a, b, ok


def timeseries_rmse(series, reference, remove_mean=True, axis=-1):
    """RMSE (mm) between a method's series and the reference (GNSS) series.

    Parameters
    ----------
    series, reference : array_like
        Displacements on the same epochs along ``axis`` (mm); NaN epochs are skipped.
    remove_mean : bool
        Remove the mean difference first (compare shapes, not datums).
    """
    a, b, ok = _paired(series, reference)
    diff = np.where(ok, a - b, np.nan)
    if remove_mean:
        n = np.isfinite(diff).sum(axis=axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(np.isfinite(diff), diff, 0.0).sum(axis=axis, keepdims=True) / n
        diff = diff - mean  # NaN where a series has no shared epoch
    return rmse(diff, axis=axis)


def cross_correlation(series, reference, axis=-1):
    """Zero-lag normalised cross-correlation (Pearson), percent, over the shared epochs."""
    a, b, ok = _paired(series, reference)
    n = ok.sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        am = np.where(ok, a, 0).sum(axis=axis, keepdims=True) / n
        bm = np.where(ok, b, 0).sum(axis=axis, keepdims=True) / n
        da = np.where(ok, a - am, 0.0)
        db = np.where(ok, b - bm, 0.0)
        r = (da * db).sum(axis=axis) / np.sqrt((da**2).sum(axis=axis) * (db**2).sum(axis=axis))
    r = np.where(np.squeeze(n, axis=axis) >= 3, r, np.nan)
    return 100.0 * r if np.ndim(r) else float(100.0 * r)


def velocity_rmse(velocities, reference) -> float:
    """RMSE (mm/yr) over stations of ``velocities - reference`` (Table 4's RMSE row)."""
    a, b, ok = _paired(velocities, reference)
    return rmse(np.where(ok, a - b, np.nan))


def improvement_pct(rmse_other, rmse_new) -> float:
    """Percent by which ``rmse_new`` improves on ``rmse_other`` (positive = better)."""
    return float(100.0 * (rmse_other - rmse_new) / rmse_other)


def rounded(value, nd=3):
    """``value`` as a JSON-friendly float rounded to ``nd`` decimals; None for None or NaN."""
    if value is None:
        return None
    value = float(value)
    return round(value, nd) if np.isfinite(value) else None
