"""Reader of the StaMPS time-series CSV written from ``ps_plot(..., 'ts')``.

The export is the one StaMPS-Visualizer reads.

Layout (comma-separated)::

    export_res_ 1,export_res_ 2,export_res_ 3,export_res_ 4,...   <- row 1: dummy header
    ref_lon,ref_lat,NaN,d1,d2,...                                 <- row 2: meta row
    lon,lat,velocity,disp1,disp2,...                              <- rows 3..: one per point

* ``ref_lon``/``ref_lat``: centre of the reference area (WGS84 degrees), kept in the attrs
  ``reference_lon``/``reference_lat``.
* ``d``: MATLAB ``datenum - 1``, i.e. the date is 0000-01-01 + d days in the proleptic
  Gregorian calendar (735928 is 2014-11-26).
* ``velocity``: mean LOS velocity (mm/yr); ``disp``: LOS displacement (mm). Both are positive
  toward the satellite (StaMPS' sign for its velocities and its exported displacements).

The file has no geometry: incidence and heading come from the arguments (NaN otherwise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..dataset import point_dataset
from ..errors import InputError
from ..log import logger
from ._common import check_lonlat, numeric, read_csv_table, read_text
from .csv_points import (
    NA_STRINGS,
    check_rows_present,
    fill_velocity,
    reject_options,
)

#: Day 0 of the StaMPS export's day numbers (MATLAB datenum 1).
DAY_ZERO = np.datetime64("0000-01-01", "D")

#: Plausible span of SAR acquisitions; day numbers outside it are not StaMPS dates.
_FIRST_YEAR, _LAST_YEAR = 1978, 2100


def stamps_dates(day_numbers, columns, label) -> np.ndarray:
    """Dates (``datetime64[D]``) from StaMPS day numbers (MATLAB ``datenum - 1``).

    Parameters
    ----------
    day_numbers : array_like of float
        Days since 0000-01-01 (proleptic Gregorian), whole numbers.
    columns : list of str
        The file columns holding them, for messages.
    label : str
        The file, for messages.

    Raises
    ------
    InputError
        Naming row 2 and the column of a missing, fractional, implausible, repeated or
        out-of-order day number.
    """
    days = np.asarray(day_numbers, dtype=float)

    def fail(i, what):
        raise InputError(what, label, f"row 2, column {columns[i]!r}")

    finite = np.isfinite(days)
    if not finite.all():
        fail(int(np.flatnonzero(~finite)[0]), "date (day number) missing in the meta row")
    fractional = days != np.round(days)
    if fractional.any():
        i = int(np.flatnonzero(fractional)[0])
        fail(i, f"day number {days[i]:g} is not a whole number of days")
    lo = (np.datetime64(f"{_FIRST_YEAR}-01-01", "D") - DAY_ZERO).astype(int)
    hi = (np.datetime64(f"{_LAST_YEAR}-12-31", "D") - DAY_ZERO).astype(int)
    implausible = (days < lo) | (days > hi)
    if implausible.any():
        i = int(np.flatnonzero(implausible)[0])
        fail(i, f"day number {days[i]:g} is not a date between {_FIRST_YEAR} and {_LAST_YEAR} "
                "(expected MATLAB datenum - 1, e.g. 735928 for 2014-11-26)")
    dates = DAY_ZERO + days.astype("int64")
    steps = np.diff(days)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        fail(i, f"date {dates[i]} appears twice" if steps[i - 1] == 0 else
             f"dates out of order: {dates[i]} comes after {dates[i - 1]}")
    return dates


def read_stamps(path, *, crs=None, name=None, band=None, technique=None, incidence=None,
                heading=None, **options) -> xr.Dataset:
    """Read a StaMPS ``ps_plot(..., 'ts')`` CSV export (see the module docstring).

    Parameters
    ----------
    path : path-like
        The CSV file (or a ``.zip`` holding it).
    crs : optional
        Working CRS; default the UTM zone of the points.
    name, band, technique : str, optional
        Dataset attributes; ``name`` defaults to the file stem.
    incidence, heading : float, optional
        Degrees; the file has none, so these are the dataset's geometry (NaN if not given).
    **options
        None are known; any raises :class:`InputError`.

    Returns
    -------
    xarray.Dataset
        Point dataset (displacement mm and velocity mm/yr, positive toward the satellite);
        points are named by their file row number. attrs ``reference_lon``,
        ``reference_lat`` (degrees) and ``reference`` (the same as text).
    """
    reject_options(options, "stamps", path)
    text, label = read_text(path)
    table = read_csv_table(text, label, skip_blank_lines=False, keep_default_na=False,
                           na_values=NA_STRINGS)
    columns = list(table.columns)
    if len(columns) < 4:
        raise InputError(f"{len(columns)} columns; a StaMPS export has lon, lat, velocity and "
                         "one column per date", label, "row 1")
    if not str(columns[0]).lower().startswith("export_res"):
        logger.warning("%s: header does not start with 'export_res'; reading it as a StaMPS "
                       "export anyway", label)
    if table.shape[0] < 1:
        raise InputError("no meta row (row 2: reference lon, lat, NaN, day numbers)", label)
    if table.shape[0] < 2:
        raise InputError("no point rows after the meta row", label)
    values = numeric(table, columns, label)
    meta, body = values[0], values[1:]
    date_columns = columns[3:]
    dates = stamps_dates(meta[3:], date_columns, label)
    ref_lon, ref_lat = float(meta[0]), float(meta[1])
    if not (np.isfinite(ref_lon) and np.isfinite(ref_lat)) or not -90 <= ref_lat <= 90 \
            or not -180 <= ref_lon <= 180:
        raise InputError(f"reference point ({meta[0]:g}, {meta[1]:g}) is not a lon/lat",
                         label, "row 2")

    rows = np.arange(3, values.shape[0] + 2)
    displacement = body[:, 3:]
    keep = np.isfinite(displacement).any(axis=1)
    dropped = int((~keep).sum())
    if dropped == keep.size:
        raise InputError(f"no point row has a displacement value (all {dropped} empty)", label)
    if dropped:
        logger.warning("%s: dropped %d of %d rows without any displacement value (rows %s)",
                       label, dropped, keep.size,
                       ", ".join(map(str, rows[~keep][:5])) + (", ..." if dropped > 5 else ""))
    body, rows, displacement = body[keep], rows[keep], displacement[keep]
    lon, lat, velocity = body[:, 0], body[:, 1], body[:, 2]
    check_rows_present(lon, "longitude", columns[0], rows, label)
    check_rows_present(lat, "latitude", columns[1], rows, label)
    check_lonlat(lon, lat, rows, columns[0], columns[1], label)
    if incidence is not None and not 0 < float(incidence) < 90:
        raise InputError(f"incidence argument {float(incidence):g} outside (0, 90) degrees",
                         label)
    velocity = fill_velocity(velocity, dates, displacement, label)

    ds = point_dataset(displacement, dates, ids=rows.astype(str), lon=lon, lat=lat, crs=crs,
                       incidence=incidence, heading=heading, velocity=velocity,
                       name=name or Path(path).stem, band=band, technique=technique,
                       source=label, reference_lon=ref_lon, reference_lat=ref_lat,
                       reference=f"lon {ref_lon:.6f}, lat {ref_lat:.6f}")
    logger.info("%s: StaMPS export, %d points x %d dates", label, ds.sizes["point"],
                ds.sizes["time"])
    return ds


__all__ = ["DAY_ZERO", "read_stamps", "stamps_dates"]
