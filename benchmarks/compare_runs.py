"""Compare two output folders of ``insarfusion run`` / ``demo``: are the products the same?

A refactor must keep behaviour: the same seed must give the same numbers. Files differ in
bytes for reasons that are not numbers (creation times inside NetCDF and GeoPackage headers),
so this compares what they hold:

* ``validation.json``: equal, except the wall-clock ``timings_s``;
* every NetCDF: the same variables, coordinates and attributes, values bit-identical (NaN
  where NaN);
* every GeoTIFF: the same bands, transform, CRS and values, bit-identical;
* ``points.gpkg``: the same table.

Usage::

    python benchmarks/compare_runs.py BEFORE/results AFTER/results

Prints one line per file and exits 1 if anything differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _same_array(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def compare_validation(a: Path, b: Path) -> str | None:
    """None if equal but for the timings, else what differs."""
    va, vb = (json.loads(p.read_text()) for p in (a, b))
    for v in (va, vb):
        v.pop("timings_s", None)
    if va == vb:
        return None
    keys = sorted(k for k in set(va) | set(vb) if va.get(k) != vb.get(k))
    return f"sections differ: {keys}"


def compare_netcdf(a: Path, b: Path) -> str | None:
    """None if the variables, coordinates and attributes are identical."""
    import xarray as xr

    with xr.open_dataset(a, decode_times=False) as da, xr.open_dataset(b, decode_times=False) as db:
        if set(da.variables) != set(db.variables):
            return f"variables {sorted(da.variables)} vs {sorted(db.variables)}"
        for name in da.variables:
            if not _same_array(da[name].values, db[name].values):
                diff = np.nanmax(np.abs(da[name].values.astype(float)
                                        - db[name].values.astype(float)))
                return f"{name}: values differ (max |diff| {diff:.3g})"
            if da[name].attrs != db[name].attrs:
                return f"{name}: attributes differ"
        if da.attrs != db.attrs:
            return "global attributes differ"
    return None


def compare_tif(a: Path, b: Path) -> str | None:
    """None if bands, georeferencing and values are identical."""
    import rasterio

    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        if (ra.count, ra.transform, ra.crs) != (rb.count, rb.transform, rb.crs):
            return "bands or georeferencing differ"
        if not _same_array(ra.read(), rb.read()):
            return "values differ"
    return None


def compare_gpkg(a: Path, b: Path) -> str | None:
    """None if the point tables are identical."""
    import pyogrio

    ta, tb = pyogrio.read_dataframe(a), pyogrio.read_dataframe(b)
    if list(ta.columns) != list(tb.columns):
        return f"columns {list(ta.columns)} vs {list(tb.columns)}"
    return None if ta.equals(tb) else "values differ"


COMPARERS = {".json": compare_validation, ".nc": compare_netcdf, ".tif": compare_tif,
             ".gpkg": compare_gpkg}


def main(argv=None) -> int:
    """Compare the product files of two output folders; 0 when all are the same."""
    first, second = (Path(p) for p in (argv or sys.argv[1:]))
    failed = 0
    names = sorted({p.name for p in first.iterdir()} | {p.name for p in second.iterdir()})
    for name in names:
        suffix = Path(name).suffix
        if suffix not in COMPARERS or (suffix == ".json" and name != "validation.json"):
            continue
        if not (first / name).exists() or not (second / name).exists():
            print(f"{name}: only in one folder")
            failed += 1
            continue
        problem = COMPARERS[suffix](first / name, second / name)
        print(f"{name}: {'same' if problem is None else problem}")
        failed += problem is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
