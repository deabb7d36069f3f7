"""Temporal resampling: every point's displacement series onto new epochs.

Three estimators follow the :class:`~insarfusion.estimators.TemporalResampler` protocol
(``fit(time, values)`` with values (n_series, n_time) in mm and NaN where a point has no
observation; ``predict(new_time)`` → (n_series, n_new) in mm):

* :class:`LinearResampler` — piecewise-linear interpolation between each series' own valid
  observations.
* :class:`PchipResampler` — shape-preserving piecewise-cubic Hermite interpolation (scipy's
  PCHIP): no overshoot at steps, smoother than linear.
* :class:`LSTMResampler` — the recurrent network of Khalili et al. (2024), §4.2.3 and Table 2,
  trained self-supervised: observed epochs are hidden from its input and predicted.

Outside a series' observed span the interpolators hold the end value by default
(``outside="hold"``) or continue the end slope (``outside="linear"``). Holding is the default
because the error it makes is bounded by the motion over the missing stretch, whereas a slope
estimated from the last one or two noisy epochs can run away. A series with fewer than two valid
observations gives NaN everywhere, for every method.

Helpers: :func:`make_resampler`, :func:`resample_dataset` (a point dataset onto common epochs),
:func:`score_resamplers` (held-out observed epochs, the same split for every method) and
:func:`choose_resampler` (lowest held-out error, for ``method: auto``).
"""

from __future__ import annotations

import contextlib
import copy
import sys

import numpy as np
import xarray as xr
from scipy.interpolate import PchipInterpolator

from .conventions import as_days
from .errors import InputError
from .estimators import TemporalResampler
from .model_selection import holdout_epochs
from .log import logger
from .parallel import POINT_CHUNK, chunk_slices, map_chunks

#: Names accepted by :func:`make_resampler`.
RESAMPLERS = ("linear", "pchip", "lstm")

_OUTSIDE = ("hold", "linear")

#: Series are processed in blocks of this many rows to bound memory (not a per-series loop).
_BLOCK_ROWS = 16384


def _days(time) -> np.ndarray:
    """Dates as float days since 1970, checked to be strictly increasing."""
    days = as_days(np.atleast_1d(time)).astype("int64").astype(float)
    if days.ndim != 1:
        raise InputError(f"dates must be 1-D, got shape {days.shape}")
    if days.size > 1 and (np.diff(days) <= 0).any():
        raise InputError("dates must be strictly increasing")
    return days


def _check_values(values, n_time) -> np.ndarray:
    arr = np.array(values, dtype=float, ndmin=2)
    if arr.ndim != 2 or arr.shape[1] != n_time:
        raise InputError(f"values must have shape (n_series, {n_time}), got {arr.shape}")
    return arr


def _check_outside(outside):
    if outside not in _OUTSIDE:
        raise ValueError(f"outside must be one of {_OUTSIDE}, got {outside!r}")


class _SeriesInterpolator(TemporalResampler):
    """Shared set-up of the interpolating resamplers: the ``outside`` rule and the checks."""

    def __init__(self, outside="hold"):
        self.outside = outside

    def _store(self, time, values) -> np.ndarray:
        """Check the parameters and inputs; keep the dates; return the values (mm)."""
        _check_outside(self.outside)
        self.days_ = _days(time)
        return _check_values(values, self.days_.size)


class LinearResampler(_SeriesInterpolator):
    """Piecewise-linear interpolation of each series between its own valid observations.

    Fully vectorised: the previous and next valid observation of every series at every date
    come from running maxima/minima of index arrays, so NaN gaps at different places in
    different series cost nothing extra.

    Parameters
    ----------
    outside : {"hold", "linear"}
        Before the first / after the last valid observation of a series: hold the end value
        (default), or extend the line through the two end observations.

    Attributes
    ----------
    days_ : ndarray (n_time,)
        Observed dates, days since 1970.
    values_ : ndarray (n_series, n_time)
        Observed displacements, mm.
    prev_valid_, next_valid_ : ndarray (n_series, n_time) of int32
        Index of the last valid observation at or before / first at or after each date
        (-1 / n_time where none).
    """

    def fit(self, time, values):
        """Store the series and the neighbour-index tables.

        Parameters
        ----------
        time : array_like (n_time,)
            Observation dates, strictly increasing.
        values : array_like (n_series, n_time)
            Displacements, mm; NaN where not observed.

        Returns
        -------
        self
        """
        self.values_ = self._store(time, values)
        n_time = self.days_.size
        valid = np.isfinite(self.values_)
        index = np.arange(n_time, dtype=np.int32)
        self.prev_valid_ = np.maximum.accumulate(np.where(valid, index, -1), axis=1).astype(np.int32)
        next_valid = np.minimum.accumulate(np.where(valid, index, n_time)[:, ::-1], axis=1)
        self.next_valid_ = np.ascontiguousarray(next_valid[:, ::-1]).astype(np.int32)
        self.n_valid_ = valid.sum(axis=1)
        return self

    def predict(self, time) -> np.ndarray:
        """Interpolated displacements (n_series, n_new), mm, at ``time``."""
        self._check_fitted("values_")
        query = _days(time)
        out = np.empty((self.values_.shape[0], query.size))
        for start in range(0, self.values_.shape[0], _BLOCK_ROWS):
            rows = slice(start, start + _BLOCK_ROWS)
            out[rows] = self._predict_block(query, rows)
        return out

    def _predict_block(self, query, rows):
        days, values = self.days_, self.values_[rows]
        prev_valid, next_valid = self.prev_valid_[rows], self.next_valid_[rows]
        n_time = days.size
        # last observation date <= query and first >= query, shared by all series
        left = np.searchsorted(days, query, side="right") - 1
        right = np.searchsorted(days, query, side="left")
        lo = np.where(left >= 0, prev_valid[:, np.clip(left, 0, None)], -1)
        hi = np.where(right < n_time, next_valid[:, np.clip(right, None, n_time - 1)], n_time)

        first = next_valid[:, :1]
        last = prev_valid[:, -1:]
        before, after = lo < 0, hi >= n_time
        if self.outside == "hold":
            lo = np.where(before, first, lo)
            hi = np.where(before, first, hi)
            hi = np.where(after, last, hi)
            lo = np.where(after, last, lo)
        else:
            series = np.arange(values.shape[0])
            second = next_valid[series, np.clip(first[:, 0] + 1, None, n_time - 1)][:, None]
            second_last = prev_valid[series, np.clip(last[:, 0] - 1, 0, None)][:, None]
            lo, hi = np.where(before, first, lo), np.where(before, second, hi)
            lo, hi = np.where(after, second_last, lo), np.where(after, last, hi)

        usable = self.n_valid_[rows, None] >= 2
        lo = np.clip(np.where(usable, lo, 0), 0, n_time - 1)
        hi = np.clip(np.where(usable, hi, 0), 0, n_time - 1)
        v_lo = np.take_along_axis(values, lo, axis=1)
        v_hi = np.take_along_axis(values, hi, axis=1)
        t_lo, t_hi = days[lo], days[hi]
        span = t_hi - t_lo
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(span > 0, (query - t_lo) / span, 0.0)
        result = v_lo + weight * (v_hi - v_lo)
        return np.where(usable, result, np.nan)


class PchipResampler(_SeriesInterpolator):
    """Shape-preserving piecewise-cubic (PCHIP) interpolation of each series.

    Monotone between observations wherever the data are, so a step is not turned into an
    overshoot as a cubic spline would. Series are grouped by their pattern of valid epochs and
    scipy's :class:`~scipy.interpolate.PchipInterpolator` is built once per group along
    ``axis=1``; the cost therefore grows with the number of distinct gap patterns (real
    stacks have few), not with the number of series.

    Parameters
    ----------
    outside : {"hold", "linear"}
        Before the first / after the last valid observation: hold the end value (default), or
        continue with the interpolant's end slope.

    Attributes
    ----------
    n_patterns_ : int
        Number of distinct patterns of valid epochs.
    """

    def fit(self, time, values):
        """Group the series by gap pattern and build one interpolator per group.

        Parameters
        ----------
        time : array_like (n_time,)
            Observation dates, strictly increasing.
        values : array_like (n_series, n_time)
            Displacements, mm; NaN where not observed.

        Returns
        -------
        self
        """
        values = self._store(time, values)
        valid = np.isfinite(values)
        patterns, group_of_series = np.unique(np.packbits(valid, axis=1), axis=0,
                                              return_inverse=True)
        group_of_series = group_of_series.ravel()
        order = np.argsort(group_of_series, kind="stable")
        bounds = np.flatnonzero(np.diff(group_of_series[order])) + 1
        self.n_series_ = values.shape[0]
        self.n_patterns_ = patterns.shape[0]
        self.groups_ = []
        for rows in np.split(order, bounds):
            cols = valid[rows[0]]
            if cols.sum() < 2:
                self.groups_.append((rows, None))
                continue
            interp = PchipInterpolator(self.days_[cols], values[np.ix_(rows, cols)], axis=1,
                                       extrapolate=True)
            self.groups_.append((rows, interp))
        logger.debug("PCHIP: %d series in %d gap patterns", self.n_series_, self.n_patterns_)
        return self

    def predict(self, time) -> np.ndarray:
        """Interpolated displacements (n_series, n_new), mm, at ``time``."""
        self._check_fitted("groups_")
        query = _days(time)
        out = np.full((self.n_series_, query.size), np.nan)
        for rows, interp in self.groups_:
            if interp is None:
                continue
            start, end = interp.x[0], interp.x[-1]
            inside = np.clip(query, start, end)
            result = interp(inside)
            if self.outside == "linear":
                slope = interp.derivative()(np.array([start, end]))
                result = (result + np.where(query < start, query - start, 0.0) * slope[:, :1]
                          + np.where(query > end, query - end, 0.0) * slope[:, 1:])
            out[rows] = result
        return out


# --------------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------------

#: Input features per time step of the LSTM (see :func:`_lstm_features`).
LSTM_FEATURES = ("value", "observed", "gap", "time")

#: Smallest per-series scale (mm) used to normalise residuals: InSAR noise is about this size,
#: so a nearly perfectly linear series is not blown up to unit variance.
_MIN_SCALE_MM = 1.0

#: Days that one unit of the "gap" feature stands for.
_GAP_UNIT_DAYS = 30.0

#: Features of a query date: days from the step before, days to the step after, time.
_QUERY_FEATURES = 3


def _query_features(days, query):
    """Neighbouring steps and features of query dates on a sequence of dates.

    Parameters
    ----------
    days : ndarray (n_step,)
        Dates of the sequence, days.
    query : ndarray (n_query,)
        Query dates, days.

    Returns
    -------
    left, right : ndarray (n_query,) of int64
        Last step strictly before / first step strictly after each query (-1 / n_step where
        none): the state of the step at the query date itself is never used.
    features : ndarray (n_query, 3) float32
        Days since ``left`` and until ``right`` (0 where none) / 30, and the query's time on
        the sequence's 0..1 scale.
    """
    n_step = days.size
    left = np.searchsorted(days, query, side="left") - 1
    right = np.searchsorted(days, query, side="right")
    since = np.where(left >= 0, query - days[np.clip(left, 0, None)], 0.0)
    until = np.where(right < n_step, days[np.clip(right, None, n_step - 1)] - query, 0.0)
    span = max(days[-1] - days[0], 1.0)
    features = np.stack([since / _GAP_UNIT_DAYS, until / _GAP_UNIT_DAYS,
                         (query - days[0]) / span], axis=1).astype(np.float32)
    return left.astype(np.int64), right.astype(np.int64), features


def _lstm_features(days, values):
    """Features, per-series trend and scale of series on a common sequence of dates.

    Parameters
    ----------
    days : ndarray (n_step,)
        Dates of the sequence, days, increasing.
    values : ndarray (n_series, n_step)
        Displacements visible to the network, mm; NaN where hidden or not observed.

    Returns
    -------
    features : ndarray (n_series, n_step, 4) float32
        ``value``: residual from the series' own least-squares line divided by its scale (0
        where not visible); ``observed``: 1 where visible; ``gap``: days since the previous step
        / 30; ``time``: position in the sequence span, 0..1.
    intercept, slope, scale : ndarray (n_series, 1)
        The line ``intercept + slope * time`` (mm) and the residual scale (mm), so that a
        network output ``r`` means ``intercept + slope * time + scale * r`` mm.
    """
    span = max(days[-1] - days[0], 1.0)
    time = (days - days[0]) / span
    visible = np.isfinite(values)
    weight = visible.astype(float)
    count = weight.sum(axis=1, keepdims=True)
    safe = np.where(visible, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        time_mean = (weight * time).sum(axis=1, keepdims=True) / count
        value_mean = safe.sum(axis=1, keepdims=True) / count
        dt = weight * (time - time_mean)
        den = (dt**2).sum(axis=1, keepdims=True)
        slope = np.where(den > 0, (dt * (safe - value_mean)).sum(axis=1, keepdims=True) / den, 0.0)
    slope = np.nan_to_num(slope)
    intercept = np.nan_to_num(value_mean - slope * time_mean)
    residual = np.where(visible, safe - intercept - slope * time, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = np.sqrt((residual**2).sum(axis=1, keepdims=True) / count)
    scale = np.maximum(np.nan_to_num(rms), _MIN_SCALE_MM)

    n_series, n_step = values.shape
    features = np.empty((n_series, n_step, len(LSTM_FEATURES)), dtype=np.float32)
    features[..., 0] = residual / scale
    features[..., 1] = visible
    features[..., 2] = np.diff(days, prepend=days[0]) / _GAP_UNIT_DAYS
    features[..., 3] = time
    return features, intercept, slope, scale


def _hide_random(valid, rng, fraction_range):
    """Mask hiding a random share (drawn per series in ``fraction_range``) of valid epochs.

    At least one epoch is hidden and at least two stay visible in every series that has three
    or more valid epochs; series with fewer get nothing hidden.
    """
    n_valid = valid.sum(axis=1)
    fraction = rng.uniform(*fraction_range, size=valid.shape[0])
    n_hide = np.clip(np.round(fraction * n_valid), 1, np.maximum(n_valid - 2, 0)).astype(int)
    n_hide = np.where(n_valid >= 3, n_hide, 0)
    score = np.where(valid, rng.random(valid.shape), np.inf)
    rank = np.argsort(np.argsort(score, axis=1), axis=1)
    return rank < n_hide[:, None]


def _torch():
    import torch  # deferred: the interpolators must not pay for importing torch

    return torch


@contextlib.contextmanager
def _torch_threads(n_threads):
    """Set torch's CPU thread count inside the block (when given) and restore it after."""
    torch = _torch()
    previous = torch.get_num_threads()
    if n_threads:
        torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _build_network(n_features, units, layers, dropout, recurrent_dropout, bidirectional):
    torch = _torch()
    nn = torch.nn

    class SeriesLSTM(nn.Module):
        """Stacked (bi)LSTM with a linear head giving one value per step.

        Recurrent dropout: in training, each hidden-to-hidden weight matrix ``weight_hh_l*``
        gets a column mask, i.e. hidden units are dropped from the recurrence with one mask held
        over all time steps (variational recurrent dropout, the semantics of Keras'
        ``recurrent_dropout`` used by the paper), the mask being shared by the sequences of a
        batch rather than drawn per sequence. The fused :class:`torch.nn.LSTM` then runs with
        the masked weights, in training as in inference.
        """

        def __init__(self):
            super().__init__()
            self.recurrent_dropout = recurrent_dropout
            self.lstm = nn.LSTM(n_features, units, layers, batch_first=True,
                                dropout=dropout if layers > 1 else 0.0,
                                bidirectional=bidirectional)
            self.bidirectional = bidirectional
            n_state = units * (2 if bidirectional else 1)
            self.head = nn.Sequential(nn.Linear(n_state + _QUERY_FEATURES, units), nn.Tanh(),
                                      nn.Linear(units, 1))

        def forward(self, x, left, right, query):
            """Values (batch, n_query) at query dates from the states around each of them.

            ``left``/``right`` (n_query,): index of the last step before / first step after
            each query (-1 / n_step where none); ``query`` (n_query, 3): its features.
            """
            if self.training and self.recurrent_dropout > 0:
                keep = 1.0 - self.recurrent_dropout
                params = {}
                for name, weight in self.lstm.named_parameters():
                    if name.startswith("weight_hh"):
                        mask = torch.bernoulli(weight.new_full((1, weight.shape[1]), keep))
                        weight = weight * mask / keep
                    params[name] = weight
                hidden, _ = torch.func.functional_call(self.lstm, params, (x,))
            else:
                hidden, _ = self.lstm(x)
            size = self.lstm.hidden_size
            none = hidden.new_zeros((hidden.shape[0], 1, size))
            states = [torch.cat([none, hidden[..., :size]], dim=1)[:, left + 1]]
            if self.bidirectional:
                states.append(torch.cat([hidden[..., size:], none], dim=1)[:, right])
            states.append(query.expand(hidden.shape[0], -1, -1))
            return self.head(torch.cat(states, dim=-1)).squeeze(-1)

    return SeriesLSTM()


class LSTMResampler(TemporalResampler):
    """LSTM temporal resampler of Khalili et al. (2024), trained self-supervised.

    Table 2 of the paper: 3 layers of 50 units, dropout 0.2, recurrent dropout 0.2, Adam with
    learning rate 0.008, batch 32, 86 epochs. The paper gives no input layout or loss; this
    implementation makes the following choices.

    * **Input.** Each series is one sequence on the dates of the fit, so irregular sampling
      is seen as it is. Per step: the displacement (0 where hidden or not observed), an
      ``observed`` flag, the days since the previous step and the normalised time
      (:data:`LSTM_FEATURES`).
    * **Queries.** The value at any date comes from a small head on the forward state of the
      last step *before* it, the backward state of the first step *after* it, and the days to
      each. In training the queries are the hidden observed dates (their own step is blank),
      at prediction the requested dates: the same computation, so the network is not
      surprised by dense target grids, and the recurrence runs over the observed dates only
      (57 steps rather than the 170 of the union with a 12-day grid: 3× faster).
    * **Per-series normalisation.** The least-squares line through the visible values is
      removed and the residual divided by its RMS (at least 1 mm), so one network serves slow
      and fast points; the network predicts the normalised residual.
    * **Self-supervision.** In every training epoch each series gets a fresh random mask
      hiding 10–50 % of its valid epochs (``hide_fraction``); the loss is the mean squared
      error on the hidden observed epochs only.
    * **Split.** A seeded sample of at most ``max_train_series`` series with at least three
      valid epochs is split 80/10/10 into training, validation (early stopping with
      ``patience``; best weights kept) and test series (``test_rmse_mm_``).
    * **Bidirectional layers** (``bidirectional=True``, a deviation from the paper's plain
      LSTM): interpolating needs the epochs after a gap as much as those before it. Each
      direction has ``units`` units. With ``bidirectional=False`` the head sees the
      forward state only, as the paper's "feed the LSTM with actual data up to the time".
    * **Dropout.** ``dropout`` acts between stacked layers (PyTorch's placement).
      :class:`torch.nn.LSTM` has no recurrent dropout; ``recurrent_dropout`` is applied as a
      column mask on the hidden-to-hidden weights, held over all time steps: variational
      dropout of hidden units in the recurrence, one mask per batch instead of per sequence
      (a substitute that keeps the fused LSTM, several times faster than a step-by-step cell).
    * **Prediction.** At requested dates that coincide with a valid observation the
      observation itself is returned (as the interpolators do); elsewhere the network's
      value. Outside a series' span the value follows its fitted line plus the network's
      residual. Series with fewer than two valid observations give NaN.

    Parameters
    ----------
    layers, units : int
        Stacked LSTM layers and units per layer (per direction).
    dropout, recurrent_dropout : float
        Dropout rates, 0..1.
    learning_rate : float
        Adam learning rate.
    batch_size : int
        Training batch size (series).
    epochs, patience : int
        Maximum training epochs; epochs without validation improvement before stopping.
    max_train_series : int
        Cap on the series used for training (seeded sample), so large datasets stay feasible.
    bidirectional : bool
        Bidirectional layers (see above).
    hide_fraction : tuple of float
        Range of the share of valid epochs hidden per series and epoch in training.
    validation_fraction, test_fraction : float
        Shares of the training sample held out for early stopping and for the test score.
    predict_batch_size : int, optional
        Series per batch at prediction; default 8192 on a GPU and 1024 on the CPU, where
        larger batches fall out of cache and run slower.
    device : str, optional
        Torch device; default CUDA when available, else CPU.
    n_threads : int, optional
        CPU threads for torch during ``fit``/``predict`` (restored afterwards).
    progress : bool, optional
        tqdm progress bars; default only when stderr is a terminal.
    seed : int
        Seeds sampling, masks, weight initialisation and dropout (reproducible on CPU).

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network (on CPU).
    history_ : list of dict
        Per epoch: ``train_loss`` and ``val_loss`` (normalised units, MSE).
    best_epoch_ : int
        Epoch (1-based) whose weights were kept.
    test_rmse_mm_ : float
        RMSE (mm) on hidden epochs of the test series (NaN when the sample is too small).
    """

    learned = True

    def __init__(self, layers=3, units=50, dropout=0.2, recurrent_dropout=0.2,
                 learning_rate=0.008, batch_size=32, epochs=86, patience=10,
                 max_train_series=2000, bidirectional=True, hide_fraction=(0.1, 0.5),
                 validation_fraction=0.1, test_fraction=0.1, predict_batch_size=None,
                 device=None, n_threads=None, progress=None, seed=0):
        self.layers = layers
        self.units = units
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.max_train_series = max_train_series
        self.bidirectional = bidirectional
        self.hide_fraction = hide_fraction
        self.validation_fraction = validation_fraction
        self.test_fraction = test_fraction
        self.predict_batch_size = predict_batch_size
        self.device = device
        self.n_threads = n_threads
        self.progress = progress
        self.seed = seed

    # -- helpers -----------------------------------------------------------------------------

    def _device(self):
        torch = _torch()
        if self.device is not None:
            return torch.device(self.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def _show_progress(self):
        return sys.stderr.isatty() if self.progress is None else bool(self.progress)

    def _split(self, values, rng):
        """Seeded sample of trainable series split into train / validation / test rows."""
        eligible = np.flatnonzero(np.isfinite(values).sum(axis=1) >= 3)
        if eligible.size < 2:
            raise InputError("the LSTM needs at least two series with three or more valid "
                             f"epochs; got {eligible.size}")
        n_sample = min(self.max_train_series, eligible.size)
        sample = rng.permutation(rng.choice(eligible, size=n_sample, replace=False))
        n_val = max(1, int(round(self.validation_fraction * n_sample)))
        n_test = int(round(self.test_fraction * n_sample)) if n_sample - n_val >= 3 else 0
        n_test = min(n_test, n_sample - n_val - 1)
        val, test = sample[:n_val], sample[n_val:n_val + n_test]
        train = sample[n_val + n_test:]
        return train, val, test

    def _batch_tensors(self, values, hidden):
        """Features, targets (normalised) and loss mask for series with ``hidden`` epochs."""
        torch = _torch()
        visible = np.where(hidden, np.nan, values)
        features, intercept, slope, scale = _lstm_features(self.days_, visible)
        time = features[0, :, 3].astype(float)
        target = np.where(hidden, (values - intercept - slope * time) / scale, 0.0)
        return (torch.from_numpy(features), torch.from_numpy(target.astype(np.float32)),
                torch.from_numpy(hidden))

    def _query_tensors(self, query_days, device):
        """Neighbour indices and features of query dates on the fitted dates, as tensors."""
        torch = _torch()
        left, right, features = _query_features(self.days_, query_days)
        return (torch.from_numpy(left).to(device), torch.from_numpy(right).to(device),
                torch.from_numpy(features).to(device))

    def _loss(self, network, tensors, query, device, batch_size=8192):
        """Mean squared error (normalised units) on the hidden epochs, no gradient."""
        torch = _torch()
        features, target, mask = tensors
        total, count = 0.0, 0
        with torch.inference_mode():
            for start in range(0, features.shape[0], batch_size):
                sl = slice(start, start + batch_size)
                pred = network(features[sl].to(device), *query)
                m = mask[sl].to(device)
                total += float(((pred - target[sl].to(device)) ** 2)[m].sum())
                count += int(m.sum())
        return total / max(count, 1)

    # -- estimator API -----------------------------------------------------------------------

    def fit(self, time, values):
        """Train the network on a capped, seeded sample of the series.

        Parameters
        ----------
        time : array_like (n_time,)
            Observation dates, strictly increasing.
        values : array_like (n_series, n_time)
            Displacements, mm; NaN where not observed.

        Returns
        -------
        self
        """
        torch = _torch()
        from tqdm.auto import tqdm

        self.days_ = _days(time)
        self.values_ = _check_values(values, self.days_.size)
        rng = np.random.default_rng(self.seed)
        train, val, test = self._split(self.values_, rng)
        valid = np.isfinite(self.values_)
        device = self._device()

        with torch.random.fork_rng(devices=[]), _torch_threads(self.n_threads):
            torch.manual_seed(self.seed)
            network = _build_network(len(LSTM_FEATURES), self.units, self.layers, self.dropout,
                                     self.recurrent_dropout, self.bidirectional).to(device)
            optimiser = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
            fixed_rng = np.random.default_rng([self.seed, 1])
            val_tensors = self._batch_tensors(self.values_[val],
                                              _hide_random(valid[val], fixed_rng, self.hide_fraction))
            train_values, train_valid = self.values_[train], valid[train]
            # queries at every fitted date; the loss keeps the hidden ones
            at_steps = self._query_tensors(self.days_, device)

            best_loss, best_state, best_epoch, waited = np.inf, None, 0, 0
            self.history_ = []
            bar = tqdm(range(1, self.epochs + 1), desc="LSTM training", unit="epoch",
                       disable=not self._show_progress())
            for epoch in bar:
                network.train()
                features, target, mask = self._batch_tensors(
                    train_values, _hide_random(train_valid, rng, self.hide_fraction))
                order = torch.from_numpy(rng.permutation(len(train)))
                running, n_batches = 0.0, 0
                for start in range(0, len(train), self.batch_size):
                    rows = order[start:start + self.batch_size]
                    m = mask[rows].to(device)
                    if not m.any():
                        continue
                    pred = network(features[rows].to(device), *at_steps)
                    loss = ((pred - target[rows].to(device)) ** 2)[m].mean()
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    running += float(loss.detach())
                    n_batches += 1
                network.eval()
                val_loss = self._loss(network, val_tensors, at_steps, device)
                self.history_.append({"train_loss": running / max(n_batches, 1),
                                      "val_loss": val_loss})
                bar.set_postfix(train=f"{running / max(n_batches, 1):.3f}", val=f"{val_loss:.3f}")
                if val_loss < best_loss:
                    best_loss, best_epoch, waited = val_loss, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
            bar.close()
            network.load_state_dict(best_state)
            network.eval()
            self.best_epoch_ = best_epoch
            self.network_ = network.cpu()

        self.test_rmse_mm_ = np.nan
        if test.size:
            test_hidden = _hide_random(valid[test], fixed_rng, self.hide_fraction)
            predicted = self._predict_queries(np.where(test_hidden, np.nan, self.values_[test]),
                                              self.days_)
            error = (predicted - self.values_[test])[test_hidden]
            self.test_rmse_mm_ = float(np.sqrt(np.mean(error**2)))
        logger.info("LSTM trained on %d series (%d validation, %d test): %d epochs, best %d, "
                    "validation MSE %.3f (normalised), test RMSE %.2f mm", len(train), len(val),
                    len(test), len(self.history_), best_epoch, best_loss, self.test_rmse_mm_)
        return self

    def _predict_queries(self, values, query_days, progress=False):
        """Network estimate (mm) at ``query_days`` of series ``values`` on the fitted dates."""
        torch = _torch()
        from tqdm.auto import tqdm

        device = self._device()
        network = self.network_.to(device)
        out = np.empty((values.shape[0], query_days.size))
        query = self._query_tensors(query_days, device)
        query_time = query[2][:, 2].cpu().numpy().astype(float)
        batch = self.predict_batch_size or (8192 if device.type == "cuda" else 1024)
        starts = range(0, values.shape[0], batch)
        with _torch_threads(self.n_threads), torch.inference_mode():
            for start in tqdm(starts, desc="LSTM prediction", unit="batch", disable=not progress):
                block = values[start:start + batch]
                features, intercept, slope, scale = _lstm_features(self.days_, block)
                residual = network(torch.from_numpy(features).to(device), *query).cpu().numpy()
                out[start:start + block.shape[0]] = (intercept + slope * query_time
                                                     + scale * residual)
        self.network_ = network.cpu()
        return out

    def set_series(self, time, values):
        """Keep the trained network and resample ``values`` (same dates as the fit) instead.

        Raises
        ------
        ValueError
            If ``time`` differs from the dates the network was fitted on.
        """
        self._check_fitted("network_")
        days = _days(time)
        if days.shape != self.days_.shape or (days != self.days_).any():
            raise ValueError("set_series needs the dates the LSTM was fitted on")
        self.values_ = _check_values(values, self.days_.size)
        return self

    def predict(self, time) -> np.ndarray:
        """Displacements (n_series, n_new), mm, at ``time``; observations where they exist."""
        self._check_fitted("network_")
        query = _days(time)
        estimate = self._predict_queries(self.values_, query, progress=self._show_progress())
        # observations at query dates that were observed are returned as they are
        position = np.clip(np.searchsorted(self.days_, query), 0, self.days_.size - 1)
        observed = np.where(self.days_[position] == query, self.values_[:, position], np.nan)
        result = np.where(np.isfinite(observed), observed, estimate)
        enough = np.isfinite(self.values_).sum(axis=1) >= 2
        return np.where(enough[:, None], result, np.nan)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def make_resampler(method, config=None, seed=0) -> TemporalResampler:
    """A resampler by name.

    Parameters
    ----------
    method : {"linear", "pchip", "lstm"}
        ``"auto"`` is not accepted here: it needs data (use :func:`score_resamplers` and
        :func:`choose_resampler`).
    config : TemporalConfig or LSTMConfig, optional
        Hyper-parameters of the LSTM (defaults: paper Table 2).
    seed : int
        Seed of the LSTM.
    """
    if method == "linear":
        return LinearResampler()
    if method == "pchip":
        return PchipResampler()
    if method == "lstm":
        lstm = getattr(config, "lstm", config)
        if lstm is None:
            return LSTMResampler(seed=seed)
        params = {k: getattr(lstm, k) for k in ("layers", "units", "dropout", "recurrent_dropout",
                                                "learning_rate", "batch_size", "epochs",
                                                "patience", "max_train_series", "bidirectional")
                  if hasattr(lstm, k)}
        return LSTMResampler(**params, seed=seed)
    if method == "auto":
        raise ValueError("method 'auto' needs data: score with score_resamplers() and pick "
                         "with choose_resampler()")
    raise ValueError(f"unknown temporal resampler {method!r}; expected one of {RESAMPLERS}")


def rezero_series(values, axis=-1):
    """Series made relative to their first epoch (mm): the value there becomes 0."""
    values = np.asarray(values, dtype=float)
    return values - np.take(values, [0], axis=axis)


def _resample_chunk(values, resampler, time, days):
    """One chunk of series resampled with a fitted resampler (left unchanged)."""
    local = copy.copy(resampler)
    local.set_series(time, values)
    return local.predict(days)


def resample_dataset(ds: xr.Dataset, epochs, resampler: TemporalResampler,
                     rezero=True, refit=True, client=None) -> xr.Dataset:
    """A point dataset resampled onto new epochs.

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset (:func:`insarfusion.dataset.point_dataset`).
    epochs : array_like of dates
        Target epochs, strictly increasing (e.g. the common 12-day grid).
    resampler : TemporalResampler
        Unfitted or fitted estimator; it is (re)fitted on ``ds``: a learned one (the LSTM) once
        on all the series, the others chunk by chunk on copies (the same result, without
        fitting every series twice).
    rezero : bool
        Make every series relative to the first target epoch (the pipeline's convention:
        series on the common epochs are zero at the first one).
    refit : bool
        Fit ``resampler`` on ``ds``; with False a resampler already fitted on these dates
        (e.g. by :func:`score_resamplers`) only takes the series
        (:meth:`~insarfusion.estimators.TemporalResampler.set_series`).
    client : distributed.Client, optional
        Resample the series in chunks of :data:`insarfusion.parallel.POINT_CHUNK` on this
        Dask client's workers (same result as in-process).

    Returns
    -------
    xarray.Dataset
        Same point coordinates, per-point variables and attrs; ``time`` = ``epochs`` and
        ``displacement`` (point, time) in mm. ``displacement.attrs["resampler"]`` names the
        method.
    """
    days = as_days(np.atleast_1d(epochs))
    values = ds["displacement"].values
    if refit and resampler.learned:
        resampler.fit(ds["time"].values, values)
    # each chunk's set_series fits a copy of a resampler that is not learned
    chunks = [values[s] for s in chunk_slices(values.shape[0], POINT_CHUNK)]
    resampled = np.concatenate(map_chunks(_resample_chunk, chunks, client, resampler=resampler,
                                          time=ds["time"].values, days=days), axis=0)
    if rezero:
        resampled = rezero_series(resampled)
    out = ds.drop_dims("time")
    attrs = dict(ds["displacement"].attrs, resampler=type(resampler).__name__,
                 rezeroed=int(bool(rezero)))
    out["displacement"] = xr.DataArray(resampled, dims=("point", "time"),
                                       coords={"time": days.astype("datetime64[ns]")},
                                       attrs=attrs)
    n_nan = int((~np.isfinite(resampled).all(axis=1)).sum())
    if n_nan:
        logger.warning("%s: %d of %d points have fewer than two valid epochs and stay NaN",
                       ds.attrs.get("name", "dataset"), n_nan, resampled.shape[0])
    return out.transpose("point", "time", ...)


def score_resamplers(ds: xr.Dataset, methods=RESAMPLERS, holdout_fraction=0.1, seed=0,
                     config=None, truth=None, return_fitted=False):
    """Held-out error of each resampler on one point dataset (same split for all).

    A share ``holdout_fraction`` of the interior observed epochs
    (:func:`~insarfusion.estimators.holdout_epochs`) is hidden from every series; each method
    is fitted on the rest and predicts the hidden epochs.

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset.
    methods : sequence of str
        Names for :func:`make_resampler`.
    holdout_fraction : float
        Share of epochs hidden.
    seed : int
        Seed of the split and of the LSTM.
    config : TemporalConfig, optional
        LSTM hyper-parameters.
    truth : xarray.DataArray (point, time), optional
        True displacement (mm) on the target epochs. The resampler fitted above predicts
        those epochs and both are made relative to the first truth epoch before comparing
        (the reference is not something a resampler can know).

    return_fitted : bool
        Also return the resamplers fitted without the hidden epochs, ``{method: resampler}``.

    Returns
    -------
    dict
        ``{method: {"heldout_rmse_mm": float, "n_heldout": int[, "truth_rmse_mm": float]}}``;
        the RMSE (mm) is over every hidden (series, epoch) value that was observed. With
        ``return_fitted``, the pair ``(scores, fitted)``.
    """
    time = ds["time"].values
    values = ds["displacement"].values
    hidden = holdout_epochs(time, holdout_fraction, seed)
    fit_values = values.copy()
    fit_values[:, hidden] = np.nan
    observed = values[:, hidden]
    truth_values = truth_days = None
    if truth is not None:
        if "point" in truth.coords and "point" in ds.coords:
            truth = truth.sel(point=ds["point"].values)
        truth_days = as_days(truth["time"].values)
        truth_values = rezero_series(truth.transpose("point", "time").values)

    scores, fitted = {}, {}
    for method in methods:
        resampler = make_resampler(method, config, seed).fit(time, fit_values)
        fitted[method] = resampler
        error = resampler.predict(time[hidden]) - observed
        error = error[np.isfinite(error)]
        score = {"heldout_rmse_mm": float(np.sqrt(np.mean(error**2))) if error.size else np.nan,
                 "n_heldout": int(error.size)}
        if truth_values is not None:
            diff = rezero_series(resampler.predict(truth_days)) - truth_values
            diff = diff[np.isfinite(diff)]
            score["truth_rmse_mm"] = float(np.sqrt(np.mean(diff**2))) if diff.size else np.nan
        scores[method] = score
        logger.info("%s: temporal resampler %s, held-out RMSE %.2f mm on %d values%s",
                    ds.attrs.get("name", "dataset"), method, score["heldout_rmse_mm"],
                    score["n_heldout"],
                    f", truth RMSE {score['truth_rmse_mm']:.2f} mm" if "truth_rmse_mm" in score
                    else "")
    return (scores, fitted) if return_fitted else scores


def choose_resampler(scores: dict) -> str:
    """Name of the method with the lowest held-out RMSE in :func:`score_resamplers` output."""
    finite = {m: s["heldout_rmse_mm"] for m, s in scores.items()
              if np.isfinite(s.get("heldout_rmse_mm", np.nan))}
    if not finite:
        raise ValueError("no resampler has a finite held-out score")
    best = min(finite, key=finite.get)
    logger.info("temporal resampler chosen by held-out RMSE: %s (%.2f mm)", best, finite[best])
    return best
