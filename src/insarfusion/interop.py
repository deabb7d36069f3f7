"""The products that other tools open, written from what a run has (beyond the paper).

Two calls, made by the pipeline's products and report stages:

* :func:`write_interop_products` (by :func:`insarfusion.products.write_run_products`):
  ``geometry.tif``, ``support.tif``, ``data_mask.tif`` (:mod:`insarfusion.gridinfo`), ``points.gpkg`` with its
  per-date fields and the ``fused`` layer, and ``mintpy/timeseries.h5``, ``velocity.h5``,
  ``geometryGeo.h5`` (:mod:`insarfusion.mintpy_export`);
* :func:`write_view_products` (after validation, which makes the GNSS series in the product's
  LOS): ``gnss_los.csv`` and ``viewer.html`` (:mod:`insarfusion.tools.viewer`).

:func:`primary_geometry`, :func:`run_reference` and :func:`run_metadata` give the metadata every
file carries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .conventions import FUSED, WAVELENGTH_MM
from .crs import lonlat_to_xy
from .products import product_metadata, write_gnss_los, write_points_gpkg


def primary_geometry(ds) -> tuple[float, float]:
    """Mean incidence and heading (degrees) of a dataset's points (circular mean of heading).

    NaN where the dataset has no geometry.
    """
    inc = np.asarray(ds["incidence"].values, dtype=float)
    head = np.asarray(ds["heading"].values, dtype=float)
    incidence = float(np.nanmean(inc)) if np.isfinite(inc).any() else np.nan
    if not np.isfinite(head).any():
        return incidence, np.nan
    rad = np.radians(head[np.isfinite(head)])
    return incidence, float(np.degrees(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())))


def run_metadata(datasets: dict, primary: str, *, method=None, temporal_method=None,
                 reference_station=None, reference_area=None, reference_date=None, crs=None,
                 **extra) -> dict:
    """:func:`insarfusion.products.product_metadata` of a run, the geometry from its primary.

    Parameters
    ----------
    datasets : dict
        ``{name: point dataset}`` of the run.
    primary : str
        Name of the primary dataset.
    method, temporal_method, reference_station, reference_area, reference_date, crs, **extra
        As for :func:`~insarfusion.products.product_metadata`.

    Returns
    -------
    dict
    """
    incidence, heading = primary_geometry(datasets[primary])
    band = datasets[primary].attrs.get("band")
    return product_metadata(
        method=method, primary=primary, temporal_method=temporal_method,
        incidence=round(incidence, 3) if np.isfinite(incidence) else None,
        heading=round(heading, 3) if np.isfinite(heading) else None,
        reference_station=reference_station, reference_area=reference_area,
        reference_date=reference_date, crs=crs,
        primary_band=band or None, **extra)


def run_reference(cfg, gnss, datasets: dict, primary: str) -> dict:
    """The reference of a run's products, for their metadata and the MintPy files.

    Parameters
    ----------
    cfg : insarfusion.config.Config
        The run's configuration (``gnss.reference``, ``gnss.final_reference``,
        ``reference_point``).
    gnss : xarray.Dataset or None
        The run's GNSS (station ``lon``/``lat``).
    datasets : dict
        The referenced point datasets (their ``datum`` attribute).
    primary : str
        Name of the primary dataset.

    Returns
    -------
    dict
        ``station``: the station(s) the products are tied to (the final reference when there
        is one), or None; ``area``: the reference area without GNSS, or None; ``place``:
        ``{"lon", "lat", "name"}`` of a single reference station, of the configured
        reference point, or of the no-GNSS reference where it is known (the datasets'
        ``datum_lon``/``datum_lat``; MintPy's ``REF_LAT``/``REF_LON``), or None.
    """
    g = cfg.gnss
    stations = []
    if g is not None:
        stations = [g.final_reference] if g.final_reference else list(g.reference)
    if stations:
        place = None
        if len(stations) == 1 and gnss is not None and stations[0] in gnss["station"].values:
            at = gnss.sel(station=stations[0])
            lon, lat = float(at["lon"]), float(at["lat"])
            if np.isfinite(lon) and np.isfinite(lat):
                place = {"lon": lon, "lat": lat, "name": stations[0]}
        return {"station": ", ".join(stations), "area": None, "place": place}
    point = cfg.reference_point
    area = datasets[primary].attrs.get("datum") or (
        None if point is None else {"lon": point.lon, "lat": point.lat,
                                    "radius_m": point.radius_m})
    place = None if point is None else {"lon": point.lon, "lat": point.lat}
    attrs = datasets[primary].attrs
    if place is None and attrs.get("datum_lon") is not None:
        place = {"lon": float(attrs["datum_lon"]), "lat": float(attrs["datum_lat"])}
    return {"station": None, "area": area, "place": place}


def write_interop_products(out, *, cubes: dict, grid, datasets: dict, primary: str, crs,
                           metadata=None, velocity=None, velocity_std=None, reference=None,
                           ref_date=None, geometry_method="idw", support_radius_m=None,
                           max_distance_m=None) -> dict:
    """Write the geometry, support, mask, point-layer and MintPy products of a run.

    Parameters
    ----------
    out : path-like
        The (staging) output folder.
    cubes : dict
        ``{method: (time, y, x) cube}``, mm; ``"synergic"`` is the main product.
    grid : xarray.Dataset
        The run's grid.
    datasets : dict
        The referenced point datasets (``{name: point dataset}``).
    primary : str
        Name of the primary dataset (its geometry is the product's LOS).
    crs : str
        The working CRS.
    metadata : dict, optional
        :func:`run_metadata`; carried by every file.
    velocity, velocity_std : xarray.DataArray, optional
        The main product's velocity and its std (y, x), mm/yr, for ``mintpy/velocity.h5``.
    reference : dict, optional
        The reference place, ``{"lon", "lat", "name"}`` (the final reference station).
    ref_date : date, optional
        MintPy's ``REF_DATE`` (default the first epoch).
    geometry_method : {"idw", "nearest"}
        How the primary geometry is spread onto the cells.
    support_radius_m : float, optional
        Radius of the point count (default two cells).
    max_distance_m : float, optional
        Distance beyond which a cell is far from data (default
        :func:`insarfusion.gridinfo.default_max_distance`).

    Returns
    -------
    dict
        ``{name: path}`` of every file written.
    """
    from .gridinfo import (
        data_mask,
        default_max_distance,
        geometry_rasters,
        support_rasters,
        write_grid_info,
    )
    from .mintpy_export import write_mintpy

    out = Path(out)
    meta = dict(metadata or {})
    geometry = geometry_rasters(grid, datasets[primary], method=geometry_method)
    support = support_rasters(grid, datasets, radius_m=support_radius_m)
    limit = max_distance_m if max_distance_m is not None else default_max_distance(grid,
                                                                                   datasets)
    files = write_grid_info(out, grid, crs, geometry=geometry, support=support,
                            mask=data_mask(support, limit), metadata=meta)
    files["points"] = write_points_gpkg(out / "points.gpkg", datasets,
                                        fused=cubes.get(FUSED), layer_metadata=meta)
    band = datasets[primary].attrs.get("band")
    wavelength = WAVELENGTH_MM.get(str(band), np.nan) / 1000.0
    mintpy = write_mintpy(out / "mintpy", cubes[FUSED], grid, crs, velocity=velocity,
                          velocity_std=velocity_std, geometry=geometry, ref_date=ref_date,
                          reference=reference, wavelength_m=wavelength,
                          heading=meta.get("primary_heading_deg"),
                          attrs={f"insarfusion_{k}": v for k, v in meta.items()})
    files.update({f"mintpy_{k}": v for k, v in mintpy.items()})
    return files


def write_view_products(out, *, gnss=None, stations=(), gnss_series=None, epochs=None,
                        crs=None, viewer=True) -> dict:
    """Write ``gnss_los.csv`` (when there are stations) and ``viewer.html``.

    Parameters
    ----------
    out : path-like
        The (staging) output folder, products already written.
    gnss : xarray.Dataset, optional
        The run's GNSS dataset (station ``lon``/``lat``).
    stations : sequence of str
        The stations of ``gnss_series`` (the validation's ``stations``).
    gnss_series : array_like, optional
        (station, epoch) GNSS displacement in the product's LOS and datum, mm.
    epochs : array_like, optional
        The product's epochs.
    crs : str, optional
        The working CRS.
    viewer : bool
        Also write ``viewer.html``.

    Returns
    -------
    dict
        ``{"gnss_los": path, "viewer": path}``, those written.
    """
    out = Path(out)
    files = {}
    if gnss is not None and gnss_series is not None and len(stations):
        sub = gnss.sel(station=list(stations))
        x, y = lonlat_to_xy(sub["lon"].values, sub["lat"].values, crs)
        files["gnss_los"] = write_gnss_los(out / "gnss_los.csv", gnss_series, list(stations),
                                           epochs, x, y, crs)
    if viewer:
        from .tools.viewer import write_viewer

        files["viewer"] = write_viewer(out)
    return files
