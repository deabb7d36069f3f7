"""The products of a run, written atomically (DESIGN §3 outputs, paper §5).

* ``displacement.nc``: NetCDF, ``displacement`` (time, y, x) in mm, LOS of the primary dataset,
  with the CRS in CF form (a ``spatial_ref`` grid-mapping variable that xarray/rioxarray, GDAL
  and QGIS read), optional ``displacement_std``;
* ``velocity.tif`` (and ``velocity_std.tif``): Cloud-Optimized GeoTIFF (tiled, with
  overviews), float32, mm/yr, NaN as nodata (:func:`write_cog`);
* ``points.gpkg``: a GeoPackage layer ``points`` of every input point after projection and
  referencing, with its series as one ``DYYYYMMDD`` field per date (mm; the layout that QGIS
  time-series plugins read), and optionally a layer ``fused`` with the fused product sampled
  at the same points (:func:`fused_at_points`);
* ``gnss_los.csv``: the GNSS stations' series in the product's LOS and datum
  (:func:`write_gnss_los`).

Every raster and NetCDF carries the product's metadata (:func:`product_metadata`): units, the
LOS sign convention, the primary dataset and its geometry, the reference station (or area) and
date, and the method.

Nothing is ever half-written: each file is written in a temporary folder beside its target and
renamed into place, and :func:`atomic_output` does the same for a whole output folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .conventions import DAYS_PER_YEAR, as_days
from .crs import crs_string, parse_crs
from .cubes import row_blocks
from .errors import InputError, OutputError, StageError
from .grid import grid_transform
from .log import logger
from .series import linear_rate


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _atomic_file(path):
    """Yield a temporary path for ``path``, moved into place only when the block succeeds.

    The temporary file has the same name, in a hidden folder beside ``path``; it is removed
    when the block fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        tmp = staging / path.name
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


#: Name of the marker file in every output folder: ``--force`` replaces only such folders.
OUTPUT_MARKER = ".insarfusion-output"

#: ``errno`` values of a full disk or an exceeded quota.
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

#: Free bytes under which a failure while writing is reported as a full disk.
_NEARLY_FULL_BYTES = 16 * 2**20


def check_output_target(out_dir, force=False, protect=()) -> Path:
    """Check, before any work, that an output folder may be written.

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    force : bool
        Replace an existing, non-empty folder, if an earlier insarfusion run wrote it (it holds
        :data:`OUTPUT_MARKER`).
    protect : iterable of path-like
        Paths the run reads (its config, its inputs): the output folder may not be one of them
        nor hold one of them, with or without ``force``.

    Returns
    -------
    pathlib.Path
        The absolute output folder.

    Raises
    ------
    OutputError
        Naming the folder and why it may not be written.
    """
    out = Path(out_dir).absolute()
    real = out.resolve()
    for item in protect:
        if item is None:
            continue
        p = Path(item).absolute().resolve()
        if p == real or real in p.parents:
            raise OutputError(f"output folder holds the run's own input {str(p)!r}; choose "
                              "another --out (nothing was replaced)", out)
    if out.exists() and not out.is_dir():
        raise OutputError("output path exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise OutputError("output folder exists and is not empty (use --force to replace "
                              "it)", out)
        if not (out / OUTPUT_MARKER).is_file():
            raise OutputError(f"output folder exists and was not written by insarfusion (no "
                              f"{OUTPUT_MARKER} marker); --force replaces only an earlier "
                              "run's output: choose another --out or remove it yourself", out)
    return out


@contextlib.contextmanager
def output_lock(out: Path):
    """Hold the lock of an output folder: one run at a time may write it.

    The lock is ``.NAME.lock`` beside the folder, locked with ``flock`` (released by the
    system if the process dies) and removed when the block ends.

    Parameters
    ----------
    out : pathlib.Path
        The absolute output folder.

    Raises
    ------
    OutputError
        When another run holds the lock, naming its process id.
    """
    lock = out.parent / f".{out.name}.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: an exclusive create instead
        fcntl = None
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
        except FileExistsError:  # pragma: no cover - not POSIX
            fd = None
        try:
            if fd is None:
                raise BlockingIOError
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(lock)
            if fd is not None:
                os.close(fd)
            raise OutputError(f"another insarfusion run{holder} is writing this output folder; "
                              "wait for it to end or choose another --out", out) from None
        try:  # the file may have been removed by the run that held it: lock the new one
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _lock_holder(lock: Path) -> str:
    """`` (process N)`` from a lock file, or nothing."""
    try:
        pid = lock.read_text().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def remove_stale_staging(out: Path) -> list[Path]:
    """Remove the staging folders a killed run left beside ``out``; call it holding the lock.

    These are ``.NAME.XXXXXXXX.partial`` (a run's unfinished output) and
    ``.NAME.replaced-XXXXXXXX`` (an old output being replaced); each removal is logged.

    Parameters
    ----------
    out : pathlib.Path
        The absolute output folder.

    Returns
    -------
    list of pathlib.Path
        The folders removed.
    """
    name = re.escape(out.name)
    pattern = re.compile(rf"^\.{name}\.(?:[a-z0-9_]{{8}}\.partial|replaced-[0-9a-f]{{8}})$")
    removed = []
    if not out.parent.is_dir():
        return removed
    for entry in out.parent.iterdir():
        if pattern.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            logger.warning("removed %s, left by an earlier run into %s that was killed", entry,
                           out)
            removed.append(entry)
    return removed


def _disk_full(exc: BaseException, staging: Path) -> bool:
    """Whether a failure while writing is (most likely) a full disk."""
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return True
    if not isinstance(exc, Exception) or isinstance(exc, InputError):
        return False
    try:
        return shutil.disk_usage(staging).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def atomic_output(out_dir, force=False, *, protect=()):
    """Write a whole output folder atomically, one run at a time.

    Yields a temporary folder beside ``out_dir`` holding the marker :data:`OUTPUT_MARKER`;
    when the block ends without error it becomes ``out_dir``; when the block fails (or a
    signal stops the run) it is deleted and ``out_dir`` is left as it was. While the block
    runs, a lock (:func:`output_lock`) refuses a second run into the same folder; staging
    folders left by a killed run are removed first (:func:`remove_stale_staging`).

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    force : bool
        Replace an existing, non-empty ``out_dir`` that an earlier run wrote (one holding
        :data:`OUTPUT_MARKER`).
    protect : iterable of path-like, optional
        The run's config and inputs: ``out_dir`` may not be nor hold one of them.

    Raises
    ------
    OutputError
        If ``out_dir`` exists, is not an empty folder and ``force`` is false; if it was not
        written by insarfusion; if it holds a protected path; if another run is writing it;
        or if the disk fills while writing (naming the folder; nothing is left behind).
    """
    out = check_output_target(out_dir, force, protect)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output's parent folder ({exc.strerror})",
                          out) from None
    with output_lock(out):
        check_output_target(out, force, protect)  # again, now that no other run can write
        remove_stale_staging(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial",
                                        dir=out.parent))
        try:
            (staging / OUTPUT_MARKER).write_text(
                f"written by insarfusion {_version()}; --force may replace this folder\n",
                encoding="utf-8")
            yield staging
            os.chmod(staging, 0o777 & ~_umask())
            _move_into_place(staging, out)
        except BaseException as exc:
            full = _disk_full(exc, staging)
            shutil.rmtree(staging, ignore_errors=True)
            if full:
                where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
                raise OutputError(f"no space left on the device while writing the output"
                                  f"{where}; nothing was kept", out) from None
            raise
    logger.debug("products written to %s", out)


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename the finished staging folder to ``out``, retiring an old ``out`` first."""
    if out.exists() or out.is_symlink():
        retired = out.parent / f".{out.name}.replaced-{uuid.uuid4().hex[:8]}"
        os.replace(out, retired)
        os.replace(staging, out)
        if retired.is_dir() and not retired.is_symlink():
            shutil.rmtree(retired, ignore_errors=True)
        else:
            retired.unlink(missing_ok=True)
    else:
        os.replace(staging, out)


def _version() -> str:
    from . import __version__

    return str(__version__)


def _as_cube(cube, name="displacement") -> xr.DataArray:
    if not isinstance(cube, xr.DataArray):
        raise InputError(f"{name} must be an xarray.DataArray with dims (time, y, x)")
    if set(cube.dims) != {"time", "y", "x"}:
        raise InputError(f"{name} has dims {cube.dims}, expected (time, y, x)")
    return cube.transpose("time", "y", "x")


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


def write_displacement_nc(path, cube, crs, std=None, attrs=None) -> Path:
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

    Returns
    -------
    pathlib.Path
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    cube = _as_cube(cube)
    crs = parse_crs(crs)
    ds = xr.Dataset({"displacement": cube.astype("float32")})
    ds["displacement"].attrs = {
        "units": "mm",
        "long_name": "cumulative LOS displacement (LOS of the primary dataset), positive toward "
                     "the satellite",
    }
    if std is not None:
        std = _as_cube(std, "std")
        if std.shape != cube.shape:
            raise InputError(f"std has shape {std.shape}, the cube {cube.shape}")
        ds["displacement_std"] = (("time", "y", "x"), std.data.astype("float32"),
                                  {"units": "mm",
                                   "long_name": "standard deviation of the displacement"})
    _xy_attrs(ds)
    ds["time"].attrs.pop("units", None)
    ds.attrs = {"Conventions": "CF-1.8", "title": "fused LOS displacement",
                "projected_crs": crs_string(crs), "los_sign_convention": LOS_SIGN_CONVENTION,
                **{k: _clean(v) for k, v in (attrs or {}).items() if v is not None}}
    ds = ds.rio.write_crs(crs)
    transform = _transform_from_centres(cube)
    if transform is not None:
        ds = ds.rio.write_transform(transform)
    # passing encoding replaces what write_crs put there, so the grid mapping is restated
    # one epoch by one band of rows a chunk: a map or a series reads few chunks, and a lazy
    # cube's blocks of rows are written as whole chunks
    rows = cube.chunks[1][0] if cube.chunks is not None else row_blocks(*cube.shape[1:])[0].stop
    encoding = {name: {"zlib": True, "complevel": 4, "_FillValue": np.float32(np.nan),
                       "grid_mapping": "spatial_ref",
                       "chunksizes": (1, max(1, min(rows, cube.shape[1])),
                                      max(1, cube.shape[2]))}
                for name in ds.data_vars if name != "spatial_ref"}
    start = pd.Timestamp(ds["time"].values[0]).strftime("%Y-%m-%d")
    encoding["time"] = {"units": f"days since {start}", "calendar": "proleptic_gregorian",
                        "dtype": "float64"}
    with _atomic_file(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    return Path(path)


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
    cube = _as_cube(cube)
    rate = _per_cell(lambda values: linear_rate(cube["time"].values, values), cube)
    return xr.DataArray(rate, dims=("y", "x"), coords={"y": cube["y"], "x": cube["x"]},
                        name="velocity", attrs={"units": "mm/yr",
                                                "long_name": "mean LOS velocity"})


def _per_cell(func, cube) -> np.ndarray:
    """``func`` of every cell's series (time on the last axis) as a ``(y, x)`` array.

    A Dask-backed cube is computed block by block.
    """
    return np.asarray(xr.apply_ufunc(func, cube, input_core_dims=[["time"]],
                                     dask="parallelized", output_dtypes=[float])
                      .transpose("y", "x").values, dtype=float)


def velocity_std_map(std_cube) -> xr.DataArray:
    """Standard deviation (mm/yr) of the least-squares velocity from per-epoch std (mm).

    Propagates ``sigma_t`` through the slope's weights ``w_t = (t - tbar) / sum (t - tbar)^2``
    as if the epochs' errors were independent; errors correlated in time (as the CNN's or an
    atmosphere's are) make the true uncertainty larger, so read it as a lower bound.
    """
    cube = _as_cube(std_cube, "displacement_std")
    years = as_days(cube["time"].values).astype("int64") / DAYS_PER_YEAR
    centred = years - years.mean()
    weights = centred / (centred**2).sum()

    def _std(values):  # time last
        variance = np.nansum((values * weights) ** 2, axis=-1)
        return np.where(np.isfinite(values).any(axis=-1), np.sqrt(variance), np.nan)

    return xr.DataArray(_per_cell(_std, cube), dims=("y", "x"),
                        coords={"y": cube["y"], "x": cube["x"]}, name="velocity_std",
                        attrs={"units": "mm/yr"})


#: Sign convention of every LOS displacement and velocity the package writes.
LOS_SIGN_CONVENTION = "positive toward the satellite (LOS of the primary dataset)"


def _clean(value):
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
    return {k: _clean(v) for k, v in fields.items() if v is not None}


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
    with _atomic_file(path) as tmp:
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
            dst.update_tags(**{k: _clean(v) for k, v in tags.items()})
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


#: Prefix of the per-date fields of the point layers (``D20150312``). ``DYYYYMMDD`` is the
#: one name both QGIS time-series plugins plot: PS Time Series Viewer takes the fields matching
#: ``D`` + 8 digits, InSAR Explorer takes ``DYYYYMMDD``, ``DYYYYMMDD`` or ``YYYYMMDD``.
DATE_FIELD_PREFIX = "D"

_DATE_FIELD = re.compile(r"^D_?(\d{8})$")


def date_field(date) -> str:
    """Name of the field holding the displacement of one date: ``DYYYYMMDD``."""
    return DATE_FIELD_PREFIX + pd.Timestamp(date).strftime("%Y%m%d")


def field_dates(columns) -> list:
    """The per-date columns of a table (``DYYYYMMDD`` or ``DYYYYMMDD``) and their dates.

    Returns
    -------
    list of (str, numpy.datetime64)
        Column name and date (``datetime64[D]``) of every per-date field, in column order.
    """
    out = []
    for name in columns:
        match = _DATE_FIELD.match(str(name))
        if match:
            stamp = pd.to_datetime(match.group(1), format="%Y%m%d", errors="coerce")
            if not pd.isna(stamp):
                out.append((str(name), np.datetime64(stamp.date(), "D")))
    return out


def _as_list(datasets) -> list:
    if isinstance(datasets, xr.Dataset):
        return [datasets]
    if isinstance(datasets, dict):
        return list(datasets.values())
    return list(datasets)


def points_table(datasets, dates=True) -> pd.DataFrame:
    """Every point of the datasets as one table (one row per point).

    Columns: ``dataset`` (the dataset's name), ``id``, ``x``, ``y`` (m), then every other
    per-point coordinate and variable (``lon``, ``lat``, ``incidence``, ``heading``,
    ``velocity`` in mm/yr, ``quality``, ...), ``n_epochs``, the number of finite
    displacements, and (with ``dates``) the displacement of every date in mm as one
    ``DYYYYMMDD`` field per date (the union of the datasets' dates, in order; NaN where a
    dataset has no such date).

    Parameters
    ----------
    datasets : xarray.Dataset, list or dict of them
        Point datasets (:func:`insarfusion.dataset.point_dataset`).
    dates : bool
        Add the per-date fields.

    Returns
    -------
    pandas.DataFrame
    """
    datasets = _as_list(datasets)
    frames = []
    for ds in datasets:
        columns = {"dataset": np.full(ds.sizes["point"], str(ds.attrs.get("name", ""))),
                   "id": ds["point"].values.astype(str)}
        for name in ["x", "y", *sorted(n for n in ds.variables if n not in ("x", "y", "point"))]:
            var = ds[name]
            if var.dims == ("point",) and var.dtype.kind in "biuf":
                columns[name] = var.values
        if "displacement" in ds:
            disp = ds["displacement"].transpose("point", "time").values
            columns["n_epochs"] = np.isfinite(disp).sum(axis=-1)
            if dates:
                for i, day in enumerate(as_days(ds["time"].values)):
                    columns[date_field(day)] = disp[:, i].astype(float)
        frames.append(pd.DataFrame(columns))
    if not frames:
        raise StageError("no point dataset to write")
    table = pd.concat(frames, ignore_index=True)
    per_date = sorted(name for name, _ in field_dates(table.columns))
    rest = [c for c in table.columns if c not in set(per_date)]
    return table[rest + per_date]


def fused_at_points(cube, table, velocity=None) -> pd.DataFrame:
    """The fused product sampled (bilinearly) at the points of a table.

    Parameters
    ----------
    cube : xarray.DataArray, dims (time, y, x)
        Fused displacement, mm, on the run's grid.
    table : pandas.DataFrame
        Points with ``x``, ``y`` (m, the cube's CRS), e.g. :func:`points_table`; ``dataset``
        and ``id`` are kept when present.
    velocity : xarray.DataArray, optional
        The product's velocity map (y, x), mm/yr; default the slope of the sampled series.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``id``, ``x``, ``y``, ``velocity`` (mm/yr), ``n_epochs`` and one
        ``DYYYYMMDD`` field per epoch of the cube (mm); NaN where the point lies off the
        product.
    """
    from .sampling import sample_bilinear

    cube = _as_cube(cube)
    x = np.asarray(table["x"], dtype=float)
    y = np.asarray(table["y"], dtype=float)
    series = sample_bilinear(cube, x, y)                      # (n, time)
    columns = {k: table[k].to_numpy() for k in ("dataset", "id") if k in table}
    columns.update(x=x, y=y)
    if velocity is not None:
        columns["velocity"] = sample_bilinear(velocity, x, y)
    else:
        columns["velocity"] = linear_rate(cube["time"].values, series)
    columns["n_epochs"] = np.isfinite(series).sum(axis=-1)
    for i, day in enumerate(as_days(cube["time"].values)):
        columns[date_field(day)] = series[:, i]
    return pd.DataFrame(columns)


def write_points_gpkg(path, datasets, layer="points", fused=None, fused_layer="fused",
                      layer_metadata=None) -> Path:
    """Write the points of every dataset, with their per-date series, to a GeoPackage.

    Parameters
    ----------
    path : path-like
        Output file (``points.gpkg``).
    datasets : xarray.Dataset, list or dict of them
        Point datasets (:func:`insarfusion.dataset.point_dataset`) after projection and
        referencing; their ``attrs["crs"]`` must agree.
    layer : str
        Name of the layer of the input points (:func:`points_table`, one ``DYYYYMMDD``
        field per date, mm).
    fused : xarray.DataArray or pandas.DataFrame, optional
        The fused product, a cube (time, y, x) sampled at the points with
        :func:`fused_at_points`, or such a table already made; written as a second layer.
    fused_layer : str
        Name of that layer.
    layer_metadata : dict, optional
        Metadata of both layers (:func:`product_metadata`).

    Returns
    -------
    pathlib.Path
    """
    import geopandas as gpd
    import pyogrio

    datasets = _as_list(datasets)
    crss = {crs_string(parse_crs(ds.attrs["crs"])) for ds in datasets if ds.attrs.get("crs")}
    if len(crss) != 1:
        raise StageError(f"points to write must share one CRS, got {sorted(crss) or 'none'}")
    crs = crss.pop()
    table = points_table(datasets)
    layers = {layer: table}
    if fused is not None:
        layers[fused_layer] = (fused if isinstance(fused, pd.DataFrame)
                               else fused_at_points(fused, table))
    meta = {"los_sign_convention": LOS_SIGN_CONVENTION, "units": "mm",
            **{k: str(v) for k, v in (layer_metadata or {}).items()}}
    with _atomic_file(path) as tmp:
        for name, frame in layers.items():
            geo = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["x"], frame["y"]),
                                   crs=crs)
            pyogrio.write_dataframe(geo, tmp, layer=name, driver="GPKG",
                                    append=name != layer, layer_metadata=meta)
    return Path(path)


def write_gnss_los(path, series, stations, epochs, x, y, crs) -> Path:
    """Write the GNSS stations' series in the product's LOS and datum as a long CSV.

    Parameters
    ----------
    path : path-like
        Output file (``gnss_los.csv``).
    series : array_like, shape (n_station, n_epoch)
        GNSS displacement projected on the primary LOS, on the product's epochs and datum, mm.
    stations : sequence of str
        Station names.
    epochs : array_like of dates
        The product's epochs.
    x, y : array_like, shape (n_station,)
        Station coordinates, metres in ``crs``.
    crs : str or pyproj.CRS
        Working CRS.

    Returns
    -------
    pathlib.Path
        A CSV with columns ``station``, ``x``, ``y``, ``lon``, ``lat``, ``date``
        (``YYYY-MM-DD``) and ``los_mm`` (positive toward the satellite).
    """
    from .crs import xy_to_lonlat

    values = np.asarray(series, dtype=float)
    stations = [str(s) for s in stations]
    days = as_days(epochs)
    if values.shape != (len(stations), days.size):
        raise InputError(f"GNSS series has shape {values.shape}, expected "
                         f"({len(stations)}, {days.size})")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    lon, lat = xy_to_lonlat(x, y, crs)
    frame = pd.DataFrame({
        "station": np.repeat(stations, days.size),
        "x": np.repeat(x, days.size), "y": np.repeat(y, days.size),
        "lon": np.repeat(lon, days.size), "lat": np.repeat(lat, days.size),
        "date": np.tile(pd.to_datetime(days).strftime("%Y-%m-%d"), len(stations)),
        "los_mm": values.ravel()})
    with _atomic_file(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.3f")
    return Path(path)


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
