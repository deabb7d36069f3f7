"""Resamplers by name, and a point dataset resampled onto common epochs with any of them."""

from __future__ import annotations

import copy

import numpy as np
import xarray as xr

from .. import parallel
from ..conventions import as_days
from ..estimators import TemporalResampler
from ..log import logger
from .interpolators import LinearResampler, PchipResampler
from .lstm import LSTMResampler

#: Names accepted by :func:`make_resampler`, and their estimators.
RESAMPLER_CLASSES = {"linear": LinearResampler, "pchip": PchipResampler, "lstm": LSTMResampler}

#: Names accepted by :func:`make_resampler`.
RESAMPLERS = tuple(RESAMPLER_CLASSES)


def make_resampler(method, params=None, seed=0) -> TemporalResampler:
    """A resampler by name.

    Parameters
    ----------
    method : {"linear", "pchip", "lstm"}
        ``"auto"`` is not accepted here: it needs data (see
        :func:`~insarfusion.temporal.selection.score_resamplers` and
        :func:`~insarfusion.temporal.selection.choose_resampler`).
    params : dict, optional
        Parameters of the estimator, by the names its ``__init__`` takes (for the LSTM, e.g.
        ``{"units": 16, "epochs": 20}``); defaults for the rest (the LSTM's: paper Table 2).
        An unknown name is an :class:`~insarfusion.errors.InputError`.
    seed : int
        Seed of resamplers that have one (the LSTM); it overrides a ``seed`` in ``params``.

    Returns
    -------
    TemporalResampler
        Unfitted.
    """
    if method == "auto":
        raise ValueError("method 'auto' needs data: score with score_resamplers() and pick "
                         "with choose_resampler()")
    if method not in RESAMPLER_CLASSES:
        raise ValueError(f"unknown temporal resampler {method!r}; expected one of {RESAMPLERS}")
    resampler = RESAMPLER_CLASSES[method]().set_params(**dict(params or {}))
    if "seed" in resampler.get_params():
        resampler.set_params(seed=seed)
    return resampler


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
        (e.g. by :func:`~insarfusion.temporal.selection.score_resamplers`) only takes the
        series (:meth:`~insarfusion.estimators.TemporalResampler.set_series`).
    client : distributed.Client, optional
        Resample the series in chunks of :data:`insarfusion.parallel.POINT_CHUNK` on this
        Dask client's workers (same result as in-process); by default the client of the
        enclosing :func:`insarfusion.parallel.execution`, if any.

    Returns
    -------
    xarray.Dataset
        Same point coordinates, per-point variables and attrs; ``time`` = ``epochs`` and
        ``displacement`` (point, time) in mm. ``displacement.attrs["resampler"]`` names the
        method.
    """
    client = parallel.current_client() if client is None else client
    days = as_days(np.atleast_1d(epochs))
    values = ds["displacement"].values
    if refit and resampler.learned:
        resampler.fit(ds["time"].values, values)
    # each chunk's set_series fits a copy of a resampler that is not learned
    chunks = [values[s] for s in parallel.chunk_slices(values.shape[0], parallel.POINT_CHUNK)]
    resampled = np.concatenate(parallel.map_chunks(_resample_chunk, chunks, client,
                                                   resampler=resampler, time=ds["time"].values,
                                                   days=days), axis=0)
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
