"""Spatial estimators, gridding and the choice of cell size (paper §4.2.3, §5.5).

Every estimator follows :class:`insarfusion.estimators.SpatialInterpolator`: ``fit((x, y),
data, groups=None)`` with ``x``, ``y`` in metres and ``data`` in mm, shape (n,) or (n, n_time);
``predict((x, y), return_std=False)`` returns (m,) or (m, n_time).

* :mod:`~insarfusion.spatial.interpolators`: nearest point, inverse distance, piecewise linear;
* :mod:`~insarfusion.spatial.kriging`: local ordinary kriging and its variogram;
* :mod:`~insarfusion.spatial.gridding`: :func:`grid`, any fitted estimator on a grid, and
  :func:`hull_mask`;
* :mod:`~insarfusion.spatial.cellsize`: the gridded product as an estimator and the choice of
  the cell size by block cross-validation;
* :mod:`~insarfusion.spatial.factory`: :func:`make_interpolator`, the estimators by name.

Held-out scores of any of them come from :func:`insarfusion.model_selection.cross_val_score`.
"""

from .cellsize import GriddedInterpolator, choose_cell_size, gridded_cv_score
from .factory import ESTIMATORS, METHODS, make_interpolator, product_name
from .gridding import grid, hull_mask
from .interpolators import IDWInterpolator, LinearInterpolator, NearestInterpolator
from .kriging import VARIOGRAM_MODELS, KrigingInterpolator, fit_variogram

__all__ = [
    "ESTIMATORS",
    "METHODS",
    "VARIOGRAM_MODELS",
    "GriddedInterpolator",
    "IDWInterpolator",
    "KrigingInterpolator",
    "LinearInterpolator",
    "NearestInterpolator",
    "choose_cell_size",
    "fit_variogram",
    "grid",
    "gridded_cv_score",
    "hull_mask",
    "make_interpolator",
    "product_name",
]
