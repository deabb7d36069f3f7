"""The products of a run, written atomically (DESIGN §3 outputs, paper §5).

One concept per module:

* :mod:`.output`: atomic files and output folders, the output marker, the lock, staging;
* :mod:`.metadata`: the cube layout, the LOS sign convention, the metadata every file carries
  (:func:`product_metadata`);
* :mod:`.netcdf`: ``displacement.nc`` and ``displacement_<method>.nc`` (CF NetCDF);
* :mod:`.rasters`: velocity maps and Cloud-Optimized GeoTIFFs (``velocity.tif``,
  ``velocity_std.tif``, :func:`write_cog`);
* :mod:`.points`: ``points.gpkg`` (per-date ``DYYYYMMDD`` fields, the ``fused`` layer) and
  ``gnss_los.csv``;
* :mod:`.run`: :func:`write_run_products`, every product of a run.

Every name is re-exported here, so ``from insarfusion.products import ...`` keeps working.
"""

from ..errors import OutputError
from .metadata import LOS_SIGN_CONVENTION, _as_cube, _clean, as_cube, clean_value, product_metadata
from .netcdf import write_displacement_nc
from .output import (
    OUTPUT_MARKER,
    _atomic_file,
    atomic_file,
    atomic_output,
    check_output_target,
    output_lock,
    remove_stale_staging,
)
from .points import (
    DATE_FIELD_PREFIX,
    date_field,
    field_dates,
    fused_at_points,
    points_table,
    write_gnss_los,
    write_points_gpkg,
)
from .rasters import (
    velocity_map,
    velocity_std_map,
    write_cog,
    write_velocity_tif,
)
from .run import write_run_products

__all__ = [
    "DATE_FIELD_PREFIX", "LOS_SIGN_CONVENTION", "OUTPUT_MARKER", "OutputError", "as_cube",
    "atomic_file", "atomic_output", "check_output_target", "clean_value", "date_field",
    "field_dates", "fused_at_points", "output_lock", "points_table", "product_metadata",
    "remove_stale_staging", "velocity_map", "velocity_std_map", "write_cog",
    "write_displacement_nc", "write_gnss_los", "write_points_gpkg", "write_run_products",
    "write_velocity_tif", "_as_cube", "_atomic_file", "_clean",
]
