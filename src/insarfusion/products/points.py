"""The points of a run as tables and GeoPackage layers, and the GNSS series as CSV.

* ``points.gpkg``: a layer ``points`` of every input point after projection and referencing,
  with its series as one ``DYYYYMMDD`` field per date (mm; the layout QGIS time-series plugins
  read), and optionally a layer ``fused`` with the fused product sampled at the same points
  (:func:`fused_at_points`);
* ``gnss_los.csv``: the GNSS stations' series in the product's LOS and datum
  (:func:`write_gnss_los`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..conventions import as_days
from ..crs import crs_string, parse_crs
from ..errors import InputError, StageError
from ..grid import sample
from ..series import linear_rate
from .metadata import LOS_SIGN_CONVENTION, as_cube
from .output import atomic_file

#: Prefix of the per-date fields of the point layers (``D20150312``). ``DYYYYMMDD`` is the
#: one name both QGIS time-series plugins plot: PS Time Series Viewer takes the fields matching
#: ``D`` + 8 digits, InSAR Explorer takes ``DYYYYMMDD``, ``DYYYYMMDD`` or ``YYYYMMDD``.
DATE_FIELD_PREFIX = "D"

_DATE_FIELD = re.compile(r"^D_?(\d{8})$")


def date_field(date) -> str:
    """Name of the field holding the displacement of one date: ``DYYYYMMDD``."""
    return DATE_FIELD_PREFIX + pd.Timestamp(date).strftime("%Y%m%d")


def field_dates(columns) -> list:
    """The per-date columns of a table (``DYYYYMMDD`` or ``DYYYYMMDD``) and their dates.

    Returns
    -------
    list of (str, numpy.datetime64)
        Column name and date (``datetime64[D]``) of every per-date field, in column order.
    """
    out = []
    for name in columns:
        match = _DATE_FIELD.match(str(name))
        if match:
            stamp = pd.to_datetime(match.group(1), format="%Y%m%d", errors="coerce")
            if not pd.isna(stamp):
                out.append((str(name), np.datetime64(stamp.date(), "D")))
    return out


def _as_list(datasets) -> list:
    if isinstance(datasets, xr.Dataset):
        return [datasets]
    if isinstance(datasets, dict):
        return list(datasets.values())
    return list(datasets)


def points_table(datasets, dates=True) -> pd.DataFrame:
    """Every point of the datasets as one table (one row per point).

    Columns: ``dataset`` (the dataset's name), ``id``, ``x``, ``y`` (m), then every other
    per-point coordinate and variable (``lon``, ``lat``, ``incidence``, ``heading``,
    ``velocity`` in mm/yr, ``quality``, ...), ``n_epochs``, the number of finite
    displacements, and (with ``dates``) the displacement of every date in mm as one
    ``DYYYYMMDD`` field per date (the union of the datasets' dates, in order; NaN where a
    dataset has no such date).

    Parameters
    ----------
    datasets : xarray.Dataset, list or dict of them
        Point datasets (:func:`insarfusion.dataset.point_dataset`).
    dates : bool
        Add the per-date fields.

    Returns
    -------
    pandas.DataFrame
    """
    datasets = _as_list(datasets)
    frames = []
    for ds in datasets:
        columns = {"dataset": np.full(ds.sizes["point"], str(ds.attrs.get("name", ""))),
                   "id": ds["point"].values.astype(str)}
        for name in ["x", "y", *sorted(n for n in ds.variables if n not in ("x", "y", "point"))]:
            var = ds[name]
            if var.dims == ("point",) and var.dtype.kind in "biuf":
                columns[name] = var.values
        if "displacement" in ds:
            disp = ds["displacement"].transpose("point", "time").values
            columns["n_epochs"] = np.isfinite(disp).sum(axis=-1)
            if dates:
                for i, day in enumerate(as_days(ds["time"].values)):
                    columns[date_field(day)] = disp[:, i].astype(float)
        frames.append(pd.DataFrame(columns))
    if not frames:
        raise StageError("no point dataset to write")
    table = pd.concat(frames, ignore_index=True)
    per_date = sorted(name for name, _ in field_dates(table.columns))
    rest = [c for c in table.columns if c not in set(per_date)]
    return table[rest + per_date]


def fused_at_points(cube, table, velocity=None) -> pd.DataFrame:
    """The fused product sampled (bilinearly) at the points of a table.

    NaN-aware (:func:`insarfusion.grid.sample` with ``nan="skip"``): an empty neighbouring
    cell is left out and the others re-weighted.

    Parameters
    ----------
    cube : xarray.DataArray, dims (time, y, x)
        Fused displacement, mm, on the run's grid.
    table : pandas.DataFrame
        Points with ``x``, ``y`` (m, the cube's CRS), e.g. :func:`points_table`; ``dataset``
        and ``id`` are kept when present.
    velocity : xarray.DataArray, optional
        The product's velocity map (y, x), mm/yr; default the slope of the sampled series.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``id``, ``x``, ``y``, ``velocity`` (mm/yr), ``n_epochs`` and one
        ``DYYYYMMDD`` field per epoch of the cube (mm); NaN where the point lies off the
        product.
    """
    cube = as_cube(cube)
    x = np.asarray(table["x"], dtype=float)
    y = np.asarray(table["y"], dtype=float)
    series = _sample_by_rows(cube, x, y)                      # (n, time)
    columns = {k: table[k].to_numpy() for k in ("dataset", "id") if k in table}
    columns.update(x=x, y=y)
    if velocity is not None:
        columns["velocity"] = _sample_by_rows(velocity, x, y)
    else:
        columns["velocity"] = linear_rate(cube["time"].values, series)
    columns["n_epochs"] = np.isfinite(series).sum(axis=-1)
    for i, day in enumerate(as_days(cube["time"].values)):
        columns[date_field(day)] = series[:, i]
    return pd.DataFrame(columns)


#: Points sampled at a time: sorted by ``y``, a block reads only the band of rows it spans.
_POINTS_PER_BLOCK = 20_000


def _sample_by_rows(field, x, y) -> np.ndarray:
    """:func:`insarfusion.grid.sample` (NaN-aware) of many points, a band of rows at a time.

    A lazy cube is then never read whole: each block of points, sorted by ``y``, reads the
    rows around it only.
    """
    order = np.argsort(y, kind="stable")
    out = None
    for start in range(0, order.size, _POINTS_PER_BLOCK):
        index = order[start:start + _POINTS_PER_BLOCK]
        values = sample(field, x[index], y[index], outside="cell", nan="skip")
        if out is None:
            out = np.full((x.size,) + values.shape[1:], np.nan)
        out[index] = values
    if out is None:
        out = sample(field, x, y, outside="cell", nan="skip")
    return out


def write_points_gpkg(path, datasets, layer="points", fused=None, fused_layer="fused",
                      layer_metadata=None) -> Path:
    """Write the points of every dataset, with their per-date series, to a GeoPackage.

    Parameters
    ----------
    path : path-like
        Output file (``points.gpkg``).
    datasets : xarray.Dataset, list or dict of them
        Point datasets (:func:`insarfusion.dataset.point_dataset`) after projection and
        referencing; their ``attrs["crs"]`` must agree.
    layer : str
        Name of the layer of the input points (:func:`points_table`, one ``DYYYYMMDD``
        field per date, mm).
    fused : xarray.DataArray or pandas.DataFrame, optional
        The fused product, a cube (time, y, x) sampled at the points with
        :func:`fused_at_points`, or such a table already made; written as a second layer.
    fused_layer : str
        Name of that layer.
    layer_metadata : dict, optional
        Metadata of both layers (:func:`product_metadata`).

    Returns
    -------
    pathlib.Path
    """
    import geopandas as gpd
    import pyogrio

    datasets = _as_list(datasets)
    crss = {crs_string(parse_crs(ds.attrs["crs"])) for ds in datasets if ds.attrs.get("crs")}
    if len(crss) != 1:
        raise StageError(f"points to write must share one CRS, got {sorted(crss) or 'none'}")
    crs = crss.pop()
    table = points_table(datasets)
    layers = {layer: table}
    if fused is not None:
        layers[fused_layer] = (fused if isinstance(fused, pd.DataFrame)
                               else fused_at_points(fused, table))
    meta = {"los_sign_convention": LOS_SIGN_CONVENTION, "units": "mm",
            **{k: str(v) for k, v in (layer_metadata or {}).items()}}
    with atomic_file(path) as tmp:
        for name, frame in layers.items():
            geo = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["x"], frame["y"]),
                                   crs=crs)
            pyogrio.write_dataframe(geo, tmp, layer=name, driver="GPKG",
                                    append=name != layer, layer_metadata=meta)
    return Path(path)


def write_gnss_los(path, series, stations, epochs, x, y, crs) -> Path:
    """Write the GNSS stations' series in the product's LOS and datum as a long CSV.

    Parameters
    ----------
    path : path-like
        Output file (``gnss_los.csv``).
    series : array_like, shape (n_station, n_epoch)
        GNSS displacement projected on the primary LOS, on the product's epochs and datum, mm.
    stations : sequence of str
        Station names.
    epochs : array_like of dates
        The product's epochs.
    x, y : array_like, shape (n_station,)
        Station coordinates, metres in ``crs``.
    crs : str or pyproj.CRS
        Working CRS.

    Returns
    -------
    pathlib.Path
        A CSV with columns ``station``, ``x``, ``y``, ``lon``, ``lat``, ``date``
        (``YYYY-MM-DD``) and ``los_mm`` (positive toward the satellite).
    """
    from ..crs import xy_to_lonlat

    values = np.asarray(series, dtype=float)
    stations = [str(s) for s in stations]
    days = as_days(epochs)
    if values.shape != (len(stations), days.size):
        raise InputError(f"GNSS series has shape {values.shape}, expected "
                         f"({len(stations)}, {days.size})")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    lon, lat = xy_to_lonlat(x, y, crs)
    frame = pd.DataFrame({
        "station": np.repeat(stations, days.size),
        "x": np.repeat(x, days.size), "y": np.repeat(y, days.size),
        "lon": np.repeat(lon, days.size), "lat": np.repeat(lat, days.size),
        "date": np.tile(pd.to_datetime(days).strftime("%Y-%m-%d"), len(stations)),
        "los_mm": values.ravel()})
    with atomic_file(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.3f")
    return Path(path)
