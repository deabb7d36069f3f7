"""Classic spatial interpolators, gridding helpers and the choice of cell size (paper §4.2.3, §5.5).

Every interpolator follows :class:`insarfusion.estimators.SpatialInterpolator`: ``fit((x, y),
data)`` with ``x``, ``y`` in metres and ``data`` in mm, shape (n,) or (n, n_time); ``predict((x,
y))`` returns (m,) or (m, n_time). All epochs are handled at once: the interpolation weights
depend only on the geometry, so they are built once (as a sparse (m, n) matrix where the method
allows) and applied to every epoch in one product.

Missing values
--------------
A NaN in a point's value at one epoch leaves that point out at that epoch only:

* nearest: the nearest point with a finite value at that epoch, among the
  ``n_fallback`` nearest points (NaN if none of them has one);
* inverse distance, linear, kriging: the weights of the points with finite values are
  renormalised to sum to one. This is exact for inverse distance, an approximation for the
  barycentric and kriging weights (exact whenever no neighbour is missing). Kriging returns NaN
  where the finite neighbours carry less than half of the weight.

Ordinary kriging
----------------
:class:`KrigingInterpolator` fits one variogram (a PyKrige model, on a seeded subsample of
the last epoch, lags up to half the extent: :func:`fit_variogram`) and solves the ordinary-kriging system in a local neighbourhood (the ``k``
nearest points) of every target. The systems of a batch of targets are stacked and solved
together with :func:`numpy.linalg.solve`; the result is the same as PyKrige's
``OrdinaryKriging.execute("points", ..., n_closest_points=k, backend="loop")`` with the same
variogram, but without a Python loop over targets and without PyKrige's full (n+1)² kriging
matrix, so it runs at 10⁵ points. Ordinary-kriging weights do not change when the variogram is
multiplied by a constant, so one variogram shape serves every epoch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
import shapely
import xarray as xr
from scipy.interpolate import RegularGridInterpolator
from scipy.spatial import Delaunay, cKDTree
from threadpoolctl import threadpool_limits

from .errors import InputError, StageError
from .estimators import SpatialInterpolator
from .model_selection import spatial_blocks
from .grid import make_grid, points_to_grid
from .log import logger, progress_bar
from .parallel import CELL_CHUNK, chunk_slices, for_each_result

#: Methods :func:`make_interpolator` knows.
METHODS = ("nearest", "idw", "linear", "kriging", "cnn")

#: Variogram models offered for kriging (PyKrige's definitions, ``range`` being the practical
#: range in metres).
VARIOGRAM_MODELS = ("spherical", "exponential", "gaussian")

# distances below this (m) count as the same location
_SAME_PLACE_M = 1e-10


def _coordinates(coordinates):
    """``(x, y)`` as two float arrays (metres) of one shape, flattened."""
    try:
        x, y = coordinates
    except (TypeError, ValueError):
        raise InputError("coordinates must be a pair (x, y) of arrays") from None
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise InputError(f"x has {x.size} values, y has {y.size}")
    return x, y


def _check_fit(coordinates, data):
    """Validated ``x``, ``y`` (n,), data as (n, n_time) and whether it was 1-D."""
    x, y = _coordinates(coordinates)
    values = np.asarray(data, dtype=float)
    single = values.ndim == 1
    if single:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != x.size:
        raise InputError(f"data of shape {np.shape(data)} does not match {x.size} points")
    if x.size == 0:
        raise InputError("no points to interpolate from")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("point coordinates must be finite")
    return x, y, values, single


def _apply_weights(weights, filled, finite, min_weight):
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


class _WeightInterpolator(SpatialInterpolator):
    """Interpolators whose prediction is a sparse weight matrix times the point values."""

    #: targets whose finite neighbours carry no more than this weight are NaN
    _min_weight = 1e-9

    def fit(self, coordinates, data, groups=None):
        """Store the points and their values.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)``, metres, each (n,).
        data : array_like, shape (n,) or (n, n_time)
            Values, mm; NaN where missing.
        groups : array_like, optional
            Ignored (a per-point dataset label, used by fusing methods).

        Returns
        -------
        self
        """
        x, y, values, single = _check_fit(coordinates, data)
        self.x_, self.y_, self.data_, self._single = x, y, values, single
        self._prepared = None
        self.tree_ = cKDTree(np.column_stack([x, y]))
        self._fitted_hook()
        return self

    def _apply(self, weights):
        """The weights times the fitted values (:func:`_apply_weights`); the zero-filled values
        and their finite mask are made once per fit (and per worker), not once per chunk of
        targets."""
        if self._prepared is None:
            finite = np.isfinite(self.data_)
            self._prepared = (np.where(finite, self.data_, 0.0), finite.astype(float))
        return _apply_weights(weights, *self._prepared, self._min_weight)

    def __getstate__(self):
        # the prepared arrays are rebuilt where needed rather than pickled (Dask workers)
        return {**self.__dict__, "_prepared": None}

    def _fitted_hook(self):
        """Extra fitting work of a subclass."""

    def weights(self, coordinates) -> sp.csr_matrix:
        """Interpolation weights from the fitted points to the targets, shape (m, n)."""
        self._check_fitted("tree_")
        return self._weights(*_coordinates(coordinates))

    def _weights(self, x, y):  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, coordinates) -> np.ndarray:
        """Interpolated values at the targets.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)`` of the targets, metres, each (m,).

        Returns
        -------
        ndarray, shape (m,) or (m, n_time)
            mm; NaN where the method has no value (see the module notes).
        """
        out = self._apply(self.weights(coordinates))
        return out[:, 0] if self._single else out


class NearestInterpolator(SpatialInterpolator):
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

    def fit(self, coordinates, data, groups=None):
        """Store the points (``x``, ``y`` in metres) and values (mm); ``groups`` is ignored."""
        x, y, values, single = _check_fit(coordinates, data)
        self.x_, self.y_, self.data_, self._single = x, y, values, single
        self.tree_ = cKDTree(np.column_stack([x, y]))
        return self

    def predict(self, coordinates) -> np.ndarray:
        """Nearest point's value at each target, shape (m,) or (m, n_time), mm."""
        self._check_fitted("tree_")
        x, y = _coordinates(coordinates)
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
        return out[:, 0] if self._single else out


class IDWInterpolator(_WeightInterpolator):
    """Inverse-distance weighting of the ``k`` nearest points.

    Weights ``1 / d**power`` over the ``k`` nearest points within ``radius``; a target on a point
    takes that point's value.

    Parameters
    ----------
    k : int
        Number of neighbours.
    power : float
        Distance exponent (2: the classic inverse-square weighting).
    radius : float, optional
        Neighbours farther than this are ignored, metres; targets with none are NaN.
    """

    def __init__(self, k=8, power=2.0, radius=None):
        self.k = k
        self.power = power
        self.radius = radius

    def _weights(self, x, y):
        n = self.x_.size
        k = min(n, max(1, int(self.k)))
        bound = np.inf if self.radius is None else float(self.radius)
        dist, idx = self.tree_.query(np.column_stack([x, y]), k=k, distance_upper_bound=bound)
        dist, idx = dist.reshape(x.size, k), idx.reshape(x.size, k)
        found = np.isfinite(dist)
        on_point = found & (dist <= _SAME_PLACE_M)
        with np.errstate(divide="ignore"):
            inverse = np.where(found, 1.0 / np.maximum(dist, _SAME_PLACE_M) ** self.power, 0.0)
        w = np.where(on_point.any(axis=1, keepdims=True), on_point.astype(float), inverse)
        w = w / np.maximum(w.sum(axis=1, keepdims=True), np.finfo(float).tiny)
        return _csr(w, np.where(found, idx, 0), n)


class LinearInterpolator(_WeightInterpolator):
    """Piecewise-linear interpolation on the Delaunay triangulation of the points.

    Same result as :class:`scipy.interpolate.LinearNDInterpolator`, written as barycentric
    weights (three per target) so that all epochs are one sparse product. NaN outside the
    convex hull of the points.
    """

    def __init__(self):
        pass

    def _fitted_hook(self):
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
        return _csr(w, vertices, self.x_.size)


class KrigingInterpolator(_WeightInterpolator):
    """Ordinary kriging in a local neighbourhood of the ``k`` nearest points.

    Parameters
    ----------
    variogram_model : {"spherical", "exponential", "gaussian"}
        PyKrige variogram model.
    k : int
        Neighbours per target (PyKrige's ``n_closest_points``).
    variogram_parameters : sequence of float or dict, optional
        ``[partial sill (mm²), range (m), nugget (mm²)]`` (the order of PyKrige's
        ``variogram_model_parameters``; note that a *list* given to PyKrige means ``[sill,
        range, nugget]``), or a dict with ``psill`` or ``sill``, ``range``, ``nugget``; fitted
        when not given.
    max_fit_points : int
        The variogram is fitted on at most this many points, drawn with ``seed``.
    nlags : int
        Lag classes of the experimental variogram.
    max_lag : float, "auto" or None
        Longest lag (m) of the experimental variogram fitted by :func:`fit_variogram`; "auto":
        half the largest distance between points. ``None``: PyKrige's own fit
        (``OrdinaryKriging(..., nlags=nlags)``, lag classes spanning every distance, so coarse
        that the nugget of noisy InSAR points is often missed).
    fit_field : {"last", "mean"}
        Field the variogram is fitted on when data has several epochs: the last epoch, or the
        time-mean of each point. The mean averages the noise of the epochs away, so its nugget
        is too small for any single epoch (a Gaussian model fitted on it can make kriging
        unstable); the last epoch has the full noise and the largest signal.
    batch_size : int
        Targets whose kriging systems are solved together (memory ~ ``batch_size * (k+1)²``).
    seed : int
        Seed of the fitting subsample.
    progress : bool, optional
        A progress bar over the batches of targets when there are more than four; default
        only when stderr is a terminal.

    Attributes
    ----------
    variogram_parameters_ : ndarray
        ``[partial sill, range, nugget]`` used (mm², m, mm²), for the fitted field.
    sill_scale_ : ndarray, shape (n_time,)
        Variance of each epoch relative to the fitted field; the kriging variance of epoch ``t``
        is the fitted field's times ``sill_scale_[t]`` (the epochs are assumed to share the
        variogram's shape, differing only in sill).
    """

    _min_weight = 0.5

    def __init__(self, variogram_model="spherical", k=16, variogram_parameters=None,
                 max_fit_points=2000, nlags=12, max_lag="auto", fit_field="last",
                 batch_size=8192, seed=0, progress=None):
        self.variogram_model = variogram_model
        self.k = k
        self.variogram_parameters = variogram_parameters
        self.max_fit_points = max_fit_points
        self.nlags = nlags
        self.max_lag = max_lag
        self.fit_field = fit_field
        self.batch_size = batch_size
        self.seed = seed
        self.progress = progress

    def _fitted_hook(self):
        from pykrige import variogram_models

        if self.variogram_model not in VARIOGRAM_MODELS:
            raise InputError(f"unknown variogram model {self.variogram_model!r}; "
                             f"expected one of {VARIOGRAM_MODELS}")
        if int(self.k) < 2:
            raise InputError(f"kriging needs at least 2 neighbours, got k={self.k}")
        self.variogram_function_ = getattr(variogram_models,
                                           f"{self.variogram_model}_variogram_model")
        with np.errstate(invalid="ignore"):
            if self.fit_field == "mean":
                field = np.nanmean(self.data_, axis=1)
            elif self.fit_field == "last":
                field = self.data_[:, -1]
            else:
                raise InputError(f"fit_field must be 'mean' or 'last', got {self.fit_field!r}")
        usable = np.flatnonzero(np.isfinite(field))
        if self.variogram_parameters is not None:
            params = _variogram_parameters(self.variogram_parameters)
        else:
            params = self._fit_variogram(field, usable)
        self.variogram_parameters_ = params
        field_variance = np.var(field[usable]) if usable.size else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            epoch_variance = np.nanvar(self.data_, axis=0)
            self.sill_scale_ = np.where(field_variance > 0, epoch_variance / field_variance, 1.0)

    def _fit_variogram(self, field, usable):
        from pykrige.ok import OrdinaryKriging

        if usable.size < 3:
            raise StageError(f"kriging: {usable.size} points with values, too few to fit a "
                             "variogram")
        if usable.size > self.max_fit_points:
            rng = np.random.default_rng(self.seed)
            usable = np.sort(rng.choice(usable, size=int(self.max_fit_points), replace=False))
        if np.ptp(field[usable]) == 0:
            logger.warning("kriging: the field is constant; using a flat variogram")
            return np.array([1.0, 1.0, 0.0])
        xs, ys, zs = self.x_[usable], self.y_[usable], field[usable]
        if self.max_lag is None:
            ok = OrdinaryKriging(xs, ys, zs, variogram_model=self.variogram_model,
                                 nlags=int(self.nlags))
            params = np.asarray(ok.variogram_model_parameters, dtype=float)
        else:
            params = fit_variogram(xs, ys, zs, self.variogram_function_, nlags=int(self.nlags),
                                   max_lag=self.max_lag)
        logger.debug("kriging: %s variogram fitted on %d points: psill %.3g mm², range %.1f m, "
                     "nugget %.3g mm²", self.variogram_model, usable.size, *params)
        return params

    def _gamma(self, distance):
        return self.variogram_function_(self.variogram_parameters_, distance)

    def _solve(self, x, y):
        """Kriging weights (m, k), neighbour indices (m, k) and variances (m,) of the fitted field."""
        n = self.x_.size
        k = min(n, int(self.k))
        targets = np.column_stack([x, y])
        points = np.column_stack([self.x_, self.y_])
        m = targets.shape[0]
        weights = np.empty((m, k))
        neighbours = np.empty((m, k), dtype=np.int64)
        variance = np.empty(m)
        upper_i, upper_j = np.triu_indices(k, 1)  # each pair of neighbours once
        starts = range(0, m, int(self.batch_size))
        if len(starts) > 4:  # a bar only where solving takes a while
            starts = progress_bar(starts, "kriging", unit="batch", progress=self.progress)
        for start in starts:
            stop = min(m, start + int(self.batch_size))
            dist0, idx = self.tree_.query(targets[start:stop], k=k)
            dist0, idx = dist0.reshape(-1, k), idx.reshape(-1, k)
            near = points[idx]  # (b, k, 2)
            dx = near[:, upper_i, 0] - near[:, upper_j, 0]
            dy = near[:, upper_i, 1] - near[:, upper_j, 1]
            # the matrix is symmetric: the variogram of each pair is evaluated once
            gamma = -self._gamma(np.sqrt(dx * dx + dy * dy))
            b = stop - start
            # PyKrige's sign convention: [-gamma 1; 1 0] [w; mu] = [-gamma0; 1], zero diagonal
            lhs = np.ones((b, k + 1, k + 1))
            lhs[:, upper_i, upper_j] = gamma
            lhs[:, upper_j, upper_i] = gamma
            diag = np.arange(k)
            lhs[:, diag, diag] = 0.0
            lhs[:, k, k] = 0.0
            rhs = np.ones((b, k + 1))
            rhs[:, :k] = -np.where(dist0 <= _SAME_PLACE_M, 0.0, self._gamma(dist0))
            try:
                sol = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                # coincident points with no nugget make a system singular
                sol = np.einsum("bij,bj->bi", np.linalg.pinv(lhs), rhs)
            weights[start:stop] = sol[:, :k]
            neighbours[start:stop] = idx
            variance[start:stop] = -(sol * rhs).sum(axis=1)
        return weights, neighbours, np.maximum(variance, 0.0)

    def _weights(self, x, y):
        w, idx, _ = self._solve(x, y)
        return _csr(w, idx, self.x_.size)

    def predict(self, coordinates, return_std=False):
        """Kriged values at the targets, optionally with the kriging standard deviation.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)`` of the targets, metres, each (m,).
        return_std : bool
            Also return the kriging standard deviation, mm, same shape as the prediction:
            the fitted field's kriging variance scaled by each epoch's ``sill_scale_``.

        Returns
        -------
        values : ndarray, shape (m,) or (m, n_time)
            mm.
        std : ndarray, optional
            mm.
        """
        self._check_fitted("tree_")
        x, y = _coordinates(coordinates)
        w, idx, variance = self._solve(x, y)
        out = self._apply(_csr(w, idx, self.x_.size))
        if not return_std:
            return out[:, 0] if self._single else out
        std = np.sqrt(variance[:, None] * self.sill_scale_[None, :])
        std = np.where(np.isfinite(out), std, np.nan)
        if self._single:
            return out[:, 0], std[:, 0]
        return out, std

    def predict_std(self, coordinates) -> np.ndarray:
        """Kriging standard deviation at the targets, (m,) or (m, n_time), mm."""
        return self.predict(coordinates, return_std=True)[1]


def fit_variogram(x, y, values, model, nlags=12, max_lag="auto"):
    """Fit a variogram model to the experimental semivariance of the points.

    The semivariance ``0.5 * mean((z_i - z_j)**2)`` is taken over all pairs in ``nlags`` equal
    lag classes up to ``max_lag``, and the model is fitted by robust (soft-L1) least squares,
    each class weighted by the square root of its number of pairs.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Points, metres (n up to a few thousand: all pairs are formed).
    values : array_like, shape (n,)
        Values, mm.
    model : str or callable
        A name in :data:`VARIOGRAM_MODELS` or a PyKrige model function ``f(params, d)``.
    nlags : int
        Number of lag classes.
    max_lag : float or "auto"
        Longest lag, metres; "auto": half the largest distance.

    Returns
    -------
    ndarray
        ``[partial sill (mm²), range (m), nugget (mm²)]``.
    """
    from pykrige import variogram_models
    from scipy.optimize import least_squares
    from scipy.spatial.distance import pdist

    function = (getattr(variogram_models, f"{model}_variogram_model") if isinstance(model, str)
                else model)
    xy = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    z = np.asarray(values, dtype=float)
    distance = pdist(xy)
    half_square = 0.5 * pdist(z[:, None], "sqeuclidean")
    longest = 0.5 * distance.max() if max_lag == "auto" else float(max_lag)
    edges = np.linspace(0.0, longest, int(nlags) + 1)
    lag_class = np.digitize(distance, edges) - 1
    inside = (lag_class >= 0) & (lag_class < nlags)
    count = np.bincount(lag_class[inside], minlength=nlags)
    total = np.bincount(lag_class[inside], weights=half_square[inside], minlength=nlags)
    mean_distance = np.bincount(lag_class[inside], weights=distance[inside], minlength=nlags)
    used = count > 0
    if used.sum() < 3:
        raise StageError(f"kriging: only {used.sum()} lag classes hold point pairs, too few to "
                         "fit a variogram")
    lags = mean_distance[used] / count[used]
    semivariance = total[used] / count[used]
    weight = np.sqrt(count[used])
    top = float(semivariance.max())

    def residuals(params):
        return (function(params, lags) - semivariance) * weight

    # a small nugget floor keeps the kriging systems of smooth (Gaussian) models solvable
    floor = 1e-3 * top
    start = [max(top - semivariance[0], floor), 0.5 * longest,
             float(np.clip(semivariance[0], floor, top))]
    fit = least_squares(residuals, start, loss="soft_l1", f_scale=max(top, 1e-12) * weight.max(),
                        bounds=([0.0, 1e-6 * longest, floor], [10.0 * top, 4.0 * longest, top]))
    return fit.x


def _variogram_parameters(given) -> np.ndarray:
    """``[partial sill, range, nugget]`` from a sequence in that order or a PyKrige-style dict
    (``psill`` or ``sill``, ``range``, ``nugget``)."""
    if isinstance(given, dict):
        try:
            nugget = float(given.get("nugget", 0.0))
            psill = float(given["psill"]) if "psill" in given else float(given["sill"]) - nugget
            params = np.array([psill, float(given["range"]), nugget])
        except KeyError as exc:
            raise InputError(f"variogram_parameters lacks {exc.args[0]!r}") from None
    else:
        params = np.asarray(given, dtype=float)
    if params.shape != (3,) or not np.isfinite(params).all():
        raise InputError("variogram_parameters must be [partial sill, range, nugget]")
    return params


def _csr(weights, indices, n_points):
    """A (m, n_points) CSR matrix from ``k`` weights and point indices per row."""
    m, k = weights.shape
    return sp.csr_matrix((weights.ravel(), indices.ravel().astype(np.int64),
                          np.arange(0, m * k + 1, k)), shape=(m, n_points))


def make_interpolator(method, config=None, seed=0) -> SpatialInterpolator:
    """The spatial interpolator named ``method``, set up from a :class:`SpatialConfig`.

    Parameters
    ----------
    method : {"nearest", "idw", "linear", "kriging", "cnn"}
    config : insarfusion.config.SpatialConfig, optional
        Method parameters; the defaults when not given.
    seed : int
        Seed of anything random (kriging's fitting subsample, the CNN).
    """
    if method == "nearest":
        return NearestInterpolator()
    if method == "idw":
        idw = getattr(config, "idw", None)
        if idw is None:
            return IDWInterpolator()
        return IDWInterpolator(k=idw.k, power=idw.power, radius=idw.radius_m)
    if method == "linear":
        return LinearInterpolator()
    if method == "kriging":
        kc = getattr(config, "kriging", None)
        if kc is None:
            return KrigingInterpolator(seed=seed)
        return KrigingInterpolator(variogram_model=kc.variogram_model, k=kc.k,
                                   max_fit_points=kc.max_fit_points, nlags=kc.nlags, seed=seed)
    if method == "cnn":
        import inspect

        from .cnn import CNNFusion

        accepted = inspect.signature(CNNFusion).parameters
        cnn_config = getattr(config, "cnn", None)
        params = {} if cnn_config is None else {
            key: value for key, value in cnn_config.model_dump().items() if key in accepted}
        cell_size = getattr(config, "cell_size_m", None)
        if isinstance(cell_size, int | float):
            params["cell_size"] = float(cell_size)
        return CNNFusion(**params, seed=seed)
    raise InputError(f"unknown spatial method {method!r}; expected one of {METHODS}")


def _cell_centres(grid):
    """``x``, ``y`` of every cell centre, row-major (ny*nx,), metres."""
    gx, gy = np.meshgrid(grid["x"].values, grid["y"].values)
    return gx.ravel(), gy.ravel()


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
    cx, cy = _cell_centres(grid)
    inside = shapely.contains_xy(area, cx, cy) | shapely.intersects_xy(area, cx, cy)
    return xr.DataArray(inside.reshape(grid.sizes["y"], grid.sizes["x"]), dims=("y", "x"),
                        coords={"y": grid["y"], "x": grid["x"]}, name="mask")


def distance_mask(grid, x, y, max_distance_m) -> xr.DataArray:
    """Cells whose centre is within ``max_distance_m`` metres of a point (dims y, x, bool).

    Unlike :func:`hull_mask` it follows concave outlines and leaves out large empty areas
    inside the hull.
    """
    tree = cKDTree(np.column_stack([np.asarray(x, float).ravel(), np.asarray(y, float).ravel()]))
    cx, cy = _cell_centres(grid)
    dist, _ = tree.query(np.column_stack([cx, cy]), k=1, distance_upper_bound=max_distance_m)
    inside = np.isfinite(dist)
    return xr.DataArray(inside.reshape(grid.sizes["y"], grid.sizes["x"]), dims=("y", "x"),
                        coords={"y": grid["y"], "x": grid["x"]}, name="mask")


def _predict_cells(coordinates, interpolator, return_std):
    """Predictions (and std) of a fitted interpolator at one chunk of cell centres."""
    if return_std:
        return interpolator.predict(coordinates, return_std=True)
    return interpolator.predict(coordinates), None


def grid(interpolator, grid, time=None, mask=None, return_std=False, name="displacement",
         client=None, store=None):
    """Predictions of a fitted interpolator at the cell centres of a grid.

    Parameters
    ----------
    interpolator : SpatialInterpolator
        Fitted.
    grid : xarray.Dataset
        From :func:`insarfusion.grid.make_grid`.
    time : array_like, optional
        Dates of the epochs (the data's second axis), used as the ``time`` coordinate.
    mask : array_like of bool, shape (ny, nx), optional
        Cells to predict; the others are NaN (and are not computed).
    return_std : bool
        Also return the interpolator's standard deviation (only for methods with
        ``predict(..., return_std=True)``, e.g. kriging).
    name : str
        Name of the returned array.
    client : distributed.Client, optional
        Predict the blocks on this Dask client's workers (same result as in-process).
    store : path-like, optional
        Write the cube (needs ``time``) to this NetCDF file block by block as the predictions
        come (the std to ``<stem>_std.nc`` beside it) and return it read back lazily
        (:mod:`insarfusion.cubes`): memory bounded by a block, not by the grid.

    Returns
    -------
    xarray.DataArray, dims (y, x) or (time, y, x)
        mm (the data's units), NaN outside ``mask``; with ``return_std`` a pair
        ``(values, std)``. The cells are predicted in blocks of whole rows of about
        :data:`insarfusion.parallel.CELL_CHUNK` cells.
    """
    from . import cubes

    ny, nx = grid.sizes["y"], grid.sizes["x"]
    cx, cy = _cell_centres(grid)
    keep = np.ones(ny * nx, dtype=bool) if mask is None else np.asarray(mask, bool).ravel()
    if keep.size != ny * nx:
        raise InputError(f"mask has {keep.size} cells, the grid {ny * nx}")
    if store is not None and time is None:
        raise ValueError("grid(store=...) needs the epochs' dates (time)")
    blocks = [rows for rows in cubes.row_blocks(ny, nx)
              if keep[rows.start * nx:rows.stop * nx].any()]
    local = [np.flatnonzero(keep[rows.start * nx:rows.stop * nx]) for rows in blocks]
    chunks = [(cx[rows.start * nx + c], cy[rows.start * nx + c])
              for rows, c in zip(blocks, local, strict=True)]
    time = None if time is None else np.asarray(time)
    names = [name, f"{name}_std"][:2 if return_std else 1]
    paths = ([None] * len(names) if store is None else
             [Path(store), Path(store).with_name(f"{Path(store).stem}_std.nc")][:len(names)])
    gy, gx = grid["y"].values, grid["x"].values
    sinks: list = []

    def _sinks(n_time):
        return [cubes.InMemoryCube(time, gy, gx, name=n, attrs={"units": "mm"}, n_time=n_time)
                if path is None else
                cubes.CubeWriter(path, time, gy, gx, name=n, attrs={"units": "mm"})
                for path, n in zip(paths, names, strict=True)]

    def consume(k, result):
        rows, parts = blocks[k], result[:len(names)]
        if not sinks:
            first = np.asarray(parts[0])
            sinks.extend(_sinks(None if first.ndim == 1 else first.shape[1]))
        for sink, flat in zip(sinks, parts, strict=True):
            flat = np.asarray(flat, dtype=float)
            full = np.full(((rows.stop - rows.start) * nx,) + flat.shape[1:], np.nan)
            full[local[k]] = flat
            sink.write(rows, np.moveaxis(full.reshape(rows.stop - rows.start, nx,
                                                      *flat.shape[1:]), (0, 1), (-2, -1)))

    try:
        for_each_result(_predict_cells, chunks, consume, client, interpolator=interpolator,
                        return_std=return_std)
        if not sinks:  # nothing to predict: an empty mask
            sinks.extend(_sinks(None if time is None else len(time)))
    except BaseException:
        for sink in sinks:
            sink.__exit__(RuntimeError, None, None)
        raise
    out = [sink.close() for sink in sinks]
    return tuple(out) if return_std else out[0]


def clone(interpolator) -> SpatialInterpolator:
    """A new, unfitted interpolator with the same parameters."""
    return type(interpolator)(**interpolator.get_params())


def block_cv_score(interpolator, x, y, data, block_size, n_folds=5, seed=0, groups=None,
                   return_coverage=False, progress=None):
    """Held-out RMSE of an interpolator over spatial blocks, mm.

    Points are split into folds of whole square blocks
    (:func:`insarfusion.estimators.spatial_blocks`); each fold in turn is predicted from a
    fresh copy of the interpolator fitted on the other folds.

    Parameters
    ----------
    interpolator : SpatialInterpolator
        Its parameters are used; it is not fitted in place.
    x, y : array_like, shape (n,)
        Points, metres.
    data : array_like, shape (n,) or (n, n_time)
        Values, mm.
    block_size : float
        Side of the blocks, metres.
    n_folds : int
        Number of folds.
    seed : int
        Seed of the assignment of blocks to folds.
    groups : array_like, optional
        Per-point dataset labels, passed to ``fit``.
    return_coverage : bool
        Also return the share of held-out values that got a prediction.
    progress : bool, optional
        A progress bar over the folds; default only when stderr is a terminal.

    Returns
    -------
    float
        Root-mean-square error over every held-out point and epoch with a prediction, mm
        (targets the method leaves NaN, e.g. outside the hull for linear, are not counted:
        read the coverage beside it). With ``return_coverage`` the pair (rmse, coverage).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    values = np.asarray(data, dtype=float)
    folds = spatial_blocks(x, y, block_size, n_folds=n_folds, seed=seed)
    squares, n_predicted, n_targets = 0.0, 0, 0
    fold_ids = np.unique(folds)
    for fold in progress_bar(fold_ids, f"held-out blocks, {type(interpolator).__name__}",
                             total=fold_ids.size, unit="fold", progress=progress):
        test = np.flatnonzero(folds == fold)
        train = np.ones(x.size, dtype=bool)
        train[test] = False
        model = clone(interpolator)
        model.fit((x[train], y[train]), values[train],
                  groups=None if groups is None else np.asarray(groups)[train])
        # predicted in chunks, as the grid is: the neighbours' series of every held-out point
        # at once would take memory in proportion to the data
        for chunk in chunk_slices(test.size, CELL_CHUNK):
            held = test[chunk]
            diff = model.predict((x[held], y[held])) - values[held]
            finite = np.isfinite(diff)
            squares += float(np.square(diff[finite]).sum())
            n_predicted += int(finite.sum())
            n_targets += int(np.isfinite(values[held]).sum())
    score = float(np.sqrt(squares / n_predicted)) if n_predicted else np.nan
    if return_coverage:
        return score, (n_predicted / n_targets if n_targets else 0.0)
    return score


def _sample_bilinear(grid_values, grid, x, y):
    """Bilinear samples of gridded values (n_time, ny, nx) at points, shape (n, n_time)."""
    gx = grid["x"].values
    gy = grid["y"].values[::-1]  # ascending for the interpolator
    cube = np.moveaxis(grid_values[:, ::-1, :], 0, -1)  # (ny, nx, n_time), y ascending
    sampler = RegularGridInterpolator((gy, gx), cube, method="linear", bounds_error=False,
                                      fill_value=np.nan)
    return sampler(np.column_stack([y, x]))


def gridded_cv_score(x, y, data, cell_size, interpolator=None, block_size=None, n_folds=5,
                     seed=0) -> float:
    """Held-out RMSE (mm) of the gridded product at one cell size.

    For each fold of spatial blocks, the training points are resampled onto the grid by the
    paper's bilinear weighting (:func:`insarfusion.grid.points_to_grid`), the cells without
    data are filled by ``interpolator`` fitted on the cells with data, and the grid is sampled
    bilinearly at the held-out points. Small cells keep detail but average little noise; large
    cells average noise but blur the field: the score weighs the two.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Points, metres.
    data : array_like, shape (n,) or (n, n_time)
        Values, mm.
    cell_size : float
        Cell size, metres.
    interpolator : SpatialInterpolator, optional
        Fills the empty cells; :class:`IDWInterpolator` by default.
    block_size : float, optional
        Side of the held-out blocks, metres; a tenth of the larger side of the extent by
        default.
    n_folds, seed : int
        As in :func:`block_cv_score`.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    values = np.asarray(data, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    interpolator = IDWInterpolator() if interpolator is None else interpolator
    if block_size is None:
        block_size = _default_block_size(x, y)
    g = make_grid(x.min(), x.max(), y.min(), y.max(), cell_size=cell_size, pad=1)
    cx, cy = _cell_centres(g)
    folds = spatial_blocks(x, y, block_size, n_folds=n_folds, seed=seed)
    residuals = []
    for fold in np.unique(folds):
        test = folds == fold
        gridded, count = points_to_grid(g, x[~test], y[~test], values[~test])
        cells = gridded.reshape(values.shape[1], -1).T  # (n_cells, n_time)
        observed = (count.ravel() > 0) & np.isfinite(cells).any(axis=1)
        model = clone(interpolator).fit((cx[observed], cy[observed]), cells[observed])
        filled = np.where(np.isfinite(cells), cells, model.predict((cx, cy)).reshape(cells.shape))
        cube = filled.T.reshape(values.shape[1], g.sizes["y"], g.sizes["x"])
        predicted = _sample_bilinear(cube, g, x[test], y[test])
        diff = (predicted - values[test]).ravel()
        residuals.append(diff[np.isfinite(diff)])
    residuals = np.concatenate(residuals)
    return float(np.sqrt(np.mean(residuals**2))) if residuals.size else np.nan


def _default_block_size(x, y):
    return max(np.ptp(x), np.ptp(y), 1.0) / 10.0


def choose_cell_size(x, y, data, candidates=(10, 20.22, 40, 60), interpolator=None,
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
    interpolator, block_size, n_folds, seed
        As in :func:`gridded_cv_score`.
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
        block_size = _default_block_size(np.asarray(x, float), np.asarray(y, float))
    scores = {float(c): gridded_cv_score(x, y, data, c, interpolator=interpolator,
                                         block_size=block_size, n_folds=n_folds, seed=seed)
              for c in candidates}
    finite = {c: s for c, s in scores.items() if np.isfinite(s)}
    if not finite:
        raise StageError("no candidate cell size could be scored")
    best = min(finite.values())
    chosen = max(c for c, s in finite.items() if s <= best * (1.0 + tolerance))
    logger.info("cell size %.2f m chosen by block cross-validation (RMSE %s)", chosen,
                ", ".join(f"{c:g} m: {s:.3f} mm" for c, s in scores.items()))
    return chosen, scores
