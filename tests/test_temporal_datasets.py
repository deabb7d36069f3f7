"""The temporal stage over a run's datasets: side by side in workers or here, same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from test_temporal import dates, small_dataset

from insarfusion import torchutil
from insarfusion.temporal import RESAMPLER_CLASSES, dataset_processes, resample_datasets

TINY_LSTM = {"layers": 1, "units": 4, "epochs": 2, "batch_size": 8, "max_train_series": 20,
             "progress": False}


@pytest.fixture
def thread_limit():
    yield torchutil.set_thread_limit
    torchutil.set_thread_limit(None)


def two_datasets():
    first, _, _ = small_dataset(n_point=12, seed=0)
    second, _, _ = small_dataset(n_point=10, seed=1)
    return {"A": first, "B": second.assign_attrs(name="B")}


def test_datasets_side_by_side_only_for_a_learned_resampler_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torchutil, "available_cores", lambda: 4)
    assert dataset_processes("lstm", {"lstm": {"device": "cpu"}}) == 4
    assert dataset_processes("auto", {"lstm": {"device": "cpu", "n_threads": 2}}) == 2
    assert dataset_processes("linear") == 1
    assert dataset_processes("lstm", {"lstm": {"device": "cpu"}}, n_datasets=1) == 1
    assert dataset_processes("lstm", {"lstm": {"device": "cpu"}}, client=object()) == 1


def test_workers_give_the_numbers_of_this_process(monkeypatch, thread_limit):
    monkeypatch.setattr(torchutil, "available_cores", lambda: 2)
    datasets = two_datasets()
    epochs = dates(np.arange(12, 589, 12))
    params = {"lstm": TINY_LSTM | {"device": "cpu"}}
    runs = []
    for limit in (1, 2):  # one after the other here; then two workers
        thread_limit(limit)
        assert dataset_processes("lstm", params, n_datasets=2) == limit
        runs.append(resample_datasets(datasets, epochs, method="lstm", params=params, seed=3))
    (scores_here, chosen_here, here), (scores_there, chosen_there, there) = runs
    assert chosen_here == chosen_there == "lstm"
    assert scores_here == scores_there
    for name in datasets:
        assert there[name].attrs == here[name].attrs
        np.testing.assert_array_equal(there[name]["displacement"].values,
                                      here[name]["displacement"].values)
        np.testing.assert_array_equal(there[name]["time"].values, epochs)


def test_auto_chooses_over_all_datasets_and_resamples_each_with_it():
    datasets = two_datasets()
    epochs = dates(np.arange(12, 589, 12))
    scores, chosen, resampled = resample_datasets(datasets, epochs, method="auto",
                                                  params={"lstm": TINY_LSTM})
    assert set(scores) == {"A", "B"} and set(scores["A"]) == {"linear", "pchip", "lstm"}
    means = {m: np.mean([scores[d][m]["heldout_rmse_mm"] for d in scores]) for m in scores["A"]}
    assert chosen == min(means, key=means.get)
    for ds in resampled.values():
        assert ds["displacement"].attrs["resampler"] == RESAMPLER_CLASSES[chosen].__name__
        np.testing.assert_array_equal(ds["displacement"].values[:, 0], 0.0)
