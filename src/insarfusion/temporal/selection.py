"""Choosing the temporal resampler: held-out epochs, the same split for every method.

A share of the interior observed epochs is hidden from every series
(:class:`~insarfusion.model_selection.EpochHoldout`); each method is fitted on the rest and
predicts the hidden epochs (:func:`~insarfusion.model_selection.cross_val_score`). With
``method: auto`` the method with the lowest mean held-out RMSE over the datasets is used, and
the resampler fitted for the score is the one that then resamples the complete series.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..conventions import as_days
from ..log import logger
from ..metrics import rmse
from ..model_selection import EpochHoldout, cross_val_score
from .resampling import RESAMPLERS, make_resampler, rezero_series


def resamplers_to_score(method) -> tuple:
    """The methods to score for a configured ``method``.

    Parameters
    ----------
    method : {"auto", "linear", "pchip", "lstm"}
        The configured method.

    Returns
    -------
    tuple of str
        Every resampler for ``"auto"``; else the two interpolators (the baselines the report
        compares with) and ``method``.
    """
    if method == "auto":
        return RESAMPLERS
    if method not in RESAMPLERS:
        raise ValueError(f"unknown temporal resampler {method!r}; expected 'auto' or one of "
                         f"{RESAMPLERS}")
    return tuple(dict.fromkeys(("linear", "pchip", method)))


def _truth_on_points(ds, truth):
    """Days and re-zeroed values (mm) of the true series of ``ds``'s points."""
    if "point" in truth.coords and "point" in ds.coords:
        truth = truth.sel(point=ds["point"].values)
    return as_days(truth["time"].values), rezero_series(truth.transpose("point", "time").values)


def score_resamplers(ds: xr.Dataset, methods=RESAMPLERS, holdout_fraction=0.1, seed=0,
                     params=None, truth=None, return_fitted=False):
    """Held-out error of each resampler on one point dataset (same split for all).

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset.
    methods : sequence of str
        Names for :func:`~insarfusion.temporal.resampling.make_resampler`.
    holdout_fraction : float
        Share of epochs hidden (:class:`~insarfusion.model_selection.EpochHoldout`).
    seed : int
        Seed of the split and of the LSTM.
    params : dict, optional
        ``{method: {parameter: value}}``: parameters of the estimators by their own names
        (e.g. ``{"lstm": {"units": 16}}``); defaults for the rest.
    truth : xarray.DataArray (point, time), optional
        True displacement (mm) on the target epochs. The resampler fitted without the hidden
        epochs predicts those epochs and both are made relative to the first truth epoch
        before comparing (the reference is not something a resampler can know).
    return_fitted : bool
        Also return the resamplers fitted without the hidden epochs, ``{method: resampler}``.

    Returns
    -------
    dict
        ``{method: {"heldout_rmse_mm": float, "n_heldout": int[, "truth_rmse_mm": float,
        "truth_pattern_rmse_mm": float]}}``; the pattern RMSE leaves out each epoch's mean
        error over the points, a common offset that the datum tie takes out;
        the RMSE (mm) is over every hidden (series, epoch) value that was observed. With
        ``return_fitted``, the pair ``(scores, fitted)``.
    """
    time = ds["time"].values
    values = ds["displacement"].values
    cv = EpochHoldout(fraction=holdout_fraction, seed=seed)
    truth_days, truth_values = (None, None) if truth is None else _truth_on_points(ds, truth)
    scores, fitted = {}, {}
    for method in methods:
        estimator = make_resampler(method, (params or {}).get(method), seed)
        result = cross_val_score(estimator, time, values, cv)
        fitted[method] = resampler = result.fitted[0]
        score = {"heldout_rmse_mm": result.rmse, "n_heldout": result.n_predicted}
        if truth_values is not None:
            diff = rezero_series(resampler.predict(truth_days)) - truth_values
            score["truth_rmse_mm"] = rmse(diff[np.isfinite(diff)])
            # without each epoch's mean error over the points: the part the datum tie and
            # the atmospheric filter cannot take out
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                pattern = diff - np.nanmean(diff, axis=0, keepdims=True)
            score["truth_pattern_rmse_mm"] = rmse(pattern[np.isfinite(pattern)])
        scores[method] = score
        logger.info("%s: temporal resampler %s, held-out RMSE %.2f mm on %d values%s",
                    ds.attrs.get("name", "dataset"), method, score["heldout_rmse_mm"],
                    score["n_heldout"],
                    f", truth RMSE {score['truth_rmse_mm']:.2f} mm (pattern "
                    f"{score['truth_pattern_rmse_mm']:.2f} mm)" if "truth_rmse_mm" in score
                    else "")
    return (scores, fitted) if return_fitted else scores


def mean_heldout_rmse(scores_by_dataset: dict) -> dict:
    """Mean over the datasets of each method's held-out RMSE, mm.

    Parameters
    ----------
    scores_by_dataset : dict
        ``{dataset: {method: scores}}``, the scores from :func:`score_resamplers`.

    Returns
    -------
    dict
        ``{method: float}``, methods in the order they first appear.
    """
    methods = dict.fromkeys(m for scores in scores_by_dataset.values() for m in scores)
    return {m: float(np.mean([scores[m]["heldout_rmse_mm"]
                              for scores in scores_by_dataset.values()]))
            for m in methods}


def choose_resampler(scores_by_dataset: dict, method="auto") -> str:
    """The resampler to use: ``method``, or for ``"auto"`` the lowest mean held-out RMSE.

    Parameters
    ----------
    scores_by_dataset : dict
        ``{dataset: {method: scores}}``, the scores from :func:`score_resamplers` of every
        dataset; a method's score is the mean of its held-out RMSEs over the datasets.
    method : str
        The configured method; anything but ``"auto"`` is returned as it is.

    Returns
    -------
    str
    """
    if method != "auto":
        return method
    totals = mean_heldout_rmse(scores_by_dataset)
    finite = {m: v for m, v in totals.items() if np.isfinite(v)}
    if not finite:
        raise ValueError("no resampler has a finite held-out score")
    best = min(finite, key=finite.get)
    logger.info("temporal resampler chosen by mean held-out RMSE over %d datasets: %s (%s)",
                len(scores_by_dataset), best, {k: round(v, 3) for k, v in totals.items()})
    return best
