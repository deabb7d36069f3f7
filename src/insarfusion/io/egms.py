"""Reader of European Ground Motion Service (EGMS) point products, from the CSV or the zip.

Levels and columns (one row per point, static columns then one ``YYYYMMDD`` column per date,
displacement in mm):

* **L2a / L2b** (LOS, one burst of one track): ``pid``, ``latitude``, ``longitude`` (WGS84),
  ``easting``/``northing`` (EPSG:3035), ``height`` or ``height_ortho`` (m), ``rmse`` or
  ``rmse_ts`` (mm), ``temporal_coherence``, ``incidence_angle``, ``track_angle`` (degrees),
  ``los_east``/``los_north``/``los_up`` (ground-to-satellite unit vector), ``mean_velocity``
  (mm/yr), ..., and ``gnss_velocity`` in the 2020–2024 release. Displacement is LOS, positive
  toward the satellite.
* **L3** (ortho, 100 m cells): ``pid``, ``easting``/``northing`` (EPSG:3035 cell centres),
  ``height``/``height_ortho``, ``rmse``/``rmse_ts``, ``mean_velocity``, ... The file holds one
  component, east (positive eastward) or up (positive upward), told by ``_E_``/``_U_`` in the
  file name or the ``component`` option; incidence and heading stay NaN.

Geometry of L2: incidence and heading are derived from the LOS unit vector with
:func:`insarfusion.conventions.geometry_from_los_vector` and checked against
``incidence_angle``/``track_angle``. EGMS ``track_angle`` is the satellite heading clockwise
from north, the convention of :mod:`insarfusion.conventions` (ascending about -9 degrees,
descending about 191 degrees, i.e. -169 once wrapped); on the Ustica bursts the two agree to
within 0.1 degree, the rounding of the three-decimal LOS vector.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import xarray as xr

from ..conventions import geometry_from_los_vector, wrap_angle
from ..crs import xy_to_lonlat
from ..dataset import point_dataset
from ..errors import InputError
from ..log import logger
from ._common import check_lonlat, check_xy_in_area, find_column, require_columns
from .csv_points import (
    GEOMETRY_TOLERANCE_DEG,
    WideTable,
    check_rows_in_range,
    check_rows_present,
    fill_velocity,
    merge_geometry,
    read_wide_table,
    reject_options,
    unique_ids,
)

#: CRS of EGMS ``easting``/``northing`` (ETRS89 / LAEA Europe).
EGMS_CRS = "EPSG:3035"

_LEVEL_RE = re.compile(r"EGMS_(L2a|L2b|L3)(?:_|$)", re.IGNORECASE)
_TRACK_RE = re.compile(r"EGMS_L2[ab]_(\d{1,3})_", re.IGNORECASE)
_COMPONENT_RE = re.compile(r"_(E|U)_", re.IGNORECASE)
_COMPONENTS = {"e": "east", "east": "east", "u": "up", "up": "up", "v": "up",
               "vertical": "up", "los": "los"}


def _check_is_egms(cols, label) -> None:
    """An error listing the EGMS columns a table lacks when it is not an EGMS product at all.

    An EGMS table has ``pid`` and either ``latitude``/``longitude`` (L2a/L2b) or
    ``easting``/``northing`` (L3). A table with fewer than two of these five is not one (a
    plain point CSV read as ``egms``); one with some of them is left to the checks of each
    column, which suggest a misspelled name.
    """
    has = {c.lower() for c in cols}
    marks = ("pid", "latitude", "longitude", "easting", "northing")
    if sum(m in has for m in marks) >= 2:
        return
    missing = [m for m in ("pid", "latitude", "longitude") if m not in has]
    shown = ", ".join(cols[:8]) + (", ..." if len(cols) > 8 else "")
    raise InputError(f"not an EGMS file: missing columns {', '.join(map(repr, missing))} "
                     f"(or 'easting'/'northing' for L3; it has: {shown})", label, "row 1")


def _level(stem: str, table: WideTable) -> str:
    """``"L2a"``, ``"L2b"`` or ``"L3"``: from the file name, else from the columns."""
    match = _LEVEL_RE.search(stem)
    cols = table.static_columns
    has_los = find_column(cols, "latitude", "los_up", "incidence_angle") is not None
    if match:
        level = match.group(1).upper().replace("A", "a").replace("B", "b")
        if level.startswith("L2") != has_los:
            raise InputError(f"file name says {level} but the columns are those of "
                             f"{'L2' if has_los else 'L3'}", table.label)
        return level
    return "L2" if has_los else "L3"


def _component(stem: str, level: str, option, label) -> str:
    """``"los"`` for L2; ``"east"``/``"up"`` for L3 (option first, then the file name)."""
    given = None
    if option is not None:
        given = _COMPONENTS.get(str(option).strip().lower())
        if given is None:
            raise InputError(f"unknown component {option!r}; expected 'east' or 'up' "
                             "(L3) or 'los' (L2)", label)
    if level.startswith("L2"):
        if given not in (None, "los"):
            raise InputError(f"component {option!r} given for an {level} (LOS) file", label)
        return "los"
    if given == "los":
        raise InputError("component 'los' given for an L3 file (east or up)", label)
    match = _COMPONENT_RE.search(stem)
    named = _COMPONENTS[match.group(1).lower()] if match else None
    if given and named and given != named:
        logger.warning("%s: component=%r overrides %r from the file name", label, given, named)
    if given or named:
        return given or named
    raise InputError("cannot tell the L3 component from the file name (no '_E_' or '_U_'); "
                     "give component='east' or 'up'", label)


def _los_geometry(table: WideTable):
    """Per-point incidence and heading (degrees) of an L2 file, or (None, None)."""
    cols, label, rows = table.static_columns, table.label, table.rows
    vec_cols = [find_column(cols, c) for c in ("los_east", "los_north", "los_up")]
    inc_col = find_column(cols, "incidence_angle")
    track_col = find_column(cols, "track_angle")
    file_inc = None if inc_col is None else table.numbers(inc_col)
    file_track = None if track_col is None else table.numbers(track_col)
    if file_track is not None:
        check_rows_in_range(file_track, -360, 360, "track angle", track_col, rows, label)
    if file_inc is not None:
        check_rows_in_range(file_inc, 0, 90, "incidence angle", inc_col, rows, label,
                            inclusive=False)
    if not all(vec_cols):
        if any(vec_cols):
            require_columns(cols, ["los_east", "los_north", "los_up"], label)
        return file_inc, None if file_track is None else wrap_angle(file_track)

    east, north, up = (table.numbers(c) for c in vec_cols)
    norm = np.sqrt(east**2 + north**2 + up**2)
    check_rows_in_range(norm, 0.95, 1.05, "LOS vector length", vec_cols[2], rows, label)
    check_rows_in_range(up, 0, 1, "los_up", vec_cols[2], rows, label, inclusive=False)
    incidence, heading = geometry_from_los_vector(east, north, up)
    for what, derived, given in (("incidence", incidence, file_inc),
                                 ("heading", heading, file_track)):
        if given is None:
            continue
        diff = np.abs(wrap_angle(derived - given))
        off = diff > GEOMETRY_TOLERANCE_DEG
        if off.any():
            logger.warning("%s: %s from the LOS vector differs from %s by more than %g deg at "
                           "%d of %d points (max %.2f deg); using the LOS vector", label, what,
                           inc_col if what == "incidence" else track_col,
                           GEOMETRY_TOLERANCE_DEG, int(off.sum()), off.size, np.nanmax(diff))
        else:
            logger.debug("%s: %s from the LOS vector agrees with the file within %.2f deg",
                         label, what, np.nanmax(diff) if diff.size else 0.0)
    return incidence, heading


def read_egms(path, *, crs=None, name=None, band="C", technique="PSI", incidence=None,
              heading=None, component=None, **options) -> xr.Dataset:
    """Read an EGMS L2a, L2b or L3 product (CSV, or the downloaded zip with CSV + XML).

    Parameters
    ----------
    path : path-like
        ``EGMS_*.csv`` or ``EGMS_*.zip``.
    crs : optional
        Working CRS; default the UTM zone of the points.
    name, band, technique : str, optional
        Dataset attributes; ``name`` defaults to the file stem, band to ``"C"`` (Sentinel-1).
    incidence, heading : float, optional
        Degrees; only used where an L2 file has no geometry (a warning is logged when they
        differ from the file's by more than 1 degree). Ignored for L3.
    component : {"east", "up", "los"}, optional
        Component of an L3 file when its name has no ``_E_``/``_U_``.
    **options
        Any other option raises :class:`InputError`.

    Returns
    -------
    xarray.Dataset
        Point dataset (displacement mm, velocity mm/yr from ``mean_velocity``, quality from
        ``temporal_coherence``, ``height`` m, ``rmse`` mm). attrs: ``level``, ``component``
        (``"los"``, ``"east"`` or ``"up"``), and for L2 ``track`` and ``orbit``
        (``"ascending"``/``"descending"``, from the heading).
    """
    reject_options(options, "egms", path, known=("component",))
    stem = Path(path).stem
    table = read_wide_table(path, text_columns=("pid",), check_header=_check_is_egms)
    label, rows, cols = table.label, table.rows, table.static_columns
    level = _level(stem, table)
    comp = _component(stem, level, component, label)
    require_columns(cols, ["pid"], label)
    ids = unique_ids(table.texts(find_column(cols, "pid")), rows, "pid", label)
    attrs = {"level": level, "component": comp}

    if level.startswith("L2"):
        require_columns(cols, ["latitude", "longitude"], label)
        lon_col, lat_col = find_column(cols, "longitude"), find_column(cols, "latitude")
        lon, lat = table.numbers(lon_col), table.numbers(lat_col)
        check_rows_present(lon, "longitude", lon_col, rows, label)
        check_rows_present(lat, "latitude", lat_col, rows, label)
        check_lonlat(lon, lat, rows, lon_col, lat_col, label)
        file_inc, file_heading = _los_geometry(table)
        incidence = merge_geometry(file_inc, incidence, "incidence", label)
        heading = merge_geometry(file_heading, heading, "heading", label, angular=True)
        track = _TRACK_RE.search(stem)
        if track:
            attrs["track"] = track.group(1)
        if heading is not None and np.isfinite(heading).any():
            mean_heading = np.rad2deg(np.angle(np.nanmean(np.exp(1j * np.deg2rad(heading)))))
            attrs["orbit"] = "ascending" if abs(mean_heading) < 90 else "descending"
    else:
        require_columns(cols, ["easting", "northing"], label, " (EGMS L3 cell centres)")
        east_col, north_col = find_column(cols, "easting"), find_column(cols, "northing")
        easting, northing = table.numbers(east_col), table.numbers(north_col)
        check_rows_present(easting, "easting", east_col, rows, label)
        check_rows_present(northing, "northing", north_col, rows, label)
        check_xy_in_area(easting, northing, EGMS_CRS, label,
                         lambda i: f"row {rows[i]}, columns {east_col!r}/{north_col!r}")
        lon, lat = xy_to_lonlat(easting, northing, EGMS_CRS)
        if incidence is not None or heading is not None:
            logger.warning("%s: incidence/heading ignored for an L3 (%s) file", label, comp)
        incidence = heading = None

    def optional(*names):
        column = find_column(cols, *names)
        return None if column is None else table.numbers(column)

    coherence_col = find_column(cols, "temporal_coherence")
    coherence = optional("temporal_coherence")
    if coherence is not None:
        check_rows_in_range(coherence, 0, 1, "temporal coherence", coherence_col, rows, label)
    velocity = fill_velocity(optional("mean_velocity"), table.dates, table.displacement, label)
    ds = point_dataset(table.displacement, table.dates, ids=ids, lon=lon, lat=lat, crs=crs,
                       incidence=incidence, heading=heading, velocity=velocity,
                       quality=coherence,
                       height=optional("height_ortho", "height"),
                       name=name or stem, band=band, technique=technique, source=label, **attrs)
    rmse = optional("rmse_ts", "rmse")
    if rmse is not None:
        ds["rmse"] = ("point", rmse, {"units": "mm",
                                      "long_name": "RMSE of the series about its EGMS model"})
    logger.info("%s: EGMS %s (%s), %d points x %d dates", label, level, comp,
                ds.sizes["point"], ds.sizes["time"])
    return ds


__all__ = ["EGMS_CRS", "read_egms"]
