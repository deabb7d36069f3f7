"""The temporal stage on every dataset of a run: score, choose, resample, datasets side by side.

Each dataset is scored and resampled on its own (:func:`score_and_resample`); only the choice
of the method (``method: auto``) looks at all of them. With a learned resampler, whose
training keeps one core busy for most of the stage, the datasets run side by side in worker
processes, as many as the cores the torch threads may use allow
(:func:`insarfusion.parallel.map_processes`): on two cores the stage takes the time of its
longest dataset instead of the sum. Every dataset's numbers are the same either way.
"""

from __future__ import annotations

import functools

from .. import parallel
from ..torchutil import default_threads, resolve_device
from .lstm import LSTM_THREADS
from .resampling import resample_dataset
from .selection import choose_resampler, resamplers_to_score, score_resamplers


def score_and_resample(job, epochs, method="lstm", holdout_fraction=0.1, seed=0,
                       params=None):
    """Score the candidate resamplers on one dataset and resample it with those it may use.

    Parameters
    ----------
    job : tuple (xarray.Dataset, xarray.DataArray or None)
        The point dataset and, on a simulated case, its true series on the target epochs
        (see :func:`~insarfusion.temporal.selection.score_resamplers`).
    epochs : array_like of dates
        Target epochs.
    method, holdout_fraction, seed, params
        As for :func:`resample_datasets`.

    Returns
    -------
    scores : dict
        ``{method: scores}`` (:func:`~insarfusion.temporal.selection.score_resamplers`).
    resampled : dict
        ``{method: xarray.Dataset}`` on ``epochs``, re-zeroed at the first: ``method`` itself,
        or every candidate for ``"auto"`` (the choice needs the other datasets' scores). The
        resampler fitted for the score resamples the complete series: a learned one is
        trained once.
    """
    ds, truth = job
    methods = resamplers_to_score(method)
    scores, fitted = score_resamplers(ds, methods=methods, holdout_fraction=holdout_fraction,
                                      seed=seed, params=params, truth=truth,
                                      return_fitted=True)
    usable = methods if method == "auto" else (method,)
    return scores, {m: resample_dataset(ds, epochs, fitted[m], rezero=True, refit=False)
                    for m in usable}


def dataset_processes(method="lstm", params=None, client=None, n_datasets=2) -> int:
    """How many datasets the temporal stage resamples at once.

    Side by side only where it pays and keeps the numbers: a learned resampler among the
    candidates, on the CPU (one GPU is not shared between processes), without a Dask client
    (which spreads the chunks itself); as many as the torch threads of
    :func:`~insarfusion.torchutil.default_threads` (the cores, at most four, held to
    ``--threads``) allow at the LSTM's threads each.
    """
    lstm = dict((params or {}).get("lstm") or {})
    if client is not None or "lstm" not in resamplers_to_score(method) or n_datasets < 2:
        return 1
    if resolve_device(lstm.get("device", "auto")).type != "cpu":
        return 1
    return max(1, default_threads() // (lstm.get("n_threads") or LSTM_THREADS))


def resample_datasets(datasets: dict, epochs, method="lstm", holdout_fraction=0.1, seed=0,
                      params=None, truths=None):
    """Every dataset scored and resampled onto ``epochs`` with one chosen method.

    With the Dask client of an enclosing :func:`insarfusion.parallel.execution` the datasets
    run one after the other here and the chunks of their resampling on the cluster.

    Parameters
    ----------
    datasets : dict
        ``{name: xarray.Dataset}`` point datasets.
    epochs : array_like of dates
        Target epochs (e.g. the common 12-day grid).
    method : {"auto", "linear", "pchip", "lstm"}
        The configured resampler; ``"auto"``: the lowest mean held-out RMSE over the
        datasets (:func:`~insarfusion.temporal.selection.choose_resampler`).
    holdout_fraction : float
        Share of epochs hidden for the scores.
    seed : int
        Seed of the split and of the LSTM.
    params : dict, optional
        ``{method: {parameter: value}}`` for the estimators.
    truths : dict, optional
        ``{name: xarray.DataArray}``, true series on ``epochs`` of simulated datasets.

    Returns
    -------
    scores : dict
        ``{name: {method: scores}}``.
    chosen : str
        The method used.
    resampled : dict
        ``{name: xarray.Dataset}`` on ``epochs``, re-zeroed at the first.
    """
    truths = truths or {}
    work = functools.partial(score_and_resample, epochs=epochs, method=method,
                             holdout_fraction=holdout_fraction, seed=seed, params=params)
    # truths are read now: a worker gets values, not an open file
    jobs = [(ds, None if truths.get(name) is None else truths[name].load())
            for name, ds in datasets.items()]
    n_processes = dataset_processes(method, params, parallel.current_client(), len(jobs))
    results = parallel.map_processes(work, jobs, n_processes, labels=list(datasets))
    scores = {name: result[0] for name, result in zip(datasets, results, strict=True)}
    chosen = choose_resampler(scores, method)
    return scores, chosen, {name: resampled[chosen]
                            for name, (_, resampled) in zip(datasets, results, strict=True)}
