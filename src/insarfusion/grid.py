"""The output grid and the resampling of points onto it (paper §4.2.3, Table 3).

A grid is a regular raster of square cells in the working CRS, north up: ``x`` cell centres
increase, ``y`` cell centres decrease. Cell edges are aligned on multiples of the cell size, so
grids of the same cell size built from different extents share their cell centres (the
simulator's truth and a run's products line up exactly).

:func:`splat_weights` builds, once, the sparse bilinear weights from points to cells; applying
them to every epoch is one sparse matrix product (:func:`points_to_grid`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import xarray as xr
from affine import Affine

from .errors import StageError

#: Default cell size of the fused product (m), paper Table 3.
DEFAULT_CELL_SIZE = 20.22


def make_grid(xmin, xmax, ymin, ymax, cell_size=DEFAULT_CELL_SIZE, crs=None, pad=0) -> xr.Dataset:
    """An empty grid (coordinates only) covering the extent, ``pad`` cells on each side.

    Parameters
    ----------
    xmin, xmax, ymin, ymax : float
        Extent to cover, metres in the working CRS.
    cell_size : float
        Cell size, metres.
    crs : str, optional
        Recorded in ``attrs["crs"]``.
    pad : int
        Extra cells around the extent.

    Returns
    -------
    xarray.Dataset
        Coordinates ``x`` (ascending) and ``y`` (descending) of cell centres, attrs
        ``cell_size`` and ``crs``.
    """
    if not cell_size > 0:
        raise StageError(f"cell size must be positive, got {cell_size}")
    if not (np.isfinite([xmin, xmax, ymin, ymax]).all() and xmax >= xmin and ymax >= ymin):
        raise StageError(f"bad grid extent x {xmin}..{xmax}, y {ymin}..{ymax}")
    i0 = int(np.floor(xmin / cell_size)) - pad
    i1 = int(np.floor(xmax / cell_size)) + pad
    j0 = int(np.floor(ymin / cell_size)) - pad
    j1 = int(np.floor(ymax / cell_size)) + pad
    x = (np.arange(i0, i1 + 1) + 0.5) * cell_size
    y = ((np.arange(j0, j1 + 1) + 0.5) * cell_size)[::-1]
    return xr.Dataset(coords={"x": ("x", x, {"units": "m"}), "y": ("y", y, {"units": "m"})},
                      attrs={"cell_size": float(cell_size), "crs": crs or ""})


def grid_transform(grid) -> Affine:
    """The affine transform (upper-left corner) of a grid, as rasterio expects."""
    cell = float(grid.attrs["cell_size"])
    x0 = float(grid["x"].values[0]) - cell / 2
    y0 = float(grid["y"].values[0]) + cell / 2
    return Affine(cell, 0.0, x0, 0.0, -cell, y0)


def cell_index(grid, x, y):
    """Row and column (integers, may fall outside the grid) of the cells holding points."""
    cell = float(grid.attrs["cell_size"])
    col = np.floor((np.asarray(x) - (grid["x"].values[0] - cell / 2)) / cell).astype(np.int64)
    row = np.floor(((grid["y"].values[0] + cell / 2) - np.asarray(y)) / cell).astype(np.int64)
    return row, col


def splat_weights(grid, x, y) -> sp.csr_matrix:
    """Bilinear weights from points to cell centres, shape (n_cells, n_points).

    Each point spreads onto the four cell centres around it with the bilinear (tent) weights
    ``(1 - |dx|/cell) (1 - |dy|/cell)``; a cell's value is then the weighted mean of the points
    around it — bilinear interpolation turned around for scattered points, as in the paper.
    Cells are numbered row-major (``row * nx + col``).
    """
    cell = float(grid.attrs["cell_size"])
    nx, ny = grid.sizes["x"], grid.sizes["y"]
    # continuous column/row of each point in units of cells, measured from the first centre
    fc = (np.asarray(x, float) - grid["x"].values[0]) / cell
    fr = (grid["y"].values[0] - np.asarray(y, float)) / cell
    c0 = np.floor(fc).astype(np.int64)
    r0 = np.floor(fr).astype(np.int64)
    tc = fc - c0
    tr = fr - r0
    rows, cols, weights = [], [], []
    point = np.arange(fc.size)
    for dr, dc, w in ((0, 0, (1 - tr) * (1 - tc)), (0, 1, (1 - tr) * tc),
                      (1, 0, tr * (1 - tc)), (1, 1, tr * tc)):
        r, c = r0 + dr, c0 + dc
        ok = (r >= 0) & (r < ny) & (c >= 0) & (c < nx) & (w > 0)
        rows.append(r[ok] * nx + c[ok])
        cols.append(point[ok])
        weights.append(w[ok])
    return sp.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(nx * ny, fc.size))


def points_to_grid(grid, x, y, values, min_weight=1e-6):
    """Resample point values (one or many epochs) onto the grid by bilinear weighting.

    Parameters
    ----------
    grid : xarray.Dataset
        From :func:`make_grid`.
    x, y : array_like, shape (n,)
        Point coordinates, metres.
    values : array_like, shape (n,) or (n, n_time)
        Point values (mm); NaN values are left out of the weighting.
    min_weight : float
        Cells whose summed weight is below this are empty (NaN).

    Returns
    -------
    gridded : ndarray, shape (ny, nx) or (n_time, ny, nx)
        Weighted mean of the points around each cell; NaN where no point contributes.
    count : ndarray of int, shape (ny, nx)
        Number of points contributing to each cell.
    """
    vals = np.asarray(values, dtype=float)
    single = vals.ndim == 1
    if single:
        vals = vals[:, None]
    W = splat_weights(grid, x, y)
    finite = np.isfinite(vals)
    num = W @ np.where(finite, vals, 0.0)
    den = W @ finite.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > min_weight, num / den, np.nan)
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    count = np.asarray((W > 0).sum(axis=1)).reshape(ny, nx)
    out = out.T.reshape(vals.shape[1], ny, nx)
    return (out[0] if single else out), count
