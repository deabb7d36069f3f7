"""Put a point dataset or the fused cube in the GNSS datum (paper §4.2.2 and §4.2.4).

:func:`reference_dataset` ties a point dataset through one station (:func:`station_offset`)
or a plane through several (:func:`offset_plane`); :func:`reference_grid` re-references the
fused cube to the final station. Series are mm, positive toward the satellite.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import cubes
from ..conventions import as_days
from ..errors import InputError
from ..log import logger
from ..series import linear_rate
from .offsets import _check_model, _pinned
from .plane import offset_plane
from .tie import (
    _area_raw_offset,
    _cells_near,
    _gnss_in_crs,
    _offset_attrs,
    apply_offset,
    station_offset,
)


def reference_dataset(ds: xr.Dataset, gnss: xr.Dataset, stations, radius_m: float = 100.0,
                      model: str = "linear", k_fallback: int = 5) -> xr.Dataset:
    """Put a point dataset in the GNSS datum.

    One station: :func:`station_offset`; several: :func:`offset_plane`. The offset is removed
    with :func:`apply_offset`.

    Parameters
    ----------
    ds, gnss, radius_m, model, k_fallback
        As in :func:`station_offset`.
    stations : str or list of str
        Reference station(s), on stable ground.

    Returns
    -------
    xarray.Dataset
        The referenced dataset with the removed offset as variable ``datum_offset`` (over
        ``time`` for one station, ``(point, time)`` for a plane; mm) and attrs ``datum``
        (``"GNSS"``), ``datum_stations``, ``datum_model``, ``datum_radius_m``.

    Raises
    ------
    InputError
        No station given, or as in :func:`station_offset`.
    StageError
        As in :func:`station_offset` and :func:`offset_plane`.
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
    iy, ix, distance, _ = _cells_near(cube_t, gnss, station, radius_m, k_fallback)
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
    attrs.update({"station": str(station), "n_cells": int(iy.size),
                  "max_distance_m": float(distance.max())})
    offset_da = xr.DataArray(offset, dims="time", coords={"time": cube_t["time"].values},
                             attrs=attrs)
    out = apply_offset(cube, offset_da)
    out = out.assign_coords(datum_offset=("time", offset, attrs))
    out.attrs.update({"datum": "GNSS", "datum_stations": str(station), "datum_model": model,
                      "datum_radius_m": float(radius_m)})
    logger.info("fused product re-referenced to GNSS station %s from %d cells, model %s, "
                "rate %.2f mm/yr", station, iy.size, model, float(linear_rate(epochs, offset)))
    return out
