"""All the products of a run, written into its (staging) output folder."""

from __future__ import annotations

from pathlib import Path

from ..conventions import FUSED
from .netcdf import write_displacement_nc
from .points import write_points_gpkg
from .rasters import velocity_std_map, write_velocity_tif


def write_run_products(out, cubes: dict, stds: dict, velocity, grid, datasets, crs,
                       attrs=None, *, primary=None, reference=None, ref_date=None,
                       calibrated=None) -> dict:
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
    calibrated : dict, optional
        ``{method: insarfusion.calibration.Calibrated}``: the std of those methods is the
        calibrated one (``displacement_std``, ``velocity_std`` in the NetCDF and
        ``velocity_std.tif``), the raw one kept as ``displacement_std_raw`` and
        ``velocity_std_raw``, and the calibration in the metadata (``std_calibration``...).
        A baseline's file carries its own std then too.

    Returns
    -------
    dict
        ``{name: path}`` of every file written.
    """
    out = Path(out)
    meta = dict(attrs or {})
    calibrated = calibrated or {}
    files = {"displacement": _write_cube(out / "displacement.nc", FUSED, cubes, stds,
                                         calibrated, crs, meta),
             "velocity": write_velocity_tif(out / "velocity.tif", velocity(FUSED), grid,
                                            crs, metadata=meta)}
    velocity_std = _velocity_std(stds.get(FUSED), calibrated.get(FUSED))
    if velocity_std is not None:
        extra = calibrated[FUSED].attrs() if FUSED in calibrated else {}
        files["velocity_std"] = write_velocity_tif(
            out / "velocity_std.tif", velocity_std, grid, crs,
            description="std of the mean LOS velocity", metadata={**meta, **extra})
    for name in cubes:
        if name != FUSED:
            files[f"displacement_{name}"] = _write_cube(
                out / f"displacement_{name}.nc", name, cubes, stds, calibrated, crs,
                {**meta, "method": name})
    if primary is None:
        files["points"] = write_points_gpkg(out / "points.gpkg", datasets, layer_metadata=meta)
        return files
    from ..interop import write_interop_products

    files.update(write_interop_products(
        out, cubes=cubes, grid=grid, datasets=datasets, primary=primary, crs=crs,
        metadata=meta, velocity=velocity(FUSED), velocity_std=velocity_std,
        reference=reference, ref_date=ref_date))
    return files


def _velocity_std(std, calibrated):
    """The velocity std map of a product: the calibrated one, or the raw propagation."""
    if calibrated is not None:
        return calibrated.velocity_std
    if std is not None and "time" in getattr(std, "dims", ()):
        return velocity_std_map(std)
    return None


def _write_cube(path, name, cubes, stds, calibrated, crs, meta):
    """One product's NetCDF: its std (calibrated where it was) and the raw std beside it."""
    cal = calibrated.get(name)
    if cal is None:
        # a baseline's std is written only where it was calibrated
        std = stds.get(name) if name == FUSED else None
        return write_displacement_nc(path, cubes[name], crs, std=std, attrs=meta)
    std = cal.std.copy()
    std.attrs = {"long_name": "standard deviation of the displacement, calibrated on held-out "
                              "data (spatial part and the datum's common mode)",
                 "std_calibration_source": cal.summary["source"]}
    variables = {
        "displacement_std_raw": _named(cal.std_raw, "mm", "the method's own standard deviation "
                                       "of the displacement, before calibration"),
        "velocity_std": _named(cal.velocity_std, "mm/yr", "standard deviation of the mean LOS "
                               "velocity, calibrated on held-out residual series"),
        "velocity_std_raw": _named(cal.velocity_std_raw, "mm/yr", "white-noise slope std of "
                                   "the raw std (a lower bound)")}
    if not cal.own_std:  # the CNN with mc_samples 0
        del variables["displacement_std_raw"], variables["velocity_std_raw"]
    return write_displacement_nc(path, cubes[name], crs, std=std,
                                 attrs={**meta, **cal.attrs()}, variables=variables)


def _named(array, units, long_name):
    out = array.copy()
    out.attrs = {"units": units, "long_name": long_name}
    return out
