"""The classic interpolators: nearest point, inverse distance, piecewise linear.

All epochs are handled at once: the interpolation weights depend only on the geometry, so they
are built once (as a sparse (m, n) matrix where the method allows) and applied to every epoch
in one product. :class:`WeightInterpolator` is the base of those whose prediction is such a
product (inverse distance, linear, and kriging in :mod:`insarfusion.spatial.kriging`).

Missing values
--------------
A NaN in a point's value at one epoch leaves that point out at that epoch only:

* nearest: the nearest point with a finite value at that epoch, among the ``n_fallback``
  nearest points (NaN if none of them has one);
* inverse distance, linear, kriging: the weights of the points with finite values are
  renormalised to sum to one. This is exact for inverse distance, an approximation for the
  barycentric and kriging weights (exact whenever no neighbour is missing). Kriging returns NaN
  where the finite neighbours carry less than half of the weight.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import Delaunay, cKDTree
from threadpoolctl import threadpool_limits

from ..errors import InputError
from ..estimators import SpatialInterpolator, check_coordinates, check_point_data

# distances below this (m) count as the same location
SAME_PLACE_M = 1e-10


def csr(weights, indices, n_points) -> sp.csr_matrix:
    """A (m, n_points) CSR matrix from ``k`` weights and point indices per row.

    Parameters
    ----------
    weights : ndarray, shape (m, k)
        Weights of the row's points.
    indices : ndarray of int, shape (m, k)
        The points (columns) they apply to.
    n_points : int
        Number of columns.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (m, n_points)
    """
    m, k = weights.shape
    return sp.csr_matrix((weights.ravel(), indices.ravel().astype(np.int64),
                          np.arange(0, m * k + 1, k)), shape=(m, n_points))


def apply_weights(weights, filled, finite, min_weight):
    """Weighted values at the targets, renormalising over the finite values of each epoch.

    Parameters
    ----------
    weights : scipy.sparse matrix, shape (m, n)
        Interpolation weights (each row sums to one when every value is finite).
    filled, finite : ndarray, shape (n, n_time)
        Values at the points with NaN as 0, and 1.0 where the value is finite, 0.0 where not.
    min_weight : float
        Targets whose finite neighbours carry at most this much weight are NaN.

    Returns
    -------
    ndarray, shape (m, n_time)
    """
    numerator = weights @ filled
    denominator = weights @ finite
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > min_weight, numerator / denominator, np.nan)


class _PointInterpolator(SpatialInterpolator):
    """Interpolators that keep the points, their values and a k-d tree of the points."""

    def fit(self, coordinates, data, groups=None):
        """Store the points, their values and a k-d tree of the points; ``groups`` is ignored.

        See :meth:`insarfusion.estimators.SpatialInterpolator.fit`.
        """
        x, y, values, single, _ = check_point_data(coordinates, data, groups)
        self.x_, self.y_, self.data_, self._single = x, y, values, single
        self.tree_ = cKDTree(np.column_stack([x, y]))
        self._fitted_hook()
        return self

    def _fitted_hook(self):
        """Extra fitting work of a subclass."""

    def _shaped(self, values):
        """Predictions (m, n_time) as the data was given: (m,) for 1-D data."""
        return values[:, 0] if self._single else values


class WeightInterpolator(_PointInterpolator):
    """Interpolators whose prediction is a sparse weight matrix times the point values."""

    #: targets whose finite neighbours carry no more than this weight are NaN
    _min_weight = 1e-9

    def _fitted_hook(self):
        self._prepared = None

    def _apply(self, weights):
        """The weights times the fitted values (:func:`apply_weights`).

        The zero-filled values and their finite mask are made once per fit (and per worker),
        not once per chunk of targets.
        """
        if self._prepared is None:
            finite = np.isfinite(self.data_)
            self._prepared = (np.where(finite, self.data_, 0.0), finite.astype(float))
        return apply_weights(weights, *self._prepared, self._min_weight)

    def __getstate__(self):
        # the prepared arrays are rebuilt where needed rather than pickled (Dask workers)
        return {**self.__dict__, "_prepared": None}

    def weights(self, coordinates) -> sp.csr_matrix:
        """Interpolation weights from the fitted points to the targets, shape (m, n)."""
        self._check_fitted("tree_")
        return self._weights(*check_coordinates(coordinates))

    def _weights(self, x, y):  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, coordinates, return_std=False):
        """The weights times the values at the targets, mm; the std is NaN (there is none).

        See :meth:`insarfusion.estimators.SpatialInterpolator.predict` and the module notes on
        missing values.
        """
        values = self._shaped(self._apply(self.weights(coordinates)))
        return self._no_std(values, return_std)


class NearestInterpolator(_PointInterpolator):
    """Value of the nearest point (cKDTree).

    Parameters
    ----------
    max_distance : float, optional
        Targets farther than this from every point are NaN, metres.
    n_fallback : int
        Where the nearest point has no value at an epoch, the nearest of this many points that
        has one is used instead.
    """

    def __init__(self, max_distance=None, n_fallback=8):
        self.max_distance = max_distance
        self.n_fallback = n_fallback

    def predict(self, coordinates, return_std=False):
        """The nearest point's value at each target, mm; the std is NaN (there is none).

        See :meth:`insarfusion.estimators.SpatialInterpolator.predict`.
        """
        self._check_fitted("tree_")
        x, y = check_coordinates(coordinates)
        n = self.x_.size
        bound = np.inf if self.max_distance is None else float(self.max_distance)
        finite = np.isfinite(self.data_)
        k = 1 if finite.all() else min(n, max(1, int(self.n_fallback)))
        dist, idx = self.tree_.query(np.column_stack([x, y]), k=k, distance_upper_bound=bound)
        dist, idx = dist.reshape(x.size, k), idx.reshape(x.size, k)
        found = np.isfinite(dist)
        safe = np.where(found, idx, 0)
        # (m, k, n_time): candidates in order of distance; take the first usable one per epoch
        usable = finite[safe] & found[:, :, None]
        first = usable.argmax(axis=1)
        values = np.take_along_axis(self.data_[safe], first[:, None, :], axis=1)[:, 0, :]
        out = np.where(usable.any(axis=1), values, np.nan)
        return self._no_std(self._shaped(out), return_std)


class IDWInterpolator(WeightInterpolator):
    """Inverse-distance weighting of the ``k`` nearest points.

    Weights ``1 / d**power`` over the ``k`` nearest points within ``radius_m``; a target on a
    point takes that point's value.

    Parameters
    ----------
    k : int
        Number of neighbours.
    power : float
        Distance exponent (2: the classic inverse-square weighting).
    radius_m : float, optional
        Neighbours farther than this are ignored, metres; targets with none are NaN.
    """

    def __init__(self, k=8, power=2.0, radius_m=None):
        self.k = k
        self.power = power
        self.radius_m = radius_m

    def _weights(self, x, y):
        n = self.x_.size
        k = min(n, max(1, int(self.k)))
        bound = np.inf if self.radius_m is None else float(self.radius_m)
        dist, idx = self.tree_.query(np.column_stack([x, y]), k=k, distance_upper_bound=bound)
        dist, idx = dist.reshape(x.size, k), idx.reshape(x.size, k)
        found = np.isfinite(dist)
        on_point = found & (dist <= SAME_PLACE_M)
        with np.errstate(divide="ignore"):
            inverse = np.where(found, 1.0 / np.maximum(dist, SAME_PLACE_M) ** self.power, 0.0)
        w = np.where(on_point.any(axis=1, keepdims=True), on_point.astype(float), inverse)
        w = w / np.maximum(w.sum(axis=1, keepdims=True), np.finfo(float).tiny)
        return csr(w, np.where(found, idx, 0), n)


class LinearInterpolator(WeightInterpolator):
    """Piecewise-linear interpolation on the Delaunay triangulation of the points.

    Same result as :class:`scipy.interpolate.LinearNDInterpolator`, written as barycentric
    weights (three per target) so that all epochs are one sparse product. NaN outside the
    convex hull of the points.
    """

    def __init__(self):
        pass

    def _fitted_hook(self):
        super()._fitted_hook()
        if self.x_.size < 3:
            raise InputError(f"linear interpolation needs at least 3 points, got {self.x_.size}")
        self.triangulation_ = Delaunay(np.column_stack([self.x_, self.y_]))

    def _weights(self, x, y):
        tri = self.triangulation_
        targets = np.column_stack([x, y])
        # the first point location computes every triangle's barycentric transform with one
        # tiny LAPACK call each; OpenBLAS's threads make those calls orders of magnitude
        # slower when the cores are busy, and one thread gives the same numbers
        with threadpool_limits(limits=1, user_api="blas"):
            simplex = tri.find_simplex(targets)
        inside = simplex >= 0
        affine = tri.transform[np.where(inside, simplex, 0)]
        bary2 = np.einsum("mij,mj->mi", affine[:, :2, :], targets - affine[:, 2, :])
        w = np.column_stack([bary2, 1.0 - bary2.sum(axis=1)])
        w[~inside] = 0.0
        vertices = tri.simplices[np.where(inside, simplex, 0)]
        return csr(w, vertices, self.x_.size)
