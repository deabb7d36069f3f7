"""Helpers shared by the readers: opening files (also inside zips), tables, dates, numbers.

Every failure is an :class:`~insarfusion.errors.InputError` that names the file, the row
(1-based line number in the file) or column, and what is wrong.
"""

from __future__ import annotations

import difflib
import functools
import io
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..log import logger

_DATE_RE = re.compile(r"^(?:[A-Za-z_]*?)(\d{4})-?(\d{2})-?(\d{2})$")


def existing_file(path) -> Path:
    """``path`` as a :class:`Path`, or an error if it does not exist or is not a file."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", p)
    if p.is_dir():
        raise InputError("is a folder, expected a file", p)
    if p.stat().st_size == 0:
        raise InputError("file is empty", p)
    return p


#: Largest zip member read (declared uncompressed size, bytes): beyond it the archive is
#: refused before anything is decompressed.
MAX_MEMBER_BYTES = 8 * 2**30

#: Largest compression ratio (uncompressed / compressed size) of a zip member larger than
#: :data:`RATIO_CHECK_BYTES`. CSV tables of numbers compress 3 to 20 times; a zip bomb
#: hundreds to millions of times.
MAX_COMPRESSION_RATIO = 200

#: Members smaller than this (bytes) are read whatever their compression ratio.
RATIO_CHECK_BYTES = 16 * 2**20

#: Errors of a damaged archive raised while a member is read.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
               RuntimeError, ValueError)


def _unsafe_member(name: str) -> bool:
    """Whether a zip member name is absolute or climbs out of the archive (``..``)."""
    parts = re.split(r"[\\/]", name)
    return name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name)) or ".." in parts


def zip_member(zf: zipfile.ZipFile, path, member_suffixes) -> zipfile.ZipInfo:
    """The one member of an open zip to read, checked before anything is decompressed.

    Parameters
    ----------
    zf : zipfile.ZipFile
        The open archive.
    path : path-like
        The archive, for messages.
    member_suffixes : tuple of str
        Name endings of the members wanted (``(".csv",)``).

    Returns
    -------
    zipfile.ZipInfo
        The only matching member.

    Raises
    ------
    InputError
        No matching member, more than one (both named), a member name that is absolute or
        holds ``..``, a declared size above :data:`MAX_MEMBER_BYTES` or a compression ratio
        above :data:`MAX_COMPRESSION_RATIO` (a zip bomb), or an encrypted member.
    """
    infos = zf.infolist()
    unsafe = [i.filename for i in infos if _unsafe_member(i.filename)]
    if unsafe:
        raise InputError(f"zip member name {unsafe[0]!r} is absolute or climbs out of the "
                         "archive ('..'); refusing the archive", path)
    members = [i for i in infos if not i.is_dir()
               and i.filename.lower().endswith(tuple(member_suffixes))]
    if not members:
        raise InputError(
            f"zip holds no {'/'.join(member_suffixes)} file (it has: "
            f"{', '.join(zf.namelist()[:5]) or 'nothing'})", path)
    if len(members) > 1:
        names = ", ".join(repr(m.filename) for m in members[:5])
        raise InputError(f"zip holds {len(members)} {'/'.join(member_suffixes)} files ({names}); "
                         "expected one: unzip it and give the one to read", path)
    info = members[0]
    where = f"member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise InputError("zip member is encrypted", path, where)
    if info.file_size > MAX_MEMBER_BYTES:
        raise InputError(f"zip member declares {info.file_size / 2**30:.1f} GiB uncompressed, "
                         f"more than the {MAX_MEMBER_BYTES / 2**30:.0f} GiB limit "
                         "(a zip bomb?); unzip it and give the file", path, where)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_CHECK_BYTES and ratio > MAX_COMPRESSION_RATIO:
        raise InputError(f"zip member expands {ratio:.0f} times ({info.compress_size} bytes to "
                         f"{info.file_size}), more than {MAX_COMPRESSION_RATIO} (a zip bomb?); "
                         "refusing to decompress it", path, where)
    return info


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path) -> bytes:
    """The bytes of a checked member, never more than its declared size."""
    where = f"member {info.filename!r}"
    try:
        with zf.open(info) as fh:
            raw = fh.read(info.file_size + 1)
    except _ZIP_ERRORS as exc:
        raise InputError(f"damaged zip archive ({' '.join(str(exc).split()) or type(exc).__name__})",
                         path, where) from None
    if len(raw) != info.file_size:
        raise InputError(f"damaged zip archive: member holds {len(raw)} bytes, its header says "
                         f"{info.file_size}", path, where)
    return raw


def looks_like_zip(p: Path) -> bool:
    """Whether a file is named ``.zip`` or starts with a zip signature (even if damaged)."""
    if p.suffix.lower() == ".zip":
        return True
    with open(p, "rb") as fh:
        return fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def decode_text(raw: bytes, label) -> str:
    """UTF-8 text of ``raw`` (a UTF-8 byte-order mark is dropped).

    Raises
    ------
    InputError
        For UTF-16/32 (byte-order mark or NUL bytes), other binary content, or bytes that are
        not UTF-8, naming the byte offset.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("file is not UTF-8 text (it is UTF-16 or UTF-32, by its byte-order "
                         "mark); save it as UTF-8", label)
    nul = raw.find(b"\x00")
    if nul >= 0:
        kind = "UTF-16 or UTF-32" if nul < 4 and raw[1:2] == b"\x00" or raw[:1] == b"\x00" \
            else "binary data"
        raise InputError(f"file is not UTF-8 text (NUL byte at offset {nul}: {kind}); "
                         "save it as UTF-8", label)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                         f"{exc.start}); save it as UTF-8", label, f"row {line}") from None
    return text.lstrip("\ufeff")


def read_text(path, member_suffixes=(".csv",), encoding="utf-8") -> tuple[str, str]:
    """The text of a file, or of the one matching member of a ``.zip``.

    Parameters
    ----------
    path : path-like
        A text file, or a zip archive holding exactly one member ending in one of
        ``member_suffixes``.
    member_suffixes : tuple of str
        Member name endings looked for in a zip.
    encoding : str
        Kept for compatibility; files must be UTF-8 (a byte-order mark is allowed).

    Returns
    -------
    text : str
    label : str
        ``path`` or ``path!member`` for messages.

    Raises
    ------
    InputError
        Missing or empty file, damaged or truncated zip, zip bomb, unsafe or ambiguous zip
        members (see :func:`zip_member`), or text that is not UTF-8.
    """
    p = existing_file(path)
    if looks_like_zip(p):
        try:
            zf = zipfile.ZipFile(p)
        except _ZIP_ERRORS as exc:
            raise InputError(f"damaged or truncated zip archive ({' '.join(str(exc).split())})",
                             p) from None
        with zf:
            info = zip_member(zf, p, member_suffixes)
            raw = _read_member(zf, info, p)
            label = f"{p}!{info.filename}"
    else:
        raw = p.read_bytes()
        label = str(p)
    text = decode_text(raw, label)
    if not text.strip():
        raise InputError("file is empty", label)
    return text, label


def check_field_counts(text: str, label: str, sep: str = ",", frame=None) -> None:
    """An error naming the first row with fewer or more fields than the header.

    With ``frame``, the table pandas parsed from ``text``, only rows whose last cell is empty
    can be short (pandas fills the missing trailing fields of a short row), and a first row
    with more fields than the header shows as a non-default index (pandas' implicit index
    column; later long rows are pandas' own error): when no row is a candidate nothing more is
    done. Otherwise, and without ``frame``, the separators of every line are counted with
    NumPy on the bytes (no loop over rows), quoted fields blanked first. A last row that ends
    with a separator and no newline is an error, a last row without a newline a warning.

    Parameters
    ----------
    text : str
        The whole table, header first.
    label : str
        The file, for messages.
    sep : str
        The one-character field separator.
    frame : pandas.DataFrame, optional
        The table as pandas parsed it from ``text`` (default index).

    Raises
    ------
    InputError
        ``"truncated row: 5 of 8 fields"`` (or ``cannot parse as a table: 9 fields``),
        naming the row.
    """
    header_end = text.find("\n")
    if header_end < 0:
        return
    if frame is None or not isinstance(frame.index, pd.RangeIndex) or _empty_last(frame):
        body = re.sub(r'"[^"]*"', "", text) if '"' in text else text
        header = body[:body.find("\n")]
        _first_bad_row(body, label, sep, header.count(sep))
    if not text.endswith("\n"):
        last_line = text[text.rfind("\n") + 1:].rstrip("\r")
        if last_line.strip():
            row = text.count("\n") + 1
            if last_line.endswith(sep):
                raise InputError("truncated row: the file ends in the middle of this row "
                                 "(after a separator, without a final newline)", label,
                                 f"row {row}")
            logger.warning("%s: the file does not end with a newline; its last row (row %d) "
                           "is read as complete: check that the file was not cut short",
                           label, row)


def _empty_last(frame: pd.DataFrame) -> bool:
    """Whether a cell of the last column is empty (NaN, or ``""`` where read as text)."""
    if frame.shape[1] == 0:
        return False
    last = frame.iloc[:, -1]
    if last.isna().to_numpy().any():
        return True
    if pd.api.types.is_string_dtype(last) or last.dtype == object:
        return bool((last.astype(str) == "").to_numpy().any())
    return False


def _first_bad_row(text: str, label: str, sep: str, expected: int) -> None:
    """Raise naming the first non-blank line whose separator count is not ``expected``."""
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    if ends.size == 0 or ends[-1] != raw.size - 1:
        ends = np.r_[ends, raw.size]
    starts = np.r_[0, ends[:-1] + 1]
    lengths = ends - starts
    seps = np.flatnonzero(raw == ord(sep))
    counts = np.diff(np.searchsorted(seps, np.r_[starts, raw.size]))
    blank = lengths == 0
    blank |= (lengths == 1) & (raw[np.minimum(starts, raw.size - 1)] == 13)
    bad = (counts != expected) & ~blank
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    found, want = int(counts[i]) + 1, int(expected) + 1
    if found < want:
        cut = i == counts.size - 1 and not text.endswith("\n")
        what = f"truncated row: {found} of {want} fields" + (
            " (the file ends in the middle of this row)" if cut else "")
    else:
        what = f"cannot parse as a table: {found} fields, the header has {want}"
    raise InputError(what, label, f"row {i + 1}")


def read_csv_table(text: str, label: str, sep=",", **kwargs) -> pd.DataFrame:
    """Parse CSV text to a DataFrame of strings-or-numbers with a clear error on failure.

    A header that comes out as a single column while it contains ``;`` or tabs is reported as a
    wrong delimiter; a row with fewer or more fields than the header (a truncated file) as
    such, naming the row (:func:`check_field_counts`).
    """
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", label) from None
    except pd.errors.ParserError as exc:
        if sep == ",":
            check_field_counts(text, label, sep)  # names the row, short ones first
        msg = str(exc).strip().splitlines()[-1]
        m = re.search(r"line (\d+)", msg)
        where = f"row {m.group(1)}" if m else None
        raise InputError(f"cannot parse as a table ({msg})", label, where) from None
    if sep == ",":
        check_field_counts(text, label, sep, frame=df)
    if df.shape[1] == 1 and sep == ",":
        header = str(df.columns[0])
        for cand, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if cand in header:
                raise InputError(f"wrong delimiter: columns are separated by {name}, "
                                 "expected commas", label, "row 1")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def parse_date_label(label) -> np.datetime64 | None:
    """A date from a column name such as ``20150312``, ``2015-03-12`` or ``D20150312``.

    Returns None when the label is not a date-like name; raises when it looks like one but is
    not a real calendar date (``20151332``).
    """
    m = _DATE_RE.match(str(label).strip())
    if not m:
        return None
    y, mo, d = m.groups()
    try:
        return np.datetime64(pd.Timestamp(int(y), int(mo), int(d)).date(), "D")
    except ValueError:
        raise ValueError(f"{label!r} is not a valid date") from None


def split_date_columns(columns, label) -> tuple[list[str], list[str], np.ndarray]:
    """Split table columns into static ones and acquisition-date ones.

    Returns
    -------
    static : list of str
    date_columns : list of str
    dates : ndarray of datetime64[D]
    """
    static, date_cols, dates = [], [], []
    for c in columns:
        try:
            d = parse_date_label(c)
        except ValueError as exc:
            raise InputError(str(exc), label, f"column {c!r}") from None
        if d is None:
            if date_cols:
                raise InputError("non-date column after the date columns", label,
                                 f"column {c!r}")
            static.append(c)
        else:
            date_cols.append(c)
            dates.append(d)
    if not date_cols:
        raise InputError("no acquisition-date columns (named YYYYMMDD or YYYY-MM-DD)", label)
    return static, date_cols, np.array(dates, dtype="datetime64[D]")


def require_columns(columns, required, label, context="") -> None:
    """An error naming the first missing column, with the closest present name if any."""
    present = list(columns)
    lower = {c.lower(): c for c in present}
    for col in required:
        if col in present or col.lower() in lower:
            continue
        close = difflib.get_close_matches(col.lower(), list(lower), n=1, cutoff=0.6)
        hint = f" (found {lower[close[0]]!r}: misspelled?)" if close else ""
        raise InputError(f"missing column {col!r}{context}{hint}", label)


def find_column(columns, *names):
    """The first of ``names`` present in ``columns`` (case-insensitive), or None."""
    lower = {str(c).lower(): c for c in columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def numeric(df: pd.DataFrame, columns, label, header_rows: int = 1, rows=None) -> np.ndarray:
    """Columns of ``df`` as a float array; an error names the first cell that is not a number.

    Empty cells and ``NaN`` become NaN (missing); ``inf`` is refused, as are words.

    Parameters
    ----------
    df : pandas.DataFrame
        The table as read (one row per file line after the header).
    columns : list of str
        The columns wanted.
    label : str
        The file, for messages.
    header_rows : int
        The number of file lines before the first data row, used to report file line numbers.
    rows : array_like, optional
        The file line of each row of ``df``, reported instead (where lines were skipped).

    Returns
    -------
    ndarray, shape (n_rows, n_columns)
        The values, NaN where missing.

    Raises
    ------
    InputError
        ``"not a number: 'abc'"`` or ``"not a finite number: 'inf'"``, naming row and column.
    """
    block = df[list(columns)]
    rows = np.arange(len(df)) + 1 + header_rows if rows is None else np.asarray(rows)
    out = block.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(out) & ~block.isna().to_numpy()
    if bad.any():
        rs, cs = np.nonzero(bad)
        shown = pd.Series(block.to_numpy()[rs, cs], dtype=object)
        words = ~shown.astype(str).str.strip().str.lower().isin(["nan", "", "na"]).to_numpy()
        if words.any():
            i = int(np.flatnonzero(words)[0])
            raise InputError(f"not a number: {shown.iat[i]!r}", label,
                             f"row {rows[rs[i]]}, column {columns[cs[i]]!r}")
    infinite = np.isinf(out)
    if infinite.any():
        r, c = np.argwhere(infinite)[0]
        raise InputError(f"not a finite number: {block.iat[r, c]!r} (leave the cell empty or "
                         "write NaN for a missing value)", label,
                         f"row {rows[r]}, column {columns[c]!r}")
    return out


def check_lonlat(lon, lat, rows, lon_col, lat_col, label) -> None:
    """An error naming the row of the first longitude or latitude out of range.

    Longitudes must lie in [-180, 180], latitudes in [-90, 90] degrees (WGS84); NaN is left to
    the caller.

    Parameters
    ----------
    lon, lat : ndarray
        Degrees.
    rows : ndarray of int
        File row of each value.
    lon_col, lat_col : str
        Column names, for messages.
    label : str
        The file.
    """
    for values, lo, hi, what, col in ((lat, -90, 90, "latitude", lat_col),
                                      (lon, -180, 180, "longitude", lon_col)):
        vals = np.asarray(values, dtype=float)
        bad = (vals < lo) | (vals > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{what} {vals[i]:g} outside [{lo}, {hi}] degrees (WGS84)", label,
                             f"row {rows[i]}, column {col!r}")


def area_of_use_xy(crs) -> tuple[float, float, float, float] | None:
    """Bounds (xmin, ymin, xmax, ymax) of a projected CRS's area of use, metres.

    In the CRS's own units, widened by a tenth of their size on each side; None when unknown.

    Parameters
    ----------
    crs : str, int or pyproj.CRS
        The CRS.
    """
    from pyproj import CRS

    return _area_bounds(CRS.from_user_input(crs).to_wkt())


@functools.lru_cache(maxsize=32)
def _area_bounds(wkt: str):
    from pyproj import CRS, Transformer

    crs = CRS.from_wkt(wkt)
    area = crs.area_of_use
    if area is None or not crs.is_projected:
        return None
    try:
        t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        xmin, ymin, xmax, ymax = t.transform_bounds(area.west, area.south, area.east,
                                                    area.north, densify_pts=41)
    except Exception:  # noqa: BLE001 - pyproj's errors vary; no bounds, no check
        return None
    if not np.all(np.isfinite([xmin, ymin, xmax, ymax])) or xmin >= xmax or ymin >= ymax:
        return None
    dx, dy = 0.1 * (xmax - xmin), 0.1 * (ymax - ymin)
    return xmin - dx, ymin - dy, xmax + dx, ymax + dy


def check_xy_in_area(x, y, crs, label, where) -> None:
    """An error naming the first point outside the area of use of its projected CRS.

    ``x``/``y`` are metres in ``crs``; the area is widened by a tenth (:func:`area_of_use_xy`).

    Parameters
    ----------
    x, y : ndarray
        Metres in ``crs``; NaN is left to the caller.
    crs : str, int or pyproj.CRS
        The CRS they are in.
    label : str
        The file.
    where : callable
        Point index -> place in the file (``"row 12, columns 'x'/'y'"``).
    """
    bounds = area_of_use_xy(crs)
    if bounds is None:
        return
    xmin, ymin, xmax, ymax = bounds
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    bad = (x < xmin) | (x > xmax) | (y < ymin) | (y > ymax)
    if bad.any():
        from pyproj import CRS

        i = int(np.flatnonzero(bad)[0])
        name = CRS.from_user_input(crs).to_string()
        raise InputError(f"x/y ({x[i]:.1f}, {y[i]:.1f}) outside the area of use of {name} "
                         f"(x {xmin:.0f}..{xmax:.0f}, y {ymin:.0f}..{ymax:.0f} m)", label,
                         where(i))


def checked_dates(parsed, shown, label, where, expected=None) -> np.ndarray:
    """Parsed dates as ``datetime64[D]``; an error names the first that could not be read.

    Parameters
    ----------
    parsed : pandas.Series or DatetimeIndex
        Result of ``pd.to_datetime(..., errors="coerce")`` (NaT where unreadable).
    shown : sequence of str
        What the file says at each item, for the message.
    label : str
        The file.
    where : callable
        Item index -> location in the file (``"row 12, column 'date'"``).
    expected : str, optional
        The expected form, added to the message (``"YYYYMMDD"``).
    """
    bad = pd.isna(parsed)
    bad = bad.to_numpy() if hasattr(bad, "to_numpy") else np.asarray(bad)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        hint = f" (expected {expected})" if expected else ""
        raise InputError(f"not a date: {shown[i]!r}{hint}", label, where(i))
    return np.asarray(parsed, dtype="datetime64[ns]").astype("datetime64[D]")
