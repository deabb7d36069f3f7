"""Reader of the single-point InSAR text files of the MultiDEFusion format.

Two layouts, tab- or space-separated with one header line (CRLF and trailing tabs allowed):

* cumulative series (``PSI_*.txt``, ``SBAS_*.txt``)::

      YYYY MM DD DSP INC_ANG HEAD_ANG ERROR

  ``DSP`` cumulative LOS displacement (m), the first epoch 0;
* interferogram increments (``DInSAR_*.txt``)::

      YYYY1 MM1 DD1 YYYY2 MM2 DD2 DSP INC_ANG HEAD_ANG ERROR

  ``DSP`` the LOS displacement between the two dates (m). Consecutive pairs are chained into a
  cumulative series (a break in the chain is logged: the motion across it is unknown and taken
  as zero).

Angles are in radians (incidence from the vertical, heading of the flight direction); ``ERROR``
is a one-sigma LOS error (m), kept as ``displacement_error`` (mm). The files carry no position:
give ``lon``/``lat``, or keep a ``GNSS.txt`` (daily ECEF) beside them and the point is put at
that station's mean position. Heading conventions differ between files of this format (about
-15/-165 degrees in some, 191/350 in others); the reader keeps what the file says, wrapped to
[-180, 180).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..conventions import wrap_angle
from ..dataset import point_dataset
from ..errors import InputError
from ..log import logger
from ._common import read_text, require_columns

CUMULATIVE = ["YYYY", "MM", "DD", "DSP", "INC_ANG", "HEAD_ANG", "ERROR"]
PAIRS = ["YYYY1", "MM1", "DD1", "YYYY2", "MM2", "DD2", "DSP", "INC_ANG", "HEAD_ANG", "ERROR"]


def _table(path: Path) -> pd.DataFrame:
    text, _ = read_text(path, member_suffixes=(".txt",))
    try:
        df = pd.read_csv(io.StringIO(text), sep=r"\s+", engine="python")
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot parse as a table ({str(exc).splitlines()[-1]})", path) from None
    if df.empty:
        raise InputError("no data rows", path)
    df = df.loc[:, [c for c in df.columns if not str(c).startswith("Unnamed")]]
    short = df.isna().to_numpy()
    if short.any():
        r, c = np.argwhere(short)[0]
        raise InputError(f"truncated row: no value in column {df.columns[c]!r} "
                         f"({int((~short[r]).sum())} of {df.shape[1]} fields)", path,
                         f"row {r + 2}")
    bad = df.apply(pd.to_numeric, errors="coerce").isna() & df.notna()
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise InputError(f"not a number: {df.iat[r, c]!r}", path,
                         f"row {r + 2}, column {df.columns[c]!r}")
    values = df.apply(pd.to_numeric, errors="coerce")
    infinite = np.isinf(values.to_numpy(dtype=float))
    if infinite.any():
        r, c = np.argwhere(infinite)[0]
        raise InputError(f"not a finite number: {df.iat[r, c]!r}", path,
                         f"row {r + 2}, column {df.columns[c]!r}")
    return values


def _dates(df, y, m, d, path) -> np.ndarray:
    try:
        return pd.to_datetime(dict(year=df[y], month=df[m], day=df[d])).values.astype(
            "datetime64[D]")
    except (ValueError, OverflowError) as exc:
        raise InputError(f"bad date ({exc})", path, f"columns {y}/{m}/{d}") from None


def _station_position(path: Path):
    gnss = path.parent / "GNSS.txt"
    if not gnss.is_file():
        return None
    from .gnss import read_ecef

    g = read_ecef(gnss)
    logger.info("%s: no position in the file; placed at the GNSS station %s beside it",
                path, str(g["station"].values[0]))
    return float(g["lon"].values[0]), float(g["lat"].values[0])


def read_multidefusion(path, *, crs=None, name=None, band="C", technique=None, incidence=None,
                       heading=None, lon=None, lat=None, **options):
    """Read one MultiDEFusion PSI/SBAS (cumulative) or DInSAR (pair) file as a 1-point dataset.

    Parameters
    ----------
    path : path-like
    lon, lat : float, optional
        Position of the point (WGS84 degrees); default the ``GNSS.txt`` station beside it.
    incidence, heading : float, optional
        Degrees; override the file's angles (they are used when given).

    Returns
    -------
    xarray.Dataset
        One point; ``displacement`` (mm, cumulative, zero at the first epoch) and
        ``displacement_error`` (mm).
    """
    path = Path(path)
    if options:
        raise InputError(f"unknown option {sorted(options)[0]!r} for the multidefusion reader",
                         path)
    df = _table(path)
    cols = list(df.columns)
    if "YYYY1" in cols:
        require_columns(cols, PAIRS, path)
        first = _dates(df, "YYYY1", "MM1", "DD1", path)
        second = _dates(df, "YYYY2", "MM2", "DD2", path)
        order = np.argsort(first, kind="stable")
        first, second, df = first[order], second[order], df.iloc[order]
        breaks = int((first[1:] != second[:-1]).sum())
        if breaks:
            logger.warning("%s: %d break(s) in the chain of interferograms; the motion across "
                           "each is unknown and taken as zero", path, breaks)
        dates = np.concatenate([first[:1], second])
        disp = np.concatenate([[0.0], np.cumsum(df["DSP"].to_numpy() * 1000.0)])
        err = np.concatenate([[0.0], np.sqrt(np.cumsum((df["ERROR"].to_numpy() * 1000) ** 2))])
        kind = "DInSAR"
    else:
        require_columns(cols, CUMULATIVE, path)
        dates = _dates(df, "YYYY", "MM", "DD", path)
        disp = df["DSP"].to_numpy() * 1000.0
        err = df["ERROR"].to_numpy() * 1000.0
        kind = path.name.split("_")[0].upper() if "_" in path.name else "InSAR"
    inc = float(np.rad2deg(np.nanmedian(df["INC_ANG"].to_numpy())))
    head = float(wrap_angle(np.rad2deg(np.nanmedian(df["HEAD_ANG"].to_numpy()))))
    if lon is None or lat is None:
        pos = _station_position(path)
        if pos is None:
            raise InputError("no position: give lon/lat in the dataset's options or keep the "
                             "station's GNSS.txt beside the file", path)
        lon, lat = pos
    ds = point_dataset(disp[None, :], dates, ids=[path.stem], lon=[lon], lat=[lat], crs=crs,
                       incidence=inc if incidence is None else incidence,
                       heading=head if heading is None else heading,
                       name=name or path.stem, band=band,
                       technique=technique or kind, source=str(path), file_kind=kind)
    ds["displacement_error"] = (("point", "time"), err[None, :], {"units": "mm"})
    return ds
