"""The estimator protocol shared by every temporal resampler and spatial interpolator.

In the style of scikit-learn and verde: ``__init__`` only stores parameters, ``fit`` learns and
returns ``self``, fitted attributes end in ``_``, ``predict`` returns plain arrays and the
``grid``/``resample`` helpers return labelled xarray objects. The LSTM, the CNN and every
baseline follow it, so scoring and cross-validation run through one code path
(:func:`holdout_epochs`, :func:`spatial_blocks`).
"""

from __future__ import annotations

import numpy as np

from .conventions import as_days


class BaseEstimator:
    """Parameters in ``__init__``, learned state in attributes ending in ``_``."""

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def _check_fitted(self, attr: str) -> None:
        if not hasattr(self, attr):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit() first")


class TemporalResampler(BaseEstimator):
    """Resample each of many displacement series to new dates.

    ``fit(time, values)`` with ``time`` the observed dates (n_time,) and ``values`` the series
    (n_series, n_time) in mm, NaN where a point has no observation; ``predict(time)`` returns
    the fitted series at the new dates, shape (n_series, n_new), mm.

    ``learned`` is True for resamplers whose fit learns from all the series together (the
    LSTM's network), False for those that treat each series on its own, for which fitting a
    subset of the series is the same as fitting all of them and keeping that subset.
    """

    learned = False

    def fit(self, time, values):  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, time) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def set_series(self, time, values):
        """Resample other series (same dates) with what was learned; default: fit again.

        Learned resamplers (the LSTM) keep their trained network, so the model scored on
        held-out epochs is the very one that then resamples the complete series.
        """
        return self.fit(time, values)


class SpatialInterpolator(BaseEstimator):
    """Interpolate point values (one or many epochs) in space.

    ``fit(coordinates, data, groups=None)``: ``coordinates`` is ``(x, y)`` in metres, each
    (n,); ``data`` is (n,) or (n, n_time) in mm; ``groups`` optionally labels each point with
    its dataset (used by methods that fuse datasets as separate channels, ignored by the
    others). ``predict(coordinates)`` returns (m,) or (m, n_time).
    """

    def fit(self, coordinates, data, groups=None):  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, coordinates) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def holdout_epochs(time, fraction=0.1, seed=0, keep_ends=True) -> np.ndarray:
    """Boolean mask of epochs to hide for held-out scoring of a temporal resampler.

    The first and last epochs stay in training by default (no extrapolation is scored).
    """
    days = as_days(time)
    n = days.size
    rng = np.random.default_rng(seed)
    candidates = np.arange(1, n - 1) if keep_ends else np.arange(n)
    k = max(1, int(round(fraction * n)))
    k = min(k, candidates.size)
    mask = np.zeros(n, dtype=bool)
    if k > 0:
        mask[rng.choice(candidates, size=k, replace=False)] = True
    return mask


def spatial_blocks(x, y, block_size, n_folds=5, seed=0) -> np.ndarray:
    """Fold index (0..n_folds-1) of each point, assigned by square spatial blocks.

    Points of one block always share a fold, so a held-out fold is a set of whole areas, not
    scattered pixels (random pixel splits flatter interpolators).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    bx = np.floor((x - x.min()) / block_size).astype(np.int64)
    by = np.floor((y - y.min()) / block_size).astype(np.int64)
    block = bx * (by.max() + 1) + by
    uniq, inverse = np.unique(block, return_inverse=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(uniq.size)
    fold_of_block = np.empty(uniq.size, dtype=np.int64)
    fold_of_block[order] = np.arange(uniq.size) % n_folds
    return fold_of_block[inverse]
