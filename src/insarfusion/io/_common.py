"""Helpers shared by the readers: opening files (also inside zips), tables, dates, numbers.

Every failure is an :class:`~insarfusion.errors.InputError` that names the file, the row
(1-based line number in the file) or column, and what is wrong.
"""

from __future__ import annotations

import difflib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

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


def read_text(path, member_suffixes=(".csv",), encoding="utf-8") -> tuple[str, str]:
    """The text of a file, or of the first matching member of a ``.zip``.

    Returns
    -------
    text : str
    label : str
        ``path`` or ``path!member`` for messages.
    """
    p = existing_file(path)
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as zf:
            members = [n for n in zf.namelist()
                       if n.lower().endswith(tuple(member_suffixes)) and not n.endswith("/")]
            if not members:
                raise InputError(
                    f"zip holds no {'/'.join(member_suffixes)} file (it has: "
                    f"{', '.join(zf.namelist()[:5]) or 'nothing'})", p)
            member = members[0]
            raw = zf.read(member)
            label = f"{p}!{member}"
    else:
        raw = p.read_bytes()
        label = str(p)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if not text.strip():
        raise InputError("file is empty", label)
    return text, label


def read_csv_table(text: str, label: str, sep=",", **kwargs) -> pd.DataFrame:
    """Parse CSV text to a DataFrame of strings-or-numbers with a clear error on failure.

    A header that comes out as a single column while it contains ``;`` or tabs is reported as a
    wrong delimiter.
    """
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", label) from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1]
        m = re.search(r"line (\d+)", msg)
        where = f"row {m.group(1)}" if m else None
        raise InputError(f"cannot parse as a table ({msg})", label, where) from None
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


def numeric(df: pd.DataFrame, columns, label, header_rows: int = 1) -> np.ndarray:
    """Columns of ``df`` as a float array; an error names the first non-numeric cell.

    Empty cells become NaN. ``header_rows`` is the number of file lines before the first data
    row, used to report file line numbers.
    """
    block = df[list(columns)]
    out = block.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    raw_missing = block.isna().to_numpy()
    bad = np.isnan(out) & ~raw_missing
    if bad.any():
        r, c = np.argwhere(bad)[0]
        value = block.iat[r, c]
        if not (isinstance(value, str) and value.strip().lower() in {"nan", "", "na"}):
            raise InputError(f"not a number: {value!r}", label,
                             f"row {r + 1 + header_rows}, column {columns[c]!r}")
    return out


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
