"""The robust spatial low-pass of the APS filter, per epoch.

:func:`robust_lowpass`: a Gaussian of standard deviation ``scale_m`` applied by normalised
convolution on a binned grid (``scipy.ndimage``), sampled back at the points bilinearly and
iterated with Tukey biweights, so that points departing from their neighbourhood stop
contributing; optionally a robust plane per epoch first. Units: mm, metres.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from ..errors import InputError
from ..estimators import check_coordinates
from ..log import logger

#: Default standard deviation of the spatial Gaussian, metres.
DEFAULT_SCALE_M = 100.0
#: Tukey biweight tuning constant (95 % efficiency under Gaussian errors).
_TUKEY_C = 4.685
#: Scale of a median absolute deviation that makes it a standard deviation for Gaussian errors.
_MAD_TO_STD = 1.4826
#: Most grid values (cells × epochs) held at once by the spatial step.
_GRID_VALUES = 24_000_000
#: Most cells of the spatial grid; beyond, the cell grows (logged).
_MAX_CELLS = 4_000_000


class _BinnedGrid:
    """Points binned to the nearest cell of a regular grid, and bilinear sampling back.

    ``splat`` (cells × points) sums point values per cell; ``sample`` (points × cells)
    interpolates cell-centre values bilinearly at the points.
    """

    def __init__(self, x, y, cell):
        xmin, ymin = x.min(), y.min()
        nx = int(np.floor((x.max() - xmin) / cell)) + 1
        ny = int(np.floor((y.max() - ymin) / cell)) + 1
        self.shape = (ny, nx)
        n = x.size
        col = np.floor((x - xmin) / cell).astype(np.int64)
        row = np.floor((y - ymin) / cell).astype(np.int64)
        self.splat = sp.csr_matrix((np.ones(n), (row * nx + col, np.arange(n))),
                                   shape=(ny * nx, n))
        # bilinear weights from the four surrounding cell centres (clamped at the border)
        fc = np.clip((x - xmin) / cell - 0.5, 0.0, nx - 1)
        fr = np.clip((y - ymin) / cell - 0.5, 0.0, ny - 1)
        c0 = np.minimum(np.floor(fc).astype(np.int64), max(nx - 2, 0))
        r0 = np.minimum(np.floor(fr).astype(np.int64), max(ny - 2, 0))
        c1, r1 = np.minimum(c0 + 1, nx - 1), np.minimum(r0 + 1, ny - 1)
        tc, tr = fc - c0, fr - r0
        rows = np.tile(np.arange(n), 4)
        cols = np.concatenate([r0 * nx + c0, r0 * nx + c1, r1 * nx + c0, r1 * nx + c1])
        w = np.concatenate([(1 - tr) * (1 - tc), (1 - tr) * tc, tr * (1 - tc), tr * tc])
        self.sample = sp.csr_matrix((w, (rows, cols)), shape=(n, ny * nx))


def _grid_for(x, y, scale_m, cell_m):
    """The binning grid for a Gaussian of ``scale_m``: cells of ``cell_m`` (default scale / 2)."""
    cell = float(cell_m) if cell_m else scale_m / 2.0
    side = max(np.ptp(x), np.ptp(y), cell)
    if (side / cell) ** 2 > _MAX_CELLS:
        wider = side / np.sqrt(_MAX_CELLS)
        logger.info("APS filter: %.0f m cells (not %.0f m) to keep the grid within %d cells",
                    wider, cell, _MAX_CELLS)
        cell = wider
    return _BinnedGrid(x, y, cell), scale_m / cell


def _gaussian_ratio(grid, sigma_cells, weights, values):
    """Weighted Gaussian mean of ``values`` around every point, per epoch (mm).

    ``values`` must be finite where ``weights`` are not zero (zero-filled elsewhere).
    """
    n_cells = grid.shape[0] * grid.shape[1]
    n_time = values.shape[1]
    step = max(1, _GRID_VALUES // max(n_cells, 1))
    num = np.empty(values.shape)
    den = np.empty(values.shape)
    wv = weights * values
    for start in range(0, n_time, step):
        block = slice(start, start + step)
        for src, dst in ((wv, num), (weights, den)):
            cube = (grid.splat @ src[:, block]).reshape(*grid.shape, -1)
            cube = ndimage.gaussian_filter(cube, sigma=(sigma_cells, sigma_cells, 0),
                                           mode="constant", truncate=3.0)
            dst[:, block] = grid.sample @ cube.reshape(n_cells, -1)
    ok = den > 1e-12
    np.divide(num, den, out=num, where=ok)
    num[~ok] = np.nan
    return num


def _plane(x, y, weights, values):
    """Weighted least-squares plane per epoch, evaluated at the points (mm).

    ``values`` must be finite where ``weights`` are not zero (zero-filled elsewhere).
    """
    xs, ys = (x - x.mean()) / 1000.0, (y - y.mean()) / 1000.0
    a = np.stack([np.ones_like(xs), xs, ys], axis=1)                     # (n, 3)
    gram = np.einsum("nt,nk,nl->tkl", weights, a, a)
    rhs = np.einsum("nt,nk->tk", weights * values, a)
    coef = np.einsum("tkl,tl->tk", np.linalg.pinv(gram), rhs)
    return a @ coef.T


def _epoch_median(values, most=None):
    """Median over the points of every epoch, ignoring NaN; NaN where an epoch has none.

    With ``most``, from an evenly strided subset of at most that many points (for scales,
    where 20,000 points are as good as 200,000).
    """
    if most is not None and values.shape[0] > most:
        values = values[::-(-values.shape[0] // most)]
    if np.isfinite(values).all():
        return np.median(values, axis=0)
    out = np.full(values.shape[1], np.nan)
    some = np.isfinite(values).any(axis=0)
    out[some] = np.nanmedian(values[:, some], axis=0)
    return out


#: Points used for the per-epoch robust scales.
_SCALE_POINTS = 20000


def _biweights(misfit):
    """Tukey biweights of the misfits, scaled by each epoch's MAD (0 where NaN)."""
    scale = _MAD_TO_STD * _epoch_median(np.abs(misfit), _SCALE_POINTS)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.inf)
    u = misfit / (_TUKEY_C * scale)
    u *= u
    return np.where(u < 1.0, (1.0 - u) ** 2, 0.0)


def _point_weights(residuals):
    """Inverse-variance weight of each point from its robust residual scale (0 if none).

    The scale is the point's median absolute departure from the epochs' medians; it is floored
    at half the dataset's typical scale, so that weights lie in (0, 1].
    """
    centred = np.abs(residuals - _epoch_median(residuals, _SCALE_POINTS))
    finite = np.isfinite(centred)
    if finite.all():
        mad = np.median(centred, axis=1)
    else:
        mad = np.full(centred.shape[0], np.nan)
        some = finite.any(axis=1)
        mad[some] = np.nanmedian(centred[some], axis=1)
    typical = np.nanmedian(mad) if np.isfinite(mad).any() else 1.0
    floor = max(0.5 * typical, 1e-6)
    return np.where(np.isfinite(mad), (floor / np.maximum(mad, floor)) ** 2, 0.0)


def robust_lowpass(x, y, residuals, scale_m=DEFAULT_SCALE_M, iterations=1, ramp=False,
                   cell_m=None) -> np.ndarray:
    """Robust Gaussian low-pass in space of per-epoch residuals, at the points (mm).

    Parameters
    ----------
    x, y : array_like, shape (n_point,)
        Point coordinates, metres.
    residuals : array_like, shape (n_point, n_time)
        Values to smooth, mm; NaN where missing (those take no part).
    scale_m : float
        Standard deviation of the spatial Gaussian, metres.
    iterations : int
        Reweighting passes with Tukey biweights of the misfit to the current estimate (scaled
        per epoch by the misfit's MAD); 0 gives the plain (point-noise weighted) Gaussian mean.
    ramp : bool
        Fit and include a robust plane per epoch (orbital ramp) before the Gaussian.
    cell_m : float, optional
        Binning cell, metres (default ``scale_m / 2``).

    Returns
    -------
    ndarray, shape (n_point, n_time)
        The smooth field at every point and epoch, mm (where no weighted neighbour exists, the
        epoch's median residual; 0 on an epoch without any residual).
    """
    x, y = check_coordinates((x, y))
    r = np.asarray(residuals, dtype=float)
    if r.shape[0] != x.size:
        raise InputError(f"residuals have {r.shape[0]} rows for {x.size} points")
    if not (np.isfinite(scale_m) and scale_m > 0):
        raise InputError(f"scale_m must be positive, got {scale_m!r}")
    grid, sigma_cells = _grid_for(x, y, float(scale_m), cell_m)
    finite = np.isfinite(r)
    base = _point_weights(r)[:, None] * finite
    r0 = r if finite.all() else np.where(finite, r, 0.0)
    weights = base
    fallback = _epoch_median(r, _SCALE_POINTS)
    fallback[~np.isfinite(fallback)] = 0.0      # an epoch without any value: nothing to remove
    estimate = None
    for _ in range(int(iterations) + 1):
        plane = _plane(x, y, weights, r0) if ramp else 0.0
        local = _gaussian_ratio(grid, sigma_cells, weights, r0 - plane)
        missing = ~np.isfinite(local)
        estimate = local + plane
        if missing.any():
            estimate[missing] = np.broadcast_to(fallback, local.shape)[missing]
        weights = base * _biweights(r - estimate)
    return estimate

