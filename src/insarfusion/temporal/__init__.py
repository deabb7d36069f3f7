"""Temporal resampling: every point's displacement series onto new epochs.

Three estimators follow the :class:`~insarfusion.estimators.TemporalResampler` protocol
(``fit(time, values)`` with values (n_series, n_time) in mm and NaN where a point has no
observation; ``predict(new_time)`` → (n_series, n_new) in mm):

* :class:`LinearResampler` — piecewise-linear interpolation between each series' own valid
  observations (:mod:`.interpolators`).
* :class:`PchipResampler` — shape-preserving piecewise-cubic Hermite interpolation (scipy's
  PCHIP): no overshoot at steps, smoother than linear (:mod:`.interpolators`).
* :class:`LSTMResampler` — the recurrent network of Khalili et al. (2024), §4.2.3 and Table 2,
  trained self-supervised: observed epochs are hidden from its input and predicted
  (:mod:`.lstm`, its inputs and network in :mod:`.lstm_network`).

Helpers: :func:`make_resampler` and :func:`resample_dataset` (a point dataset onto common
epochs) in :mod:`.resampling`; :func:`score_resamplers` (held-out observed epochs, the same
split for every method, through :func:`insarfusion.model_selection.cross_val_score`),
:func:`resamplers_to_score` and :func:`choose_resampler` (for ``method: auto``, the lowest mean
held-out error over the datasets) in :mod:`.selection`; the whole stage on every dataset of a
run, datasets side by side in worker processes where the cores allow
(:func:`resample_datasets`), in :mod:`.datasets`.
"""

from ..parallel import POINT_CHUNK
from .datasets import dataset_processes, resample_datasets, score_and_resample
from .interpolators import LinearResampler, PchipResampler
from .lstm import LSTMResampler
from .lstm_network import LSTM_FEATURES
from .resampling import (
    RESAMPLER_CLASSES,
    RESAMPLERS,
    make_resampler,
    resample_dataset,
    rezero_series,
)
from .selection import (
    choose_resampler,
    mean_heldout_rmse,
    resamplers_to_score,
    score_resamplers,
)

__all__ = [
    "LSTM_FEATURES",
    "POINT_CHUNK",
    "RESAMPLERS",
    "RESAMPLER_CLASSES",
    "LSTMResampler",
    "LinearResampler",
    "PchipResampler",
    "choose_resampler",
    "dataset_processes",
    "make_resampler",
    "mean_heldout_rmse",
    "resample_dataset",
    "resample_datasets",
    "resamplers_to_score",
    "rezero_series",
    "score_and_resample",
    "score_resamplers",
]
