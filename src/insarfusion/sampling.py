"""Sampling of gridded products at scattered places (bilinear, NaN-aware).

A product grid is north up with regular cell centres (:func:`insarfusion.grid.make_grid`).
:func:`bilinear_weights` finds, for each place, the four cell centres around it and their
bilinear weights; :func:`sample_bilinear` applies them to a map or to every epoch of a cube.
A neighbour whose value is NaN is left out and the others are re-weighted, so a place next to
an empty cell still gets a value; a place whose four neighbours are all empty, or that lies
more than half a cell outside the outer cell centres, gets NaN.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import InputError


def _axis_position(centres: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractional index of ``values`` along regularly spaced ``centres`` and an inside flag."""
    if centres.size == 1:
        return np.zeros_like(values), np.isfinite(values)
    step = float(centres[1] - centres[0])
    pos = (values - centres[0]) / step
    inside = (pos >= -0.5) & (pos <= centres.size - 0.5)
    return np.clip(pos, 0.0, centres.size - 1.0), inside


def bilinear_weights(x_centres, y_centres, x, y):
    """Neighbouring cells and bilinear weights of places on a regular grid.

    Parameters
    ----------
    x_centres, y_centres : array_like
        Cell-centre coordinates of the grid (``y`` may decrease), regularly spaced.
    x, y : array_like, shape (n,)
        Places, in the grid's CRS.

    Returns
    -------
    rows, cols : ndarray of int, shape (n, 4)
        Row and column of the four neighbouring cells of each place.
    weights : ndarray, shape (n, 4)
        Their bilinear weights (summing to 1); all zero for a place outside the grid.
    """
    xc = np.asarray(x_centres, dtype=float)
    yc = np.asarray(y_centres, dtype=float)
    fx, in_x = _axis_position(xc, np.atleast_1d(np.asarray(x, dtype=float)))
    fy, in_y = _axis_position(yc, np.atleast_1d(np.asarray(y, dtype=float)))
    c0 = np.clip(np.floor(fx).astype(np.int64), 0, max(xc.size - 2, 0))
    r0 = np.clip(np.floor(fy).astype(np.int64), 0, max(yc.size - 2, 0))
    tx = np.clip(fx - c0, 0.0, 1.0)
    ty = np.clip(fy - r0, 0.0, 1.0)
    c1 = np.minimum(c0 + 1, xc.size - 1)
    r1 = np.minimum(r0 + 1, yc.size - 1)
    rows = np.stack([r0, r0, r1, r1], axis=-1)
    cols = np.stack([c0, c1, c0, c1], axis=-1)
    weights = np.stack([(1 - ty) * (1 - tx), (1 - ty) * tx, ty * (1 - tx), ty * tx], axis=-1)
    weights = np.where((in_x & in_y)[:, None], weights, 0.0)
    return rows, cols, weights


def sample_bilinear(data, x, y, x_centres=None, y_centres=None) -> np.ndarray:
    """Values of a map or a cube at places, by NaN-aware bilinear interpolation.

    Parameters
    ----------
    data : xarray.DataArray or array_like
        A map (y, x) or a cube (..., y, x); a DataArray must have ``y`` and ``x`` dims
        (its coordinates are then used).
    x, y : array_like, shape (n,)
        Places, in the grid's CRS (metres).
    x_centres, y_centres : array_like, optional
        Cell centres, needed when ``data`` is a plain array.

    Returns
    -------
    ndarray, shape (n,) or (n, ...)
        One value per place (a map) or one series per place (a cube; the leading dims of
        ``data`` follow the place axis); NaN outside the grid or where every neighbour is
        empty.
    """
    if isinstance(data, xr.DataArray):
        if "x" not in data.dims or "y" not in data.dims:
            raise InputError(f"data to sample has dims {data.dims}, expected y and x")
        lead = [d for d in data.dims if d not in ("y", "x")]
        x_centres = data["x"].values if x_centres is None else x_centres
        y_centres = data["y"].values if y_centres is None else y_centres
        data = data.transpose(*lead, "y", "x")
        lead_shape = tuple(data.shape[:-2])
    else:
        if x_centres is None or y_centres is None:
            raise InputError("sampling a plain array needs the cell centres")
        data = np.asarray(data, dtype=float)
        lead_shape = data.shape[:-2]
    rows, cols, weights = bilinear_weights(x_centres, y_centres, x, y)
    k = int(np.prod(lead_shape)) if lead_shape else 1
    out = np.full((rows.shape[0], k), np.nan)
    block = max(1, _BLOCK_VALUES // (4 * k))
    for start in range(0, rows.shape[0], block):
        sl = slice(start, start + block)
        picked = _pick(data, rows[sl].ravel(), cols[sl].ravel()).reshape(k, -1, 4)
        finite = np.isfinite(picked)
        w = np.where(finite, weights[sl][None], 0.0)
        total = w.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sl] = np.where(total > 1e-9,
                               (np.where(finite, picked, 0.0) * w).sum(-1) / total, np.nan).T
    return out.reshape(out.shape[0], *lead_shape) if lead_shape else out[:, 0]


#: Values gathered at a time (bounds the memory of sampling many places of a long cube).
_BLOCK_VALUES = 8_000_000


def _pick(data, rows, cols) -> np.ndarray:
    """Values at (row, col) pairs of a (..., y, x) array, as (prod(lead), n).

    A DataArray is indexed pointwise, so a Dask-backed cube reads only the chunks it needs.
    """
    if isinstance(data, xr.DataArray):
        picked = data.isel(y=xr.DataArray(rows, dims="_place"),
                           x=xr.DataArray(cols, dims="_place"))
        values = np.asarray(picked.values, dtype=float)
    else:
        values = data[..., rows, cols]
    return values.reshape(-1, rows.size)
