"""Held-out scoring of every estimator through one path, in the manner of verde's model_selection.

Two splitters say what is held out:

* :class:`BlockKFold` — points, in folds of whole square spatial blocks. Random pixel splits
  flatter interpolators by 7–20 % in published InSAR benchmarks, because a held-out pixel's
  neighbours carry nearly its value; whole blocks leave real gaps.
* :class:`EpochHoldout` — observed epochs of every series at once, the first and last kept
  (no extrapolation is scored).

:func:`cross_val_score` fits a fresh copy (:func:`~insarfusion.estimators.clone`) of any
estimator on each training part and scores its prediction of the held-out part: a spatial
interpolator predicts the held-out points from the others, a temporal resampler the held-out
epochs of every series from the other epochs. The pipeline's held-out blocks, the choice of the
cell size, the scoring of the resamplers and the benchmarks all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .conventions import as_days
from .errors import InputError
from .estimators import SpatialInterpolator, TemporalResampler, clone
from .log import progress_bar
from .parallel import CELL_CHUNK, chunk_slices


def spatial_blocks(x, y, block_size, n_folds=5, seed=0) -> np.ndarray:
    """Fold index (0..n_folds-1) of each point, assigned by square spatial blocks.

    Points of one block always share a fold, so a held-out fold is a set of whole areas, not
    scattered pixels.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Points, metres.
    block_size : float
        Side of the blocks, metres.
    n_folds : int
        Number of folds.
    seed : int
        Seed of the assignment of blocks to folds.

    Returns
    -------
    ndarray of int, shape (n,)
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


def holdout_epochs(time, fraction=0.1, seed=0, keep_ends=True) -> np.ndarray:
    """Boolean mask of epochs to hide for held-out scoring of a temporal resampler.

    Parameters
    ----------
    time : array_like of dates, shape (n_time,)
        The observed epochs.
    fraction : float
        Share of the epochs hidden (at least one).
    seed : int
        Seed of the draw.
    keep_ends : bool
        Keep the first and last epochs in training (no extrapolation is scored).

    Returns
    -------
    ndarray of bool, shape (n_time,)
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


class BlockKFold:
    """Folds of points in whole square spatial blocks (as verde's ``BlockKFold``).

    Parameters
    ----------
    block_size : float
        Side of the blocks, metres.
    n_splits : int
        Number of folds (at least 2).
    seed : int
        Seed of the assignment of blocks to folds.
    only : sequence of int, optional
        Yield only these folds (0..n_splits-1), e.g. to retrain a costly method on one fold
        of the same split as the others; default all.
    """

    def __init__(self, block_size, n_splits=5, seed=0, only=None):
        self.block_size = block_size
        self.n_splits = n_splits
        self.seed = seed
        self.only = only

    def split(self, coordinates):
        """Yield ``(train, test)`` point indices of each fold that holds points.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)`` of the points, metres.
        """
        if int(self.n_splits) < 2:
            raise InputError(f"BlockKFold needs at least 2 folds, got {self.n_splits}")
        x, y = (np.asarray(c, dtype=float).ravel() for c in coordinates)
        folds = spatial_blocks(x, y, self.block_size, n_folds=int(self.n_splits), seed=self.seed)
        for fold in np.unique(folds):
            if self.only is None or fold in self.only:
                yield np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


class EpochHoldout:
    """One split of the observed epochs: a seeded share hidden from every series.

    Parameters
    ----------
    fraction : float
        Share of the epochs hidden.
    seed : int
        Seed of the draw.
    keep_ends : bool
        Keep the first and last epochs in training.
    """

    n_splits = 1

    def __init__(self, fraction=0.1, seed=0, keep_ends=True):
        self.fraction = fraction
        self.seed = seed
        self.keep_ends = keep_ends

    def split(self, time):
        """Yield one ``(train, test)`` pair of epoch indices."""
        hidden = holdout_epochs(time, self.fraction, self.seed, self.keep_ends)
        yield np.flatnonzero(~hidden), np.flatnonzero(hidden)


@dataclass
class CVResult:
    """What :func:`cross_val_score` measured.

    Attributes
    ----------
    rmse : float
        Root-mean-square error over every held-out value with a prediction, all folds
        pooled, in the data's units (mm); NaN if nothing was predicted.
    coverage : float
        Share of the held-out finite values that got a prediction (0..1).
    n_predicted : int
        Held-out values scored.
    fold_scores : list of float
        ``scoring`` of each fold (its RMSE by default).
    fold_squares, fold_n : list
        Sum of squared residuals (mm²) and number of values scored of each fold, so that
        scores over a subset of the folds can be pooled (:meth:`rmse_over`).
    fitted : list
        The estimator fitted on each fold's training part (empty with ``keep_fitted=False``).
    residuals : HeldOutResiduals or None
        With ``keep_residuals`` (spatial splits only): every held-out point's residual
        series and the estimator's own std there.
    """

    rmse: float
    coverage: float
    n_predicted: int
    fold_scores: list = field(default_factory=list)
    fold_squares: list = field(default_factory=list)
    fold_n: list = field(default_factory=list)
    fitted: list = field(default_factory=list)
    residuals: HeldOutResiduals | None = None

    def rmse_over(self, folds) -> float:
        """RMSE pooled over the folds at positions ``folds`` of ``fold_n`` (NaN if none)."""
        n = sum(self.fold_n[i] for i in folds)
        squares = sum(self.fold_squares[i] for i in folds)
        return float(np.sqrt(squares / n)) if n else np.nan


@dataclass
class HeldOutResiduals:
    """Residuals of a spatial estimator on held-out points, with its own std there.

    Attributes
    ----------
    index : ndarray of int, shape (m,)
        The held-out points (indices into the scored data), fold after fold.
    residual : ndarray, shape (m, n_time)
        Prediction minus held-out value, mm (NaN where either is missing).
    std : ndarray, shape (m, n_time), or None
        The estimator's own standard deviation of the prediction, mm (``provides_std``
        methods), else None.
    """

    index: np.ndarray
    residual: np.ndarray
    std: np.ndarray | None = None


class _Pooled:
    """Sums of squared residuals over the held-out parts of every fold."""

    def __init__(self):
        self.squares, self.predicted, self.targets = 0.0, 0, 0

    def add(self, predicted, observed):
        diff = np.asarray(predicted, dtype=float) - np.asarray(observed, dtype=float)
        finite = np.isfinite(diff)
        squares = float(np.square(diff[finite]).sum())
        self.squares += squares
        self.predicted += int(finite.sum())
        self.targets += int(np.isfinite(observed).sum())
        return squares, int(finite.sum())

    def rmse(self, squares=None, n=None):
        squares = self.squares if squares is None else squares
        n = self.predicted if n is None else n
        return float(np.sqrt(squares / n)) if n else np.nan


def _spatial_fold(model, coordinates, values, groups, train, test, pooled, scoring,
                  kept=None):
    x, y = coordinates
    model.fit((x[train], y[train]), values[train],
              groups=None if groups is None else groups[train])
    # predicted in chunks, as the grid is: the neighbours' series of every held-out point at
    # once would take memory in proportion to the data
    squares, n, parts = 0.0, 0, []
    for chunk in chunk_slices(test.size, CELL_CHUNK):
        held = test[chunk]
        if kept is not None and model.provides_std:
            predicted, std = model.predict((x[held], y[held]), return_std=True)
        else:
            predicted, std = model.predict((x[held], y[held])), None
        if kept is not None:
            kept.append((held, np.asarray(predicted, float) - values[held], std))
        s, k = pooled.add(predicted, values[held])
        squares, n = squares + s, n + k
        if scoring is not None:
            parts.append((values[held], predicted))
    if scoring is None:
        return pooled.rmse(squares, n), squares, n
    return float(scoring(np.concatenate([p[0] for p in parts]),
                         np.concatenate([p[1] for p in parts]))), squares, n


def _temporal_fold(model, time, values, train, test, pooled, scoring):
    hidden = np.ones(values.shape[1], dtype=bool)
    hidden[train] = False
    visible = values.copy()
    visible[:, hidden] = np.nan
    model.fit(time, visible)
    predicted = model.predict(time[test])
    squares, n = pooled.add(predicted, values[:, test])
    if scoring is None:
        return pooled.rmse(squares, n), squares, n
    return float(scoring(values[:, test], predicted)), squares, n


def cross_val_score(estimator, coordinates, data, cv, scoring=None, groups=None,
                    progress=False, keep_residuals=False, keep_fitted=True) -> CVResult:
    """Score an estimator on held-out data, fitting a fresh copy on each training part.

    Parameters
    ----------
    estimator : SpatialInterpolator or TemporalResampler
        Its parameters are used; it is not fitted in place.
    coordinates : tuple of array_like or array_like of dates
        Spatial: ``(x, y)`` of the points, metres. Temporal: the observed dates (n_time,).
    data : array_like
        Spatial: (n,) or (n, n_time), mm. Temporal: (n_series, n_time), mm, NaN where not
        observed.
    cv : BlockKFold or EpochHoldout
        What is held out: points (spatial) or epochs (temporal).
    scoring : callable, optional
        ``scoring(observed, predicted) -> float`` of each fold, reported in ``fold_scores``;
        by default each fold's RMSE. The pooled RMSE is always computed.
    groups : array_like, shape (n,), optional
        Per-point dataset labels, passed to a spatial ``fit``.
    progress : bool, optional
        Progress over the folds: a tqdm bar (True), none (False), or None: a bar when
        stderr is a terminal, else a log line with the share done and the ETA every few
        seconds.
    keep_residuals : bool
        Spatial splits: keep every held-out point's residual series and the estimator's own
        std there in ``residuals`` (:class:`HeldOutResiduals`), for calibrating that std
        (:mod:`insarfusion.calibration`).
    keep_fitted : bool
        Keep each fold's fitted estimator in ``fitted``; False lets each go once its fold
        is scored (a fitted interpolator holds its training data: on 185k points × 113
        epochs five kriging folds held gigabytes).

    Returns
    -------
    CVResult
    """
    values = np.asarray(data, dtype=float)
    pooled = _Pooled()
    result = CVResult(np.nan, 0.0, 0)
    if isinstance(estimator, SpatialInterpolator):
        coords = tuple(np.asarray(c, dtype=float).ravel() for c in coordinates)
        labels = None if groups is None else np.asarray(groups)
        splits = list(cv.split(coords))
    elif isinstance(estimator, TemporalResampler):
        coords = np.asarray(coordinates)
        values = np.array(values, ndmin=2)
        splits = list(cv.split(coords))
    else:
        raise InputError(f"{type(estimator).__name__} is not an insarfusion estimator")
    kept = [] if keep_residuals and isinstance(estimator, SpatialInterpolator) else None
    for train, test in progress_bar(splits, f"held out, {type(estimator).__name__}",
                                    total=len(splits), unit="fold", progress=progress):
        model = clone(estimator)
        if isinstance(estimator, SpatialInterpolator):
            score, squares, n = _spatial_fold(model, coords, values, labels, train, test,
                                              pooled, scoring, kept)
        else:
            score, squares, n = _temporal_fold(model, coords, values, train, test, pooled,
                                               scoring)
        result.fold_scores.append(score)
        result.fold_squares.append(squares)
        result.fold_n.append(n)
        if keep_fitted:
            result.fitted.append(model)
    if kept:
        result.residuals = _held_out(kept, values)
    result.rmse = pooled.rmse()
    result.n_predicted = pooled.predicted
    result.coverage = pooled.predicted / pooled.targets if pooled.targets else 0.0
    return result


def _held_out(kept, values) -> HeldOutResiduals:
    """The kept ``(index, residual, std)`` chunks as one :class:`HeldOutResiduals`."""
    index = np.concatenate([k[0] for k in kept])
    shape = (index.size, -1)
    residual = np.concatenate([np.reshape(k[1], (k[0].size, -1)) for k in kept])
    std = (None if any(k[2] is None for k in kept)
           else np.concatenate([np.reshape(k[2], (k[0].size, -1)) for k in kept]))
    if std is not None and not np.isfinite(std).any():
        std = None  # a method that gives no std (the CNN without MC-dropout passes)
    return HeldOutResiduals(index=index, residual=residual.reshape(shape),
                            std=None if std is None else std.reshape(shape))
