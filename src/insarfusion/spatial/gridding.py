"""Estimators' predictions on a grid, and the mask of the cells a product keeps.

:func:`grid` is the one way any fitted spatial estimator (classic interpolator, kriging, CNN)
becomes a labelled ``(time, y, x)`` cube: the cells are predicted in blocks of whole rows, on
Dask workers when asked and the estimator allows (``parallel_predict``), and written to a cube
in memory or block by block to a NetCDF file (:mod:`insarfusion.cubes`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
import xarray as xr

from .. import cubes
from ..errors import InputError
from ..grid import cell_centres
from ..parallel import for_each_result


def hull_mask(grid, x, y, buffer_m=0.0) -> xr.DataArray:
    """Cells whose centre lies in the convex hull of the points grown by ``buffer_m``.

    Parameters
    ----------
    grid : xarray.Dataset
        From :func:`insarfusion.grid.make_grid`.
    x, y : array_like, shape (n,)
        Points, metres.
    buffer_m : float
        Distance the hull is grown by, metres.

    Returns
    -------
    xarray.DataArray of bool, dims (y, x)
        True inside (where a product is kept), False outside (set to NaN).
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y])))
    area = shapely.buffer(hull, float(buffer_m)) if buffer_m > 0 else hull
    cx, cy = cell_centres(grid)
    inside = shapely.contains_xy(area, cx, cy) | shapely.intersects_xy(area, cx, cy)
    return xr.DataArray(inside.reshape(grid.sizes["y"], grid.sizes["x"]), dims=("y", "x"),
                        coords={"y": grid["y"], "x": grid["x"]}, name="mask")


def _predict_cells(coordinates, estimator, return_std):
    """``(values,)`` or ``(values, std)`` of a fitted estimator at some cells."""
    out = estimator.predict(coordinates, return_std=return_std)
    return out if return_std else (out,)


class _Blocks:
    """The blocks of whole rows holding cells to predict, and the cubes they are written to."""

    def __init__(self, grid, keep, time, names, store):
        self.ny, self.nx = grid.sizes["y"], grid.sizes["x"]
        self.gy, self.gx = grid["y"].values, grid["x"].values
        self.time, self.names = time, names
        nx = self.nx
        self.rows = [rows for rows in cubes.row_blocks(self.ny, nx)
                     if keep[rows.start * nx:rows.stop * nx].any()]
        self.local = [np.flatnonzero(keep[rows.start * nx:rows.stop * nx]) for rows in self.rows]
        self.paths = ([None] * len(names) if store is None else
                      [Path(store), Path(store).with_name(f"{Path(store).stem}_std.nc")]
                      [:len(names)])
        self.sinks: list = []

    def chunks(self, cx, cy):
        """``(x, y)`` of the kept cells of each block."""
        return [(cx[rows.start * self.nx + c], cy[rows.start * self.nx + c])
                for rows, c in zip(self.rows, self.local, strict=True)]

    def open(self, n_time):
        """The cubes (in memory, or NetCDF files) for ``n_time`` epochs (None: a map)."""
        attrs = {"units": "mm"}
        self.sinks = [cubes.InMemoryCube(self.time, self.gy, self.gx, name=n, attrs=attrs,
                                         n_time=n_time) if path is None else
                      cubes.CubeWriter(path, self.time, self.gy, self.gx, name=n, attrs=attrs)
                      for path, n in zip(self.paths, self.names, strict=True)]

    def write(self, k, parts):
        """Write block ``k``'s predictions (one flat array per cube) into the cubes."""
        rows, nx = self.rows[k], self.nx
        if not self.sinks:
            first = np.asarray(parts[0])
            self.open(None if first.ndim == 1 else first.shape[1])
        for sink, flat in zip(self.sinks, parts, strict=True):
            flat = np.asarray(flat, dtype=float)
            full = np.full(((rows.stop - rows.start) * nx,) + flat.shape[1:], np.nan)
            full[self.local[k]] = flat
            sink.write(rows, np.moveaxis(full.reshape(rows.stop - rows.start, nx,
                                                      *flat.shape[1:]), (0, 1), (-2, -1)))

    def abandon(self):
        """Close the cubes after a failure (files being written are removed)."""
        for sink in self.sinks:
            sink.__exit__(RuntimeError, None, None)


def grid(estimator, grid, time=None, mask=None, return_std=None, name="displacement",
         client=None, store=None):
    """Predictions of a fitted spatial estimator at the cell centres of a grid.

    Parameters
    ----------
    estimator : SpatialInterpolator
        Fitted.
    grid : xarray.Dataset
        From :func:`insarfusion.grid.make_grid`.
    time : array_like, optional
        Dates of the epochs (the data's second axis), used as the ``time`` coordinate.
    mask : array_like of bool, shape (ny, nx), optional
        Cells to predict; the others are NaN (and are not computed).
    return_std : bool, optional
        Also grid the estimator's standard deviation (``predict(..., return_std=True)``).
        None (default): when the estimator has one (``provides_std``). An estimator without
        one gives no std, asked or not.
    name : str
        Name of the values' array; the std's is ``<name>_std``.
    client : distributed.Client, optional
        Predict the blocks on this Dask client's workers (same result as in-process), for
        estimators with ``parallel_predict``; the others predict here.
    store : path-like, optional
        Write the cube (needs ``time``) to this NetCDF file block by block as the predictions
        come (the std to ``<stem>_std.nc`` beside it) and return it read back lazily
        (:mod:`insarfusion.cubes`): memory bounded by a block, not by the grid.

    Returns
    -------
    values : xarray.DataArray, dims (y, x) or (time, y, x)
        mm (the data's units), NaN outside ``mask``. The cells are predicted in blocks of
        whole rows of about :data:`insarfusion.parallel.CELL_CHUNK` cells.
    std : xarray.DataArray or None
        The standard deviation, same dims, mm; None when not asked or not provided.
    """
    with_std = bool(estimator.provides_std if return_std is None
                    else return_std and estimator.provides_std)
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    keep = np.ones(ny * nx, dtype=bool) if mask is None else np.asarray(mask, bool).ravel()
    if keep.size != ny * nx:
        raise InputError(f"mask has {keep.size} cells, the grid {ny * nx}")
    if store is not None and time is None:
        raise ValueError("grid(store=...) needs the epochs' dates (time)")
    time = None if time is None else np.asarray(time)
    names = [name, f"{name}_std"][:2 if with_std else 1]
    blocks = _Blocks(grid, keep, time, names, store)
    try:
        for_each_result(_predict_cells, blocks.chunks(*cell_centres(grid)),
                        blocks.write,
                        client if estimator.parallel_predict else None,
                        estimator=estimator, return_std=with_std)
        if not blocks.sinks:  # nothing to predict: an empty mask
            blocks.open(None if time is None else len(time))
    except BaseException:
        blocks.abandon()
        raise
    out = [sink.close() for sink in blocks.sinks]
    return out[0], (out[1] if with_std else None)
