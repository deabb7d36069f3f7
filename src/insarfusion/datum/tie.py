"""The datum tie at one GNSS station: raw offsets, the fitted offset and its removal.

The mean LOS series of the InSAR points within ``radius_m`` of a station minus the station's
LOS series on the same epochs is the raw offset of the dataset's reference
(:func:`station_offset`); it is fitted with an offset model of
:mod:`insarfusion.datum.offsets`, pinned to zero at the first epoch and removed from every point
or cell (:func:`apply_offset`). Series are mm, positive toward the satellite.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import cubes
from ..conventions import as_days, geometry_from_los_vector, los_unit_vector
from ..dataset import to_crs
from ..errors import InputError, StageError
from ..log import logger
from ..series import linear_rate
from .areas import _nanmean_rows, _nearby
from .gnss import _station_index, _station_los_series, gnss_on_epochs
from .offsets import _check_model, _pinned


def _gnss_in_crs(gnss: xr.Dataset, crs) -> xr.Dataset:
    if crs and gnss.attrs.get("crs") and gnss.attrs["crs"] != crs:
        return to_crs(gnss, crs)
    return gnss


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


def _points_near(ds: xr.Dataset, gnss: xr.Dataset, station, radius_m, k_fallback):
    """The points of ``ds`` a tie at ``station`` uses: indices, their distances, the station.

    Returns ``(used, distance, (sx, sy), label)``; an error where they lack their geometry.
    """
    label = str(ds.attrs.get("name") or "dataset")
    i = _station_index(gnss, station)
    sx, sy = float(gnss["x"].values[i]), float(gnss["y"].values[i])
    distance = np.hypot(ds["x"].values - sx, ds["y"].values - sy)
    used = _nearby(distance, radius_m, k_fallback, station, f"points of {label}")
    if not (np.isfinite(ds["incidence"].values[used])
            & np.isfinite(ds["heading"].values[used])).all():
        raise InputError(f"dataset {label!r}: points near GNSS station {station} have no "
                         "incidence/heading; project the dataset onto the primary LOS first",
                         ds.attrs.get("source") or None)
    return used, distance[used], (sx, sy), label


def _point_raw_offset(ds: xr.Dataset, gnss: xr.Dataset, station, radius_m, k_fallback):
    """Raw offset series at one station from a point dataset, with what was used."""
    used, distance, (sx, sy), label = _points_near(ds, gnss, station, radius_m, k_fallback)
    epochs = as_days(ds["time"].values)
    raw, info = _area_raw_offset(ds["displacement"].values[used], ds["incidence"].values[used],
                                 ds["heading"].values[used], gnss, station, epochs,
                                 f"points of {label}")
    info.update({"station": str(station), "n_points": int(used.size),
                 "max_distance_m": float(distance.max()), "x": sx, "y": sy})
    return raw, info


def _cells_near(cube_t: xr.DataArray, gnss: xr.Dataset, station, radius_m, k_fallback):
    """The cells with data of a (time, y, x) cube a tie at ``station`` uses.

    Returns ``(iy, ix, distance, (sx, sy))``.
    """
    i = _station_index(gnss, station)
    sx, sy = float(gnss["x"].values[i]), float(gnss["y"].values[i])
    iy, ix = np.nonzero(cubes.with_data(cube_t))
    if iy.size == 0:
        raise StageError("the cube has no data to reference")
    distance = np.hypot(cube_t["x"].values[ix] - sx, cube_t["y"].values[iy] - sy)
    used = _nearby(distance, radius_m, k_fallback, station, "grid cells")
    return iy[used], ix[used], distance[used], (sx, sy)


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
        Model fitted to the raw offsets (see :mod:`insarfusion.datum.offsets`).

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
