"""Maps on the grid: velocity and its std, written as Cloud-Optimized GeoTIFFs.

* :func:`velocity_map`, :func:`velocity_std_map`: the mean LOS velocity of every cell and its
  std (mm/yr);
* :func:`write_cog`: one or more bands as a COG (tiled, deflate, overviews), float32 with NaN
  as nodata by default, with the product's metadata as tags;
* :func:`write_velocity_tif`: one map as ``velocity.tif`` / ``velocity_std.tif``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..conventions import DAYS_PER_YEAR, as_days
from ..crs import parse_crs
from ..errors import InputError
from ..grid import grid_transform
from ..series import linear_rate
from .metadata import LOS_SIGN_CONVENTION, as_cube, clean_value
from .output import atomic_file


def velocity_map(cube) -> xr.DataArray:
    """Mean LOS velocity of every cell: the least-squares slope of its series.

    Parameters
    ----------
    cube : xarray.DataArray, dims (time, y, x)
        Displacement, mm.

    Returns
    -------
    xarray.DataArray, dims (y, x)
        mm/yr; NaN where a cell has fewer than two finite epochs.
    """
    cube = as_cube(cube)
    rate = _per_cell(lambda values: linear_rate(cube["time"].values, values), cube)
    return xr.DataArray(rate, dims=("y", "x"), coords={"y": cube["y"], "x": cube["x"]},
                        name="velocity", attrs={"units": "mm/yr",
                                                "long_name": "mean LOS velocity"})


def _per_cell(func, cube) -> np.ndarray:
    """``func`` of every cell's series (time on the last axis) as a ``(y, x)`` array.

    The cube is read and computed a block of rows at a time, about
    :data:`insarfusion.parallel.CELL_CHUNK` cells each, so ``func``'s temporaries stay the
    size of a block (whole Dask chunks of a 742 × 742 × 113 cube, two at a time, took
    gigabytes).
    """
    from ..cubes import blocks
    from ..parallel import CELL_CHUNK

    cube = cube.transpose("time", "y", "x")
    out = np.empty((cube.sizes["y"], cube.sizes["x"]))
    for rows, values in blocks(cube, rows=max(1, CELL_CHUNK // max(cube.sizes["x"], 1))):
        out[rows] = func(np.moveaxis(values, 0, -1))
    return out


def velocity_std_map(std_cube) -> xr.DataArray:
    """Standard deviation (mm/yr) of the least-squares velocity from per-epoch std (mm).

    Propagates ``sigma_t`` through the slope's weights ``w_t = (t - tbar) / sum (t - tbar)^2``
    as if the epochs' errors were independent; errors correlated in time (as the CNN's or an
    atmosphere's are) make the true uncertainty larger, so read it as a lower bound.
    """
    cube = as_cube(std_cube, "displacement_std")
    years = as_days(cube["time"].values).astype("int64") / DAYS_PER_YEAR
    centred = years - years.mean()
    weights = centred / (centred**2).sum()

    def _std(values):  # time last
        variance = np.nansum((values * weights) ** 2, axis=-1)
        return np.where(np.isfinite(values).any(axis=-1), np.sqrt(variance), np.nan)

    return xr.DataArray(_per_cell(_std, cube), dims=("y", "x"),
                        coords={"y": cube["y"], "x": cube["x"]}, name="velocity_std",
                        attrs={"units": "mm/yr"})


def _overview_count(height: int, width: int, smallest: int = 64) -> int:
    """Overview levels halving the raster until it fits in ``smallest`` pixels (at least 1)."""
    size = max(height, width, 2)
    return max(1, int(np.ceil(np.log2(size / smallest))))


def write_cog(path, bands, grid, crs, *, descriptions=None, units=None, metadata=None,
              dtype="float32", nodata=np.nan, resampling="average", blocksize=256) -> Path:
    """Write maps on the grid as one Cloud-Optimized GeoTIFF with overviews.

    The bands are written to a tiled GeoTIFF in a staging folder and copied with GDAL's COG
    driver (deflate, predictor, ``OVERVIEW_COUNT`` levels so that even a small grid has
    overviews), so ``gdalinfo`` reports ``LAYOUT=COG``.

    Parameters
    ----------
    path : path-like
        Output file.
    bands : array_like or xarray.DataArray, or a list of them, each (ny, nx)
        The maps, north up (row 0 is the largest ``y``).
    grid : xarray.Dataset
        From :func:`insarfusion.grid.make_grid`; gives the transform.
    crs : str or pyproj.CRS
        Working CRS.
    descriptions, units : list of str, optional
        Band descriptions and units (one per band).
    metadata : dict, optional
        Dataset tags (:func:`product_metadata`); the LOS sign convention is always added.
    dtype : str
        Band type (``float32``; ``uint8`` for masks).
    nodata : float
        Nodata value (NaN for float bands).
    resampling : str
        Overview resampling (``average``; ``nearest`` or ``mode`` for masks).
    blocksize : int
        Tile size, pixels.

    Returns
    -------
    pathlib.Path
    """
    import rasterio
    from rasterio.shutil import copy as rio_copy

    if isinstance(bands, (xr.DataArray, np.ndarray)) and np.ndim(bands) == 2:
        bands = [bands]
    arrays = [np.asarray(b.transpose("y", "x").values if isinstance(b, xr.DataArray) else b)
              for b in bands]
    shape = (grid.sizes["y"], grid.sizes["x"])
    for a in arrays:
        if a.shape != shape:
            raise InputError(f"map has shape {a.shape}, the grid {shape}")
    n = len(arrays)
    descriptions = list(descriptions or [None] * n)
    units = list(units or [None] * n)
    if len(descriptions) != n or len(units) != n:
        raise InputError(f"{n} bands but {len(descriptions)} descriptions, {len(units)} units")
    crs = parse_crs(crs)
    profile = {"driver": "GTiff", "height": shape[0], "width": shape[1], "count": n,
               "dtype": dtype, "crs": rasterio.crs.CRS.from_wkt(crs.to_wkt()),
               "transform": grid_transform(grid), "nodata": nodata, "tiled": True,
               "blockxsize": blocksize, "blockysize": blocksize}
    tags = {"los_sign_convention": LOS_SIGN_CONVENTION, **(metadata or {})}
    with atomic_file(path) as tmp:
        plain = tmp.with_name(tmp.stem + ".plain.tif")
        with rasterio.open(plain, "w", **profile) as dst:
            for i, (a, d, u) in enumerate(zip(arrays, descriptions, units, strict=True), 1):
                dst.write(a.astype(dtype), i)
                if d:
                    dst.set_band_description(i, d)
                if u:
                    dst.update_tags(i, units=u)
            if n == 1 and units[0]:
                tags.setdefault("units", units[0])
            dst.update_tags(**{k: clean_value(v) for k, v in tags.items()})
        predictor = "YES" if np.dtype(dtype).kind == "f" else "NO"
        rio_copy(plain, tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR=predictor,
                 BLOCKSIZE=blocksize, OVERVIEWS="AUTO",
                 OVERVIEW_COUNT=_overview_count(*shape), RESAMPLING=resampling.upper())
        plain.unlink()
    return Path(path)


def write_velocity_tif(path, velocity, grid, crs, description="mean LOS velocity",
                       units="mm/yr", metadata=None) -> Path:
    """Write a map on the grid as a single-band float32 Cloud-Optimized GeoTIFF.

    Parameters
    ----------
    path : path-like
        Output file (``velocity.tif``, ``velocity_std.tif``).
    velocity : array_like or xarray.DataArray, shape (ny, nx)
        Values, north up (row 0 is the largest ``y``), mm/yr.
    grid : xarray.Dataset
        From :func:`insarfusion.grid.make_grid`; gives the transform.
    crs : str or pyproj.CRS
        Working CRS.
    description, units : str
        Band description and units.
    metadata : dict, optional
        Dataset tags (:func:`product_metadata`).

    Returns
    -------
    pathlib.Path

    Notes
    -----
    NaN is the nodata value; the file is tiled, deflate-compressed and has overviews
    (:func:`write_cog`).
    """
    return write_cog(path, [velocity], grid, crs, descriptions=[description], units=[units],
                     metadata=metadata)
