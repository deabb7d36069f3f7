"""The products of a run, written atomically (DESIGN §3 outputs, paper §5).

* ``displacement.nc``: NetCDF, ``displacement`` (time, y, x) in mm, LOS of the primary dataset,
  with the CRS in CF form (a ``spatial_ref`` grid-mapping variable that xarray/rioxarray, GDAL
  and QGIS read), optional ``displacement_std``;
* ``velocity.tif`` (and ``velocity_std.tif``): GeoTIFF, float32, mm/yr, NaN as nodata;
* ``points.gpkg``: one GeoPackage layer of every input point after projection and referencing.

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
        Global attributes to add (method, primary dataset, ...).

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
                "projected_crs": crs_string(crs), **(attrs or {})}
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


def write_velocity_tif(path, velocity, grid, crs, description="mean LOS velocity",
                       units="mm/yr") -> Path:
    """Write a map on the grid as a single-band float32 GeoTIFF, NaN as nodata.

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
    """
    import rasterio

    if isinstance(velocity, xr.DataArray):
        velocity = velocity.transpose("y", "x").values
    values = np.asarray(velocity, dtype="float32")
    shape = (grid.sizes["y"], grid.sizes["x"])
    if values.shape != shape:
        raise InputError(f"map has shape {values.shape}, the grid {shape}")
    crs = parse_crs(crs)
    profile = {"driver": "GTiff", "height": shape[0], "width": shape[1], "count": 1,
               "dtype": "float32", "crs": rasterio.crs.CRS.from_wkt(crs.to_wkt()),
               "transform": grid_transform(grid), "nodata": np.nan, "compress": "deflate"}
    with _atomic_file(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(values, 1)
        dst.set_band_description(1, description)
        dst.update_tags(1, units=units)
        dst.update_tags(units=units)
    return Path(path)


def points_table(datasets) -> pd.DataFrame:
    """Every point of the datasets as one table (one row per point).

    Columns: ``dataset`` (the dataset's name), ``id``, ``x``, ``y`` (m), then every other
    per-point coordinate and variable (``lon``, ``lat``, ``incidence``, ``heading``,
    ``velocity`` in mm/yr, ``quality``, ...), and ``n_epochs``, the number of finite
    displacements.
    """
    if isinstance(datasets, xr.Dataset):
        datasets = [datasets]
    elif isinstance(datasets, dict):
        datasets = list(datasets.values())
    frames = []
    for ds in datasets:
        columns = {"dataset": np.full(ds.sizes["point"], str(ds.attrs.get("name", ""))),
                   "id": ds["point"].values.astype(str)}
        for name in ["x", "y", *sorted(n for n in ds.variables if n not in ("x", "y", "point"))]:
            var = ds[name]
            if var.dims == ("point",) and var.dtype.kind in "biuf":
                columns[name] = var.values
        if "displacement" in ds:
            columns["n_epochs"] = np.isfinite(ds["displacement"].values).sum(axis=-1)
        frames.append(pd.DataFrame(columns))
    if not frames:
        raise StageError("no point dataset to write")
    return pd.concat(frames, ignore_index=True)


def write_points_gpkg(path, datasets, layer="points") -> Path:
    """Write the points of every dataset to one GeoPackage layer.

    Parameters
    ----------
    path : path-like
        Output file (``points.gpkg``).
    datasets : xarray.Dataset, list or dict of them
        Point datasets (:func:`insarfusion.dataset.point_dataset`) after projection and
        referencing; their ``attrs["crs"]`` must agree.
    layer : str
        Layer name.

    Returns
    -------
    pathlib.Path
    """
    import geopandas as gpd

    if isinstance(datasets, xr.Dataset):
        datasets = [datasets]
    elif isinstance(datasets, dict):
        datasets = list(datasets.values())
    crss = {crs_string(parse_crs(ds.attrs["crs"])) for ds in datasets if ds.attrs.get("crs")}
    if len(crss) != 1:
        raise StageError(f"points to write must share one CRS, got {sorted(crss) or 'none'}")
    table = points_table(datasets)
    frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["x"], table["y"]),
                             crs=crss.pop())
    with _atomic_file(path) as tmp:
        frame.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
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
