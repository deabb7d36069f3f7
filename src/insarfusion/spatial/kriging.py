"""Ordinary kriging in a local neighbourhood (paper §5.5's kriging baseline).

:class:`KrigingInterpolator` fits one variogram (a PyKrige model, on a seeded subsample of the
last epoch, lags up to half the extent: :func:`fit_variogram`) and solves the ordinary-kriging
system in a local neighbourhood (the ``k`` nearest points) of every target. The systems of a
batch of targets are stacked and solved together with :func:`numpy.linalg.solve`; the result is
the same as PyKrige's ``OrdinaryKriging.execute("points", ..., n_closest_points=k,
backend="loop")`` with the same variogram, but without a Python loop over targets and without
PyKrige's full (n+1)² kriging matrix, so it runs at 10⁵ points. Ordinary-kriging weights do not
change when the variogram is multiplied by a constant, so one variogram shape serves every
epoch. Missing values are handled as in :mod:`insarfusion.spatial.interpolators`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, StageError
from ..estimators import check_coordinates
from ..log import logger, progress_bar
from .interpolators import SAME_PLACE_M, WeightInterpolator, csr

#: Variogram models offered for kriging (PyKrige's definitions, ``range`` being the practical
#: range in metres).
VARIOGRAM_MODELS = ("spherical", "exponential", "gaussian")


class KrigingInterpolator(WeightInterpolator):
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
        Progress over the batches of targets when there are more than four: a tqdm bar
        (True), none (False), or None: a bar when stderr is a terminal, else a log line with
        the share done and the ETA every few seconds.

    Attributes
    ----------
    variogram_parameters_ : ndarray
        ``[partial sill, range, nugget]`` used (mm², m, mm²), for the fitted field.
    sill_scale_ : ndarray, shape (n_time,)
        Variance of each epoch relative to the fitted field; the kriging variance of epoch ``t``
        is the fitted field's times ``sill_scale_[t]`` (the epochs are assumed to share the
        variogram's shape, differing only in sill).
    """

    provides_std = True
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

        super()._fitted_hook()
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
            rhs[:, :k] = -np.where(dist0 <= SAME_PLACE_M, 0.0, self._gamma(dist0))
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
        return csr(w, idx, self.x_.size)

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
        x, y = check_coordinates(coordinates)
        w, idx, variance = self._solve(x, y)
        out = self._apply(csr(w, idx, self.x_.size))
        if not return_std:
            return self._shaped(out)
        std = np.sqrt(variance[:, None] * self.sill_scale_[None, :])
        std = np.where(np.isfinite(out), std, np.nan)
        return self._shaped(out), self._shaped(std)


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
    """``[partial sill, range, nugget]`` from a sequence or a dict.

    The sequence is in that order; the dict is PyKrige-style (``psill`` or ``sill``,
    ``range``, ``nugget``).
    """
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
