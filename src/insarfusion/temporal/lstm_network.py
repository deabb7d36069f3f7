"""The LSTM resampler's inputs and network.

Per-step features, query features, the masks of self-supervised training, and the stacked
(bi)LSTM with its query head.

See :class:`~insarfusion.temporal.lstm.LSTMResampler` for the design choices.
"""

from __future__ import annotations

import numpy as np

from ..torchutil import import_torch

#: Input features per time step of the LSTM (see :func:`lstm_features`).
LSTM_FEATURES = ("value", "observed", "gap", "time")

#: Smallest per-series scale (mm) used to normalise residuals: InSAR noise is about this size,
#: so a nearly perfectly linear series is not blown up to unit variance.
_MIN_SCALE_MM = 1.0

#: Days that one unit of the "gap" feature stands for.
_GAP_UNIT_DAYS = 30.0

#: Features of a query date: days from the step before, days to the step after, time.
_QUERY_FEATURES = 3


def query_features(days, query):
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


def series_trend(days, values):
    """Each series' least-squares line through its visible values, and its residual scale.

    Parameters
    ----------
    days : ndarray (n_step,)
        Dates of the sequence, days, increasing.
    values : ndarray (n_series, n_step)
        Displacements, mm; NaN where hidden or not observed.

    Returns
    -------
    time : ndarray (n_step,)
        Position of each date in the sequence span, 0..1.
    intercept, slope : ndarray (n_series, 1)
        The line ``intercept + slope * time``, mm (0 for a series without two visible values).
    residual : ndarray (n_series, n_step)
        Visible values minus the line (0 where not visible), mm.
    scale : ndarray (n_series, 1)
        RMS of the residual, at least :data:`_MIN_SCALE_MM`, mm.
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
    return time, intercept, slope, residual, np.maximum(np.nan_to_num(rms), _MIN_SCALE_MM)


def lstm_features(days, values):
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
        network output ``r`` means ``intercept + slope * time + scale * r`` mm
        (:func:`series_trend`).
    """
    time, intercept, slope, residual, scale = series_trend(days, values)
    n_series, n_step = values.shape
    features = np.empty((n_series, n_step, len(LSTM_FEATURES)), dtype=np.float32)
    features[..., 0] = residual / scale
    features[..., 1] = np.isfinite(values)
    features[..., 2] = np.diff(days, prepend=days[0]) / _GAP_UNIT_DAYS
    features[..., 3] = time
    return features, intercept, slope, scale


def hide_random(valid, rng, fraction_range):
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


def build_network(n_features, units, layers, dropout, recurrent_dropout, bidirectional):
    """The network: stacked (bi)LSTM layers and a head reading the states around a query."""
    torch = import_torch()
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
