"""Where every product of a run is and how to open it (printed after ``run`` and ``demo``)."""

from __future__ import annotations

from pathlib import Path

_CUBE = "xarray.open_dataset, ncdump -h, QGIS (Layer > Add Raster Layer)"
_TIF = "QGIS, gdalinfo, rasterio"

#: Every file (or folder, or glob pattern) a run writes: what it holds and how to open it.
PRODUCT_GUIDE = (
    ("report.html", "the report: scores at the stations, held-out data, tables and figures",
     "a web browser"),
    ("viewer.html", "interactive viewer: velocity map with the stations, std and support "
     "layers; click a cell or point for every method's series and the nearest GNSS",
     "a web browser, offline"),
    ("displacement.nc", "fused LOS displacement (time, y, x), mm; displacement_std and "
     "velocity_std calibrated on held-out data (spatial part and the datum's common mode; "
     "the velocity's from held-out residual series), the method's own std kept as "
     "displacement_std_raw and velocity_std_raw where it has one", _CUBE),
    ("displacement_*.nc", "each baseline's displacement, same grid and reference (and its "
     "calibrated and raw std where the method has one)", _CUBE),
    ("velocity.tif", "mean LOS velocity, mm/yr (Cloud-Optimized GeoTIFF)", _TIF),
    ("velocity_std.tif", "std of the mean LOS velocity, mm/yr, calibrated on held-out data "
     "(method and factors in its metadata)", _TIF),
    ("geometry.tif", "per-cell incidence, heading, LOS unit vector east/north/up "
     "(vertical ~ LOS / los_up)", _TIF),
    ("support.tif", "distance to the nearest input point (m), points within a radius", _TIF),
    ("data_mask.tif", "1 near data, 0 where the product is extrapolated far from any point",
     _TIF),
    ("points.gpkg", "input points with one DYYYYMMDD field per date (layer points) and the "
     "fused product at them (layer fused)",
     "QGIS with InSAR Explorer or PS Time Series Viewer, ogrinfo"),
    ("gnss_los.csv", "the GNSS stations' series in the product's LOS and datum, mm",
     "a spreadsheet, pandas.read_csv"),
    ("mintpy/timeseries.h5", "the fused displacement in MintPy's layout, m",
     "MintPy: tsview.py mintpy/timeseries.h5"),
    ("mintpy/velocity.h5", "velocity and its std in MintPy's layout, m/yr",
     "MintPy: view.py mintpy/velocity.h5"),
    ("mintpy/geometryGeo.h5", "incidence and azimuth angles in MintPy's layout",
     "MintPy: view.py mintpy/geometryGeo.h5"),
    ("validation.json", "every score of the run", "any JSON reader"),
    ("tables", "the report's tables, CSV and Markdown", "a spreadsheet, a text editor"),
    ("figures", "the report's figures, PNG", "an image viewer"),
    ("config.resolved.yaml", "the configuration as run, every default filled in",
     "a text editor; insarfusion run"),
    ("run.log", "the run's log, with times", "a text editor"),
)


def product_lines(out_dir) -> list[str]:
    """One line per product present in an output folder: where it is, what, how to open it.

    Parameters
    ----------
    out_dir : path-like
        A run's output folder.

    Returns
    -------
    list of str
        ``PATH  what (open with: how)``, in the order of :data:`PRODUCT_GUIDE`; products the
        run did not write are left out.
    """
    out = Path(out_dir)
    lines = []
    for pattern, what, how in PRODUCT_GUIDE:
        for path in sorted(out.glob(pattern)):
            lines.append(f"{path}  {what} (open with: {how})")
    return lines
