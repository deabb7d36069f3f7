"""Stage 8: validation at GNSS stations, against held-out points and against a known truth.

Every method is scored through the same functions: a method is a set of displacement series
at the stations, on the common epochs, in the primary LOS and the GNSS datum (mm), relative to
the first common epoch. The metrics are those of :mod:`insarfusion.metrics` (paper Tables 4–7).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .metrics import cross_correlation, improvement_pct, rmse, timeseries_rmse, velocity_rmse
from .series import linear_rate


def sample_cube(cube: xr.DataArray, x, y) -> np.ndarray:
    """Bilinear samples of a (time, y, x) cube at points, shape (n_points, n_time), mm.

    Where a point's four neighbouring cells are not all finite, the nearest finite cell's
    series is used instead (stations sit at the edge of the data hull now and then).
    """
    xs = xr.DataArray(np.asarray(x, float), dims="station")
    ys = xr.DataArray(np.asarray(y, float), dims="station")
    lin = cube.interp(x=xs, y=ys, method="linear").transpose("station", "time").values
    near = cube.sel(x=xs, y=ys, method="nearest").transpose("station", "time").values
    return np.where(np.isfinite(lin), lin, near)


def station_metrics(series: np.ndarray, gnss: np.ndarray, epochs, stations) -> dict:
    """Per-station and summary metrics of one method.

    Parameters
    ----------
    series, gnss : ndarray, shape (n_station, n_epoch)
        The method's and the GNSS LOS displacement on the common epochs (mm).
    epochs : array of dates
    stations : list of str

    Returns
    -------
    dict
        ``{"stations": {name: {velocity_mm_yr, timeseries_rmse_mm, cross_correlation}},
        "velocity_rmse_mm_yr", "timeseries_rmse_mm_mean", "cross_correlation_mean"}``
        (velocity error against the GNSS velocity on the same epochs).
    """
    v_method = linear_rate(epochs, series)
    v_gnss = linear_rate(epochs, gnss)
    ts = timeseries_rmse(series, gnss)
    cc = cross_correlation(series, gnss)
    per_station = {
        s: {"velocity_mm_yr": _r(v_method[i]), "timeseries_rmse_mm": _r(ts[i]),
            "cross_correlation": _r(cc[i])}
        for i, s in enumerate(stations)
    }
    return {
        "stations": per_station,
        "velocity_rmse_mm_yr": _r(velocity_rmse(v_method, v_gnss)),
        "timeseries_rmse_mm_mean": _r(np.nanmean(ts)) if np.isfinite(ts).any() else None,
        "cross_correlation_mean": _r(np.nanmean(cc)) if np.isfinite(cc).any() else None,
    }


def improvements(methods: dict, reference="synergic") -> dict:
    """``{"synergic_vs_<m>": pct}`` on the velocity RMSE (paper §5.4) and, as
    ``"..._timeseries"``, on the mean time-series RMSE."""
    out = {}
    if reference not in methods:
        return out
    ref = methods[reference]
    for name, m in methods.items():
        if name == reference:
            continue
        if m.get("velocity_rmse_mm_yr") and ref.get("velocity_rmse_mm_yr") is not None:
            out[f"{reference}_vs_{name}"] = _r(improvement_pct(m["velocity_rmse_mm_yr"],
                                                               ref["velocity_rmse_mm_yr"]))
        if m.get("timeseries_rmse_mm_mean") and ref.get("timeseries_rmse_mm_mean") is not None:
            out[f"{reference}_vs_{name}_timeseries"] = _r(improvement_pct(
                m["timeseries_rmse_mm_mean"], ref["timeseries_rmse_mm_mean"]))
    return out


def truth_scores(cube: xr.DataArray, truth: xr.DataArray, truth_velocity=None,
                 velocity=None) -> dict:
    """Error of a product against the truth on the cells and epochs both have (mm, mm/yr).

    The truth is interpolated (bilinearly) to the product's cell centres, so products on any
    grid can be scored.
    """
    t = truth.sel(time=cube["time"], method="nearest").interp(x=cube["x"], y=cube["y"])
    out = {"field_rmse_mm": _r(rmse(cube.transpose("time", "y", "x").values
                                    - t.transpose("time", "y", "x").values))}
    if truth_velocity is not None and velocity is not None:
        tv = truth_velocity.interp(x=cube["x"], y=cube["y"]).transpose("y", "x").values
        out["velocity_rmse_mm_yr"] = _r(rmse(np.asarray(velocity) - tv))
    return out


def _r(v, nd=3):
    """JSON-friendly rounded float (None for NaN)."""
    if v is None:
        return None
    v = float(v)
    return None if not np.isfinite(v) else round(v, nd)
