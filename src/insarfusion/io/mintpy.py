"""Reader of MintPy HDF5 time series (``timeseries.h5``) with their geometry, mask and coherence.

A MintPy time series holds the dataset ``timeseries`` (n_date, rows, cols), cumulative LOS
displacement in **metres**, positive toward the satellite (MintPy's convention, the same as the
package's), relative to the reference pixel (``REF_Y``/``REF_X``) and the reference date; and
the dataset ``date`` (bytes ``YYYYMMDD``). Its attributes follow ROI_PAC: ``LENGTH``, ``WIDTH``,
``X_FIRST``/``Y_FIRST``/``X_STEP``/``Y_STEP`` for geocoded files, ``HEADING``, ``WAVELENGTH``...

Every selected pixel becomes one point with id ``r{row}_c{col}`` (row/column in the full grid).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..conventions import WAVELENGTH_MM, heading_from_azimuth_angle
from ..crs import parse_crs, xy_to_lonlat
from ..dataset import point_dataset
from ..errors import InputError
from ..log import logger
from ._common import check_xy_in_area, checked_dates, existing_file

#: Metres to millimetres.
MM_PER_M = 1000.0

#: Geometry file names looked for (in this order) beside the time series and in ``../inputs``.
GEOMETRY_NAMES = ("geometryGeo.h5", "geo_geometryRadar.h5", "geometryRadar.h5")
MASK_NAMES = ("maskTempCoh.h5", "geo_maskTempCoh.h5")
COHERENCE_NAMES = ("temporalCoherence.h5", "geo_temporalCoherence.h5")

#: Bytes of displacement read from the file at a time.
_BLOCK_BYTES = 256 * 2**20


def hdf5_attrs(obj) -> dict:
    """HDF5 attributes as plain Python values (bytes decoded, one-element arrays unpacked)."""
    out = {}
    for key, value in obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
        out[str(key)] = value
    return out


_attrs = hdf5_attrs


def _number(attrs: dict, key: str, label, default=None):
    if key not in attrs:
        if default is not None:
            return default
        raise InputError(f"attribute {key} is missing", label)
    try:
        return float(attrs[key])
    except (TypeError, ValueError):
        raise InputError(f"attribute {key} is not a number: {attrs[key]!r}", label) from None


def _open(path, label=None) -> h5py.File:
    p = existing_file(path)
    if not h5py.is_hdf5(p):
        raise InputError("not an HDF5 file", label or p)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise InputError(f"damaged or truncated HDF5 file ({_h5_reason(exc)})",
                         label or p) from None


def _h5_reason(exc: BaseException) -> str:
    """The gist of an HDF5 library error, on one line."""
    text = " ".join(str(exc).split())
    return text.split("(")[0].strip(" ,") or type(exc).__name__


@contextlib.contextmanager
def _h5_errors(path):
    """Turn the errors of reading a damaged HDF5 file into an :class:`InputError` naming it."""
    try:
        yield
    except (OSError, KeyError, RuntimeError, TypeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise InputError("no such file", getattr(exc, "filename", None) or path) from None
        raise InputError(f"damaged or truncated HDF5 file: cannot read it ({_h5_reason(exc)})",
                         path) from None


def _beside(path: Path, names) -> Path | None:
    """The first of ``names`` next to ``path`` or in ``../inputs``, or None."""
    for folder in (path.parent, path.parent.parent / "inputs"):
        for name in names:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def _grid(path, dataset_names, shape, step) -> tuple[np.ndarray, str]:
    """A 2-D dataset of ``path`` subsampled by ``step``; checks its shape against ``shape``."""
    with _h5_errors(path), _open(path) as f:
        name = next((n for n in dataset_names if n in f), None)
        if name is None:
            two_d = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and v.ndim == 2]
            if len(two_d) != 1:
                raise InputError(f"no dataset {' or '.join(map(repr, dataset_names))}", path)
            name = two_d[0]
        data = f[name]
        if data.shape != shape:
            raise InputError(f"dataset {name!r} is {data.shape[0]} x {data.shape[1]} but the "
                             f"time series is {shape[0]} x {shape[1]} pixels", path)
        return data[::step, ::step], name


def _dates(raw, label) -> np.ndarray:
    text = pd.Series([v.decode() if isinstance(v, bytes) else str(v) for v in raw]).str[:8]
    parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    return checked_dates(parsed, text.to_list(), label, lambda i: f"dataset 'date', item {i}",
                         expected="YYYYMMDD")


def _grid_crs(attrs: dict, label):
    """CRS of a geocoded grid in metres, from ``EPSG`` or ``UTM_ZONE`` (e.g. ``11N``)."""
    if str(attrs.get("EPSG", "")).strip():
        code = str(attrs["EPSG"]).strip()
        return parse_crs(int(code) if code.isdigit() else code, label, "attribute EPSG")
    zone = re.fullmatch(r"\s*(\d{1,2})\s*([A-Za-z]?)\s*", str(attrs.get("UTM_ZONE", "")))
    if zone:
        south = zone.group(2).upper() == "S"
        return parse_crs((32700 if south else 32600) + int(zone.group(1)), label,
                         "attribute UTM_ZONE")
    raise InputError("grid in metres without an EPSG or UTM_ZONE attribute", label)


def _band(wavelength_m) -> str | None:
    """Radar band whose wavelength is within 20 % of ``wavelength_m`` (metres), or None."""
    if wavelength_m is None or not np.isfinite(wavelength_m):
        return None
    mm = wavelength_m * MM_PER_M
    best = min(WAVELENGTH_MM, key=lambda b: abs(WAVELENGTH_MM[b] - mm))
    return best if abs(WAVELENGTH_MM[best] - mm) < 0.2 * WAVELENGTH_MM[best] else None


def _read_series(dset, rows_sel, cols_sel, step) -> np.ndarray:
    """Displacement (n_date, n_selected) of the selected pixels, in blocks of rows.

    ``(rows_sel, cols_sel)`` are subsampled indices; blocks of rows bound the memory.
    """
    n_date, _, width = dset.shape
    n_cols = len(range(0, width, step))
    per_row = max(1, n_date * n_cols * dset.dtype.itemsize)
    block = max(1, _BLOCK_BYTES // per_row)
    out = np.empty((n_date, rows_sel.size), dtype=np.float64)
    if rows_sel.size == 0:
        return out
    order = np.argsort(rows_sel, kind="stable")
    starts = np.arange(rows_sel[order[0]], rows_sel[order[-1]] + 1, block)
    bounds = np.searchsorted(rows_sel[order], np.r_[starts, starts[-1] + block])
    for lo_row, a, b in zip(starts, bounds[:-1], bounds[1:], strict=True):
        if a == b:
            continue
        chunk = dset[:, lo_row * step:(lo_row + block) * step:step, ::step]
        pick = order[a:b]
        out[:, pick] = chunk[:, rows_sel[pick] - lo_row, cols_sel[pick]]
    return out


def read_mintpy(path, *, crs=None, name=None, band=None, technique=None, incidence=None,
                heading=None, geometry=None, mask=None, coherence=None, min_coherence=0.7,
                step=1, **options):
    """Read a MintPy ``timeseries.h5`` as a point dataset of its selected pixels.

    Parameters
    ----------
    path : path-like
        The time series file (dataset ``timeseries`` in metres, dataset ``date``).
    crs : optional
        Working CRS; default the UTM zone of the points (or the grid's own projected CRS).
    name, band, technique : str, optional
        Dataset labels; ``band`` defaults to the one matching the ``WAVELENGTH`` attribute.
    incidence, heading : float, optional
        Degrees; override the geometry file. Without them and without a geometry the points
        keep NaN geometry (a warning says so).
    geometry : path-like, optional
        MintPy geometry file (``incidenceAngle``, ``azimuthAngle``, ``latitude``/``longitude``
        for radar coordinates, ``height``); default ``geometryGeo.h5`` /
        ``geo_geometryRadar.h5`` / ``geometryRadar.h5`` beside the file or in ``../inputs``.
        ``azimuthAngle`` is turned into a heading with
        :func:`~insarfusion.conventions.heading_from_azimuth_angle`; without it the
        ``HEADING`` attribute is used.
    mask : path-like, optional
        MintPy mask (dataset ``mask``); non-zero pixels are kept.
    coherence : path-like, optional
        Temporal coherence file (dataset ``temporalCoherence``); pixels with coherence
        ``>= min_coherence`` are kept when no ``mask`` is given.
    min_coherence : float
        Threshold for ``coherence``.
    step : int
        Keep every ``step``-th row and column.

    Without ``mask`` or ``coherence``, ``maskTempCoh.h5`` beside the file selects the pixels
    if it exists, else every pixel with a finite series. ``quality`` is the temporal
    coherence (``coherence`` or ``temporalCoherence.h5`` beside the file) where available.

    Returns
    -------
    xarray.Dataset
        :func:`~insarfusion.dataset.point_dataset`, displacement in mm, positive toward the
        satellite; attrs ``ref_y``, ``ref_x`` (and ``ref_lat``, ``ref_lon``, ``ref_date``
        where the file has them) and ``reference``.

    Notes
    -----
    For geocoded files ``X_FIRST``/``Y_FIRST`` are the outer (upper-left) corner of the first
    pixel, so pixel centres are ``X_FIRST + (col + 0.5) X_STEP`` and
    ``Y_FIRST + (row + 0.5) Y_STEP``.
    """
    path = Path(path)
    label = str(path)
    if options:
        logger.warning("%s: ignoring option(s) %s", label, ", ".join(sorted(options)))
    step = int(step)
    if step < 1:
        raise InputError(f"step must be a positive integer, got {step}", label, "option 'step'")
    with _h5_errors(path), _open(path) as f:
        if "timeseries" not in f:
            raise InputError(f"no 'timeseries' dataset (has: {', '.join(list(f)[:8])})", label)
        if "date" not in f:
            raise InputError("no 'date' dataset", label)
        dset = f["timeseries"]
        if dset.ndim != 3:
            raise InputError(f"'timeseries' is {dset.ndim}-D, expected (date, row, col)", label)
        attrs = {**_attrs(f), **_attrs(dset)}
        days = _dates(f["date"][()], label)
        n_date, length, width = dset.shape
        if days.size != n_date:
            raise InputError(f"dataset 'date' holds {days.size} dates but dataset 'timeseries' "
                             f"{n_date} layers; they must match", label, "dataset 'date'")
        shape = (length, width)

        selected, quality = _selection(path, shape, step, mask, coherence, min_coherence)
        rows_sub, cols_sub = np.nonzero(selected)
        series = _read_series(dset, rows_sub, cols_sub, step)

    rows, cols = rows_sub * step, cols_sub * step
    point_quality = None if quality is None else quality[rows_sub, cols_sub].astype(float)
    geo = _geometry(path, geometry, attrs, shape, step, rows_sub, cols_sub, label)

    if "Y_FIRST" in attrs:
        gx = _number(attrs, "X_FIRST", label) + (cols + 0.5) * _number(attrs, "X_STEP", label)
        gy = _number(attrs, "Y_FIRST", label) + (rows + 0.5) * _number(attrs, "Y_STEP", label)
        unit = str(attrs.get("X_UNIT", "")).lower()
        in_metres = unit.startswith("m") or (not unit.startswith("deg") and (
            str(attrs.get("EPSG", "")).strip() or str(attrs.get("UTM_ZONE", "")).strip()))
        if in_metres:
            grid_crs = _grid_crs(attrs, label)
            check_xy_in_area(gx, gy, grid_crs, label,
                             lambda i: f"pixel r{rows[i]}_c{cols[i]} (X_FIRST/Y_FIRST)")
            if crs is None:
                where = {"x": gx, "y": gy, "crs": grid_crs}
            else:
                lon, lat = xy_to_lonlat(gx, gy, grid_crs)
                where = {"lon": lon, "lat": lat, "crs": crs}
        else:
            where = {"lon": gx, "lat": gy, "crs": crs}
    else:
        if geo.get("longitude") is None:
            raise InputError("radar-coded time series needs a geometry file with latitude and "
                             "longitude (geometryRadar.h5); give it with 'geometry'", label)
        where = {"lon": geo["longitude"], "lat": geo["latitude"], "crs": crs}

    located = np.isfinite(where.get("lon", where.get("x"))) & np.isfinite(
        where.get("lat", where.get("y")))
    if not located.all():
        logger.warning("%s: dropped %d of %d pixels without coordinates", label,
                       int((~located).sum()), located.size)
        keep = np.flatnonzero(located)
        where = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in where.items()}
        series, rows, cols = series[:, keep], rows[keep], cols[keep]
        geo = {k: (None if v is None else v[keep]) for k, v in geo.items()}
        point_quality = None if point_quality is None else point_quality[keep]

    inc = geo.get("incidence") if incidence is None else incidence
    head = geo.get("heading") if heading is None else heading
    if inc is None or head is None:
        logger.warning("%s: no %s in the geometry or options; left as NaN", label,
                       " and ".join(n for n, v in (("incidence", inc), ("heading", head))
                                    if v is None))

    ids = np.char.add(np.char.add("r", rows.astype(str)), np.char.add("_c", cols.astype(str)))
    ref = {k.lower(): attrs[k] for k in ("REF_Y", "REF_X", "REF_LAT", "REF_LON", "REF_DATE")
           if k in attrs}
    if "ref_y" in ref and "ref_x" in ref:
        ref["reference"] = f"pixel r{ref['ref_y']}_c{ref['ref_x']}"
    wavelength = _number(attrs, "WAVELENGTH", label, default=np.nan)
    return point_dataset(
        series.T * MM_PER_M, days, ids=ids, incidence=inc, heading=head,
        quality=point_quality, height=geo.get("height"),
        name=name or path.stem, band=band or _band(wavelength), technique=technique,
        source=label, **where, **ref)


def _selection(path: Path, shape, step, mask, coherence, min_coherence):
    """Boolean grid (subsampled) of the pixels to keep, and the coherence grid or None."""
    coherence_file = coherence if coherence is not None else _beside(path, COHERENCE_NAMES)
    quality = None
    if coherence_file is not None:
        quality, name = _grid(coherence_file, ("temporalCoherence", "coherence"), shape, step)
        quality = np.asarray(quality, dtype=float)
        outside = np.isfinite(quality) & ((quality < -1e-6) | (quality > 1 + 1e-6))
        if outside.any():
            r, c = np.argwhere(outside)[0]
            raise InputError(f"coherence {quality[r, c]:g} outside [0, 1]", coherence_file,
                             f"dataset {name!r}, pixel r{r * step}_c{c * step}")
    mask_file = mask if mask is not None else (
        None if coherence is not None else _beside(path, MASK_NAMES))
    if mask_file is not None:
        grid, _ = _grid(mask_file, ("mask",), shape, step)
        selected = np.asarray(grid) != 0
        how = f"mask {mask_file}"
    elif coherence is not None:
        selected = np.asarray(quality, dtype=float) >= float(min_coherence)
        how = f"temporal coherence >= {min_coherence}"
    else:
        selected = np.ones(tuple(len(range(0, n, step)) for n in shape), dtype=bool)
        how = "every pixel"
    logger.info("%s: %d of %d pixels selected by %s", path, int(selected.sum()),
                selected.size, how)
    if not selected.any():
        raise InputError(f"no pixel selected by {how}", path)
    return selected, quality


def _geometry(path: Path, geometry, attrs, shape, step, rows_sub, cols_sub, label) -> dict:
    """Per-point geometry: incidence, heading (degrees), latitude, longitude, height or None."""
    out = {"incidence": None, "heading": None, "latitude": None, "longitude": None,
           "height": None}
    geo_file = geometry if geometry is not None else _beside(
        path, GEOMETRY_NAMES if "Y_FIRST" in attrs else GEOMETRY_NAMES[::-1])
    geo_attrs = {}
    if geo_file is not None:
        with _h5_errors(geo_file), _open(geo_file) as f:
            present = set(f)
            geo_attrs = _attrs(f)
        names = {"incidence": "incidenceAngle", "azimuth": "azimuthAngle",
                 "latitude": "latitude", "longitude": "longitude", "height": "height"}
        for key, dataset in names.items():
            if dataset in present:
                grid, _ = _grid(geo_file, (dataset,), shape, step)
                out[key] = np.asarray(grid, dtype=float)[rows_sub, cols_sub]
        if out["incidence"] is not None:
            # MintPy writes 0 where the geometry is unknown (outside the processed area)
            unknown = out["incidence"] <= 0
            if unknown.any():
                logger.warning("%s: %d selected pixels have no incidence angle (0); left as "
                               "NaN", geo_file, int(unknown.sum()))
                out["incidence"] = np.where(unknown, np.nan, out["incidence"])
        azimuth = out.pop("azimuth", None)
        if azimuth is not None:
            out["heading"] = heading_from_azimuth_angle(azimuth)
    if out["heading"] is None:
        for source in (attrs, geo_attrs):
            if "HEADING" in source:
                out["heading"] = _number(source, "HEADING", label)
                break
    out.pop("azimuth", None)
    return out


__all__ = ["read_mintpy"]
