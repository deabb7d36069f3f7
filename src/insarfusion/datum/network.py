"""The network GNSS datum: one tie through all reference stations at once, per epoch.

Beyond the paper's tie at one station (:func:`insarfusion.datum.station_offset`), a dataset's
reference is tied through every configured reference station together:

1. at each station, the raw offset ``mean InSAR LOS - GNSS LOS`` of the points within
   ``radius_m`` (as the one-station tie measures it), zeroed by its own fitted offset model at
   the first epoch;
2. its variance per epoch: the GNSS formal error projected on the LOS (the ``sigma_east`` /
   ``sigma_north`` / ``sigma_up`` of the files; 1 mm where a file gives none) plus the scatter
   of the InSAR points around their mean divided by their number — a station with many points
   near it counts more than one with three — times ``(d / radius_m)²`` where no point lies
   within ``radius_m`` and the nearest, up to ``d`` away, are used;
3. per epoch, a weighted least-squares fit of an offset (and, with ``plane`` and three or more
   stations not on a line, a plane ``a + b (x - x0) + c (y - y0)``, ``b``, ``c`` in mm/km);
4. robustly: while leaving the worst station out divides the fit's reduced chi-square by
   more than :data:`CHI2_RATIO` (and the others still over-determine the fit), that station's
   weight is cut to ``(MISFIT_LIMIT / misfit)**2``, its misfit measured against the fit of
   the others in their standard deviations; it is named in the log. Whole stations are judged,
   not single epochs: a station that moves, or whose antenna changed, is wrong on many epochs;
5. each coefficient series is smoothed with the chosen offset model and pinned to zero at the
   first epoch (:mod:`insarfusion.datum.offsets`), and evaluated at every point.

The tie's own uncertainty per epoch is the formal standard error of the offset ``a`` of the
per-epoch fit at the stations' centre, scaled by the square root of the fit's reduced
chi-square where the stations over-determine it (mm).

With one station the result is the one-station tie's (the paper's circle mean).

Public API: :func:`network_coefficients`, :func:`network_offset`,
:func:`network_reference_dataset`, :func:`network_reference_grid` (the fused cube) and
:func:`network_tie_all` (several datasets or cubes). Offsets mm, positions metres.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import cubes
from ..conventions import as_days, los_unit_vector
from ..errors import InputError, StageError
from ..log import logger
from .gnss import _station_index, gnss_on_epochs
from .offsets import _check_model, _pinned, fit_offset_model
from .plane import evaluate_plane
from .tie import _area_raw_offset, _cells_near, _gnss_in_crs, _points_near, apply_offset

#: Leaving the worst station out must divide the reduced chi-square by this for it to be judged
#: bad.
CHI2_RATIO = 3.0
#: A bad station keeps the weight ``(MISFIT_LIMIT / misfit)**2`` (its misfit in standard
#: deviations of the fit of the others).
MISFIT_LIMIT = 2.0
#: GNSS LOS formal error assumed where a file gives no sigmas, mm.
DEFAULT_GNSS_SIGMA_MM = 1.0
#: Smallest variance of a station's raw offset on an epoch, mm² (keeps weights finite).
_MIN_VARIANCE = 0.01


def _gnss_los_variance(gnss: xr.Dataset, station, vec, epochs) -> np.ndarray:
    """GNSS formal variance along the LOS vector ``vec`` on the epochs, mm² (window mean)."""
    i = _station_index(gnss, station)
    parts = []
    for comp, v in zip(("east", "north", "up"), vec, strict=True):
        key = f"sigma_{comp}"
        sig = gnss[key].values[i] if key in gnss else np.full(gnss.sizes["time"], np.nan)
        parts.append((np.asarray(sig, dtype=float) * v) ** 2)
    var = np.sum(parts, axis=0)
    var = np.where(np.isfinite(var) & (var > 0), var, DEFAULT_GNSS_SIGMA_MM**2)
    has = np.isfinite(gnss["up"].values[i])
    on_epochs = gnss_on_epochs(np.where(has, var, np.nan), gnss["time"].values, epochs)
    return np.where(np.isfinite(on_epochs), on_epochs, DEFAULT_GNSS_SIGMA_MM**2)


def _raw_and_variance(values, incidence, heading, gnss, station, epochs, what):
    """Raw offset (epoch) of the area ``values`` (n, epoch) near a station and its variance."""
    raw, info = _area_raw_offset(values, incidence, heading, gnss, station, epochs, what)
    n = np.isfinite(values).sum(axis=0)
    spread = np.full(raw.size, np.nan)
    if values.shape[0] > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.nanvar(np.where(n > 1, values, np.nan), axis=0, ddof=1)
    typical = np.nanmedian(spread) if np.isfinite(spread).any() else 1.0
    spread = np.where(np.isfinite(spread), spread, typical)
    vec = [c.mean() for c in los_unit_vector(incidence, heading)]
    var = _gnss_los_variance(gnss, station, vec, epochs) + spread / np.maximum(n, 1)
    return raw, np.maximum(var, _MIN_VARIANCE), info


def _station_raw(ds: xr.Dataset, gnss: xr.Dataset, station, radius_m, k_fallback):
    """Raw offset (epoch), its variance (epoch) and what was used, at one station."""
    used, distance, (sx, sy), label = _points_near(ds, gnss, station, radius_m, k_fallback)
    values = ds["displacement"].transpose("point", "time").values[used]
    raw, var, info = _raw_and_variance(values, ds["incidence"].values[used],
                                       ds["heading"].values[used], gnss, station,
                                       as_days(ds["time"].values), f"points of {label}")
    info.update({"station": str(station), "n_points": int(used.size), "x": sx, "y": sy})
    return raw, var * _distance_penalty(distance, radius_m), info


def _distance_penalty(distance, radius_m) -> float:
    """Variance factor of a station whose nearest points lie beyond the radius: (d / r)²."""
    return max(1.0, float(np.max(distance)) / float(radius_m)) ** 2


def _cell_raw(cube_t: xr.DataArray, inc_map, head_map, gnss, station, radius_m, k_fallback):
    """As :func:`_station_raw` from the cells with data of a (time, y, x) cube."""
    iy, ix, distance, (sx, sy) = _cells_near(cube_t, gnss, station, radius_m, k_fallback)
    raw, var, info = _raw_and_variance(cubes.cells(cube_t, iy, ix), inc_map[iy, ix],
                                       head_map[iy, ix], gnss, station,
                                       as_days(cube_t["time"].values), "grid cells")
    info.update({"station": str(station), "n_points": int(iy.size), "x": sx, "y": sy})
    return raw, var * _distance_penalty(distance, radius_m), info


def _design(sx, sy, plane: bool, names) -> tuple[np.ndarray, float, float]:
    """Design matrix (station, 1 or 3) of the per-epoch fit and the plane's origin."""
    x0, y0 = float(np.mean(sx)), float(np.mean(sy))
    dx, dy = (np.asarray(sx) - x0) / 1000.0, (np.asarray(sy) - y0) / 1000.0
    design = np.column_stack([np.ones(dx.size), dx, dy])
    if plane and dx.size >= 3:
        sing = np.linalg.svd(design, compute_uv=False)
        if sing[-1] > 1e-6 * sing[0]:
            return design, x0, y0
        logger.warning("GNSS reference stations %s lie on a line: offset only, no plane",
                       ", ".join(names))
    return design[:, :1], x0, y0


def _weighted_fit(design, raw, weights):
    """Per-epoch weighted least squares: coefficients (P, T) and covariances (T, P, P).

    Epochs with fewer weighted stations than coefficients get NaN.
    """
    finite = np.isfinite(raw) & (weights > 0)
    w = np.where(finite, weights, 0.0)
    normal = np.einsum("st,si,sj->tij", w, design, design)
    rhs = np.einsum("st,si,st->ti", w, design, np.where(finite, raw, 0.0))
    p = design.shape[1]
    solvable = finite.sum(axis=0) >= p
    sing = np.linalg.svd(normal, compute_uv=False)
    solvable &= sing[:, -1] > 1e-9 * np.maximum(sing[:, 0], 1e-300)
    cov = np.full(normal.shape, np.nan)
    cov[solvable] = np.linalg.inv(normal[solvable])
    coef = np.einsum("tij,tj->it", cov, rhs)
    return coef, cov


def _reduced_chi2(design, raw, var) -> tuple[float, np.ndarray]:
    """Reduced chi-square of the per-epoch fit and its coefficients (P, T)."""
    coef, _ = _weighted_fit(design, raw, 1.0 / var)
    resid = raw - design @ coef
    dof = (np.isfinite(resid).sum(axis=0) - design.shape[1]).clip(min=0).sum()
    chi2 = np.nansum(resid**2 / var)
    return (float(chi2 / dof) if dof > 0 else np.nan), coef


def _robust_factors(design, raw, var) -> np.ndarray:
    """Each station's robust factor in (0, 1].

    The worst stations, one at a time, are down-weighted while leaving one out divides the
    fit's reduced chi-square by more than :data:`CHI2_RATIO` (and enough stations remain to
    judge).
    """
    n_station, n_coef = design.shape
    factor = np.ones(n_station)
    active = np.ones(n_station, dtype=bool)
    while active.sum() - 1 > n_coef:
        q_all, _ = _reduced_chi2(design[active], raw[active], var[active])
        trials = {}
        for s in np.flatnonzero(active):
            keep = active.copy()
            keep[s] = False
            trials[s] = _reduced_chi2(design[keep], raw[keep], var[keep])
        worst = min(trials, key=lambda s: trials[s][0] if np.isfinite(trials[s][0]) else np.inf)
        q_rest, coef = trials[worst]
        if not (np.isfinite(q_all) and np.isfinite(q_rest)) or q_all <= CHI2_RATIO * max(q_rest,
                                                                                         1.0):
            break
        resid = raw[worst] - design[worst] @ coef
        misfit = np.sqrt(np.nanmean(resid**2 / var[worst]) / max(q_rest, 1.0))
        factor[worst] = min(1.0, (MISFIT_LIMIT / misfit) ** 2)
        active[worst] = False
    return factor


def _station_misfits(design, raw, var, coef) -> np.ndarray:
    """Each station's RMS residual to the final fit, in its standard deviations."""
    resid = raw - design @ coef
    ok = np.isfinite(resid).any(axis=1)
    out = np.full(raw.shape[0], np.nan)
    out[ok] = np.sqrt(np.nanmean(resid[ok] ** 2 / var[ok], axis=1))
    return out


def network_coefficients(epochs, raw, var, sx, sy, model: str = "linear", plane: bool = False,
                         names=None) -> dict:
    """The network tie's coefficients from raw offsets and their variances at the stations.

    Parameters
    ----------
    epochs : array_like of dates, shape (n_epoch,)
    raw : array_like, shape (n_station, n_epoch)
        Raw offsets ``mean InSAR - GNSS`` (mm), NaN where unknown.
    var : array_like, shape (n_station, n_epoch)
        Their variances, mm².
    sx, sy : array_like, shape (n_station,)
        Station positions, metres.
    model : {"constant", "linear", "lowpass", "raw"}
        Offset model smoothing each coefficient series.
    plane : bool
        Fit a plane where three or more stations not on a line allow it.
    names : list of str, optional
        Station names, for the messages.

    Returns
    -------
    dict
        ``coef`` (3, n_epoch): ``a`` (mm), ``b``, ``c`` (mm/km), smoothed, zero at the first
        epoch (``b = c = 0`` without plane); ``x0``, ``y0`` (m); ``sigma_mm`` (n_epoch): the
        per-epoch tie's standard error of ``a``; ``weights`` (n_station): each station's
        robust factor in (0, 1]; ``misfit`` (n_station): normalised deleted-residual RMS;
        ``down_weighted``: names of the stations with a factor below 0.5.
    """
    _check_model(model)
    epochs = as_days(epochs)
    raw = np.atleast_2d(np.asarray(raw, dtype=float))
    var = np.broadcast_to(np.asarray(var, dtype=float), raw.shape)
    names = [str(n) for n in (names if names is not None else range(raw.shape[0]))]
    raw = raw - fit_offset_model(epochs, raw, model)[..., :1]
    design, x0, y0 = _design(sx, sy, plane, names)
    factor = _robust_factors(design, raw, var)
    coef, cov = _weighted_fit(design, raw, factor[:, None] / var)
    misfit = _station_misfits(design, raw, var, coef)
    if not np.isfinite(coef[0]).any():
        raise StageError(f"GNSS stations {', '.join(names)}: no epoch with enough offsets for "
                         "the network tie")
    sigma = np.sqrt(cov[:, 0, 0])
    dof = np.isfinite(raw).sum(axis=0) - design.shape[1]
    if (dof > 0).any():
        resid = raw - design @ coef
        chi2 = np.nansum(factor[:, None] * resid**2 / var)
        reduced = chi2 / max(int(dof[dof > 0].sum()), 1)
        sigma = sigma * np.sqrt(max(reduced, 1.0))
    full = np.zeros((3, epochs.size))
    full[:design.shape[1]] = coef
    full[:, ~np.isfinite(coef[0])] = np.nan
    smooth, _ = _pinned(epochs, full, model)
    down = [n for n, f in zip(names, factor, strict=True) if f < 0.5]
    return {"coef": smooth, "x0": x0, "y0": y0, "sigma_mm": sigma, "weights": factor,
            "misfit": misfit, "down_weighted": down, "plane": design.shape[1] == 3}


def _fit_and_report(epochs, measured, names, model, plane, label):
    """The network fit of measured ``(raw, var, info)`` per station, logged and summarised."""
    raws, variances, infos = zip(*measured, strict=True)
    fit = network_coefficients(epochs, np.vstack(raws), np.vstack(variances),
                               [i["x"] for i in infos], [i["y"] for i in infos], model, plane,
                               names)
    summary = {
        "stations": {n: {"n_points": i["n_points"], "weight": round(float(w), 3),
                         "misfit": None if not np.isfinite(m) else round(float(m), 2)}
                     for n, i, w, m in zip(names, infos, fit["weights"], fit["misfit"],
                                           strict=True)},
        "down_weighted": fit["down_weighted"], "plane": fit["plane"], "model": model,
        "sigma_mm": [None if not np.isfinite(s) else round(float(s), 2)
                     for s in fit["sigma_mm"]],
        "sigma_mm_mean": round(float(np.nanmean(fit["sigma_mm"])), 2)}
    for name in fit["down_weighted"]:
        st = summary["stations"][name]
        logger.warning("%s: GNSS reference station %s down-weighted in the network tie "
                       "(weight %.2f; misfit %.1f times its expected error)", label, name,
                       st["weight"], st["misfit"])
    logger.info("%s: network datum through %d GNSS stations (%s), %s, model %s; tie "
                "uncertainty %.2f mm per epoch on average", label, len(names), ", ".join(names),
                "offset + plane" if fit["plane"] else "offset", model, summary["sigma_mm_mean"])
    return fit, summary


def network_offset(ds: xr.Dataset, gnss: xr.Dataset, stations, radius_m: float = 100.0,
                   model: str = "linear", plane: bool = False, k_fallback: int = 5):
    """Datum offset of a point dataset through all reference stations at once.

    Parameters
    ----------
    ds, gnss, radius_m, model, k_fallback
        As in :func:`insarfusion.datum.station_offset` (the dataset on the common epochs in
        its final LOS geometry; the GNSS moved into its CRS if need be).
    stations : str or list of str
        Reference stations.
    plane : bool
        Fit a plane where the stations allow it (see :func:`network_coefficients`).

    Returns
    -------
    offset : xarray.DataArray
        ``(point, time)``, mm, zero at the first epoch.
    summary : dict
        ``stations``, ``n_points`` and ``weight`` per station, ``down_weighted``, ``plane``,
        ``sigma_mm`` (per epoch) and ``sigma_mm_mean``.
    """
    _check_model(model)
    names = [str(s) for s in dict.fromkeys([stations] if isinstance(stations, str) else stations)]
    if not names:
        raise InputError("no reference GNSS station given")
    gnss = _gnss_in_crs(gnss, ds.attrs.get("crs"))
    measured = [_station_raw(ds, gnss, n, radius_m, k_fallback) for n in names]
    fit, summary = _fit_and_report(ds["time"].values, measured, names, model, plane,
                                   ds.attrs.get("name") or "dataset")
    offset = evaluate_plane(fit["coef"], fit["x0"], fit["y0"], ds["x"].values, ds["y"].values)
    attrs = {"units": "mm", "long_name": "offset of the dataset's reference from the GNSS datum",
             "model": model, "radius_m": float(radius_m), "stations": ", ".join(names),
             "tie": "network", "x0": fit["x0"], "y0": fit["y0"]}
    da = xr.DataArray(offset, dims=("point", "time"),
                      coords={"point": ds["point"].values, "time": ds["time"].values},
                      name="datum_offset", attrs=attrs)
    return da, summary


def network_reference_dataset(ds: xr.Dataset, gnss: xr.Dataset, stations,
                              radius_m: float = 100.0, model: str = "linear",
                              plane: bool = False, k_fallback: int = 5):
    """Put a point dataset in the GNSS datum through the network tie.

    Returns
    -------
    referenced : xarray.Dataset
        As :func:`insarfusion.datum.reference_dataset` returns it (``datum_offset`` (point,
        time), attrs ``datum``, ``datum_stations``, ``datum_model``, ``datum_radius_m``) with
        attr ``datum_tie`` = ``"network"``.
    summary : dict
        As :func:`network_offset` returns it.
    """
    offset, summary = network_offset(ds, gnss, stations, radius_m, model, plane, k_fallback)
    out = apply_offset(ds, offset)
    out["datum_offset"] = offset
    out.attrs.update({"datum": "GNSS", "datum_stations": offset.attrs["stations"],
                      "datum_model": model, "datum_radius_m": float(radius_m),
                      "datum_tie": "network"})
    return out, summary


def network_reference_grid(cube: xr.DataArray, gnss: xr.Dataset, stations, incidence, heading,
                           radius_m: float = 100.0, model: str = "linear", plane: bool = False,
                           k_fallback: int = 5):
    """Re-reference the fused cube through several GNSS stations at once (network tie).

    The cells with data within ``radius_m`` of each station (else its ``k_fallback`` nearest,
    warned) give its raw offset and variance, as the points do in :func:`network_offset`;
    the fitted offset (and plane) is removed from every cell.

    Parameters
    ----------
    cube : xarray.DataArray
        ``(time, y, x)`` displacement, mm, cell centres in metres.
    gnss : xarray.Dataset
    stations : list of str
        The stations that tie the product.
    incidence, heading : float or array_like (y, x)
        LOS geometry of the product, degrees.
    radius_m, model, plane, k_fallback
        As in :func:`network_offset`.

    Returns
    -------
    referenced : xarray.DataArray
        The cube less the offset, attrs ``datum``, ``datum_stations``, ``datum_model``,
        ``datum_radius_m``, ``datum_tie``.
    summary : dict
        As :func:`network_offset` returns it.
    """
    _check_model(model)
    names = [str(s) for s in dict.fromkeys([stations] if isinstance(stations, str) else stations)]
    if not names:
        raise InputError("no GNSS station given to re-reference the product")
    cube_t = cube.transpose("time", "y", "x")
    gnss = _gnss_in_crs(gnss, cube.attrs.get("crs"))
    shape = (cube_t.sizes["y"], cube_t.sizes["x"])
    inc = np.broadcast_to(np.asarray(incidence, dtype=float), shape)
    head = np.broadcast_to(np.asarray(heading, dtype=float), shape)
    measured = [_cell_raw(cube_t, inc, head, gnss, n, radius_m, k_fallback) for n in names]
    fit, summary = _fit_and_report(cube_t["time"].values, measured, names, model, plane,
                                   cube.name or "fused product")
    a, b, c = (xr.DataArray(row, dims="time", coords={"time": cube_t["time"].values})
               for row in fit["coef"])
    px = xr.DataArray((cube_t["x"].values - fit["x0"]) / 1000.0, dims="x",
                      coords={"x": cube_t["x"].values})
    py = xr.DataArray((cube_t["y"].values - fit["y0"]) / 1000.0, dims="y",
                      coords={"y": cube_t["y"].values})
    out = cube - a
    if fit["plane"]:
        out = out - b * px - c * py
    out = out.transpose(*cube.dims)
    out.attrs = {**cube.attrs, "datum": "GNSS", "datum_stations": ", ".join(names),
                 "datum_model": model, "datum_radius_m": float(radius_m), "datum_tie": "network"}
    out.name = cube.name
    return out, summary


def network_tie_all(items: dict, gnss: xr.Dataset, stations, radius_m: float = 100.0,
                    model: str = "linear", plane: bool = False, geometry=None):
    """The network tie of several point datasets, or of several fused cubes.

    Parameters
    ----------
    items : dict of str to xarray.Dataset or xarray.DataArray
        Point datasets (:func:`network_reference_dataset`) or, with ``geometry``, cubes
        ``(time, y, x)`` (:func:`network_reference_grid`).
    gnss, stations, radius_m, model, plane
        As in :func:`network_offset`.
    geometry : tuple of (incidence, heading), optional
        The products' LOS geometry, degrees; given for cubes.

    Returns
    -------
    tied : dict
        The same keys, each tied.
    summaries : dict
        Per key, the summary of :func:`network_offset`.
    """
    tied, summaries = {}, {}
    for name, item in items.items():
        if geometry is None:
            tied[name], summaries[name] = network_reference_dataset(
                item, gnss, stations, radius_m, model, plane)
        else:
            tied[name], summaries[name] = network_reference_grid(
                item, gnss, stations, *geometry, radius_m=radius_m, model=model, plane=plane)
    return tied, summaries
