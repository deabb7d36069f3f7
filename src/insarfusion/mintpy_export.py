"""The fused product in MintPy's HDF5 layout, and a reader of MintPy's ``velocity.h5``.

MintPy (Yunjun et al. 2019) keeps every dataset and attribute at the root of its HDF5 files;
attributes are ROI_PAC-style text. What is written here, so that MintPy's ``view.py``,
``tsview.py`` and ``info.py`` open the fused product:

* ``timeseries.h5``: ``timeseries`` (date, y, x) float32 cumulative LOS displacement in
  **metres**, positive toward the satellite (MintPy's sign, the package's too), zero at
  ``REF_DATE``; ``date`` (bytes ``YYYYMMDD``); ``bperp`` (float32, metres; zeros, a fused
  product has no single perpendicular baseline). ``FILE_TYPE = timeseries``, ``UNIT = m``.
* ``velocity.h5``: ``velocity`` (y, x) float32 in m/year and ``velocityStd`` where a std is
  given; ``FILE_TYPE = velocity``, ``UNIT = m/year``, ``START_DATE``, ``END_DATE``,
  ``DATE12 = START_END``.
* ``geometryGeo.h5``: ``incidenceAngle`` and ``azimuthAngle`` (degrees; MintPy's azimuth of the
  ground-to-satellite vector, anti-clockwise from north, ``-(heading - 90)``, see
  :mod:`insarfusion.conventions`), ``height`` (m) when known, ``latitude``/``longitude`` of the
  cell centres; ``FILE_TYPE = geometry``.

Every file carries the geocoded-grid attributes: ``LENGTH``, ``WIDTH``, ``X_FIRST``/``Y_FIRST``
(the outer, upper-left corner of the first pixel, as MintPy defines them), ``X_STEP``,
``Y_STEP`` (negative), ``X_UNIT = Y_UNIT = meters``, ``EPSG`` and, for a UTM CRS,
``UTM_ZONE`` (e.g. ``17S``); and where known ``REF_DATE``, ``REF_Y``/``REF_X`` (row and column
of the reference cell), ``REF_LAT``/``REF_LON`` (its centre in the grid's CRS, as MintPy
writes them for a geocoded file; ``REF_STATION`` names the station), ``WAVELENGTH`` (m),
``ORBIT_DIRECTION``
(``ASCENDING``/``DESCENDING``) and ``HEADING`` (degrees, clockwise from north). Dataset-level
``UNIT`` attributes name each dataset's unit.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from .conventions import as_days, azimuth_angle_from_heading
from .crs import lonlat_to_xy, parse_crs, xy_to_lonlat
from .errors import InputError
from .io.mintpy import hdf5_attrs

#: Metres per millimetre.
M_PER_MM = 1e-3

#: File names MintPy's tools look for.
TIMESERIES_FILE = "timeseries.h5"
VELOCITY_FILE = "velocity.h5"
GEOMETRY_FILE = "geometryGeo.h5"

#: Velocity units MintPy writes and their factor to mm/yr.
_VELOCITY_UNITS = {"m/year": 1000.0, "m/yr": 1000.0, "m": 1000.0, "cm/year": 10.0,
                   "cm/yr": 10.0, "mm/year": 1.0, "mm/yr": 1.0, "mm": 1.0}


def _text(value) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def grid_attributes(x, y, crs) -> dict:
    """MintPy's geocoded-grid attributes of a north-up grid of cell centres.

    Parameters
    ----------
    x, y : array_like
        Cell-centre coordinates (``x`` ascending, ``y`` descending), metres in ``crs``.
    crs : str or pyproj.CRS
        Projected CRS of the grid.

    Returns
    -------
    dict
        ``LENGTH``, ``WIDTH``, ``X_FIRST``, ``Y_FIRST`` (upper-left corner of the first
        pixel), ``X_STEP``, ``Y_STEP``, ``X_UNIT``, ``Y_UNIT``, ``EPSG`` and, for UTM,
        ``UTM_ZONE``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 2 or y.size < 2:
        raise InputError("a MintPy grid needs at least 2 x 2 cells")
    # steps from the whole span, rounded to a micrometre: no float noise in the attributes
    dx = round(float(x[-1] - x[0]) / (x.size - 1), 6)
    dy = round(float(y[-1] - y[0]) / (y.size - 1), 6)
    if not (dx > 0 and dy < 0):
        raise InputError("grid must be north up (x ascending, y descending)")
    crs = parse_crs(crs)
    attrs = {"LENGTH": y.size, "WIDTH": x.size, "X_FIRST": round(float(x[0] - dx / 2), 6),
             "Y_FIRST": round(float(y[0] - dy / 2), 6), "X_STEP": dx, "Y_STEP": dy,
             "X_UNIT": "meters", "Y_UNIT": "meters"}
    epsg = crs.to_epsg()
    if epsg:
        attrs["EPSG"] = epsg
    if crs.utm_zone:
        attrs["UTM_ZONE"] = crs.utm_zone
    return attrs


def _reference_attrs(reference, x, y, crs) -> dict:
    """``REF_Y``/``REF_X``/``REF_LAT``/``REF_LON`` of a reference place.

    ``reference`` is a dict with ``lon``/``lat`` or ``x``/``y`` (and optionally ``name``).
    As MintPy does for a geocoded file, ``REF_LAT``/``REF_LON`` are the coordinates of the
    reference cell's centre in the grid's own CRS (northing/easting for a UTM grid); nothing
    is recorded when the place lies off the grid.
    """
    if not reference:
        return {}
    if "x" in reference and "y" in reference:
        rx, ry = float(reference["x"]), float(reference["y"])
    elif "lon" in reference and "lat" in reference:
        px, py = lonlat_to_xy([float(reference["lon"])], [float(reference["lat"])], crs)
        rx, ry = float(px[0]), float(py[0])
    else:
        raise InputError("reference needs lon/lat or x/y")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    col = int(np.floor((rx - (x[0] - (x[1] - x[0]) / 2)) / (x[1] - x[0])))
    row = int(np.floor((ry - (y[0] - (y[1] - y[0]) / 2)) / (y[1] - y[0])))
    out = {"REF_STATION": str(reference["name"])} if reference.get("name") else {}
    if 0 <= row < y.size and 0 <= col < x.size:
        out.update(REF_Y=row, REF_X=col, REF_LAT=float(y[row]), REF_LON=float(x[col]))
    return out


def _orbit_attrs(wavelength_m=None, orbit_direction=None, heading=None) -> dict:
    out = {}
    if wavelength_m is not None and np.isfinite(wavelength_m):
        out["WAVELENGTH"] = float(wavelength_m)
    if heading is not None and np.isfinite(heading):
        out["HEADING"] = float(heading)
        if orbit_direction is None:
            ascending = abs(float(heading) % 360 - 180) > 90
            orbit_direction = "ascending" if ascending else "descending"
    if orbit_direction:
        out["ORBIT_DIRECTION"] = str(orbit_direction).upper()
    return out


def _write(path, datasets: dict, attrs: dict, units: dict) -> Path:
    """Write root-level datasets and text attributes atomically."""
    from .products.output import atomic_file as _atomic_file

    with _atomic_file(path) as tmp, h5py.File(tmp, "w") as f:
        for name, data in datasets.items():
            data = np.asarray(data)
            kwargs = {"compression": "gzip", "compression_opts": 4} if data.ndim >= 2 else {}
            if data.ndim == 3:
                kwargs["chunks"] = (1, data.shape[1], data.shape[2])
            f.create_dataset(name, data=data, **kwargs)
            if units.get(name):
                f[name].attrs["UNIT"] = units[name]
        for key, value in attrs.items():
            if value is not None:
                f.attrs[key] = _text(value)
    return Path(path)


def _map(values, name) -> np.ndarray:
    if isinstance(values, xr.DataArray):
        if set(values.dims) != {"y", "x"}:
            raise InputError(f"{name} has dims {values.dims}, expected (y, x)")
        values = values.transpose("y", "x").values
    return np.asarray(values, dtype=float)


def _yyyymmdd(date) -> str:
    return pd.Timestamp(date).strftime("%Y%m%d")


def write_timeseries_h5(path, cube, crs, *, ref_date=None, reference=None, wavelength_m=None,
                        orbit_direction=None, heading=None, attrs=None) -> Path:
    """Write a displacement cube as MintPy's ``timeseries.h5``.

    Parameters
    ----------
    path : path-like
        Output file.
    cube : xarray.DataArray, dims (time, y, x)
        Cumulative LOS displacement, mm, positive toward the satellite, on a north-up grid.
    crs : str or pyproj.CRS
        The grid's projected CRS.
    ref_date : date, optional
        Reference date (default the first epoch); the series is shifted to be zero there
        (MintPy's convention), and ``REF_DATE`` records it.
    reference : dict, optional
        Reference place, ``{"lon", "lat"}`` or ``{"x", "y"}`` and optionally ``"name"`` (the
        reference station); recorded as ``REF_Y``/``REF_X``/``REF_LAT``/``REF_LON``.
    wavelength_m : float, optional
        Radar wavelength of the primary dataset, metres.
    orbit_direction : str, optional
        ``ascending`` or ``descending`` (told from ``heading`` when not given).
    heading : float, optional
        Mean heading of the primary dataset, degrees clockwise from north.
    attrs : dict, optional
        More root attributes (written as text).

    Returns
    -------
    pathlib.Path
    """
    from .products.metadata import as_cube as _as_cube

    cube = _as_cube(cube)
    days = as_days(cube["time"].values)
    ref = as_days([ref_date])[0] if ref_date is not None else days[0]
    if ref not in days:
        raise InputError(f"reference date {ref} is not an epoch of the product")
    values = np.asarray(cube.values, dtype=float)
    values = (values - values[int(np.flatnonzero(days == ref)[0])][None]) * M_PER_MM
    dates = np.array([_yyyymmdd(d) for d in days], dtype="S8")
    meta = {**grid_attributes(cube["x"].values, cube["y"].values, crs),
            "FILE_TYPE": "timeseries", "UNIT": "m", "DATA_TYPE": "float32",
            "REF_DATE": _yyyymmdd(ref), "START_DATE": dates[0].decode(),
            "END_DATE": dates[-1].decode(),
            **_reference_attrs(reference, cube["x"].values, cube["y"].values, crs),
            **_orbit_attrs(wavelength_m, orbit_direction, heading), **(attrs or {})}
    return _write(path, {"timeseries": values.astype("float32"), "date": dates,
                         "bperp": np.zeros(days.size, dtype="float32")},
                  meta, {"timeseries": "m", "bperp": "m"})


def write_velocity_h5(path, velocity, grid, crs, *, std=None, start_date, end_date,
                      ref_date=None, reference=None, wavelength_m=None, orbit_direction=None,
                      heading=None, attrs=None) -> Path:
    """Write a velocity map (and its std) as MintPy's ``velocity.h5``.

    Parameters
    ----------
    path : path-like
        Output file.
    velocity : array_like or xarray.DataArray, (y, x)
        Mean LOS velocity, mm/yr (written in m/year).
    grid : xarray.Dataset
        The run's grid (``x``, ``y`` cell centres).
    crs : str or pyproj.CRS
        The grid's projected CRS.
    std : array_like or xarray.DataArray, optional
        Standard deviation of the velocity, mm/yr; written as ``velocityStd``.
    start_date, end_date : date
        Span of the series the velocity was fitted on.
    ref_date, reference, wavelength_m, orbit_direction, heading, attrs
        As for :func:`write_timeseries_h5`.

    Returns
    -------
    pathlib.Path
    """
    shape = (grid.sizes["y"], grid.sizes["x"])
    data = {"velocity": _map(velocity, "velocity")}
    if std is not None:
        data["velocityStd"] = _map(std, "velocity std")
    for name, values in data.items():
        if values.shape != shape:
            raise InputError(f"{name} has shape {values.shape}, the grid {shape}")
        data[name] = (values * M_PER_MM).astype("float32")
    start, end = _yyyymmdd(start_date), _yyyymmdd(end_date)
    x, y = grid["x"].values, grid["y"].values
    meta = {**grid_attributes(x, y, crs), "FILE_TYPE": "velocity", "UNIT": "m/year",
            "DATA_TYPE": "float32", "START_DATE": start, "END_DATE": end,
            "DATE12": f"{start}_{end}",
            "REF_DATE": _yyyymmdd(ref_date) if ref_date is not None else start,
            **_reference_attrs(reference, x, y, crs),
            **_orbit_attrs(wavelength_m, orbit_direction, heading), **(attrs or {})}
    return _write(path, data, meta, dict.fromkeys(data, "m/year"))


def write_geometry_h5(path, geometry, crs, *, height=None, lonlat=True, attrs=None) -> Path:
    """Write per-cell geometry as MintPy's ``geometryGeo.h5``.

    Parameters
    ----------
    path : path-like
        Output file.
    geometry : xarray.Dataset
        From :func:`insarfusion.gridinfo.geometry_rasters` (``incidence``, ``heading`` in
        degrees, dims (y, x)).
    crs : str or pyproj.CRS
        The grid's projected CRS.
    height : array_like or xarray.DataArray, optional
        Terrain height per cell, metres.
    lonlat : bool
        Also write ``latitude`` and ``longitude`` of the cell centres (degrees).
    attrs : dict, optional
        More root attributes.

    Returns
    -------
    pathlib.Path
    """
    x, y = geometry["x"].values, geometry["y"].values
    shape = (y.size, x.size)
    data = {"incidenceAngle": _map(geometry["incidence"], "incidence"),
            "azimuthAngle": azimuth_angle_from_heading(_map(geometry["heading"], "heading"))}
    units = {"incidenceAngle": "degree", "azimuthAngle": "degree"}
    if height is not None:
        data["height"] = _map(height, "height")
        units["height"] = "m"
    if lonlat:
        xx, yy = np.meshgrid(x, y)
        lon, lat = xy_to_lonlat(xx.ravel(), yy.ravel(), crs)
        data["latitude"], data["longitude"] = lat.reshape(shape), lon.reshape(shape)
        units.update(latitude="degree", longitude="degree")
    for name, values in data.items():
        if values.shape != shape:
            raise InputError(f"{name} has shape {values.shape}, the grid {shape}")
        data[name] = np.asarray(values, dtype="float32")
    heading = _map(geometry["heading"], "heading")
    mean_heading = float(np.degrees(np.arctan2(np.nanmean(np.sin(np.radians(heading))),
                                               np.nanmean(np.cos(np.radians(heading))))))
    meta = {**grid_attributes(x, y, crs), "FILE_TYPE": "geometry", "DATA_TYPE": "float32",
            "HEADING": mean_heading,
            "CENTER_INCIDENCE_ANGLE": float(data["incidenceAngle"][shape[0] // 2,
                                                                   shape[1] // 2]),
            **(attrs or {})}
    return _write(path, data, meta, units)


def write_mintpy(out_dir, cube, grid, crs, *, velocity=None, velocity_std=None, geometry=None,
                 height=None, ref_date=None, reference=None, wavelength_m=None,
                 orbit_direction=None, heading=None, attrs=None) -> dict:
    """Write ``timeseries.h5``, ``velocity.h5`` and ``geometryGeo.h5`` into a folder.

    Parameters
    ----------
    out_dir : path-like
        Output folder (e.g. ``OUT/mintpy``).
    cube : xarray.DataArray, dims (time, y, x)
        The fused displacement, mm.
    grid : xarray.Dataset
        The run's grid.
    crs : str or pyproj.CRS
        Working CRS.
    velocity, velocity_std : xarray.DataArray, optional
        Velocity map and its std, mm/yr; default the slope of ``cube`` and no std.
    geometry : xarray.Dataset, optional
        :func:`insarfusion.gridinfo.geometry_rasters`; without it no geometry file is
        written.
    height : array_like, optional
        Terrain height per cell, metres.
    ref_date, reference, wavelength_m, orbit_direction, heading, attrs
        As for :func:`write_timeseries_h5`.

    Returns
    -------
    dict
        ``{"timeseries": path, "velocity": path, "geometry": path}`` of the files written.
    """
    from .products import velocity_map

    out = Path(out_dir)
    common = {"ref_date": ref_date, "reference": reference, "wavelength_m": wavelength_m,
              "orbit_direction": orbit_direction, "heading": heading, "attrs": attrs}
    files = {"timeseries": write_timeseries_h5(out / TIMESERIES_FILE, cube, crs, **common)}
    if velocity is None:
        velocity = velocity_map(cube)
    files["velocity"] = write_velocity_h5(
        out / VELOCITY_FILE, velocity, grid, crs, std=velocity_std,
        start_date=cube["time"].values[0], end_date=cube["time"].values[-1], **common)
    if geometry is not None:
        files["geometry"] = write_geometry_h5(out / GEOMETRY_FILE, geometry, crs, height=height,
                                              attrs=attrs)
    return files


def _coordinates(attrs: dict, shape, label):
    """(y, x) coordinates and CRS text of a MintPy grid, or row/column numbers."""
    length, width = shape
    if "X_FIRST" not in attrs or "Y_FIRST" not in attrs:
        return np.arange(length, dtype=float), np.arange(width, dtype=float), ""
    try:
        x0, y0 = float(attrs["X_FIRST"]), float(attrs["Y_FIRST"])
        dx, dy = float(attrs["X_STEP"]), float(attrs["Y_STEP"])
    except (KeyError, TypeError, ValueError):
        raise InputError("bad or missing X_FIRST/Y_FIRST/X_STEP/Y_STEP attributes",
                         label) from None
    x = x0 + (np.arange(width) + 0.5) * dx
    y = y0 + (np.arange(length) + 0.5) * dy
    unit = str(attrs.get("X_UNIT", "")).lower()
    if unit.startswith("deg"):
        crs = "EPSG:4326"
    elif str(attrs.get("EPSG", "")).strip():
        crs = f"EPSG:{int(float(attrs['EPSG']))}"
    elif str(attrs.get("UTM_ZONE", "")).strip():
        zone = str(attrs["UTM_ZONE"]).strip().upper()
        crs = f"EPSG:{(32700 if zone.endswith('S') else 32600) + int(zone.rstrip('NS'))}"
    else:
        crs = "EPSG:4326" if abs(dx) < 1 else ""
    return y, x, crs


def read_mintpy_velocity(path, dataset="velocity") -> xr.DataArray:
    """Read a MintPy ``velocity.h5`` as a velocity map in mm/yr.

    Parameters
    ----------
    path : path-like
        The file (dataset ``velocity`` in m/year, or the unit its ``UNIT`` attribute says).
    dataset : str
        ``velocity`` or ``velocityStd``.

    Returns
    -------
    xarray.DataArray, dims (y, x)
        mm/yr; coordinates ``y``, ``x`` of the pixel centres (metres or degrees, from
        ``X_FIRST``... for a geocoded file; row and column numbers otherwise); attrs
        ``units``, ``crs`` (empty for radar coordinates) and the file's attributes
        ``START_DATE``, ``END_DATE``, ``REF_DATE``, ``REF_LAT``, ``REF_LON``, ``REF_Y``,
        ``REF_X`` where present.
    """
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise InputError("file not found", label)
    if not h5py.is_hdf5(path):
        raise InputError("not an HDF5 file", label)
    with h5py.File(path, "r") as f:
        if dataset not in f:
            raise InputError(f"no dataset {dataset!r} (has: {', '.join(list(f)[:8])})", label)
        data = f[dataset]
        if data.ndim != 2:
            raise InputError(f"dataset {dataset!r} is {data.ndim}-D, expected (y, x)", label)
        attrs = {**hdf5_attrs(f), **hdf5_attrs(data)}
        values = np.asarray(data[()], dtype=float)
    unit = str(attrs.get("UNIT", "m/year")).strip().lower()
    if unit not in _VELOCITY_UNITS:
        raise InputError(f"unknown velocity unit {unit!r}", label, "attribute UNIT")
    nodata = attrs.get("NO_DATA_VALUE")
    if nodata not in (None, "", "None", "none"):
        values = np.where(values == float(nodata), np.nan, values)
    y, x, crs = _coordinates(attrs, values.shape, label)
    keep = {k: attrs[k] for k in ("START_DATE", "END_DATE", "REF_DATE", "REF_LAT", "REF_LON",
                                  "REF_Y", "REF_X", "FILE_TYPE") if k in attrs}
    return xr.DataArray(values * _VELOCITY_UNITS[unit], dims=("y", "x"),
                        coords={"y": y, "x": x}, name=dataset,
                        attrs={"units": "mm/yr", "crs": crs, "source": label, **keep})
