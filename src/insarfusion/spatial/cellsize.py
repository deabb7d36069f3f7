"""The choice of the cell size by block cross-validation (``cell_size_m: auto``).

A gridded product at one cell size is an estimator, :class:`GriddedInterpolator`: ``fit``
resamples the points onto the grid by the paper's bilinear weighting
(:func:`insarfusion.grid.points_to_grid`) and fills the empty cells, ``predict`` samples the
grid bilinearly (:func:`insarfusion.grid.sample`). It is scored on points held out in spatial
blocks by :func:`insarfusion.model_selection.cross_val_score`, the path every held-out score
takes. Small cells keep detail but average little noise; large cells average noise but blur
the field: the score weighs the two.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InputError, StageError
from ..estimators import SpatialInterpolator, check_coordinates, check_point_data, clone
from ..grid import cell_centres, make_grid, points_to_grid, sample
from ..log import logger
from ..model_selection import BlockKFold, cross_val_score
from .interpolators import IDWInterpolator


class GriddedInterpolator(SpatialInterpolator):
    """The gridded, gap-filled product at one cell size, sampled bilinearly.

    Parameters
    ----------
    cell_size_m : float
        Cell size, metres.
    filler : SpatialInterpolator, optional
        Fills the cells without data, fitted (a fresh copy) on the cells with data;
        :class:`~insarfusion.spatial.IDWInterpolator` by default.
    region : tuple of float, optional
        ``(xmin, xmax, ymin, ymax)`` the grid covers (one cell of padding around it), metres;
        the extent of the fitted points by default. Model selection gives the extent of all
        the points, so that every fold uses the same grid.

    Attributes
    ----------
    grid_ : xarray.DataArray, dims (time, y, x) or (y, x)
        The gridded, filled values, mm.
    """

    def __init__(self, cell_size_m, filler=None, region=None):
        self.cell_size_m = cell_size_m
        self.filler = filler
        self.region = region

    def fit(self, coordinates, data, groups=None):
        """Grid the points (bilinear weights) and fill the empty cells; ``groups`` is ignored.

        See :meth:`insarfusion.estimators.SpatialInterpolator.fit`.
        """
        x, y, values, single, _ = check_point_data(coordinates, data, groups)
        region = (x.min(), x.max(), y.min(), y.max()) if self.region is None else self.region
        g = make_grid(*region, cell_size=self.cell_size_m, pad=1)
        cx, cy = cell_centres(g)
        gridded, count = points_to_grid(g, x, y, values)
        cells = gridded.reshape(values.shape[1], -1).T  # (n_cells, n_time)
        observed = (count.ravel() > 0) & np.isfinite(cells).any(axis=1)
        filler = IDWInterpolator() if self.filler is None else clone(self.filler)
        filler.fit((cx[observed], cy[observed]), cells[observed])
        filled = np.where(np.isfinite(cells), cells,
                          filler.predict((cx, cy)).reshape(cells.shape))
        cube = filled.T.reshape(values.shape[1], g.sizes["y"], g.sizes["x"])
        self.grid_ = xr.DataArray(cube[0] if single else cube,
                                  dims=("y", "x") if single else ("time", "y", "x"),
                                  coords={"y": g["y"].values, "x": g["x"].values})
        return self

    def predict(self, coordinates, return_std=False):
        """Bilinear samples of the filled grid, NaN beyond the outermost cell centres, mm.

        The std is NaN (there is none). See
        :meth:`insarfusion.estimators.SpatialInterpolator.predict`.
        """
        self._check_fitted("grid_")
        x, y = check_coordinates(coordinates)
        return self._no_std(sample(self.grid_, x, y), return_std)


def default_block_size(x, y) -> float:
    """A tenth of the larger side of the points' extent (at least 0.1 m), metres."""
    return max(np.ptp(x), np.ptp(y), 1.0) / 10.0


def gridded_cv_score(x, y, data, cell_size, filler=None, block_size=None, n_folds=5,
                     seed=0) -> float:
    """Held-out RMSE (mm) of the gridded product at one cell size.

    :func:`~insarfusion.model_selection.cross_val_score` of a :class:`GriddedInterpolator`
    over the extent of all the points, in folds of spatial blocks
    (:class:`~insarfusion.model_selection.BlockKFold`).

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Points, metres.
    data : array_like, shape (n,) or (n, n_time)
        Values, mm.
    cell_size : float
        Cell size, metres.
    filler : SpatialInterpolator, optional
        Fills the empty cells; :class:`IDWInterpolator` by default.
    block_size : float, optional
        Side of the held-out blocks, metres; :func:`default_block_size` by default.
    n_folds, seed : int
        Folds and seed of the :class:`~insarfusion.model_selection.BlockKFold` split.

    Returns
    -------
    float
        Root-mean-square error over every held-out point and epoch the product covers, mm.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if block_size is None:
        block_size = default_block_size(x, y)
    estimator = GriddedInterpolator(cell_size, filler=filler,
                                    region=(x.min(), x.max(), y.min(), y.max()))
    cv = BlockKFold(block_size, n_splits=n_folds, seed=seed)
    return cross_val_score(estimator, (x, y), data, cv).rmse


def choose_cell_size(x, y, data, candidates=(10, 20.22, 40, 60), filler=None,
                     block_size=None, n_folds=5, seed=0, tolerance=0.02):
    """Cell size for ``cell_size_m: auto``, chosen by block cross-validation.

    Each candidate is scored with :func:`gridded_cv_score` (held-out RMSE of the gridded,
    gap-filled, bilinearly sampled product). The chosen size is the **largest** candidate whose
    score is within ``tolerance`` (relative) of the best one: a coarser grid is smaller and
    faster for the same accuracy.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Points, metres.
    data : array_like, shape (n,) or (n, n_time)
        Values, mm (a few epochs, or the velocity, suffice).
    candidates : sequence of float
        Cell sizes to try, metres.
    filler, block_size, n_folds, seed
        As in :func:`gridded_cv_score`; the blocks are the same for every candidate.
    tolerance : float
        Relative slack on the best score.

    Returns
    -------
    cell_size : float
        Metres.
    scores : dict
        Held-out RMSE (mm) of every candidate.
    """
    if len(candidates) == 0:
        raise InputError("no candidate cell sizes")
    if block_size is None:
        block_size = default_block_size(np.asarray(x, float), np.asarray(y, float))
    scores = {float(c): gridded_cv_score(x, y, data, c, filler=filler, block_size=block_size,
                                         n_folds=n_folds, seed=seed)
              for c in candidates}
    finite = {c: s for c, s in scores.items() if np.isfinite(s)}
    if not finite:
        raise StageError("no candidate cell size could be scored")
    best = min(finite.values())
    chosen = max(c for c, s in finite.items() if s <= best * (1.0 + tolerance))
    logger.info("cell size %.2f m chosen by block cross-validation (RMSE %s)", chosen,
                ", ".join(f"{c:g} m: {s:.3f} mm" for c, s in scores.items()))
    return chosen, scores
