"""Gridded cubes on disk, written and read in blocks of rows.

A run's gridded products are ``(time, y, x)`` cubes of ``n_epoch × n_cell`` values, 0.25 GB
each at 742 × 742 cells and 113 epochs in float32, and a run makes several (the fused product,
the baselines, the kriging standard deviation). :class:`CubeWriter` writes a cube into a
scratch NetCDF file one block of rows at a time, as the predictions come back;
:func:`open_cube` opens it again as a Dask-backed :class:`xarray.DataArray` chunked in the
same blocks. The stages after gridding (re-referencing, velocity, validation, the products)
then compute block by block, so the memory a cube takes is bounded by one block
(:data:`insarfusion.parallel.CELL_CHUNK` cells × every epoch), not by the grid.

Cubes on disk are float32 (7 significant digits: a micrometre at 10 m of motion), as the
products the run writes are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .grid import sample
from .parallel import CELL_CHUNK, chunk_slices


def row_blocks(ny: int, nx: int, cells: int | None = None) -> list[slice]:
    """Consecutive blocks of whole rows of a ``(ny, nx)`` grid.

    Each block holds about ``cells`` cells (default :data:`CELL_CHUNK`) and at least one row.
    """
    return chunk_slices(ny, max(1, (cells or CELL_CHUNK) // max(nx, 1)))


class CubeWriter:
    """Write a ``(time, y, x)`` float32 cube into a NetCDF file, a block of rows at a time.

    Rows never written read back as NaN. Use as a context manager: the file is removed if the
    block fails; :meth:`close` returns the finished cube, opened lazily.

    Parameters
    ----------
    path : path-like
        The file to create (replaced if it exists).
    time, y, x : array_like
        Coordinates: the epochs (dates, or any labels), cell-centre northings and eastings
        (m).
    name : str
        Name of the variable.
    attrs : dict, optional
        Attributes of the variable (``units``, ...).
    rows : int, optional
        Rows per block on disk (and per Dask chunk when read back); default: the rows of
        :func:`row_blocks`.
    """

    def __init__(self, path, time, y, x, name="displacement", attrs=None, rows=None):
        import netCDF4

        self.path, self.name = Path(path), name
        time = np.asarray(time)
        encoding = {}
        if np.issubdtype(time.dtype, np.datetime64):
            time = time.astype("datetime64[ns]")
            start = pd.Timestamp(time[0]).strftime("%Y-%m-%d") if time.size else "2000-01-01"
            encoding["time"] = {"units": f"days since {start}", "dtype": "float64"}
        y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
        self.shape = (time.size, y.size, x.size)
        self.rows = int(rows or row_blocks(y.size, x.size)[0].stop or 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        xr.Dataset(coords={"time": time, "y": y, "x": x}).to_netcdf(
            self.path, engine="netcdf4", encoding=encoding)
        self._nc = netCDF4.Dataset(self.path, "a")
        chunks = (max(1, time.size), max(1, min(self.rows, y.size)), max(1, x.size))
        self._var = self._nc.createVariable(name, "f4", ("time", "y", "x"), chunksizes=chunks,
                                            fill_value=np.float32(np.nan))
        self._var.setncatts(dict(attrs or {}))
        self._var.set_auto_maskandscale(False)

    def write(self, rows: slice, block) -> None:
        """Write ``block``, shape ``(time, rows, x)``, at the rows ``rows``."""
        block = np.asarray(block, dtype=np.float32)
        expected = (self.shape[0], rows.stop - rows.start, self.shape[2])
        if block.shape != expected:
            raise ValueError(f"block of shape {block.shape} for rows {rows.start}:{rows.stop}, "
                             f"expected {expected}")
        self._var[:, rows.start:rows.stop, :] = block

    def close(self) -> xr.DataArray:
        """Finish the file and return the cube, Dask-backed (see :func:`open_cube`)."""
        if self._nc is not None:
            self._nc.close()
            self._nc = None
        return open_cube(self.path, self.name)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            return
        if self._nc is not None:
            self._nc.close()
            self._nc = None
        self.path.unlink(missing_ok=True)


class InMemoryCube:
    """The in-memory counterpart of :class:`CubeWriter`, with the same ``write`` and ``close``.

    ``time=None`` with ``n_time`` makes a cube without a time coordinate, with neither a
    ``(y, x)`` map.
    """

    def __init__(self, time, y, x, name="displacement", attrs=None, n_time=None):
        self.coords = {"y": np.asarray(y, dtype=float), "x": np.asarray(x, dtype=float)}
        if time is not None:
            self.coords["time"] = np.asarray(time)
            n_time = self.coords["time"].size
        self.dims = ("y", "x") if n_time is None else ("time", "y", "x")
        shape = (self.coords["y"].size, self.coords["x"].size)
        self.values = np.full(shape if n_time is None else (n_time, *shape), np.nan)
        self.name, self.attrs = name, dict(attrs or {})

    def write(self, rows: slice, block) -> None:
        """Write ``block``, shape ``(time, rows, x)`` or ``(rows, x)``, at the rows ``rows``."""
        self.values[..., rows, :] = block

    def close(self) -> xr.DataArray:
        """The cube, as a DataArray in memory."""
        return xr.DataArray(self.values, dims=self.dims, coords=self.coords, name=self.name,
                            attrs=self.attrs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def new_cube(store, time, y, x, name="displacement", attrs=None, rows=None):
    """A :class:`CubeWriter` into ``store``, or an :class:`InMemoryCube` if ``store`` is None."""
    if store is None:
        return InMemoryCube(time, y, x, name=name, attrs=attrs)
    return CubeWriter(store, time, y, x, name=name, attrs=attrs, rows=rows)


def open_cube(path, name="displacement") -> xr.DataArray:
    """A cube written by :class:`CubeWriter`, read lazily in its blocks of rows."""
    with xr.open_dataset(path, engine="netcdf4") as probe:
        chunking = probe[name].encoding.get("chunksizes") or probe[name].shape
    rows = int(chunking[1])
    return xr.open_dataset(path, engine="netcdf4",
                           chunks={"time": -1, "y": rows, "x": -1})[name]


def store(cube: xr.DataArray, path, name=None) -> xr.DataArray:
    """Write a ``(time, y, x)`` cube (in memory or lazy) to ``path`` block by block.

    Returns the cube read back lazily, with its attributes and non-index coordinates.
    """
    cube = cube.transpose("time", "y", "x")
    name = name or cube.name or "displacement"
    with CubeWriter(path, cube["time"].values, cube["y"].values, cube["x"].values, name=name,
                    attrs={k: v for k, v in cube.attrs.items()
                           if isinstance(v, (str, int, float))}) as writer:
        for rows, block in blocks(cube, writer.rows):
            writer.write(rows, block)
        out = writer.close()
    extra = {k: v for k, v in cube.coords.items() if k not in out.coords}
    return out.assign_coords(extra).assign_attrs(cube.attrs)


def blocks(cube: xr.DataArray, rows: int | None = None):
    """``(rows, values)`` of a ``(time, y, x)`` cube, block of rows by block of rows.

    ``values`` is a float NumPy array ``(time, n_rows, x)``. ``rows`` defaults to the cube's
    own Dask chunks along ``y`` (or :func:`row_blocks` for a cube in memory).
    """
    cube = cube.transpose("time", "y", "x")
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    if rows is None and cube.chunks is not None:
        edges = np.cumsum((0,) + tuple(cube.chunks[1]))
        slices = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    else:
        slices = chunk_slices(ny, rows) if rows else row_blocks(ny, nx)
    for s in slices:
        yield s, np.asarray(cube.isel(y=s).values)


def cells(cube: xr.DataArray, iy, ix) -> np.ndarray:
    """Series of the cells ``(iy[k], ix[k])`` of a cube, shape ``(n, time)``.

    Only the blocks that hold them are read.
    """
    iy = np.asarray(iy, dtype=int)
    ix = np.asarray(ix, dtype=int)
    picked = cube.transpose("time", "y", "x").isel(y=xr.DataArray(iy, dims="cell"),
                                                   x=xr.DataArray(ix, dims="cell"))
    return np.asarray(picked.transpose("cell", "time").values, dtype=float)


def with_data(cube: xr.DataArray) -> np.ndarray:
    """``(y, x)`` boolean map of the cells with at least one finite epoch."""
    return np.asarray(np.isfinite(cube).any("time").transpose("y", "x").values)


def regrid(field: xr.DataArray, time, y, x, store=None) -> xr.DataArray:
    """A ``(time, y, x)`` field at other epochs (nearest) and cell centres (bilinear).

    Done one block of the target's rows at a time with :func:`insarfusion.grid.sample`, which
    reads only the rows of ``field`` around each block, so a field opened lazily from disk (or
    Dask-backed) is never loaded whole. Cells beyond the field's outermost cell centres are
    NaN.

    Parameters
    ----------
    field : xarray.DataArray
        ``(time, y, x)``, on any regular grid.
    time, y, x : array_like
        Target epochs (dates) and cell centres (m).
    store : path-like, optional
        Write the result to this file block by block and return it read back lazily.

    Returns
    -------
    xarray.DataArray, dims (time, y, x)
    """
    time = np.asarray(time)
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    field = field.sel(time=time, method="nearest").transpose("time", "y", "x")
    attrs = {k: v for k, v in field.attrs.items() if isinstance(v, (str, int, float))}
    with new_cube(store, time, y, x, name=field.name or "displacement", attrs=attrs) as sink:
        for rows in row_blocks(y.size, x.size):
            cy, cx = np.meshgrid(y[rows], x, indexing="ij")
            values = sample(field, cx.ravel(), cy.ravel())  # (cells, time)
            sink.write(rows, values.T.reshape(time.size, rows.stop - rows.start, x.size))
    return sink.close()
