"""All the products of a run, written into its (staging) output folder."""

from __future__ import annotations

from pathlib import Path

from .netcdf import write_displacement_nc
from .points import write_points_gpkg
from .rasters import velocity_std_map, write_velocity_tif


def write_run_products(out, cubes: dict, stds: dict, velocity, grid, datasets, crs,
                       attrs=None, *, primary=None, reference=None, ref_date=None) -> dict:
    """Write a run's products into the folder ``out``.

    ``displacement.nc`` (with its std where the method has one), ``velocity.tif``,
    ``velocity_std.tif`` (where there is a std), one ``displacement_<method>.nc`` per
    baseline, every one carrying the metadata ``attrs``; and, with ``primary``, the products
    other tools open (:func:`insarfusion.interop.write_interop_products`): ``geometry.tif``,
    ``support.tif``, ``data_mask.tif``, ``points.gpkg`` with its per-date fields and the
    ``fused`` layer, and ``mintpy/timeseries.h5``, ``velocity.h5``, ``geometryGeo.h5``.
    Without ``primary``, ``points.gpkg`` holds the input points only.

    Parameters
    ----------
    out : path-like
        The (staging) output folder.
    cubes, stds : dict
        ``{method: (time, y, x) cube}``, mm; ``"synergic"`` is the main product. ``stds`` has
        the std cube or None per method.
    velocity : callable
        ``velocity(method)`` → the product's mean LOS velocity map (y, x), mm/yr.
    grid : xarray.Dataset
        The run's grid.
    datasets : dict
        The referenced point datasets.
    crs : str
        The working CRS.
    attrs : dict, optional
        The run's metadata (:func:`insarfusion.interop.run_metadata`): carried by every
        NetCDF, GeoTIFF, point layer and MintPy file. A baseline's file has its own
        ``method``.
    primary : str, optional
        Name of the primary dataset: also write the geometry, support, mask, fused-point and
        MintPy products.
    reference : dict, optional
        The reference place (``{"lon", "lat", "name"}``) recorded in the MintPy files.
    ref_date : date, optional
        MintPy's reference date (default the first epoch).

    Returns
    -------
    dict
        ``{name: path}`` of every file written.
    """
    out = Path(out)
    meta = dict(attrs or {})
    std = stds.get("synergic")
    files = {"displacement": write_displacement_nc(out / "displacement.nc", cubes["synergic"],
                                                   crs, std=std, attrs=meta),
             "velocity": write_velocity_tif(out / "velocity.tif", velocity("synergic"), grid,
                                            crs, metadata=meta)}
    velocity_std = None
    if std is not None and "time" in getattr(std, "dims", ()):
        velocity_std = velocity_std_map(std)
        files["velocity_std"] = write_velocity_tif(
            out / "velocity_std.tif", velocity_std, grid, crs,
            description="std of the mean LOS velocity", metadata=meta)
    for name, cube in cubes.items():
        if name != "synergic":
            files[f"displacement_{name}"] = write_displacement_nc(
                out / f"displacement_{name}.nc", cube, crs, attrs={**meta, "method": name})
    if primary is None:
        files["points"] = write_points_gpkg(out / "points.gpkg", datasets, layer_metadata=meta)
        return files
    from ..interop import write_interop_products

    files.update(write_interop_products(
        out, cubes=cubes, grid=grid, datasets=datasets, primary=primary, crs=crs,
        metadata=meta, velocity=velocity("synergic"), velocity_std=velocity_std,
        reference=reference, ref_date=ref_date))
    return files
