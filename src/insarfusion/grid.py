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
    out = W @ np.where(finite, vals, 0.0)
    den = W @ finite.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(out, den, out=out)  # in place: a (cells, epochs) array less at the peak
    out[den <= min_weight] = np.nan
    del den
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    count = np.asarray((W > 0).sum(axis=1)).reshape(ny, nx)
    out = out.T.reshape(vals.shape[1], ny, nx)
    return (out[0] if single else out), count


def cell_centres(grid):
    """``x``, ``y`` of every cell centre of a grid, row-major (ny*nx,), metres."""
    gx, gy = np.meshgrid(grid["x"].values, grid["y"].values)
    return gx.ravel(), gy.ravel()


def _bracket(centres, at, outside):
    """Per point, the two cells around it along one axis and their bilinear weights.

    Parameters
    ----------
    centres : ndarray, shape (k,)
        Cell centres along the axis, ascending or descending.
    at : ndarray, shape (n,)
        Coordinates of the points along the axis.
    outside : {"nan", "edge", "cell"}
        Whether points beyond the outermost centres are marked outside or clamped
        (``"cell"``: clamped within the outer cells, half a cell beyond the outermost
        centres, marked outside beyond).

    Returns
    -------
    low, high : ndarray of int, shape (n,)
        Indices (into ``centres``) of the cells at the lower and the higher coordinate.
    weight_low, weight_high : ndarray, shape (n,)
        Their weights (summing to one).
    nearest : ndarray of int, shape (n,)
        Index of the nearest cell (ties go to the higher coordinate).
    beyond : ndarray of bool, shape (n,)
        Points beyond the outermost centres (all False with ``"edge"``; beyond the outer
        cells' edges with ``"cell"``).
    """
    descending = centres.size > 1 and centres[0] > centres[-1]
    ascending = centres[::-1] if descending else centres
    beyond = (at < ascending[0]) | (at > ascending[-1])
    if outside == "edge":
        beyond[:] = False
    elif outside == "cell":  # only beyond the outer cells' edges, half a cell out
        half = abs(float(ascending[1] - ascending[0])) / 2 if ascending.size > 1 else np.inf
        beyond = (at < ascending[0] - half) | (at > ascending[-1] + half)
    at = np.clip(at, ascending[0], ascending[-1])
    low = np.clip(np.searchsorted(ascending, at, side="right") - 1, 0,
                  max(ascending.size - 2, 0))
    high = np.minimum(low + 1, ascending.size - 1)
    span = ascending[high] - ascending[low]
    with np.errstate(invalid="ignore", divide="ignore"):
        weight_high = np.where(span > 0, (at - ascending[low]) / span, 0.0)
    # as pandas' nearest look-up: a tie goes to the higher coordinate
    nearest = np.where(ascending[high] - at <= at - ascending[low], high, low)
    if descending:
        low, high, nearest = (ascending.size - 1 - i for i in (low, high, nearest))
    return low, high, 1.0 - weight_high, weight_high, nearest, beyond


def sample(field: xr.DataArray, x, y, outside="nan", fallback=None,
           nan="propagate") -> np.ndarray:
    """Bilinear samples of a gridded field at points.

    The four cell centres around each point are weighted bilinearly, as
    :class:`scipy.interpolate.RegularGridInterpolator` does; a cell of weight zero does not
    count (a point on a cell centre takes that cell's value, whatever its neighbours). A point
    is NaN where a cell of non-zero weight is NaN (unless ``nan="skip"``). Only the rows and columns around the points
    are read, so a field opened lazily (Dask, NetCDF) is not loaded whole.

    Parameters
    ----------
    field : xarray.DataArray
        Dims ``y`` and ``x`` (cell centres, metres, ascending or descending) and any others
        (e.g. ``time``); mm.
    x, y : array_like, shape (n,)
        Points, metres.
    outside : {"nan", "edge", "cell"}
        Points beyond the outermost cell centres: NaN, or the value at the nearest point of
        the edge (the coordinates are clamped); ``"cell"``: clamped within the outer cells
        (half a cell beyond the outermost centres, the grid's own extent), NaN beyond.
    fallback : {None, "nearest"}
        ``"nearest"``: where the bilinear value is NaN, the nearest cell's value (which may
        be NaN too).
    nan : {"propagate", "skip"}
        ``"propagate"``: a NaN cell of non-zero weight makes the point NaN. ``"skip"``: NaN
        cells are left out and the others re-weighted, so a point next to an empty cell
        still gets a value (NaN only where every cell of non-zero weight is NaN).

    Returns
    -------
    ndarray, shape (n,) or (n, *other)
        ``(n,)`` for a ``(y, x)`` field, ``(n, n_time)`` for a ``(time, y, x)`` one, mm; NaN
        at points with a NaN coordinate.
    """
    if outside not in ("nan", "edge", "cell"):
        raise ValueError(f"outside must be 'nan', 'edge' or 'cell', got {outside!r}")
    if fallback not in (None, "nearest"):
        raise ValueError(f"fallback must be None or 'nearest', got {fallback!r}")
    if nan not in ("propagate", "skip"):
        raise ValueError(f"nan must be 'propagate' or 'skip', got {nan!r}")
    x = np.atleast_1d(np.asarray(x, dtype=float)).ravel()
    y = np.atleast_1d(np.asarray(y, dtype=float)).ravel()
    field = field.transpose(..., "y", "x")
    ylow, yhigh, wy_low, wy_high, ynear, ybeyond = _bracket(field["y"].values, y, outside)
    xlow, xhigh, wx_low, wx_high, xnear, xbeyond = _bracket(field["x"].values, x, outside)
    # the window of rows and columns the points need, read once
    rows = np.unique(np.concatenate([ylow, yhigh]))
    cols = np.unique(np.concatenate([xlow, xhigh]))
    window = np.asarray(field.isel(y=rows, x=cols).values, dtype=float)
    window = np.moveaxis(window, (-2, -1), (0, 1))  # (rows, cols, *other)
    r = {k: np.searchsorted(rows, i) for k, i in (("low", ylow), ("high", yhigh),
                                                 ("near", ynear))}
    c = {k: np.searchsorted(cols, i) for k, i in (("low", xlow), ("high", xhigh),
                                                 ("near", xnear))}
    extra = (None,) * (window.ndim - 2)
    out = np.zeros((x.size,) + window.shape[2:])
    total = np.zeros_like(out)
    # summed in RegularGridInterpolator's order, so the numbers are the same
    for row, wy in (("low", wy_low), ("high", wy_high)):
        for col, wx in (("low", wx_low), ("high", wx_high)):
            weight = (wy * wx)[(slice(None),) + extra]
            values = window[r[row], c[col]]
            if nan == "skip":
                weight = np.where(np.isfinite(values), weight, 0.0)
                values = np.where(weight > 0, values, 0.0)
                total = total + weight
            out = out + np.where(weight > 0, values, 0.0) * weight
    if nan == "skip":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 1e-12, out / total, np.nan)
    out[ybeyond | xbeyond] = np.nan
    if fallback == "nearest":
        out = np.where(np.isfinite(out), out, window[r["near"], c["near"]])
    out[~(np.isfinite(x) & np.isfinite(y))] = np.nan
    return out
