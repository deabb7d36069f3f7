"""What every product shares: the cube layout, the LOS sign convention and the metadata.

Every raster, NetCDF and point layer carries the product's metadata (:func:`product_metadata`):
units, the LOS sign convention, the primary dataset and its geometry, the reference station
(or area) and date, and the method.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..crs import crs_string, parse_crs
from ..errors import InputError


def as_cube(cube, name="displacement") -> xr.DataArray:
    """The (time, y, x) cube ``cube``, checked; InputError naming ``name`` otherwise."""
    if not isinstance(cube, xr.DataArray):
        raise InputError(f"{name} must be an xarray.DataArray with dims (time, y, x)")
    if set(cube.dims) != {"time", "y", "x"}:
        raise InputError(f"{name} has dims {cube.dims}, expected (time, y, x)")
    return cube.transpose("time", "y", "x")


#: The former private name of :func:`as_cube`.
_as_cube = as_cube


#: Sign convention of every LOS displacement and velocity the package writes.
LOS_SIGN_CONVENTION = "positive toward the satellite (LOS of the primary dataset)"


def clean_value(value):
    """A metadata value as a NetCDF/GeoTIFF-friendly scalar (str, int or float)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def product_metadata(*, method=None, primary=None, incidence=None, heading=None,
                     orbit_direction=None, reference_station=None, reference_area=None,
                     reference_date=None, temporal_method=None, crs=None, **extra) -> dict:
    """The metadata every product file carries, as flat attributes.

    The pipeline builds it once and passes it to every writer (``attrs`` of
    :func:`write_displacement_nc`, ``metadata`` of :func:`write_velocity_tif` and
    :func:`write_cog`, ``layer_metadata`` of :func:`write_points_gpkg`).

    Parameters
    ----------
    method : str, optional
        Spatial method of the product (``cnn``, ``kriging``, ...).
    primary : str, optional
        Name of the primary dataset, whose LOS the product is in.
    incidence, heading : float, optional
        Geometry of the primary dataset (degrees; mean over its points), see
        :mod:`insarfusion.conventions`.
    orbit_direction : str, optional
        ``ascending`` or ``descending``; told from ``heading`` when not given.
    reference_station : str, optional
        GNSS station the product is referenced to (the datum).
    reference_area : str or dict, optional
        Reference area when there is no station, e.g. ``{"lon": .., "lat": .., "radius_m": ..}``.
    reference_date : str or date, optional
        Date at which the displacement is zero (or the GNSS origin), ``YYYY-MM-DD``.
    temporal_method : str, optional
        Temporal resampler.
    crs : str, optional
        Working CRS (recorded as ``projected_crs``, as :func:`write_displacement_nc` does).
    **extra
        Any further attributes (kept as given; non-scalar values become text).

    Returns
    -------
    dict
        Keys ``los_sign_convention``, ``primary_dataset``, ``primary_incidence_deg``,
        ``primary_heading_deg``, ``orbit_direction``, ``reference_station``,
        ``reference_area``, ``reference_date``, ``method``, ``temporal_method``,
        ``projected_crs`` (those given) and ``extra``; values are strings or numbers.
    """
    if orbit_direction is None and heading is not None and np.isfinite(heading):
        orbit_direction = "ascending" if abs(float(heading) % 360 - 180) > 90 else "descending"
    if isinstance(reference_area, dict):
        reference_area = ", ".join(f"{k}={v}" for k, v in reference_area.items())
    if reference_date is not None:
        reference_date = pd.Timestamp(reference_date).strftime("%Y-%m-%d")
    fields = {"los_sign_convention": LOS_SIGN_CONVENTION, "primary_dataset": primary,
              "primary_incidence_deg": incidence, "primary_heading_deg": heading,
              "orbit_direction": orbit_direction, "reference_station": reference_station,
              "reference_area": reference_area, "reference_date": reference_date,
              "method": method, "temporal_method": temporal_method,
              "projected_crs": None if crs is None else crs_string(parse_crs(crs)), **extra}
    return {k: clean_value(v) for k, v in fields.items() if v is not None}


#: The former private name of :func:`clean_value`.
_clean = clean_value
