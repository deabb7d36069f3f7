"""Every product's displacement series at a place (``insarfusion series OUT --lon --lat``).

:func:`series_at` reads a run's output folder:

* ``displacement.nc`` (column ``synergic``; ``synergic_std`` where it has a std) and every
  baseline ``displacement_<method>.nc`` (column ``<method>``), sampled bilinearly (NaN-aware,
  :func:`insarfusion.grid.sample` with ``nan="skip"``) at the place transformed into the products'
  CRS; only the 2 x 2 cells around the place are read;
* the nearest input point of each dataset in ``points.gpkg`` (its ``DYYYYMMDD`` fields;
  column ``<dataset>_point``) when it lies within ``point_radius_m``;
* the nearest GNSS station of ``gnss_los.csv`` (the stations in the product's LOS and datum;
  column ``gnss_<station>``) when it lies within ``gnss_radius_m``.

All values are LOS displacement in mm, positive toward the satellite. :func:`write_series_csv`
writes the table as CSV with ``#`` comment lines saying where the series were taken.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..conventions import FUSED
from ..crs import lonlat_to_xy, parse_crs
from ..errors import InputError
from ..grid import sample
from ..products import field_dates

#: The main product's file (its column is named :data:`~insarfusion.conventions.FUSED`).
MAIN_FILE = "displacement.nc"
GNSS_FILE = "gnss_los.csv"
POINTS_FILE = "points.gpkg"


def product_files(out_dir) -> dict:
    """The displacement NetCDF files of an output folder, by product name.

    Returns
    -------
    dict
        ``{"synergic": OUT/displacement.nc, "<method>": OUT/displacement_<method>.nc, ...}``,
        the main product first, then the baselines in name order.
    """
    out = Path(out_dir)
    files = {}
    if (out / MAIN_FILE).is_file():
        files[FUSED] = out / MAIN_FILE
    for path in sorted(out.glob("displacement_*.nc")):
        files[path.stem[len("displacement_"):]] = path
    return files


def product_crs(ds: xr.Dataset) -> str:
    """CRS of a product NetCDF: its ``projected_crs`` attribute or its grid mapping."""
    if ds.attrs.get("projected_crs"):
        return str(ds.attrs["projected_crs"])
    for name in ("spatial_ref", "crs"):
        if name in ds.variables:
            wkt = ds[name].attrs.get("crs_wkt") or ds[name].attrs.get("spatial_ref")
            if wkt:
                return wkt
    raise InputError("product has no CRS (no projected_crs attribute or spatial_ref)")


def _sample_product(path: Path, x: float, y: float) -> dict:
    """Series (mm) of each displacement variable of one product at a place."""
    with xr.open_dataset(path, decode_coords="all") as ds:
        out = {"time": ds["time"].values}
        for name in ("displacement", "displacement_std"):
            if name in ds:
                out[name] = sample(ds[name], [x], [y], outside="cell", nan="skip")[0]
    return out


def _place(out_dir, lon, lat, x, y):
    """x, y of the place in the products' CRS (from lon/lat or given) and that CRS."""
    files = product_files(out_dir)
    if not files:
        raise InputError("no displacement product (displacement*.nc) in the folder", out_dir)
    with xr.open_dataset(next(iter(files.values())), decode_coords="all") as ds:
        crs = product_crs(ds)
    if x is None or y is None:
        if lon is None or lat is None:
            raise InputError("give the place as lon/lat (or x/y in the products' CRS)")
        px, py = lonlat_to_xy([float(lon)], [float(lat)], crs)
        x, y = float(px[0]), float(py[0])
    return files, float(x), float(y), crs


def _nearest_points(out_dir, x, y, radius) -> tuple[dict, dict]:
    """Series of each dataset's nearest point within ``radius`` m, and where they are."""
    path = Path(out_dir) / POINTS_FILE
    if not path.is_file() or not radius:
        return {}, {}
    import pyogrio

    table = pyogrio.read_dataframe(path, layer="points", read_geometry=False)
    fields = field_dates(table.columns)
    if not fields or not {"x", "y", "dataset"} <= set(table.columns):
        return {}, {}
    series, where = {}, {}
    distance = np.hypot(table["x"].to_numpy(float) - x, table["y"].to_numpy(float) - y)
    for name, rows in table.groupby("dataset").groups.items():
        i = rows[int(np.argmin(distance[rows]))]
        if distance[i] > radius:
            continue
        values = table.loc[i, [f for f, _ in fields]].to_numpy(float)
        series[f"{name}_point"] = pd.Series(values, index=[d for _, d in fields])
        where[f"{name}_point"] = {"id": str(table.loc[i, "id"]),
                                  "distance_m": round(float(distance[i]), 1)}
    return series, where


def _nearest_gnss(out_dir, x, y, radius) -> tuple[dict, dict]:
    """Series of the nearest GNSS station within ``radius`` m, and where it is."""
    path = Path(out_dir) / GNSS_FILE
    if not path.is_file():
        return {}, {}
    table = pd.read_csv(path, parse_dates=["date"])
    stations = table.groupby("station")[["x", "y"]].first()
    distance = np.hypot(stations["x"] - x, stations["y"] - y)
    station = str(distance.idxmin())
    if radius is not None and distance[station] > radius:
        return {}, {}
    rows = table[table["station"] == station]
    name = f"gnss_{station}"
    values = pd.Series(rows["los_mm"].to_numpy(float),
                       index=rows["date"].to_numpy().astype("datetime64[D]"))
    return {name: values}, {name: {"station": station,
                                   "distance_m": round(float(distance[station]), 1)}}


def series_at(out_dir, lon=None, lat=None, *, x=None, y=None, point_radius_m=100.0,
              gnss_radius_m=None) -> pd.DataFrame:
    """Every product's displacement series at a place.

    Parameters
    ----------
    out_dir : path-like
        A run's output folder.
    lon, lat : float, optional
        The place, WGS84 degrees.
    x, y : float, optional
        The place in the products' CRS (metres), instead of ``lon``/``lat``.
    point_radius_m : float or None
        Largest distance to a dataset's nearest input point for its series to be listed
        (``None`` or 0: no input points).
    gnss_radius_m : float, optional
        Largest distance to the nearest GNSS station (default: any distance).

    Returns
    -------
    pandas.DataFrame
        Index ``date``; one column per product (``synergic``, ``synergic_std``, each
        baseline), per dataset's nearest point (``<dataset>_point``) and for the nearest
        station (``gnss_<station>``); mm, LOS, positive toward the satellite. ``attrs``
        holds ``x``, ``y``, ``crs``, ``lon``/``lat`` (when given) and ``sources`` (file,
        point id or station, and distance of every column).

    Raises
    ------
    InputError
        If the folder holds no product or the place is not given.
    """
    files, px, py, crs = _place(out_dir, lon, lat, x, y)
    columns, sources = {}, {}
    for name, path in files.items():
        sampled = _sample_product(path, px, py)
        index = np.asarray(sampled["time"]).astype("datetime64[D]")
        columns[name] = pd.Series(sampled["displacement"], index=index)
        sources[name] = {"file": path.name}
        if "displacement_std" in sampled:
            columns[f"{name}_std"] = pd.Series(sampled["displacement_std"], index=index)
            sources[f"{name}_std"] = {"file": path.name}
    points, where = _nearest_points(out_dir, px, py, point_radius_m)
    columns.update(points)
    sources.update(where)
    gnss, where = _nearest_gnss(out_dir, px, py, gnss_radius_m)
    columns.update(gnss)
    sources.update(where)
    frame = pd.DataFrame(columns)
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    frame = frame.sort_index()
    frame.attrs = {"x": px, "y": py, "crs": parse_crs(crs).to_string(), "units": "mm",
                   "los_sign_convention": "positive toward the satellite",
                   "sources": sources}
    if lon is not None and lat is not None:
        frame.attrs.update(lon=float(lon), lat=float(lat))
    return frame


def write_series_csv(frame: pd.DataFrame, path=None) -> str:
    """Write a :func:`series_at` table as CSV (to ``path``, or return the text).

    The first lines are ``#`` comments with the place, the CRS, the units and where each
    column comes from; ``pandas.read_csv(path, comment="#", index_col="date")`` reads it
    back.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`series_at`.
    path : path-like, optional
        Output file; without it nothing is written.

    Returns
    -------
    str
        The CSV text.
    """
    a = frame.attrs
    lines = ["# LOS displacement (mm), positive toward the satellite"]
    if "lon" in a:
        lines.append(f"# place: lon {a['lon']:.6f}, lat {a['lat']:.6f}")
    if "x" in a:
        lines.append(f"# place: x {a['x']:.2f}, y {a['y']:.2f} ({a.get('crs', '')})")
    for column, source in a.get("sources", {}).items():
        detail = ", ".join(f"{k} {v}" for k, v in source.items())
        lines.append(f"# {column}: {detail}")
    body = frame.to_csv(float_format="%.3f", date_format="%Y-%m-%d")
    text = "\n".join(lines) + "\n" + body
    if path is not None:
        Path(path).write_text(text)
    return text
