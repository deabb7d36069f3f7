"""All the products of a run, written into its (staging) output folder."""

from __future__ import annotations

from pathlib import Path

from .netcdf import write_displacement_nc
from .points import write_points_gpkg
from .rasters import velocity_std_map, write_velocity_tif


def write_run_products(out, cubes: dict, stds: dict, velocity, grid, datasets, crs,
                       attrs=None) -> None:
    """Write a run's products into the folder ``out``.

    ``displacement.nc`` (with its std where the method has one), ``velocity.tif``,
    ``velocity_std.tif`` (where there is a std), ``points.gpkg`` and one
    ``displacement_<method>.nc`` per baseline.

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
        Global attributes of ``displacement.nc`` (method, temporal method).
    """
    out = Path(out)
    std = stds.get("synergic")
    write_displacement_nc(out / "displacement.nc", cubes["synergic"], crs, std=std, attrs=attrs)
    write_velocity_tif(out / "velocity.tif", velocity("synergic"), grid, crs)
    if std is not None and "time" in getattr(std, "dims", ()):
        write_velocity_tif(out / "velocity_std.tif", velocity_std_map(std), grid, crs,
                           description="std of the mean LOS velocity")
    write_points_gpkg(out / "points.gpkg", datasets)
    for name, cube in cubes.items():
        if name != "synergic":
            write_displacement_nc(out / f"displacement_{name}.nc", cube, crs,
                                  attrs={"method": name})
