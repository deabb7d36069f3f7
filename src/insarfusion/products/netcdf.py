"""The displacement cube as CF NetCDF (``displacement.nc``, ``displacement_<method>.nc``).

``displacement`` (time, y, x) in mm, LOS of the primary dataset, with the CRS in CF form (a
``spatial_ref`` grid-mapping variable that xarray/rioxarray, GDAL and QGIS read), optional
``displacement_std``, and the product's metadata as global attributes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..crs import crs_string, parse_crs
from ..cubes import row_blocks
from ..errors import InputError
from .metadata import LOS_SIGN_CONVENTION, as_cube, clean_value
from .output import atomic_file


def _xy_attrs(ds: xr.Dataset) -> None:
    ds["x"].attrs.update(standard_name="projection_x_coordinate", long_name="x of cell centre",
                         units="m", axis="X")
    ds["y"].attrs.update(standard_name="projection_y_coordinate", long_name="y of cell centre",
                         units="m", axis="Y")


def _transform_from_centres(cube):
    """Affine transform (upper-left corner) of a north-up cube from its cell centres.

    None when the cell size cannot be told (a single cell without a ``cell_size`` attribute).
    """
    from affine import Affine

    x = cube["x"].values
    y = cube["y"].values
    if x.size > 1:
        cell = float(x[1] - x[0])
    elif y.size > 1:
        cell = float(y[0] - y[1])
    elif "cell_size" in cube.attrs:
        cell = float(cube.attrs["cell_size"])
    else:
        return None
    return Affine(cell, 0.0, float(x[0]) - cell / 2, 0.0, -cell, float(y[0]) + cell / 2)


def write_displacement_nc(path, cube, crs, std=None, attrs=None, variables=None) -> Path:
    """Write the displacement cube as CF NetCDF.

    Parameters
    ----------
    path : path-like
        Output file (``displacement.nc``).
    cube : xarray.DataArray, dims (time, y, x)
        Cumulative LOS displacement (LOS of the primary dataset), mm; coordinates ``time``
        (dates), ``y``, ``x`` (cell centres, metres in ``crs``).
    crs : str or pyproj.CRS
        Working CRS, e.g. ``"EPSG:32717"``.
    std : xarray.DataArray, optional
        Standard deviation of the displacement, mm, same shape and coordinates.
    attrs : dict, optional
        Global attributes to add: the product's metadata (:func:`product_metadata`: method,
        primary dataset and geometry, reference station and date, ...). The LOS sign
        convention is always recorded (``los_sign_convention``).
    variables : dict, optional
        More variables on the same grid, ``{name: DataArray}`` with dims (time, y, x) or
        (y, x) and their own ``attrs`` (units, long_name): the raw std
        (``displacement_std_raw``), the velocity std maps (``velocity_std``,
        ``velocity_std_raw``).

    Returns
    -------
    pathlib.Path
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    cube = as_cube(cube)
    crs = parse_crs(crs)
    ds = xr.Dataset({"displacement": cube.astype("float32")})
    ds["displacement"].attrs = {
        "units": "mm",
        "long_name": "cumulative LOS displacement (LOS of the primary dataset), positive toward "
                     "the satellite",
    }
    if std is not None:
        std = as_cube(std, "std")
        if std.shape != cube.shape:
            raise InputError(f"std has shape {std.shape}, the cube {cube.shape}")
        ds["displacement_std"] = (("time", "y", "x"), std.data.astype("float32"),
                                  {"units": "mm",
                                   "long_name": "standard deviation of the displacement",
                                   **{k: clean_value(v) for k, v in std.attrs.items()
                                      if v is not None and k != "units"}})
    for name, extra in (variables or {}).items():
        dims = ("time", "y", "x") if extra.ndim == 3 else ("y", "x")
        extra = extra.transpose(*dims)
        if extra.shape != tuple(ds.sizes[d] for d in dims):
            raise InputError(f"{name} has shape {extra.shape}, the cube {cube.shape}")
        ds[name] = (dims, extra.data.astype("float32"),
                    {k: clean_value(v) for k, v in extra.attrs.items() if v is not None})
    _xy_attrs(ds)
    ds["time"].attrs.pop("units", None)
    ds.attrs = {"Conventions": "CF-1.8", "title": "fused LOS displacement",
                "projected_crs": crs_string(crs), "los_sign_convention": LOS_SIGN_CONVENTION,
                **{k: clean_value(v) for k, v in (attrs or {}).items() if v is not None}}
    ds = ds.rio.write_crs(crs)
    transform = _transform_from_centres(cube)
    if transform is not None:
        ds = ds.rio.write_transform(transform)
    # passing encoding replaces what write_crs put there, so the grid mapping is restated
    # one epoch by one band of rows a chunk: a map or a series reads few chunks, and a lazy
    # cube's blocks of rows are written as whole chunks
    rows = cube.chunks[1][0] if cube.chunks is not None else row_blocks(*cube.shape[1:])[0].stop
    band = (max(1, min(rows, cube.shape[1])), max(1, cube.shape[2]))
    encoding = {name: {"zlib": True, "complevel": 4, "_FillValue": np.float32(np.nan),
                       "grid_mapping": "spatial_ref",
                       "chunksizes": (1, *band) if ds[name].ndim == 3 else band}
                for name in ds.data_vars if name != "spatial_ref"}
    start = pd.Timestamp(ds["time"].values[0]).strftime("%Y-%m-%d")
    encoding["time"] = {"units": f"days since {start}", "calendar": "proleptic_gregorian",
                        "dtype": "float64"}
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    return Path(path)
