"""Reader of the wide point CSV (one row per point, one column per acquisition date).

Layout (DESIGN.md §3)::

    id,lon,lat,incidence,heading,velocity,coherence,height,20150312,20150324,...
    P1,-79.01,-2.90,38.2,-10.1,-3.1,0.81,2561.0,0.0,-1.2,...

* ``id`` (optional: the file row number is used when missing);
* ``lon``, ``lat`` (WGS84 degrees) or ``x``, ``y`` (metres in the ``crs`` argument);
* optional ``incidence`` and ``heading`` (degrees, see :mod:`insarfusion.conventions`),
  ``velocity`` (mm/yr), ``coherence`` (stored as ``quality``), ``height`` (m);
* then one column per acquisition, named ``YYYYMMDD`` or ``YYYY-MM-DD``, holding the cumulative
  LOS displacement in mm, positive toward the satellite.

The table machinery here (:func:`read_wide_table`, :func:`check_rows_in_range`,
:func:`merge_geometry`, :func:`reject_options`) is also used by the EGMS and StaMPS readers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..conventions import wrap_angle
from ..dataset import point_dataset
from ..errors import InputError
from ..log import logger
from ..series import linear_rate
from ._common import (
    check_lonlat,
    check_xy_in_area,
    find_column,
    numeric,
    read_csv_table,
    read_text,
    require_columns,
    split_date_columns,
)

#: Cell texts read as "no value" in numeric columns (text columns such as ids keep them).
NA_STRINGS = ["", "NaN", "nan", "NAN", "-nan", "-NaN", "NA", "N/A", "n/a", "#N/A", "NULL",
              "null", "None", "<NA>", "1.#QNAN", "-1.#QNAN", "1.#IND", "-1.#IND"]

#: Tolerance (degrees) beyond which a geometry argument "differs" from the file's values.
GEOMETRY_TOLERANCE_DEG = 1.0


@dataclass
class WideTable:
    """A parsed wide table: static columns, acquisition dates and the displacement block.

    Attributes
    ----------
    frame : pandas.DataFrame
        Static (non-date) columns of the kept rows, as read.
    date_columns : list of str
        Names of the acquisition-date columns, in file order.
    dates : ndarray of datetime64[D]
        Acquisition dates, strictly increasing.
    displacement : ndarray, shape (n_kept, n_dates)
        The date columns as floats (NaN where empty), kept rows only.
    rows : ndarray of int
        File line number (1-based; the header is line 1) of every kept row.
    label : str
        File name for messages (``path!member`` inside a zip).
    """

    frame: pd.DataFrame
    date_columns: list[str]
    dates: np.ndarray
    displacement: np.ndarray
    rows: np.ndarray
    label: str
    _full: pd.DataFrame
    _keep: np.ndarray

    @property
    def static_columns(self) -> list[str]:
        """Names of the non-date columns."""
        return list(self.frame.columns)

    def numbers(self, column: str) -> np.ndarray:
        """A static column as floats for the kept rows; an error names a non-numeric cell."""
        return numeric(self._full, [column], self.label)[self._keep, 0]

    def texts(self, column: str) -> np.ndarray:
        """A static column as stripped strings for the kept rows; an error names an empty cell."""
        values = self.frame[column]
        missing = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise InputError("empty cell", self.label, f"row {self.rows[i]}, column {column!r}")
        return values.astype(str).str.strip().to_numpy()


def _header(text: str, label: str) -> list[str]:
    """The raw column names of the first line (before pandas renames duplicates)."""
    first = text.split("\n", 1)[0].rstrip("\r")
    names = [n.strip() for n in next(csv.reader(io.StringIO(first)), [])]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError("column name appears twice", label, f"column {name!r}")
        seen.add(name)
    return names


def _check_date_order(date_columns, dates, label) -> None:
    """An error naming the first date column that repeats or goes back in time."""
    days = dates.astype("int64")
    steps = np.diff(days)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        what = (f"date {dates[i]} appears twice" if steps[i - 1] == 0 else
                f"dates out of order: {dates[i]} comes after {dates[i - 1]}")
        raise InputError(what, label, f"column {date_columns[i]!r}")


def read_wide_table(path, text_columns=(), check_header=None) -> WideTable:
    """Read a wide point table (static columns, then one column per date) from CSV or zip.

    Rows without a single displacement value are dropped and counted in the log.

    Parameters
    ----------
    path : path-like
        CSV file, or a ``.zip`` holding one.
    text_columns : iterable of str
        Columns (case-insensitive) read as text, e.g. point ids: no cell of theirs is turned
        into NaN or a number.
    check_header : callable, optional
        Called with the column names and the file label before anything else is checked
        (a format's own test of its columns).

    Raises
    ------
    InputError
        Empty file, header only, wrong delimiter, duplicate/bad/unsorted date columns,
        non-numeric displacement cells, or no row with any displacement.
    """
    text, label = read_text(path)  # without the byte-order mark of spreadsheet exports
    header = _header(text, label)
    if check_header is not None:
        check_header(header, label)
    wanted = {t.lower() for t in text_columns}
    as_text = [h for h in header if h.lower() in wanted]
    na_values = {h: NA_STRINGS for h in header if h not in as_text}
    frame = read_csv_table(text, label, skip_blank_lines=False, keep_default_na=False,
                           na_values=na_values, dtype={h: str for h in as_text})
    if frame.empty:
        raise InputError("no data rows (header only)", label)
    static, date_columns, dates = split_date_columns(frame.columns, label)
    _check_date_order(date_columns, dates, label)
    displacement = numeric(frame, date_columns, label)
    keep = np.isfinite(displacement).any(axis=1)
    rows = np.arange(2, frame.shape[0] + 2)
    dropped = int((~keep).sum())
    if dropped == keep.size:
        raise InputError(f"no row has a displacement value (all {dropped} rows empty)", label)
    if dropped:
        shown = ", ".join(str(r) for r in rows[~keep][:5]) + (", ..." if dropped > 5 else "")
        logger.warning("%s: dropped %d of %d rows without any displacement value (rows %s)",
                       label, dropped, keep.size, shown)
    return WideTable(frame=frame.loc[keep, static].reset_index(drop=True),
                     date_columns=date_columns, dates=dates, displacement=displacement[keep],
                     rows=rows[keep], label=label, _full=frame, _keep=keep)


def check_rows_in_range(values, lo, hi, what, column, rows, label, inclusive=True) -> None:
    """An error naming the file row and column of the first finite value outside the bounds."""
    vals = np.asarray(values, dtype=float)
    outside = (vals < lo) | (vals > hi) if inclusive else (vals <= lo) | (vals >= hi)
    bad = np.isfinite(vals) & outside
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        bounds = f"[{lo:g}, {hi:g}]" if inclusive else f"({lo:g}, {hi:g})"
        raise InputError(f"{what} {vals[i]:g} outside {bounds}", label,
                         f"row {rows[i]}, column {column!r}")


def check_rows_present(values, what, column, rows, label) -> None:
    """An error naming the file row of the first missing (NaN) value."""
    missing = ~np.isfinite(np.asarray(values, dtype=float))
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputError(f"{what} missing", label, f"row {rows[i]}, column {column!r}")


def merge_geometry(file_values, argument, what, label, angular=False):
    """Per-point angle from the file where present, else the argument.

    Parameters
    ----------
    file_values : ndarray or None
        The file's per-point values (degrees), or None when the file has no such column.
    argument : float or None
        Value given by the caller (degrees).
    what : str
        ``"incidence"`` or ``"heading"``, for messages.
    angular : bool
        Compare modulo 360 degrees (headings).

    Returns
    -------
    ndarray, float or None
        The file's values (NaN cells filled from ``argument``) or ``argument``. A warning is
        logged when ``argument`` differs from the file's values by more than
        :data:`GEOMETRY_TOLERANCE_DEG`.
    """
    if file_values is None:
        return argument
    values = np.asarray(file_values, dtype=float)
    if argument is None:
        return values
    arg = float(argument)
    diff = values - arg
    diff = np.abs(wrap_angle(diff) if angular else diff)
    if (diff > GEOMETRY_TOLERANCE_DEG).any():
        logger.warning("%s: the file's %s (%.2f..%.2f deg) differs from the given %.2f deg; "
                       "using the file's values", label, what, np.nanmin(values),
                       np.nanmax(values), arg)
    missing = ~np.isfinite(values)
    if missing.any():
        logger.info("%s: %s missing at %d points, filled with the given %.2f deg",
                    label, what, int(missing.sum()), arg)
        values = np.where(missing, arg, values)
    return values


def fill_velocity(velocity, dates, displacement, label):
    """File velocities (mm/yr) with empty cells filled by the least-squares rate of the series.

    Returns None when the file has no velocity, so that the data model computes all of them.
    """
    if velocity is None:
        return None
    missing = ~np.isfinite(velocity)
    if missing.any():
        logger.info("%s: velocity missing at %d points, computed from their series",
                    label, int(missing.sum()))
        velocity = np.where(missing, linear_rate(dates, displacement), velocity)
    return velocity


def reject_options(options: dict, reader: str, path, known=()) -> None:
    """An error naming the first option the reader does not know."""
    for key in options:
        known_text = f" (known: {', '.join(known)})" if known else " (it takes none)"
        raise InputError(f"unknown option {key!r} for the {reader} reader{known_text}", path)


def unique_ids(ids, rows, column, label) -> np.ndarray:
    """Point ids as strings; an error names the row of the first repeated id."""
    ids = np.asarray(ids).astype(str)
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    repeated = first[inverse] != np.arange(ids.size)
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0])
        raise InputError(f"point id {str(ids[i])!r} appears twice (first at row "
                         f"{rows[first[inverse[i]]]})", label, f"row {rows[i]}, column {column!r}")
    return ids


def _coordinates(table: WideTable, crs, path) -> dict:
    """``lon``/``lat`` or ``x``/``y`` keyword arguments for :func:`point_dataset`."""
    cols = table.static_columns
    label, rows = table.label, table.rows
    lon_col = find_column(cols, "lon", "longitude")
    lat_col = find_column(cols, "lat", "latitude")
    x_col, y_col = find_column(cols, "x"), find_column(cols, "y")
    if lon_col or lat_col:
        require_columns(cols, ["lon" if lon_col is None else lon_col,
                               "lat" if lat_col is None else lat_col], label)
        lon, lat = table.numbers(lon_col), table.numbers(lat_col)
        check_rows_present(lon, "longitude", lon_col, rows, label)
        check_rows_present(lat, "latitude", lat_col, rows, label)
        check_lonlat(lon, lat, rows, lon_col, lat_col, label)
        return {"lon": lon, "lat": lat, "crs": crs}
    if x_col or y_col:
        require_columns(cols, ["x" if x_col is None else x_col,
                               "y" if y_col is None else y_col], label)
        if crs is None:
            raise InputError("points given in x/y need the 'crs' they are in", label)
        x, y = table.numbers(x_col), table.numbers(y_col)
        check_rows_present(x, "x", x_col, rows, label)
        check_rows_present(y, "y", y_col, rows, label)
        check_xy_in_area(x, y, crs, label, lambda i: f"row {rows[i]}, columns "
                                                     f"{x_col!r}/{y_col!r}")
        return {"x": x, "y": y, "crs": crs}
    require_columns(cols, ["lon", "lat", "x", "y"], label,
                    " (expected lon/lat in WGS84 or x/y with a crs)")
    raise AssertionError("unreachable: require_columns raises")  # pragma: no cover


#: Valid range of the optional columns: (low, high, what, bounds included).
_RANGES = {
    "incidence": (0, 90, "incidence angle", False),
    "heading": (-360, 360, "heading", True),
    "quality": (0, 1, "coherence", True),
}

_OPTIONAL = {  # data-model field -> accepted column names (first present wins)
    "incidence": ("incidence", "incidence_angle"),
    "heading": ("heading", "track_angle"),
    "velocity": ("velocity", "mean_velocity"),
    "quality": ("coherence", "temporal_coherence", "quality"),
    "height": ("height",),
}


def read_csv_points(path, *, crs=None, name=None, band=None, technique=None, incidence=None,
                    heading=None, **options) -> xr.Dataset:
    """Read a wide point CSV (see the module docstring for the layout).

    Parameters
    ----------
    path : path-like
        The CSV file, or a ``.zip`` holding it.
    crs : optional
        Working CRS; required when the file gives ``x``/``y``. Default: the UTM zone of the
        points.
    name, band, technique : str, optional
        Dataset attributes; ``name`` defaults to the file stem.
    incidence, heading : float, optional
        Degrees; used where the file has no such column (or an empty cell). A file column wins
        over the argument; a warning is logged when they differ by more than 1 degree.
    **options
        None are known; any raises :class:`InputError`.

    Returns
    -------
    xarray.Dataset
        :func:`insarfusion.dataset.point_dataset`: displacement in mm (positive toward the
        satellite), velocity in mm/yr (from the file, else least squares), quality from
        ``coherence``.

    Raises
    ------
    InputError
        One line naming the file, the row and/or column, and what is wrong.
    """
    reject_options(options, "csv", path)
    table = read_wide_table(path, text_columns=("id",))
    label, rows, cols = table.label, table.rows, table.static_columns
    coords = _coordinates(table, crs, path)

    id_col = find_column(cols, "id")
    if id_col is None:
        logger.info("%s: no 'id' column; points are named by their file row number", label)
        ids = rows.astype(str)
    else:
        ids = unique_ids(table.texts(id_col), rows, id_col, label)

    fields = {}
    for field, names in _OPTIONAL.items():
        column = find_column(cols, *names)
        fields[field] = None if column is None else table.numbers(column)
        if column is not None and field in _RANGES:
            lo, hi, what, inclusive = _RANGES[field]
            check_rows_in_range(fields[field], lo, hi, what, column, rows, label,
                                inclusive=inclusive)
    incidence = merge_geometry(fields.pop("incidence"), incidence, "incidence", label)
    heading = merge_geometry(fields.pop("heading"), heading, "heading", label, angular=True)
    fields["velocity"] = fill_velocity(fields["velocity"], table.dates, table.displacement,
                                       label)

    used = {c for c in (find_column(cols, *n) for n in _OPTIONAL.values()) if c}
    used |= {c for c in (id_col, find_column(cols, "lon", "longitude"),
                         find_column(cols, "lat", "latitude"), find_column(cols, "x"),
                         find_column(cols, "y")) if c}
    ignored = [c for c in cols if c not in used]
    if ignored:
        logger.info("%s: ignoring columns %s", label, ", ".join(map(repr, ignored)))

    ds = point_dataset(table.displacement, table.dates, ids=ids, incidence=incidence,
                       heading=heading, name=name or Path(path).stem, band=band,
                       technique=technique, source=label, **coords, **fields)
    logger.info("%s: %d points x %d dates", label, ds.sizes["point"], ds.sizes["time"])
    return ds


__all__ = ["WideTable", "check_rows_in_range", "merge_geometry", "read_csv_points",
           "fill_velocity", "read_wide_table", "reject_options", "unique_ids"]
