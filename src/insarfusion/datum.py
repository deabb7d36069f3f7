"""Tie InSAR displacements to the GNSS datum (paper §4.2.2 and §4.2.4).

Each InSAR dataset is relative to its own reference point, which may itself move. A GNSS
station on stable ground gives the datum: its east/north/up positions are projected on the LOS
(paper eq. 2, :func:`gnss_los`), averaged onto the common epochs (:func:`gnss_on_epochs`) and
compared with the mean LOS series of the InSAR points (or grid cells) within ``radius_m`` of it.
The difference is the *offset series* of the dataset's reference; it is removed from every point
(:func:`station_offset`, :func:`apply_offset`, :func:`reference_dataset`) and, at the end, from
every cell of the fused cube (:func:`reference_grid`, the paper's re-referencing with M01).

Zero at the first epoch
-----------------------
Every series on the common epochs is relative to the first common epoch: it is zero there
(the temporal resamplers deliver the InSAR series that way). The GNSS LOS series is put on the
same footing, but not by subtracting its value on one day: the offset series
``insar_mean(t) - gnss(t)`` is first fitted with the chosen model, and the fitted value at the
first epoch is then subtracted from it. This is the same as zeroing the GNSS series with its
*smoothed* value at the first epoch, so the arbitrary origin of the GNSS positions is estimated
from all epochs and one noisy GNSS day does not shift the whole series. The offset is therefore
zero at the first epoch and the referenced series stay zero there.

Offset models
-------------
The raw offsets carry the GNSS noise (weekly or daily positions, vertical sigma of several mm)
and the noise of the few InSAR points near the station. Removing them epoch by epoch, as the
paper's literal difference does, injects that noise into every point. The offset is therefore
fitted with a smooth model before it is removed:

``"constant"``
    The dataset's reference is stable relative to the GNSS: only the GNSS origin is estimated,
    and with series that are zero at the first epoch the offset is zero throughout. Use it when
    the InSAR reference is known to be stable and only the GNSS datum label is wanted.
``"linear"`` (default)
    Constant plus rate, least squares over the epochs: the reference point drifts at a constant
    LOS rate. This is the time-series form of the paper's final step, which removes the mean
    difference of LOS *rates* between the product and the station.
``"lowpass"``
    Local linear regression over a running window of :data:`LOWPASS_WINDOW_EPOCHS` epochs (a
    first-order Savitzky-Golay filter that skips missing epochs; at the ends the window is
    shifted, not shortened, and stays unbiased for a trend). With 12-day epochs the 11-epoch
    window spans about four months: it follows a seasonal motion of the reference while
    averaging weekly GNSS noise. On the synthetic case of ``tests/test_datum.py`` (weekly GNSS,
    sigma 1.5/1.5/4 mm, reference drifting 5 mm/yr plus a 3 mm annual term) 11 epochs gave a
    lower error than 5, 7, 9 or 15; 5 epochs removed only a third of the noise.
``"raw"``
    The paper's per-epoch offsets, gaps bridged by linear interpolation (held constant before
    the first and after the last epoch with GNSS).

Several reference stations
--------------------------
:func:`offset_plane` goes beyond the paper: per epoch it fits a plane ``a + b (x - x0) +
c (y - y0)`` through the raw offsets at the stations (least squares, ``x0``/``y0`` their mean
position), smooths each coefficient series with the chosen model and evaluates the plane at every
point. With two stations only the constant and the tilt along their baseline are determined; the
tilt across the baseline is taken as zero, and this is warned about. The fit itself is
:func:`plane_coefficients` (on raw offsets already measured) and :func:`evaluate_plane`; the
leave-one-station-out validation (:func:`insarfusion.validate.leave_one_station_out`) ties
each finished product through all stations but one with them, from the mean series near each
station (:func:`area_means`).

Reference stations (``gnss.reference`` and ``gnss.final_reference``) are never used to validate
(:func:`validation_stations`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import cubes
from .conventions import as_days, decimal_years, geometry_from_los_vector, los_unit_vector
from .dataset import to_crs
from .errors import InputError, StageError
from .log import logger
from .series import linear_rate

#: Names of the offset models (see the module docstring).
OFFSET_MODELS = ("constant", "linear", "lowpass", "raw")

#: Length in epochs of the running window of the ``"lowpass"`` model.
LOWPASS_WINDOW_EPOCHS = 11


# --------------------------------------------------------------------------- GNSS on the LOS

def _station_index(gnss: xr.Dataset, station) -> int:
    names = np.asarray(gnss["station"].values).astype(str)
    hits = np.flatnonzero(names == str(station))
    if hits.size == 0:
        raise InputError(f"GNSS station {str(station)!r} not found; the stations are "
                         f"{', '.join(names)}", gnss.attrs.get("source") or None)
    return int(hits[0])


def _station_los_series(gnss: xr.Dataset, station, los_east, los_north, los_up) -> np.ndarray:
    """LOS series (mm) of a station along a given (possibly averaged) ground-to-satellite vector."""
    i = _station_index(gnss, station)
    return (gnss["east"].values[i] * los_east + gnss["north"].values[i] * los_north
            + gnss["up"].values[i] * los_up)


def gnss_los(gnss: xr.Dataset, station, incidence, heading) -> xr.DataArray:
    """LOS displacement of a GNSS station on its own dates (paper eq. 2).

    ``d_LOS = d_up cos(theta) + d_north sin(theta) sin(alpha) - d_east sin(theta) cos(alpha)``.

    Parameters
    ----------
    gnss : xarray.Dataset
        GNSS dataset (east/north/up in mm, see :func:`insarfusion.dataset.gnss_dataset`).
    station : str
        Station name.
    incidence, heading : float
        LOS geometry at the station, degrees (see :mod:`insarfusion.conventions`).

    Returns
    -------
    xarray.DataArray
        Over ``time`` (the GNSS dates), mm, positive toward the satellite, relative to the
        station's own origin; NaN where a component is missing.

    Raises
    ------
    InputError
        If the station is not in ``gnss``.
    """
    los = _station_los_series(gnss, station, *los_unit_vector(incidence, heading))
    return xr.DataArray(los, dims="time", coords={"time": gnss["time"].values}, name="los",
                        attrs={"units": "mm", "station": str(station),
                               "incidence": float(incidence), "heading": float(heading),
                               "long_name": "GNSS displacement along the LOS, positive toward "
                                            "the satellite"})


def _default_half_window(epochs_days: np.ndarray) -> float:
    return float(np.median(np.diff(epochs_days))) / 2.0 if epochs_days.size > 1 else 0.0


def gnss_on_epochs(values, gnss_time, epochs, half_window_days=None) -> np.ndarray:
    """Average GNSS values onto epochs.

    Each epoch gets the mean of the finite values dated within ``+-half_window_days`` of it
    (both ends included).

    Parameters
    ----------
    values : array_like, shape (..., n_gnss_time)
        GNSS series (mm), NaN where missing.
    gnss_time : array_like of dates, shape (n_gnss_time,)
    epochs : array_like of dates, shape (n_epoch,)
    half_window_days : float, optional
        Half width of the window, days; default half the median epoch spacing.

    Returns
    -------
    numpy.ndarray, shape (..., n_epoch)
        Window means (mm); NaN where no value falls in the window.
    """
    t = as_days(gnss_time).astype("int64")
    ep = as_days(epochs).astype("int64")
    hw = _default_half_window(ep) if half_window_days is None else float(half_window_days)
    v = np.asarray(values, dtype=float)
    order = np.argsort(t, kind="stable")
    t = t[order]
    v = v[..., order]
    finite = np.isfinite(v)
    zero = np.zeros(v.shape[:-1] + (1,))
    value_sum = np.concatenate([zero, np.cumsum(np.where(finite, v, 0.0), axis=-1)], axis=-1)
    count = np.concatenate([zero, np.cumsum(finite, axis=-1)], axis=-1)
    lo = np.searchsorted(t, ep - hw, side="left")
    hi = np.searchsorted(t, ep + hw, side="right")
    n = count[..., hi] - count[..., lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (value_sum[..., hi] - value_sum[..., lo]) / n
    return np.where(n > 0, mean, np.nan)


# --------------------------------------------------------------------------- offset models

def _check_model(model: str) -> None:
    if model not in OFFSET_MODELS:
        raise InputError(f"unknown GNSS offset model {model!r}; expected one of "
                         f"{', '.join(OFFSET_MODELS)}")


def _fill_gaps(tau: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN along the last axis (constant beyond the ends)."""
    flat = values.reshape(-1, values.shape[-1]).copy()
    for row in flat:  # a handful of series (one per station or plane coefficient)
        ok = np.isfinite(row)
        if ok.any() and not ok.all():
            row[~ok] = np.interp(tau[~ok], tau[ok], row[ok])
    return flat.reshape(values.shape)


def _window_sums(a: np.ndarray, window: int) -> np.ndarray:
    """Sums of ``a`` over a running window of ``window`` samples along the last axis.

    The window is centred where it fits and shifted (not shortened) at the ends, as
    Savitzky-Golay filters do, so the first and last values rest on as many samples as the
    others.
    """
    n = a.shape[-1]
    window = min(int(window), n)
    csum = np.concatenate([np.zeros(a.shape[:-1] + (1,)), np.cumsum(a, axis=-1)], axis=-1)
    lo = np.clip(np.arange(n) - window // 2, 0, n - window)
    return csum[..., lo + window] - csum[..., lo]


def fit_offset_model(epochs, values, model: str = "linear",
                     window: int = LOWPASS_WINDOW_EPOCHS) -> np.ndarray:
    """Fit one of :data:`OFFSET_MODELS` to offset series.

    Parameters
    ----------
    epochs : array_like of dates, shape (n_epoch,)
    values : array_like, shape (..., n_epoch)
        Raw offsets (mm), NaN where unknown.
    model : {"constant", "linear", "lowpass", "raw"}
        See the module docstring.
    window : int
        Running-window length in epochs for ``"lowpass"``.

    Returns
    -------
    numpy.ndarray, shape (..., n_epoch)
        The fitted series (mm), defined at every epoch where the series has any finite value.
    """
    _check_model(model)
    tau = decimal_years(epochs)
    v = np.asarray(values, dtype=float)
    w = np.isfinite(v)
    n = w.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(w, v, 0.0).sum(-1, keepdims=True) / n
    if model == "constant":
        return np.broadcast_to(level, v.shape).copy()
    if model == "raw":
        return _fill_gaps(tau, v)
    # centring on the mean level keeps the sums small when the GNSS origin is far from zero
    vc = np.where(w, v - level, 0.0)
    wf = w.astype(float)
    if model == "linear":
        s0, s1, s2 = n[..., 0], (wf * tau).sum(-1), (wf * tau**2).sum(-1)
        t0, t1 = vc.sum(-1), (vc * tau).sum(-1)
        sums = [x[..., None] for x in (s0, s1, s2, t0, t1)]
    else:
        sums = [_window_sums(x, max(int(window), 2)) for x in (wf, wf * tau, wf * tau**2, vc,
                                                                vc * tau)]
    s0, s1, s2, t0, t1 = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        tbar = s1 / s0
        vbar = t0 / s0
        var = s2 / s0 - tbar**2
        slope = np.where(var > 1e-12, (t1 / s0 - tbar * vbar) / var, 0.0)
        fitted = vbar + slope * (tau - tbar) + level
    if model == "lowpass":
        fitted = _fill_gaps(tau, np.where(s0 > 0, fitted, np.nan))
    return np.broadcast_to(fitted, v.shape).copy()


def _pinned(epochs, raw, model) -> tuple[np.ndarray, np.ndarray]:
    """(offset zero at the first epoch, fitted offset before pinning)."""
    fitted = fit_offset_model(epochs, raw, model)
    return fitted - fitted[..., :1], fitted


# --------------------------------------------------------------------------- raw offsets

def _gnss_in_crs(gnss: xr.Dataset, crs) -> xr.Dataset:
    if crs and gnss.attrs.get("crs") and gnss.attrs["crs"] != crs:
        return to_crs(gnss, crs)
    return gnss


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


def _area_raw_offset(area_series, incidence, heading, gnss, station, epochs, what):
    """Raw offset ``mean InSAR LOS - GNSS LOS`` on the epochs and the geometry used.

    The GNSS is projected on the mean of the LOS unit vectors of the points used, which equals
    the mean of its projections on each of them.
    """
    vec = [c.mean() for c in los_unit_vector(incidence, heading)]
    g = _station_los_series(gnss, station, *vec)
    g_epochs = gnss_on_epochs(g, gnss["time"].values, epochs)
    n_gnss = int(np.isfinite(g_epochs).sum())
    if n_gnss == 0:
        span = as_days(gnss["time"].values[np.isfinite(g)]) if np.isfinite(g).any() else None
        have = f"{span[0]}..{span[-1]}" if span is not None else "none"
        raise StageError(f"GNSS station {station} has no position near any epoch "
                         f"{epochs[0]}..{epochs[-1]} (its positions: {have})")
    area_mean = _nanmean_rows(area_series)
    if np.isfinite(area_mean[0]) and abs(area_mean[0]) > 0.01:
        logger.warning("%s near GNSS station %s: series are %.2f mm at the first epoch, not zero; "
                       "the referenced series keep that level", what, station, area_mean[0])
    raw = area_mean - g_epochs
    n_raw = int(np.isfinite(raw).sum())
    if n_raw < 2:
        raise StageError(f"GNSS station {station}: only {n_raw} epoch(s) with both GNSS and "
                         f"{what} data; at least 2 are needed for the datum")
    if n_raw < raw.size:
        logger.info("GNSS station %s: offsets on %d of %d epochs, the others bridged by the "
                    "offset model", station, n_raw, raw.size)
    inc, head = geometry_from_los_vector(*vec)
    return raw, {"incidence": float(inc), "heading": float(head), "n_gnss_epochs": n_gnss}


def _point_raw_offset(ds: xr.Dataset, gnss: xr.Dataset, station, radius_m, k_fallback):
    """Raw offset series at one station from a point dataset, with what was used."""
    label = str(ds.attrs.get("name") or "dataset")
    i = _station_index(gnss, station)
    sx, sy = float(gnss["x"].values[i]), float(gnss["y"].values[i])
    distance = np.hypot(ds["x"].values - sx, ds["y"].values - sy)
    used = _nearby(distance, radius_m, k_fallback, station, f"points of {label}")
    incidence = ds["incidence"].values[used]
    heading = ds["heading"].values[used]
    if not (np.isfinite(incidence) & np.isfinite(heading)).all():
        raise InputError(f"dataset {label!r}: points near GNSS station {station} have no "
                         "incidence/heading; project the dataset onto the primary LOS first",
                         ds.attrs.get("source") or None)
    epochs = as_days(ds["time"].values)
    raw, info = _area_raw_offset(ds["displacement"].values[used], incidence, heading, gnss,
                                 station, epochs, f"points of {label}")
    info.update({"station": str(station), "n_points": int(used.size),
                 "max_distance_m": float(distance[used].max()), "x": sx, "y": sy})
    return raw, info


def _offset_attrs(info: dict, model: str, radius_m: float, raw, fitted) -> dict:
    resid = raw - fitted
    ok = np.isfinite(resid)
    attrs = {"units": "mm", "long_name": "offset of the dataset's reference from the GNSS datum",
             "model": model, "radius_m": float(radius_m), **info}
    attrs["residual_rms_mm"] = float(np.sqrt(np.mean(resid[ok] ** 2))) if ok.any() else np.nan
    return attrs


def station_offset(ds: xr.Dataset, gnss: xr.Dataset, station, radius_m: float = 100.0,
                   k_fallback: int = 5, model: str = "linear") -> xr.DataArray:
    """Offset series of a point dataset's reference against one GNSS station.

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset on the common epochs, in its final LOS geometry, series zero at the
        first epoch (mm, positive toward the satellite).
    gnss : xarray.Dataset
        GNSS dataset; moved into the CRS of ``ds`` if it differs.
    station : str
        Reference station (on stable ground).
    radius_m : float
        Points within this distance (m) of the station are averaged.
    k_fallback : int
        If no point lies within ``radius_m``, the ``k_fallback`` nearest are used (warned, with
        their largest distance).
    model : {"constant", "linear", "lowpass", "raw"}
        Model fitted to the raw offsets (see the module docstring).

    Returns
    -------
    xarray.DataArray
        Over ``time`` (mm), zero at the first epoch: the amount to subtract from every point
        (:func:`apply_offset`). attrs: ``station``, ``n_points``, ``max_distance_m``,
        ``radius_m``, ``model``, ``incidence``/``heading`` of the GNSS projection,
        ``n_gnss_epochs``, ``residual_rms_mm`` (raw minus fitted), ``rate_mm_yr``.

    Raises
    ------
    InputError
        Unknown station, unknown model, or points without geometry.
    StageError
        The station has no GNSS position near the epochs (fewer than 2 usable epochs).
    """
    _check_model(model)
    gnss = _gnss_in_crs(gnss, ds.attrs.get("crs"))
    raw, info = _point_raw_offset(ds, gnss, station, radius_m, k_fallback)
    epochs = as_days(ds["time"].values)
    offset, fitted = _pinned(epochs, raw, model)
    attrs = _offset_attrs(info, model, radius_m, raw, fitted)
    attrs["rate_mm_yr"] = float(linear_rate(epochs, offset))
    logger.info("%s: datum offset at GNSS station %s from %d points (up to %.0f m away), "
                "model %s, rate %.2f mm/yr, raw-minus-model RMS %.2f mm",
                ds.attrs.get("name") or "dataset", station, info["n_points"],
                info["max_distance_m"], model, attrs["rate_mm_yr"], attrs["residual_rms_mm"])
    return xr.DataArray(offset, dims="time", coords={"time": ds["time"].values},
                        name="datum_offset", attrs=attrs)


# --------------------------------------------------------------------------- applying offsets

def apply_offset(obj, offset):
    """Subtract a datum offset from a point dataset or a grid cube.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Point dataset (its ``displacement`` changes, and ``velocity`` by the offset's
        least-squares rate) or cube ``(time, y, x)`` in mm.
    offset : xarray.DataArray
        Over ``time``, or ``(point, time)`` for a point dataset, mm; its epochs and points must
        be those of ``obj``.

    Returns
    -------
    Same type as ``obj``
        ``obj - offset``, attrs kept.

    Raises
    ------
    StageError
        If the epochs or points differ, or the offset has missing values.
    """
    if not isinstance(offset, xr.DataArray):
        arr = np.asarray(offset, dtype=float)
        dims = ("time",) if arr.ndim == 1 else ("point", "time")
        offset = xr.DataArray(arr, dims=dims)
    if not np.isfinite(offset.values).all():
        raise StageError("the datum offset has missing values; it cannot be applied")
    target = obj["displacement"] if isinstance(obj, xr.Dataset) else obj
    try:
        xr.align(target, offset, join="exact")
    except ValueError:
        raise StageError("the datum offset is not on the epochs/points of the data it is "
                         "applied to") from None
    for dim in offset.dims:
        if dim not in target.dims or target.sizes[dim] != offset.sizes[dim]:
            raise StageError(f"the datum offset's dimension {dim!r} does not match the data")
    offset = offset.drop_vars([c for c in offset.coords if c not in offset.dims])
    if isinstance(obj, xr.Dataset):
        out = obj.copy()
        out["displacement"] = (obj["displacement"] - offset).transpose(
            *obj["displacement"].dims)
        out["displacement"].attrs = dict(obj["displacement"].attrs)
        rate = linear_rate(obj["time"].values, offset.transpose(..., "time").values)
        out["velocity"] = obj["velocity"] - xr.DataArray(rate, dims=[d for d in offset.dims
                                                                     if d != "time"])
        out["velocity"].attrs = dict(obj["velocity"].attrs)
        return out
    out = (obj - offset).transpose(*obj.dims)
    out.attrs = dict(obj.attrs)
    out.name = obj.name
    return out


# --------------------------------------------------------------------------- several stations

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


def area_means(x, y, values, sx, sy, radius_m: float = 100.0, k_fallback: int = 5
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean series of the points (or grid cells) near each station, as the datum uses them.

    The candidates with any finite value within ``radius_m`` of a station are averaged (NaN
    ignored), else its ``k_fallback`` nearest, as in :func:`station_offset` and
    :func:`reference_grid`; nothing is logged (the caller reports the distances).

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Points or cell centres, metres.
    values : array_like, shape (n, n_epoch)
        Their series, mm.
    sx, sy : array_like, shape (n_station,)
        Station positions, metres.
    radius_m, k_fallback
        As in :func:`station_offset`.

    Returns
    -------
    means : numpy.ndarray, shape (n_station, n_epoch)
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
    """:func:`area_means` of the cells of a ``(time, y, x)`` cube, reading only the cells it
    averages (a Dask-backed cube is never loaded whole)."""
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


def reference_dataset(ds: xr.Dataset, gnss: xr.Dataset, stations, radius_m: float = 100.0,
                      model: str = "linear", k_fallback: int = 5) -> xr.Dataset:
    """Put a point dataset in the GNSS datum.

    One station: :func:`station_offset`; several: :func:`offset_plane`. The offset is removed
    with :func:`apply_offset`.

    Returns
    -------
    xarray.Dataset
        The referenced dataset with the removed offset as variable ``datum_offset`` (over
        ``time`` for one station, ``(point, time)`` for a plane; mm) and attrs ``datum``
        (``"GNSS"``), ``datum_stations``, ``datum_model``, ``datum_radius_m``.
    """
    names = [str(s) for s in ([stations] if isinstance(stations, str) else stations)]
    if not names:
        raise InputError("no reference GNSS station given")
    if len(names) == 1:
        offset = station_offset(ds, gnss, names[0], radius_m, k_fallback, model)
    else:
        offset = offset_plane(ds, gnss, names, radius_m, model, k_fallback)
    out = apply_offset(ds, offset)
    out["datum_offset"] = offset
    out.attrs.update({"datum": "GNSS", "datum_stations": ", ".join(names),
                      "datum_model": model, "datum_radius_m": float(radius_m)})
    return out


def reference_grid(cube: xr.DataArray, gnss: xr.Dataset, station, incidence, heading,
                   radius_m: float = 100.0, model: str = "linear",
                   k_fallback: int = 5) -> xr.DataArray:
    """Re-reference the fused cube to a GNSS station (paper §4.2.4).

    The mean series of the cells within ``radius_m`` of the station (cells with data only;
    else the ``k_fallback`` nearest, warned) minus the station's LOS series on the cube's
    epochs gives the raw offset; it is fitted with ``model``, zeroed at the first epoch and
    removed from every cell.

    Parameters
    ----------
    cube : xarray.DataArray
        ``(time, y, x)`` displacement, mm, ``x``/``y`` cell centres in metres (CRS in
        ``attrs["crs"]`` if the GNSS must be moved into it).
    gnss : xarray.Dataset
    station : str
        The final reference station.
    incidence, heading : float or array_like (y, x)
        LOS geometry of the product (the primary dataset), degrees.
    radius_m, model, k_fallback
        As in :func:`station_offset`.

    Returns
    -------
    xarray.DataArray
        The referenced cube, with the removed offset as coordinate ``datum_offset`` (time, mm)
        and attrs ``datum``, ``datum_stations``, ``datum_model``, ``datum_radius_m``.
    """
    _check_model(model)
    cube_t = cube.transpose("time", "y", "x")
    gnss = _gnss_in_crs(gnss, cube.attrs.get("crs"))
    i = _station_index(gnss, station)
    sx, sy = float(gnss["x"].values[i]), float(gnss["y"].values[i])
    iy, ix = np.nonzero(cubes.with_data(cube_t))
    if iy.size == 0:
        raise StageError("the cube has no data to reference")
    distance = np.hypot(cube_t["x"].values[ix] - sx, cube_t["y"].values[iy] - sy)
    used = _nearby(distance, radius_m, k_fallback, station, "grid cells")
    iy, ix = iy[used], ix[used]
    shape = (cube_t.sizes["y"], cube_t.sizes["x"])
    inc = np.broadcast_to(np.asarray(incidence, dtype=float), shape)[iy, ix]
    head = np.broadcast_to(np.asarray(heading, dtype=float), shape)[iy, ix]
    if not (np.isfinite(inc) & np.isfinite(head)).all():
        raise InputError("incidence/heading of the product missing near GNSS station "
                         f"{station}")
    epochs = as_days(cube_t["time"].values)
    raw, info = _area_raw_offset(cubes.cells(cube_t, iy, ix), inc, head, gnss, station, epochs,
                                 "grid cells")
    offset, fitted = _pinned(epochs, raw, model)
    attrs = _offset_attrs(info, model, radius_m, raw, fitted)
    attrs.update({"station": str(station), "n_cells": int(used.size),
                  "max_distance_m": float(distance[used].max())})
    offset_da = xr.DataArray(offset, dims="time", coords={"time": cube_t["time"].values},
                             attrs=attrs)
    out = apply_offset(cube, offset_da)
    out = out.assign_coords(datum_offset=("time", offset, attrs))
    out.attrs.update({"datum": "GNSS", "datum_stations": str(station), "datum_model": model,
                      "datum_radius_m": float(radius_m)})
    logger.info("fused product re-referenced to GNSS station %s from %d cells, model %s, "
                "rate %.2f mm/yr", station, used.size, model, float(linear_rate(epochs, offset)))
    return out


def validation_stations(gnss: xr.Dataset, reference, final_reference=None) -> list[str]:
    """GNSS stations left for validation: all but the reference ones.

    Parameters
    ----------
    gnss : xarray.Dataset
    reference : str or list of str
        Stations that tied the datasets to the datum.
    final_reference : str, optional
        Station that re-referenced the fused product.

    Returns
    -------
    list of str
        The other stations, in the order of ``gnss``.

    Raises
    ------
    InputError
        A reference station that is not in ``gnss``.
    """
    names = [str(s) for s in np.asarray(gnss["station"].values).astype(str)]
    excluded = [reference] if isinstance(reference, str) else list(reference or [])
    if final_reference:
        excluded.append(final_reference)
    unknown = [str(s) for s in excluded if str(s) not in names]
    if unknown:
        raise InputError(f"reference GNSS station(s) {', '.join(unknown)} not found; the "
                         f"stations are {', '.join(names)}", gnss.attrs.get("source") or None)
    excluded = {str(s) for s in excluded}
    return [n for n in names if n not in excluded]
