"""The data model passed between stages: point datasets and GNSS datasets on xarray.

Point dataset (:func:`point_dataset`), dims ``point`` and ``time``:

* ``displacement`` (point, time): cumulative LOS displacement, mm, positive toward the satellite
  (see :mod:`insarfusion.conventions`), relative to the dataset's own reference until referenced.
* coordinates per point: ``x``, ``y`` (m, working CRS), ``lon``, ``lat`` (degrees),
  ``incidence``, ``heading`` (degrees; NaN where unknown).
* data per point: ``velocity`` (mm/yr; least-squares rate when the file gives none),
  ``quality`` (coherence or similar, NaN where unknown).
* attrs: ``name``, ``band``, ``technique``, ``crs``, ``source``.

GNSS dataset (:func:`gnss_dataset`), dims ``station`` and ``time``:

* ``east``, ``north``, ``up`` (station, time): positions relative to each station's own origin,
  mm; ``sigma_east``, ``sigma_north``, ``sigma_up`` (mm).
* coordinates per station: ``x``, ``y``, ``lon``, ``lat``; attrs ``crs``, ``source``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .conventions import UNITS, as_days, wrap_angle
from .crs import crs_string, lonlat_to_xy, parse_crs, utm_crs, xy_to_lonlat
from .errors import InputError
from .log import logger
from .series import linear_rate


def _per_point(value, n, name, source):
    if value is None:
        return np.full(n, np.nan)
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise InputError(f"{name} has {arr.size} values for {n} points", source)
    return arr


def check_dates(time, source=None, where="dates") -> np.ndarray:
    """Dates as ``datetime64[D]``; an :class:`InputError` if they repeat or are out of order."""
    days = as_days(time)
    if days.ndim != 1 or days.size == 0:
        raise InputError("no acquisition dates", source, where)
    if np.isnat(days).any():
        raise InputError("a date is missing or unreadable", source, where)
    diffs = np.diff(days.astype("int64"))
    if (diffs == 0).any():
        i = int(np.flatnonzero(diffs == 0)[0])
        raise InputError(f"date {days[i + 1]} appears twice", source, where)
    if (diffs < 0).any():
        i = int(np.flatnonzero(diffs < 0)[0])
        raise InputError(f"dates out of order: {days[i]} is followed by {days[i + 1]}",
                         source, where)
    return days


def _check_range(values, lo, hi, name, ids, source, inclusive=True):
    vals = np.asarray(values, dtype=float)
    bad = np.isfinite(vals) & ((vals < lo) | (vals > hi) if inclusive
                               else (vals <= lo) | (vals >= hi))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        bounds = f"[{lo}, {hi}]" if inclusive else f"({lo}, {hi})"
        raise InputError(f"{name} {vals[i]:g} outside {bounds}", source, f"point {ids[i]}")


def _check_finite(disp, ids, days, source) -> None:
    """An error naming the point and date of the first infinite displacement (NaN is missing).

    Parameters
    ----------
    disp : ndarray, shape (n_point, n_time)
        Displacement, mm.
    ids : ndarray of str
        Point ids.
    days : ndarray of datetime64[D]
        Dates.
    source : str or None
        The file.
    """
    infinite = np.isinf(disp)
    if infinite.any():
        p, t = np.argwhere(infinite)[0]
        raise InputError(f"displacement {disp[p, t]:g} is not finite", source,
                         f"point {ids[p]}, date {days[t]}")


def _locate(lon, lat, x, y, crs, n, ids, source):
    """Fill in lon/lat or x/y and settle the working CRS."""
    if lon is not None and lat is not None:
        lon = _per_point(lon, n, "lon", source)
        _check_range(lon, -180, 360, "longitude", ids, source)
        lon = wrap_angle(lon)
        lat = _per_point(lat, n, "lat", source)
        _check_range(lat, -90, 90, "latitude", ids, source)
        if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
            i = int(np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat)))[0])
            raise InputError("longitude/latitude missing", source, f"point {ids[i]}")
        crs = parse_crs(crs, source) if crs is not None else utm_crs(lon, lat)
        x, y = lonlat_to_xy(lon, lat, crs)
    elif x is not None and y is not None:
        if crs is None:
            raise InputError("points given in x/y need a 'crs'", source)
        crs = parse_crs(crs, source)
        x = _per_point(x, n, "x", source)
        y = _per_point(y, n, "y", source)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            i = int(np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))[0])
            raise InputError("x/y missing", source, f"point {ids[i]}")
        lon, lat = xy_to_lonlat(x, y, crs)
    else:
        raise InputError("no coordinates: give lon/lat or x/y", source)
    return lon, lat, x, y, crs_string(crs)


def _place_coords(dim, names, days, x, y, lon, lat) -> dict:
    """The coordinates every point or station dataset has: names, dates and position."""
    return {dim: names, "time": days.astype("datetime64[ns]"),
            "x": (dim, np.asarray(x, float), {"units": "m"}),
            "y": (dim, np.asarray(y, float), {"units": "m"}),
            "lon": (dim, np.asarray(lon, float), {"units": UNITS["lon"]}),
            "lat": (dim, np.asarray(lat, float), {"units": UNITS["lat"]})}


def point_dataset(displacement, time, *, ids=None, lon=None, lat=None, x=None, y=None,
                  crs=None, incidence=None, heading=None, velocity=None, quality=None,
                  height=None, name="dataset", band=None, technique=None, source=None,
                  drop_empty=True, **attrs) -> xr.Dataset:
    """Build and validate a point dataset.

    Parameters
    ----------
    displacement : array_like, shape (n_point, n_time)
        Cumulative LOS displacement, mm, positive toward the satellite.
    time : array_like, shape (n_time,)
        Acquisition dates, strictly increasing.
    ids : array_like, optional
        Point identifiers (default ``0..n-1``); must be unique.
    lon, lat : array_like, optional
        WGS84 degrees. Either these or ``x``/``y`` with ``crs``.
    x, y : array_like, optional
        Metres in ``crs``.
    crs : optional
        Working CRS; default the UTM zone of the points.
    incidence, heading : float or array_like, optional
        Degrees (see :mod:`insarfusion.conventions`); NaN where unknown.
    velocity : array_like, optional
        Mean LOS velocity, mm/yr; computed by least squares when not given.
    quality : array_like, optional
        Coherence or another 0..1 quality measure.
    drop_empty : bool
        Drop points without a single finite displacement (the count is logged).

    Raises
    ------
    InputError
        Naming ``source`` and the point or dates that are wrong.
    """
    disp = np.asarray(displacement, dtype=float)
    if disp.ndim != 2:
        raise InputError(f"displacement must be 2-D (point, time), got {disp.ndim}-D", source)
    n, m = disp.shape
    days = check_dates(time, source)
    if days.size != m:
        raise InputError(f"{m} displacement columns for {days.size} dates", source)
    ids = np.arange(n) if ids is None else np.asarray(ids)
    if ids.shape != (n,):
        raise InputError(f"{ids.size} point ids for {n} points", source)
    ids = ids.astype(str)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise InputError(f"point id {uniq[counts > 1][0]!r} appears more than once", source)

    _check_finite(disp, ids, days, source)
    incidence = _per_point(incidence, n, "incidence", source)
    _check_range(incidence, 0, 90, "incidence angle", ids, source, inclusive=False)
    heading = _per_point(heading, n, "heading", source)
    _check_range(heading, -360, 360, "heading", ids, source)
    heading = wrap_angle(heading)
    lon, lat, x, y, crs = _locate(lon, lat, x, y, crs, n, ids, source)
    velocity = linear_rate(days, disp) if velocity is None else _per_point(velocity, n,
                                                                           "velocity", source)
    quality = _per_point(quality, n, "quality", source)
    within = np.abs(quality - 0.5) <= 0.5 + 1e-6  # rounding of a float32 coherence of 1
    _check_range(np.where(within, np.clip(quality, 0, 1), quality), 0, 1,
                 "quality (coherence)", ids, source)

    ds = xr.Dataset(
        data_vars={
            "displacement": (("point", "time"), disp,
                             {"units": UNITS["displacement"],
                              "long_name": "cumulative LOS displacement, positive toward the satellite"}),
            "velocity": ("point", velocity, {"units": UNITS["velocity"],
                                             "long_name": "mean LOS velocity"}),
            "quality": ("point", quality, {"long_name": "coherence or quality, 0..1"}),
        },
        coords={
            **_place_coords("point", ids, days, x, y, lon, lat),
            "incidence": ("point", incidence, {"units": UNITS["incidence"]}),
            "heading": ("point", heading, {"units": UNITS["heading"]}),
        },
        attrs={"name": str(name), "band": str(band or ""), "technique": str(technique or ""),
               "crs": crs, "source": str(source or ""), **attrs},
    )
    if height is not None:
        ds["height"] = ("point", _per_point(height, n, "height", source), {"units": "m"})
    if drop_empty:
        ds = drop_empty_points(ds)
    return ds


def drop_empty_points(ds: xr.Dataset) -> xr.Dataset:
    """Drop points with no finite displacement, logging how many went."""
    keep = np.isfinite(ds["displacement"].values).any(axis=1)
    dropped = int((~keep).sum())
    if dropped:
        logger.warning("%s: dropped %d of %d points with no valid displacement",
                       ds.attrs.get("source") or ds.attrs.get("name"), dropped, keep.size)
        ds = ds.isel(point=np.flatnonzero(keep))
    if ds.sizes["point"] == 0:
        raise InputError("no point has a valid displacement", ds.attrs.get("source") or None)
    return ds


def gnss_dataset(east, north, up, time, *, stations, lon=None, lat=None, x=None, y=None,
                 crs=None, sigma_east=None, sigma_north=None, sigma_up=None, height=None,
                 source=None, allow_missing_location=False, **attrs) -> xr.Dataset:
    """Build and validate a GNSS dataset.

    Parameters
    ----------
    east, north, up : array_like, shape (n_station, n_time)
        Displacements in mm (each station relative to its own origin), NaN where no position.
    time : array_like, shape (n_time,)
        Dates (daily or weekly), strictly increasing.
    stations : array_like of str
        Station names, unique.
    lon, lat or x, y (+ crs) : array_like
        Station positions.
    sigma_east, sigma_north, sigma_up : array_like, optional
        One-sigma uncertainties in mm.
    allow_missing_location : bool
        Accept stations of unknown position (no lon/lat or x/y given, or NaN in them): their
        ``x``/``y``/``lon``/``lat`` stay NaN and a warning names them. ``crs`` is then the
        given one, else that of the located stations, else WGS84.
    """
    e = np.atleast_2d(np.asarray(east, dtype=float))
    nn = np.atleast_2d(np.asarray(north, dtype=float))
    u = np.atleast_2d(np.asarray(up, dtype=float))
    if not (e.shape == nn.shape == u.shape):
        raise InputError("east, north and up have different shapes", source)
    ns, m = e.shape
    days = check_dates(time, source)
    if days.size != m:
        raise InputError(f"{m} epochs of positions for {days.size} dates", source)
    names = np.asarray(stations).astype(str).reshape(-1)
    if names.size != ns:
        raise InputError(f"{names.size} station names for {ns} stations", source)
    uniq, counts = np.unique(names, return_counts=True)
    if (counts > 1).any():
        raise InputError(f"station {uniq[counts > 1][0]!r} appears more than once", source)
    if allow_missing_location:
        lon, lat, x, y, crs = _locate_some(lon, lat, x, y, crs, ns, names, source)
    else:
        lon, lat, x, y, crs = _locate(lon, lat, x, y, crs, ns, names, source)

    def sigma(s):
        return np.full((ns, m), np.nan) if s is None else np.broadcast_to(
            np.asarray(s, dtype=float), (ns, m)).copy()

    dims = ("station", "time")
    data = {
        "east": (dims, e, {"units": "mm"}),
        "north": (dims, nn, {"units": "mm"}),
        "up": (dims, u, {"units": "mm"}),
        "sigma_east": (dims, sigma(sigma_east), {"units": "mm"}),
        "sigma_north": (dims, sigma(sigma_north), {"units": "mm"}),
        "sigma_up": (dims, sigma(sigma_up), {"units": "mm"}),
    }
    coords = _place_coords("station", names, days, x, y, lon, lat)
    if height is not None:
        coords["height"] = ("station", _per_point(height, ns, "height", source), {"units": "m"})
    return xr.Dataset(data, coords, attrs={"crs": crs, "source": str(source or ""), **attrs})


def _locate_some(lon, lat, x, y, crs, n, ids, source):
    """Like :func:`_locate`, leaving NaN positions for stations without one (warned)."""
    if lon is not None and lat is not None:
        a, b, given = _per_point(lon, n, "lon", source), _per_point(lat, n, "lat", source), "lon"
    elif x is not None and y is not None:
        a, b, given = _per_point(x, n, "x", source), _per_point(y, n, "y", source), "x"
    else:
        a = b = np.full(n, np.nan)
        given = None
    known = np.isfinite(a) & np.isfinite(b)
    out = [np.full(n, np.nan) for _ in range(4)]
    if known.any():
        pos = {"lon": None, "lat": None, "x": None, "y": None}
        pos.update({"lon": a[known], "lat": b[known]} if given == "lon"
                   else {"x": a[known], "y": b[known]})
        located = _locate(**pos, crs=crs, n=int(known.sum()), ids=ids[known], source=source)
        for arr, part in zip(out, located[:4], strict=True):
            arr[known] = part
        crs = located[4]
    else:
        crs = crs_string(parse_crs(crs, source) if crs is not None else "EPSG:4326")
    if not known.all():
        logger.warning("%s: no position for %d station(s) (%s); their x/y/lon/lat are NaN",
                       source or "GNSS", int((~known).sum()), ", ".join(ids[~known][:10]))
    return (*out, crs)


def combine_gnss(stations: list[xr.Dataset], crs=None) -> xr.Dataset:
    """Join single- or multi-station GNSS datasets on the union of their dates.

    All are put in one CRS (``crs`` or the first one's); station names must be unique.
    """
    if not stations:
        raise InputError("no GNSS station to combine")
    crs = crs or stations[0].attrs["crs"]
    names = np.concatenate([s["station"].values for s in stations])
    uniq, counts = np.unique(names, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        srcs = [s.attrs.get("source") for s in stations if dup in s["station"].values]
        raise InputError(f"station {dup!r} appears in more than one file ({', '.join(srcs)})")
    moved = [to_crs(s, crs) for s in stations]
    out = xr.concat(moved, dim="station", join="outer", combine_attrs="drop_conflicts",
                    data_vars="all", coords="different", compat="equals")
    out.attrs["crs"] = crs_string(crs)
    out.attrs["source"] = ", ".join(dict.fromkeys(s.attrs.get("source", "") for s in stations))
    return out


def to_crs(ds: xr.Dataset, crs) -> xr.Dataset:
    """Re-project ``x``/``y`` of a point or GNSS dataset from its ``lon``/``lat`` into ``crs``."""
    target = crs_string(crs)
    if ds.attrs.get("crs") == target:
        return ds
    dim = "point" if "point" in ds.dims else "station"
    x, y = lonlat_to_xy(ds["lon"].values, ds["lat"].values, target)
    out = ds.assign_coords(x=(dim, x, {"units": "m"}), y=(dim, y, {"units": "m"}))
    out.attrs["crs"] = target
    return out


def summary(ds: xr.Dataset) -> dict:
    """Counts and spans of a point or GNSS dataset, for printing."""
    days = as_days(ds["time"].values)
    kind = "points" if "point" in ds.dims else "stations"
    dim = "point" if kind == "points" else "station"
    return {
        "name": ds.attrs.get("name") or ds.attrs.get("source", ""),
        kind: int(ds.sizes[dim]),
        "epochs": int(ds.sizes["time"]),
        "start": str(days[0]),
        "end": str(days[-1]),
        "crs": ds.attrs.get("crs", ""),
        "lon": (float(ds["lon"].min()), float(ds["lon"].max())),
        "lat": (float(ds["lat"].min()), float(ds["lat"].max())),
    }
