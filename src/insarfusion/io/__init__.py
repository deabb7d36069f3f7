"""Readers of InSAR point datasets and GNSS station files, behind one entry point each.

* :func:`read_points` — ``csv`` (wide), ``egms`` (L2a/L2b/L3, CSV or the downloaded zip),
  ``stamps`` (``ps_plot(..., 'ts')`` export), ``mintpy`` (``timeseries.h5`` + geometry).
* :func:`read_gnss` — ``tenv3`` and ``tenv`` (Nevada Geodetic Laboratory), ``pos``
  (EarthScope/PBO), ``ecef`` (daily ``YYYY MM DD X Y Z mX mY mZ``), ``csv``; a folder is read as
  one file per station.

Every reader returns the data model of :mod:`insarfusion.dataset`; bad input raises
:class:`~insarfusion.errors.InputError` naming file, row/column and what is wrong.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import numpy as np

from ..errors import InputError

#: format name -> "module:function" (imported on first use).
POINT_FORMATS = {
    "csv": "csv_points:read_csv_points",
    "egms": "egms:read_egms",
    "stamps": "stamps:read_stamps",
    "mintpy": "mintpy:read_mintpy",
    "multidefusion": "multidefusion:read_multidefusion",
}
#: Dataset attributes that ``inspect`` reports when a reader sets them.
INSPECT_ATTRS = ("level", "component", "track", "orbit", "reference")

GNSS_FORMATS = {
    "tenv3": "gnss:read_tenv3",
    "tenv": "gnss:read_tenv",
    "pos": "gnss:read_pos",
    "ecef": "gnss:read_ecef",
    "csv": "gnss:read_gnss_csv",
}


def _reader(table: dict, fmt: str, kind: str, path):
    if fmt not in table:
        raise InputError(f"unknown {kind} format {fmt!r}; expected one of {', '.join(table)}",
                         path)
    module, func = table[fmt].split(":")
    return getattr(import_module(f"{__name__}.{module}"), func)


def read_points(path, format: str | None = None, **kwargs):
    """Read a point dataset; ``format`` is guessed from the file when None.

    Keyword arguments go to the reader: ``crs``, ``name``, ``band``, ``technique``,
    ``incidence``, ``heading`` and reader-specific options.
    """
    from ._guess import guess_format

    path = Path(path)
    if format is None:
        kind, format = guess_format(path)
        if kind != "points":
            raise InputError(f"looks like GNSS ({format}), expected InSAR points", path)
    return _reader(POINT_FORMATS, format, "point", path)(path, **kwargs)


def read_gnss(path, format: str | None = None, *, crs=None, stations=None, **kwargs):
    """Read GNSS stations from one file or a folder of one file per station.

    Parameters
    ----------
    path : path-like
        File or folder.
    format : str, optional
        One of :data:`GNSS_FORMATS`; guessed when None.
    crs : optional
        Working CRS for ``x``/``y``; default the UTM zone of the stations.
    stations : list of str, optional
        Keep only these stations (an error names any that is missing).
    """
    from ..dataset import combine_gnss
    from ._guess import gnss_files, guess_format

    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    files = gnss_files(path, format) if path.is_dir() else [path]
    parts = []
    for f in files:
        fmt = format
        if fmt is None:
            kind, fmt = guess_format(f)
            if kind != "gnss":
                raise InputError(f"looks like InSAR points ({fmt}), expected GNSS", f)
        parts.append(_reader(GNSS_FORMATS, fmt, "GNSS", f)(f, crs=crs, **kwargs))
    ds = combine_gnss(parts, crs=crs) if len(parts) > 1 else parts[0]
    if crs is None and len(parts) > 1 and np.isfinite(ds["lon"].values).any():
        from ..crs import utm_crs
        from ..dataset import to_crs
        ds = to_crs(ds, utm_crs(ds["lon"].values, ds["lat"].values))
    if stations:
        missing = [s for s in stations if s not in ds["station"].values]
        if missing:
            raise InputError(f"station {missing[0]!r} not found (have: "
                             f"{', '.join(ds['station'].values[:20])})", path)
        ds = ds.sel(station=list(stations))
    return ds


def inspect_file(path, format: str | None = None) -> dict:
    """Summary (kind, format, counts, span, CRS) of any supported input file or folder."""
    from ..dataset import summary
    from ._guess import guess_format

    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if format is None:
        kind, format = guess_format(path)
    elif format in POINT_FORMATS and format not in GNSS_FORMATS:
        kind = "points"
    elif format in GNSS_FORMATS and format not in POINT_FORMATS:
        kind = "gnss"
    else:  # "csv" is both: look at the columns
        kind, guessed = guess_format(path)
        if guessed != format:
            kind = "points"
    ds = read_points(path, format) if kind == "points" else read_gnss(path, format)
    info = summary(ds)
    info.update(kind=kind, format=format, path=str(path))
    for key in INSPECT_ATTRS:
        if key in ds.attrs:
            info[key] = ds.attrs[key]
    return info


__all__ = ["GNSS_FORMATS", "POINT_FORMATS", "inspect_file", "read_gnss", "read_points"]
