"""The datum offset as a plane through several reference stations.

:func:`offset_plane` goes beyond the paper: per epoch it fits a plane ``a + b (x - x0) +
c (y - y0)`` through the raw offsets at the stations (least squares, ``x0``/``y0`` their mean
position), smooths each coefficient series with the chosen model and evaluates the plane at every
point. With two stations only the constant and the tilt along their baseline are determined; the
tilt across the baseline is taken as zero, and this is warned about. The fit itself is
:func:`plane_coefficients` (on raw offsets already measured) and :func:`evaluate_plane`; the
leave-one-station-out validation (:func:`insarfusion.validate.leave_one_station_out`) ties
each finished product through all stations but one with them, from the mean series near each
station (:func:`insarfusion.datum.area_means`). Offsets are mm, ``b`` and ``c`` mm/km,
positions metres.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..conventions import as_days
from ..errors import InputError, StageError
from ..log import logger
from .offsets import _check_model, _pinned, fit_offset_model
from .tie import _gnss_in_crs, _point_raw_offset, station_offset


def plane_coefficients(epochs, raw, sx, sy, model: str = "linear", names=None,
                       warn: bool = True) -> tuple[np.ndarray, float, float]:
    """Smoothed coefficients of the offset plane through raw offsets at stations.

    The core of :func:`offset_plane`, on offsets already measured: each station's raw series
    is first zeroed by its own fitted model at the first epoch, then per epoch the plane
    ``a + b (x - x0) + c (y - y0)`` (``x0``, ``y0`` the stations' mean position; ``b``, ``c``
    in mm/km) is fitted by least squares, and each coefficient series is smoothed with
    ``model`` and pinned to zero at the first epoch. One station gives ``a`` = its offset and
    no tilt; two give ``a`` and the tilt along their baseline (the tilt across it is zero,
    warned when ``warn``).

    Parameters
    ----------
    epochs : array_like of dates, shape (n_epoch,)
    raw : array_like, shape (n_station, n_epoch)
        Raw offsets ``mean InSAR - GNSS`` (mm), NaN where unknown.
    sx, sy : array_like, shape (n_station,)
        Station positions, metres.
    model : {"constant", "linear", "lowpass", "raw"}
    names : list of str, optional
        Station names, for the messages.
    warn : bool
        Warn about the missing cross-baseline tilt of two stations.

    Returns
    -------
    coef : numpy.ndarray, shape (3, n_epoch)
        ``a`` (mm), ``b``, ``c`` (mm/km) per epoch, zero at the first epoch.
    x0, y0 : float
        The plane's origin, metres.

    Raises
    ------
    StageError
        Two stations at the same place, or three or more on a line (or without common epochs).
    """
    _check_model(model)
    epochs = as_days(epochs)
    raw = np.atleast_2d(np.asarray(raw, dtype=float))
    sx = np.asarray(sx, dtype=float).ravel()
    sy = np.asarray(sy, dtype=float).ravel()
    names = [str(n) for n in (names if names is not None else range(raw.shape[0]))]
    raw = raw - fit_offset_model(epochs, raw, model)[..., :1]
    x0, y0 = float(sx.mean()), float(sy.mean())
    dx, dy = (sx - x0) / 1000.0, (sy - y0) / 1000.0  # km keep the normal equations balanced
    finite = np.isfinite(raw)
    coef = np.full((3, epochs.size), np.nan)
    if raw.shape[0] == 1:
        coef[0] = raw[0]
        coef[1:] = 0.0
    elif raw.shape[0] == 2:
        length = np.hypot(dx[1] - dx[0], dy[1] - dy[0])
        if length == 0:
            raise StageError(f"GNSS stations {names[0]} and {names[1]} are at the same place")
        ux, uy = (dx[1] - dx[0]) / length, (dy[1] - dy[0]) / length
        both = finite.all(axis=0)
        gradient = (raw[1] - raw[0]) / length
        coef[0, both] = raw[:, both].mean(axis=0)
        coef[1, both] = gradient[both] * ux
        coef[2, both] = gradient[both] * uy
        if warn:
            logger.warning("datum from 2 GNSS stations (%s): fitting the offset and its tilt "
                           "along their baseline only; the tilt across it is assumed zero",
                           ", ".join(names))
    else:
        design = np.column_stack([np.ones(len(names)), dx, dy])  # (station, 3)
        weights = finite.astype(float)
        normal = np.einsum("st,si,sj->tij", weights, design, design)
        rhs = np.einsum("st,si,st->ti", weights, design, np.where(finite, raw, 0.0))
        sing = np.linalg.svd(normal, compute_uv=False)
        solvable = (finite.sum(axis=0) >= 3) & (sing[:, -1] > 1e-9 * sing[:, 0])
        if not solvable.any():
            raise StageError(f"GNSS stations {', '.join(names)} lie on a line (or lack common "
                             "epochs): the offset plane is undetermined")
        coef[:, solvable] = np.linalg.solve(normal[solvable], rhs[solvable][..., None])[..., 0].T
        if not solvable.all():
            logger.warning("offset plane undetermined at %d of %d epochs (fewer than 3 stations "
                           "with GNSS); bridged by the %s model", int((~solvable).sum()),
                           solvable.size, model)
    smooth, _ = _pinned(epochs, coef, model)
    return smooth, x0, y0


def evaluate_plane(coef, x0: float, y0: float, x, y) -> np.ndarray:
    """Offsets (mm) of a plane from :func:`plane_coefficients` at points, shape (n, n_epoch)."""
    px = (np.asarray(x, dtype=float).ravel() - x0) / 1000.0
    py = (np.asarray(y, dtype=float).ravel() - y0) / 1000.0
    coef = np.asarray(coef, dtype=float)
    return coef[0][None, :] + px[:, None] * coef[1][None, :] + py[:, None] * coef[2][None, :]


def offset_plane(ds: xr.Dataset, gnss: xr.Dataset, stations, radius_m: float = 100.0,
                 model: str = "linear", k_fallback: int = 5) -> xr.DataArray:
    """Datum offset as a plane through the offsets at several reference stations.

    Per epoch the raw offsets at the stations (as in :func:`station_offset`, each zeroed at
    the first epoch by its own fitted model) are fitted by ``a + b (x - x0) + c (y - y0)``
    (least squares; ``x0``, ``y0`` the stations' mean position; ``b``, ``c`` in mm/km). Each
    coefficient series is smoothed with ``model`` and the plane is evaluated at every point.
    With two stations, ``a`` and the tilt along their baseline are fitted and the tilt across
    it is set to zero (warned). One station gives :func:`station_offset` at every point.

    Parameters
    ----------
    ds, gnss, radius_m, model, k_fallback
        As in :func:`station_offset`.
    stations : list of str
        Reference stations.

    Returns
    -------
    xarray.DataArray
        ``(point, time)``, mm, zero at the first epoch; attrs ``stations``, ``model``,
        ``radius_m``, ``x0``, ``y0``, ``n_points`` (per station, as text).

    Raises
    ------
    StageError
        Three or more stations on a line (the plane is undetermined), or as in
        :func:`station_offset`.
    """
    _check_model(model)
    names = [str(s) for s in dict.fromkeys([stations] if isinstance(stations, str) else stations)]
    if not names:
        raise InputError("no reference GNSS station given")
    gnss = _gnss_in_crs(gnss, ds.attrs.get("crs"))
    epochs = as_days(ds["time"].values)
    if len(names) == 1:
        single = station_offset(ds, gnss, names[0], radius_m, k_fallback, model)
        plane = single.expand_dims(point=ds["point"].values).transpose("point", "time")
        plane.attrs = {**single.attrs, "stations": names[0]}
        return plane

    raws, infos = [], []
    for name in names:  # a handful of stations
        raw, info = _point_raw_offset(ds, gnss, name, radius_m, k_fallback)
        raws.append(raw)
        infos.append(info)
    sx = np.array([i["x"] for i in infos])
    sy = np.array([i["y"] for i in infos])
    coef, x0, y0 = plane_coefficients(epochs, np.vstack(raws), sx, sy, model, names)
    offset = evaluate_plane(coef, x0, y0, ds["x"].values, ds["y"].values)
    attrs = {"units": "mm", "long_name": "offset of the dataset's reference from the GNSS datum",
             "model": model, "radius_m": float(radius_m), "stations": ", ".join(names),
             "x0": x0, "y0": y0,
             "n_points": ", ".join(f"{i['station']}:{i['n_points']}" for i in infos)}
    logger.info("%s: datum offset plane through %d GNSS stations (%s), model %s",
                ds.attrs.get("name") or "dataset", len(names), ", ".join(names), model)
    return xr.DataArray(offset, dims=("point", "time"),
                        coords={"point": ds["point"].values, "time": ds["time"].values},
                        name="datum_offset", attrs=attrs)
