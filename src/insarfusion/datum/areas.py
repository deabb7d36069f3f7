"""Mean series of the points or grid cells near GNSS stations, as the datum tie uses them.

The candidates (points or cells with data) within ``radius_m`` of a station are averaged,
else its ``k_fallback`` nearest (:func:`area_means`, :func:`cube_area_means`). Distances are
metres, series mm.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import cubes
from ..log import logger


def _near(distance: np.ndarray, radius_m: float, k_fallback: int) -> np.ndarray:
    """Indices of the candidates within ``radius_m``, else of the ``k_fallback`` nearest."""
    inside = np.flatnonzero(distance <= radius_m)
    if inside.size:
        return inside
    k = max(1, min(int(k_fallback), distance.size))
    return np.argpartition(distance, k - 1)[:k]


def _nearby(distance: np.ndarray, radius_m: float, k_fallback: int, station, what: str
            ) -> np.ndarray:
    """As :func:`_near`, warning when the fallback to the nearest candidates is taken."""
    nearest = _near(distance, radius_m, k_fallback)
    if (distance[nearest] <= radius_m).all():
        return nearest
    k = nearest.size
    logger.warning("no %s within %g m of GNSS station %s; using the %d nearest, up to %.0f m "
                   "away", what, radius_m, station, k, float(distance[nearest].max()))
    return nearest


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over the first axis ignoring NaN (NaN where a column has none), without warnings."""
    ok = np.isfinite(values)
    n = ok.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, values, 0.0).sum(0) / n, np.nan)



def area_means(x, y, values, sx, sy, radius_m: float = 100.0, k_fallback: int = 5
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean series of the points (or grid cells) near each station, as the datum uses them.

    The candidates with any finite value within ``radius_m`` of a station are averaged (NaN
    ignored), else its ``k_fallback`` nearest, as in :func:`insarfusion.datum.station_offset`
    and :func:`insarfusion.datum.reference_grid`; nothing is logged (the caller reports the
    distances).

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Points or cell centres, metres.
    values : array_like, shape (n, n_epoch)
        Their series, mm.
    sx, sy : array_like, shape (n_station,)
        Station positions, metres.
    radius_m : float
        Candidates within this distance (m) of a station are averaged.
    k_fallback : int
        If none lies within ``radius_m``, the ``k_fallback`` nearest are.

    Returns
    -------
    means : numpy.ndarray, shape (n_station, n_epoch)
        Mean series per station, mm (same sign as ``values``); NaN rows where no candidate
        has data.
    n_used : numpy.ndarray of int, shape (n_station,)
    max_distance_m : numpy.ndarray, shape (n_station,)
        Farthest candidate used per station.
    """
    values = np.asarray(values, dtype=float)
    sx = np.atleast_1d(np.asarray(sx, dtype=float))
    sy = np.atleast_1d(np.asarray(sy, dtype=float))
    with_data = np.flatnonzero(np.isfinite(values).any(axis=1))
    means = np.full((sx.size, values.shape[1]), np.nan)
    n_used = np.zeros(sx.size, dtype=int)
    max_distance = np.full(sx.size, np.nan)
    if with_data.size == 0:
        return means, n_used, max_distance
    cx = np.asarray(x, dtype=float).ravel()[with_data]
    cy = np.asarray(y, dtype=float).ravel()[with_data]
    for k in range(sx.size):  # a handful of stations
        distance = np.hypot(cx - sx[k], cy - sy[k])
        used = _near(distance, radius_m, k_fallback)
        means[k] = _nanmean_rows(values[with_data[used]])
        n_used[k] = used.size
        max_distance[k] = float(distance[used].max())
    return means, n_used, max_distance


def cube_area_means(cube: xr.DataArray, sx, sy, radius_m: float = 100.0,
                    k_fallback: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean series of the cube's cells near each station, as :func:`area_means` gives them.

    Only the cells averaged are read (a Dask-backed cube is never loaded whole).

    Parameters
    ----------
    cube : xarray.DataArray
        ``(time, y, x)`` displacement, mm, ``x``/``y`` cell centres in metres.
    sx, sy, radius_m, k_fallback
        As in :func:`area_means`, the candidates being the cells with data.

    Returns
    -------
    means, n_used, max_distance_m
        As :func:`area_means` returns them.
        Farthest cell used per station, metres.
    """
    cube = cube.transpose("time", "y", "x")
    sx = np.atleast_1d(np.asarray(sx, dtype=float))
    sy = np.atleast_1d(np.asarray(sy, dtype=float))
    iy, ix = np.nonzero(cubes.with_data(cube))
    cx, cy = cube["x"].values[ix], cube["y"].values[iy]
    used = np.unique(np.concatenate(
        [_near(np.hypot(cx - sx[k], cy - sy[k]), radius_m, k_fallback)
         for k in range(sx.size)] if iy.size else [np.zeros(0, dtype=int)]))
    values = (cubes.cells(cube, iy[used], ix[used]) if used.size
              else np.zeros((0, cube.sizes["time"])))
    return area_means(cx[used], cy[used], values, sx, sy, radius_m, k_fallback)
