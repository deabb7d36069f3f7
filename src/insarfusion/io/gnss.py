"""Readers of GNSS station position time series.

Every reader has the form ``reader(path, *, crs=None, station=None, **options)`` and returns a
one-station (``csv``: several) :func:`~insarfusion.dataset.gnss_dataset`:

* ``east``, ``north``, ``up`` in **mm, relative to the station's first epoch** (its first date
  with a finite value of that component is 0);
* ``sigma_east``, ``sigma_north``, ``sigma_up`` in mm (one sigma, as the file gives them);
* ``time`` in days, sorted; a date that repeats keeps its first row and the count of dropped
  rows is logged;
* ``lon``/``lat`` in WGS84 degrees (longitudes wrapped into [-180, 180)).

Formats:

* :func:`read_tenv3` — Nevada Geodetic Laboratory ``.tenv3`` (one header line, parsed by
  column name).
* :func:`read_tenv` — the older NGL ``.tenv`` (16 columns, no header, no coordinates).
* :func:`read_pos` — EarthScope/PBO ``.pos`` v1.1.0.
* :func:`read_ecef` — daily ``YYYY MM DD X Y Z mX mY mZ`` geocentric metres.
* :func:`read_gnss_csv` — long CSV: ``station, date, east, north, up`` (mm), ``lon``, ``lat``.

Bad input raises :class:`~insarfusion.errors.InputError` naming the file, the row (1-based line
number in the file) or column, and what is wrong.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from ..conventions import wrap_angle
from ..dataset import gnss_dataset
from ..errors import InputError
from ..log import logger
from ._common import (
    check_lonlat,
    checked_dates,
    find_column,
    numeric,
    read_csv_table,
    read_text,
    require_columns,
)

#: Metres to millimetres.
MM_PER_M = 1000.0

#: Columns of the legacy NGL ``.tenv`` format, in file order.
TENV_COLUMNS = ("site", "yymmmdd", "decyear", "mjd", "week", "day", "east", "north", "up",
                "antenna", "sig_e", "sig_n", "sig_u", "corr_en", "corr_eu", "corr_nu")

#: Columns of the daily ECEF format, in file order.
ECEF_COLUMNS = ("year", "month", "day", "x", "y", "z", "sx", "sy", "sz")

_TENV3_NEEDED = ("site", "yymmmdd", "e0(m)", "east(m)", "n0(m)", "north(m)", "u0(m)", "up(m)",
                 "sig_e(m)", "sig_n(m)", "sig_u(m)", "latitude(deg)", "longitude(deg)")
_POS_NEEDED = ("yyyymmdd", "nlat", "elong", "height", "dn", "de", "du", "sn", "se", "su")


# --------------------------------------------------------------------------- token tables

def _token_table(text: str, label: str, first_line: int = 1) -> pd.DataFrame:
    """Whitespace-separated tokens of the lines from ``first_line`` on (1-based).

    The index holds the file line numbers; blank lines are left out. Cells past the end of a
    short line are None. Handles CRLF line ends and trailing tabs.
    """
    lines = pd.Series(text.splitlines(), dtype=object)
    lines.index = np.arange(1, lines.size + 1)
    lines = lines.loc[first_line:]
    lines = lines[lines.str.strip().astype(bool)]
    if lines.empty:
        raise InputError("no data rows", label)
    tokens = lines.str.split(expand=True)
    tokens.index = lines.index
    return tokens


def _require_width(tokens: pd.DataFrame, width: int, label: str) -> pd.DataFrame:
    """The first ``width`` columns; an error names the first line with another count."""
    counts = tokens.notna().sum(axis=1).to_numpy()
    bad = counts != width
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        found = int(counts[i])
        what = "truncated line" if found < width else "too many values"
        raise InputError(f"{what}: expected {width} values, found {found}", label,
                         f"row {tokens.index[i]}")
    return tokens.iloc[:, :width]


def _floats(tokens: pd.DataFrame, column: int, label: str, name: str) -> np.ndarray:
    """Column ``column`` of ``tokens`` as floats; an error names the first non-number."""
    table = pd.DataFrame({name: tokens.iloc[:, column].to_numpy()})
    return numeric(table, [name], label, rows=tokens.index)[:, 0]


def _dates(raw: pd.Series, fmt: str, label: str, name: str, rows) -> np.ndarray:
    """Dates of ``raw`` strings in ``fmt`` as ``datetime64[D]``; an error names a bad one."""
    parsed = pd.to_datetime(raw, format=fmt, errors="coerce")
    return checked_dates(parsed, raw.to_list(), label, lambda i: f"row {rows[i]}, column {name!r}",
                         expected=fmt.replace("%", ""))


def _first_nonblank(text: str) -> tuple[int, list[str]]:
    """Line number (1-based) and tokens of the first non-blank line."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return number, line.split()
    return 1, []


def _clean_name(name) -> str:
    return str(name).strip("_*").lower()


def _optional_index(names, key) -> int | None:
    clean = [_clean_name(n) for n in names]
    return clean.index(key) if key in clean else None


def _header_index(names, needed, label, row=1) -> dict[str, int]:
    """Position of each needed column in a header, matched without underscores and case."""
    clean = [_clean_name(n) for n in names]
    for key in needed:
        if key not in clean:
            raise InputError(f"missing column {key!r} in the header", label, f"row {row}")
    return {key: clean.index(key) for key in needed}


# --------------------------------------------------------------------------- assembling

def _station_dataset(label, station, days, enu_mm, sigma_mm, *, lon, lat, height=None,
                     crs=None, allow_missing_location=False, **attrs):
    """One station's dataset: sorted dates, duplicates dropped, first epoch as origin.

    Parameters
    ----------
    days : ndarray of datetime64[D], shape (n,)
    enu_mm, sigma_mm : ndarray, shape (3, n)
        East, north, up positions and their sigmas, mm (``sigma_mm`` may be None).
    """
    order = np.argsort(days, kind="stable")
    if (order != np.arange(days.size)).any():
        logger.info("%s: rows are not in date order; sorted them", label)
    days = days[order]
    keep = np.r_[True, np.diff(days.astype("int64")) != 0]
    if not keep.all():
        logger.warning("%s: dropped %d row(s) with a date that appeared already "
                       "(kept the first)", label, int((~keep).sum()))
    idx = order[keep]
    enu = _relative_to_first(np.asarray(enu_mm, dtype=float)[:, idx])
    sig = [None] * 3 if sigma_mm is None else np.asarray(sigma_mm, dtype=float)[:, idx]
    return gnss_dataset(enu[0][None], enu[1][None], enu[2][None], days[keep],
                        stations=[station], lon=lon, lat=lat, crs=crs,
                        sigma_east=None if sig[0] is None else sig[0][None],
                        sigma_north=None if sig[1] is None else sig[1][None],
                        sigma_up=None if sig[2] is None else sig[2][None],
                        height=height, source=label,
                        allow_missing_location=allow_missing_location,
                        origin="first epoch", **attrs)


def _relative_to_first(values: np.ndarray) -> np.ndarray:
    """``values`` (..., n_time) minus each series' first finite value."""
    finite = np.isfinite(values)
    first = np.argmax(finite, axis=-1)[..., None]
    origin = np.take_along_axis(values, first, axis=-1)
    return values - np.where(finite.any(axis=-1, keepdims=True), origin, 0.0)


def _warn_unused(label, options) -> None:
    if options:
        logger.warning("%s: ignoring option(s) %s", label, ", ".join(sorted(options)))


def _check_positions(lon, lat, rows, lon_name, lat_name, label) -> None:
    """An error naming the row of the first station position out of range.

    Latitudes must lie in [-90, 90], longitudes in [-360, 360] degrees (NGL writes east
    longitudes as negative west ones, -268.9 for 91.1 E; all are wrapped later).
    """
    for values, lo, hi, what, name in ((lat, -90, 90, "latitude", lat_name),
                                       (lon, -360, 360, "longitude", lon_name)):
        bad = (values < lo) | (values > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{what} {values[i]:g} outside [{lo}, {hi}] degrees", label,
                             f"row {rows[i]}, column {name!r}")


def _station_name(station, found, label):
    if station is not None:
        return str(station)
    names = pd.unique(np.asarray(found))
    if names.size != 1:
        raise InputError(f"several stations in one file ({', '.join(map(str, names[:5]))}); "
                         "expected one", label)
    return str(names[0])


# --------------------------------------------------------------------------- readers

def read_tenv3(path, *, crs=None, station=None, **options):
    """Read a Nevada Geodetic Laboratory ``.tenv3`` file (one station).

    Columns are found by their header names: position = integer part + fractional part
    (``_e0(m)`` + ``__east(m)``, ``____n0(m)`` + ``_north(m)``, ``u0(m)`` + ``____up(m)``),
    metres in the local frame of the file; sigmas ``sig_e(m)`` etc.; dates ``YYMMMDD``;
    the station name from ``site``; its location the median of ``_latitude(deg)`` /
    ``_longitude(deg)`` (wrapped into [-180, 180)) and ``__height(m)``.

    Parameters
    ----------
    path : path-like
    crs : optional
        Working CRS of ``x``/``y``; default the station's UTM zone.
    station : str, optional
        Name to use instead of the file's ``site``.

    Returns
    -------
    xarray.Dataset
        :func:`~insarfusion.dataset.gnss_dataset`, mm relative to the first epoch.
    """
    text, label = read_text(path, member_suffixes=(".tenv3",))
    _warn_unused(label, options)
    header_row, header = _first_nonblank(text)
    col = _header_index(header, _TENV3_NEEDED, label, header_row)
    height_col = _optional_index(header, "height(m)")
    tokens = _require_width(_token_table(text, label, header_row + 1), len(header), label)

    def num(key, index=None):
        index = col[key] if index is None else index
        return _floats(tokens, index, label, header[index])

    # Integer parts are taken relative to the first row before adding the fractions: the
    # sum of a 7-digit integer and a fraction would lose sub-micrometre precision.
    whole = np.vstack([num("e0(m)"), num("n0(m)"), num("u0(m)")])
    enu_m = (whole - whole[:, :1]) + np.vstack([num("east(m)"), num("north(m)"), num("up(m)")])
    sigma_m = np.vstack([num("sig_e(m)"), num("sig_n(m)"), num("sig_u(m)")])
    days = _dates(tokens.iloc[:, col["yymmmdd"]], "%y%b%d", label, header[col["yymmmdd"]],
                  tokens.index)
    height = None if height_col is None else float(np.median(num(None, height_col)))
    _check_positions(num("longitude(deg)"), num("latitude(deg)"), tokens.index,
                     header[col["longitude(deg)"]], header[col["latitude(deg)"]], label)
    return _station_dataset(
        label, _station_name(station, tokens.iloc[:, col["site"]], label), days,
        enu_m * MM_PER_M, sigma_m * MM_PER_M,
        lon=float(np.median(wrap_angle(num("longitude(deg)")))),
        lat=float(np.median(num("latitude(deg)"))), height=height, crs=crs, format="tenv3")


def read_tenv(path, *, crs=None, station=None, lon=None, lat=None, coordinates=None,
              **options):
    """Read a legacy NGL ``.tenv`` file: 16 columns, no header, no coordinates.

    Columns (see :data:`TENV_COLUMNS`): station, ``YYMMMDD``, decimal year, MJD, GPS week, day
    of week, dE, dN, dU (m), antenna height (m), sigma e/n/u (m), correlations.

    Parameters
    ----------
    path : path-like
    crs : optional
        Working CRS of ``x``/``y``.
    station : str, optional
        Name to use instead of the file's first column.
    lon, lat : float, optional
        The station's position, WGS84 degrees.
    coordinates : path-like, optional
        A CSV with columns ``station``, ``lon``, ``lat`` (and optionally ``height``), to look
        the station up in (for a folder of files).

    Without a position the station keeps NaN ``x``/``y``/``lon``/``lat`` (a warning says so).
    """
    text, label = read_text(path, member_suffixes=(".tenv", ".txt"))
    _warn_unused(label, options)
    tokens = _require_width(_token_table(text, label), len(TENV_COLUMNS), label)

    def num(key):
        return _floats(tokens, TENV_COLUMNS.index(key), label, key)

    name = _station_name(station, tokens.iloc[:, 0], label)
    enu_m = np.vstack([num("east"), num("north"), num("up")])
    sigma_m = np.vstack([num("sig_e"), num("sig_n"), num("sig_u")])
    days = _dates(tokens.iloc[:, 1], "%y%b%d", label, "yymmmdd", tokens.index)
    height = None
    if coordinates is not None:
        lon, lat, height = _lookup_coordinates(coordinates, name)
    elif (lon is None) != (lat is None):
        raise InputError("give both 'lon' and 'lat' for the station, or neither", label)
    return _station_dataset(
        label, name, days, enu_m * MM_PER_M, sigma_m * MM_PER_M,
        lon=np.nan if lon is None else float(lon), lat=np.nan if lat is None else float(lat),
        height=height, crs=crs, allow_missing_location=True, format="tenv")


def _lookup_coordinates(path, station) -> tuple[float, float, float | None]:
    """``(lon, lat, height)`` of ``station`` in a CSV of station, lon, lat[, height]."""
    text, label = read_text(path)
    table = read_csv_table(text, label)
    require_columns(table.columns, ("station", "lon", "lat"), label)
    cols = [find_column(table.columns, c) for c in ("station", "lon", "lat")]
    hcol = find_column(table.columns, "height")
    values = numeric(table, cols[1:] + ([hcol] if hcol else []), label)
    names = table[cols[0]].astype(str).str.strip().to_numpy()
    hit = np.flatnonzero(names == station)
    if hit.size == 0:
        logger.warning("%s: station %s is not listed; its position stays unknown", label,
                       station)
        return np.nan, np.nan, None
    row = values[hit[0]]
    return float(row[0]), float(row[1]), (float(row[2]) if hcol else None)


def read_pos(path, *, crs=None, station=None, **options):
    """Read an EarthScope/PBO ``.pos`` (v1.1.0) station position file.

    The header runs to the line that starts with ``*YYYYMMDD``, which names the columns; the
    data follow it. Used: ``dN``/``dE``/``dU`` and ``Sn``/``Se``/``Su`` (m, converted to mm);
    the station id from ``4-character ID``; the location from ``NEU Reference position``
    (else the median of ``NLat``/``Elong``), with the east longitude wrapped
    (236.09 -> -123.91).
    """
    text, label = read_text(path, member_suffixes=(".pos",))
    _warn_unused(label, options)
    lines = text.splitlines()
    star = next((i for i, line in enumerate(lines) if line.lstrip().startswith("*")), None)
    if star is None:
        raise InputError("no column header line starting with '*YYYYMMDD' (not a .pos file?)",
                         label)
    header = lines[star].split()
    col = _header_index(header, _POS_NEEDED, label, star + 1)
    meta = {}
    for line in lines[:star]:
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip()
    tokens = _require_width(_token_table(text, label, star + 2), len(header), label)

    def num(key):
        return _floats(tokens, col[key], label, header[col[key]])

    enu_m = np.vstack([num("de"), num("dn"), num("du")])
    sigma_m = np.vstack([num("se"), num("sn"), num("su")])
    days = _dates(tokens.iloc[:, col["yyyymmdd"]], "%Y%m%d", label, "YYYYMMDD", tokens.index)
    reference = meta.get("neu reference position", "").split()
    try:
        lat, lon, height = (float(v) for v in reference[:3])
    except ValueError:
        _check_positions(num("elong"), num("nlat"), tokens.index, "Elong", "NLat", label)
        lat, lon = float(np.median(num("nlat"))), float(np.median(num("elong")))
        height = float(np.median(num("height")))
    name = station or meta.get("4-character id") or Path(label).name.split(".")[0]
    frame = meta.get("pbo station position time series. reference frame", "")
    return _station_dataset(label, str(name), days, enu_m * MM_PER_M, sigma_m * MM_PER_M,
                            lon=float(wrap_angle(lon)), lat=lat, height=height, crs=crs,
                            format="pos", frame=frame)


@lru_cache(maxsize=8)
def _geocentric_to_geodetic() -> Transformer:
    return Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)


def ecef_to_enu(x, y, z, origin=None):
    """Geocentric (WGS84 ECEF) coordinates to local east/north/up about ``origin``.

    Uses PROJ's ``topocentric`` conversion on the WGS84 ellipsoid.

    Parameters
    ----------
    x, y, z : array_like
        Geocentric coordinates, metres.
    origin : (float, float, float), optional
        Geocentric origin of the local frame, metres; default the mean of the positions.

    Returns
    -------
    east, north, up : ndarray
        Metres, relative to ``origin``.
    rotation : ndarray, shape (3, 3)
        The matrix taking a geocentric difference vector to (east, north, up), read off the
        same conversion (used to rotate sigmas).
    """
    x, y, z = (np.asarray(v, dtype=float) for v in (x, y, z))
    if origin is None:
        origin = (float(np.nanmean(x)), float(np.nanmean(y)), float(np.nanmean(z)))
    x0, y0, z0 = (float(v) for v in origin)
    topo = Transformer.from_pipeline(
        f"+proj=topocentric +ellps=WGS84 +X_0={x0!r} +Y_0={y0!r} +Z_0={z0!r}")
    east, north, up = (np.asarray(v) for v in topo.transform(x, y, z))
    # The conversion is affine: the images of unit steps along X, Y, Z give its rotation.
    base = np.array(topo.transform(x0, y0, z0))
    steps = np.array(topo.transform(x0 + np.eye(3)[0], y0 + np.eye(3)[1], z0 + np.eye(3)[2]))
    rotation = steps - base[:, None]
    return east, north, up, rotation


def read_ecef(path, *, crs=None, station=None, **options):
    """Read daily geocentric positions ``YYYY MM DD X Y Z mX mY mZ`` (metres).

    An optional first line of column names is skipped. Positions are turned into local
    east/north/up about the station's mean position with :func:`ecef_to_enu` (PROJ
    ``topocentric``), then taken relative to the first epoch. The sigmas are rotated as if
    the X/Y/Z errors were uncorrelated (the file gives no correlations):
    ``sigma_enu^2 = R^2 @ [mX^2, mY^2, mZ^2]``, an approximation. The location is the mean
    position in WGS84 (EPSG:4978 -> EPSG:4979).

    The station name is ``station``, else the parent folder's name when the file is
    ``GNSS.txt``, else the file's stem.
    """
    text, label = read_text(path, member_suffixes=(".txt",))
    _warn_unused(label, options)
    first_row, first = _first_nonblank(text)
    start = first_row + 1 if first and not _is_number(first[0]) else first_row
    tokens = _require_width(_token_table(text, label, start), len(ECEF_COLUMNS), label)
    cols = {name: _floats(tokens, i, label, name) for i, name in enumerate(ECEF_COLUMNS)}
    ymd = pd.DataFrame({"year": cols["year"], "month": cols["month"], "day": cols["day"]})
    days = checked_dates(pd.to_datetime(ymd, errors="coerce"),
                         [" ".join(tokens.iloc[i, :3]) for i in range(len(tokens))], label,
                         lambda i: f"row {tokens.index[i]}, columns 'YYYY MM DD'")
    xyz = np.vstack([cols["x"], cols["y"], cols["z"]])
    if np.sqrt((xyz**2).sum(axis=0)).min() < 6.0e6:
        i = int(np.argmin((xyz**2).sum(axis=0)))
        raise InputError("position is not geocentric (less than 6000 km from the Earth's "
                         "centre)", label, f"row {tokens.index[i]}")
    east, north, up, rotation = ecef_to_enu(*xyz)
    variance = np.vstack([cols["sx"], cols["sy"], cols["sz"]]) ** 2
    sigma_m = np.sqrt(rotation**2 @ variance)
    mean = xyz.mean(axis=1)
    lon, lat, height = _geocentric_to_geodetic().transform(*mean)
    p = Path(path)
    name = station or (p.parent.name if p.name.lower() == "gnss.txt" and p.parent.name
                       else p.stem)
    return _station_dataset(label, str(name), days, np.vstack([east, north, up]) * MM_PER_M,
                            sigma_m * MM_PER_M, lon=float(lon), lat=float(lat),
                            height=float(height), crs=crs, format="ecef")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_gnss_csv(path, *, crs=None, station=None, **options):
    """Read a long GNSS CSV: one row per station and date.

    Columns (case-insensitive): ``station``, ``date`` (``YYYY-MM-DD`` or ``YYYYMMDD``),
    ``east``, ``north``, ``up`` (mm), ``lon``, ``lat`` (WGS84 degrees; the first row of each
    station is used), optional ``sigma_east``, ``sigma_north``, ``sigma_up`` (mm) and
    ``height`` (m). Several stations may share the file; their dates are joined (NaN where a
    station has no row). ``station`` keeps only that station.
    """
    text, label = read_text(path)
    _warn_unused(label, options)
    table = read_csv_table(text, label, dtype=str, keep_default_na=False)
    required = ("station", "date", "east", "north", "up", "lon", "lat")
    require_columns(table.columns, required, label)
    col = {c: find_column(table.columns, c) for c in required}
    names = table[col["station"]].astype(str).str.strip()
    empty = (names == "").to_numpy()
    if empty.any():
        raise InputError("station name is empty", label,
                         f"row {int(np.flatnonzero(empty)[0]) + 2}, column {col['station']!r}")
    if station is not None:
        keep = (names == str(station)).to_numpy()
        if not keep.any():
            raise InputError(f"station {station!r} not in the file", label)
        table, names = table[keep], names[keep]
    rows = table.index.to_numpy() + 2
    raw_dates = table[col["date"]].astype(str).str.strip()
    iso = raw_dates.str.replace(r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3", regex=True)
    days = checked_dates(pd.to_datetime(iso, format="ISO8601", errors="coerce"),
                         raw_dates.to_list(), label,
                         lambda i: f"row {rows[i]}, column {col['date']!r}")

    sig_cols = [find_column(table.columns, f"sigma_{c}") for c in ("east", "north", "up")]
    h_col = find_column(table.columns, "height")
    value_cols = [col["east"], col["north"], col["up"], col["lon"], col["lat"]]
    extra = [c for c in [*sig_cols, h_col] if c is not None]
    values = _csv_numbers(table.reset_index(drop=True), value_cols + extra, label)
    by_name = dict(zip(value_cols + extra, values.T, strict=True))

    station_names, station_idx = np.unique(names.to_numpy(), return_inverse=True)
    dates, date_idx = np.unique(days, return_inverse=True)
    pair = station_idx * dates.size + date_idx
    _, first_of_pair = np.unique(pair, return_index=True)
    if first_of_pair.size < pair.size:
        logger.warning("%s: dropped %d row(s) repeating a station and date (kept the first)",
                       label, pair.size - first_of_pair.size)
    shape = (station_names.size, dates.size)

    def grid(column):
        out = np.full(shape, np.nan)
        out[station_idx[first_of_pair], date_idx[first_of_pair]] = by_name[column][first_of_pair]
        return out

    _, first_row = np.unique(station_idx, return_index=True)
    check_lonlat(by_name[col["lon"]], by_name[col["lat"]], rows, col["lon"], col["lat"], label)
    enu = _relative_to_first(np.stack([grid(col[c]) for c in ("east", "north", "up")]))
    sig = [None if c is None else grid(c) for c in sig_cols]
    return gnss_dataset(enu[0], enu[1], enu[2], dates, stations=station_names,
                        lon=by_name[col["lon"]][first_row], lat=by_name[col["lat"]][first_row],
                        crs=crs, sigma_east=sig[0], sigma_north=sig[1], sigma_up=sig[2],
                        height=None if h_col is None else by_name[h_col][first_row],
                        source=label, origin="first epoch", format="csv")


def _csv_numbers(table: pd.DataFrame, columns, label) -> np.ndarray:
    """Numeric columns of a string table; empty cells are NaN, other text is an error."""
    block = table[list(columns)].apply(lambda s: s.str.strip())
    block = block.mask(block == "")
    return numeric(block, list(columns), label)


__all__ = ["ecef_to_enu", "read_ecef", "read_gnss_csv", "read_pos", "read_tenv",
           "read_tenv3"]
