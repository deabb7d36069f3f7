"""Resamplers by name, resampling a point dataset, and the held-out choice of the resampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from test_temporal import dates, small_dataset

from insarfusion.errors import InputError
from insarfusion.model_selection import EpochHoldout, cross_val_score
from insarfusion.temporal import (
    LinearResampler,
    LSTMResampler,
    PchipResampler,
    choose_resampler,
    make_resampler,
    mean_heldout_rmse,
    resample_dataset,
    resamplers_to_score,
    score_resamplers,
)

torch.set_num_threads(1)

TINY_LSTM = {"layers": 1, "units": 4, "epochs": 2, "max_train_series": 20, "progress": False,
             "n_threads": 1}


def test_resample_dataset_rezero_and_metadata():
    ds, days, _ = small_dataset()
    epochs = dates(np.arange(12, 589, 12))
    out = resample_dataset(ds, epochs, LinearResampler())
    assert out["displacement"].dims == ("point", "time")
    np.testing.assert_array_equal(out["time"].values, epochs.astype("datetime64[ns]"))
    np.testing.assert_allclose(out["displacement"].values[:, 0], 0.0)
    assert out.attrs == ds.attrs
    np.testing.assert_array_equal(out["lon"].values, ds["lon"].values)
    np.testing.assert_array_equal(out["velocity"].values, ds["velocity"].values)
    raw = resample_dataset(ds, epochs, LinearResampler(), rezero=False)
    expected = LinearResampler().fit(ds["time"].values, ds["displacement"].values).predict(epochs)
    np.testing.assert_allclose(raw["displacement"].values, expected)
    np.testing.assert_allclose(out["displacement"].values, expected - expected[:, :1])


def test_score_resamplers_shape_and_choice():
    ds, days, clean = small_dataset(n_point=40)
    epochs = np.arange(0, 601, 12)
    truth_values = np.array([np.interp(epochs, days, c) for c in clean])
    truth = xr.DataArray(truth_values, dims=("point", "time"),
                         coords={"point": ds["point"].values, "time": dates(epochs)})
    scores, fitted = score_resamplers(ds, methods=("linear", "pchip", "lstm"),
                                      holdout_fraction=0.2, params={"lstm": TINY_LSTM},
                                      truth=truth, return_fitted=True)
    assert set(scores) == set(fitted) == {"linear", "pchip", "lstm"}
    for score in scores.values():
        assert score["heldout_rmse_mm"] > 0 and np.isfinite(score["heldout_rmse_mm"])
        assert score["n_heldout"] > 0 and np.isfinite(score["truth_rmse_mm"])
    assert fitted["lstm"].units == 4 and fitted["lstm"].epochs == 2
    # noise of 1 mm: interpolators land near sqrt(1.5) mm, far below the series' spread
    assert scores["linear"]["heldout_rmse_mm"] < 3.0
    assert choose_resampler({"csk": scores}) == min(scores,
                                                    key=lambda m: scores[m]["heldout_rmse_mm"])


def test_score_resamplers_is_cross_val_score_with_epoch_holdout():
    ds, _, _ = small_dataset(n_point=30)
    time, values = ds["time"].values, ds["displacement"].values
    scores, fitted = score_resamplers(ds, methods=("pchip",), holdout_fraction=0.2, seed=4,
                                      return_fitted=True)
    result = cross_val_score(PchipResampler(), time, values, EpochHoldout(0.2, seed=4))
    assert scores["pchip"] == {"heldout_rmse_mm": result.rmse, "n_heldout": result.n_predicted}
    np.testing.assert_array_equal(fitted["pchip"].predict(time), result.fitted[0].predict(time))


def test_choose_resampler_by_mean_over_datasets():
    scores = {"a": {"linear": {"heldout_rmse_mm": 1.0}, "lstm": {"heldout_rmse_mm": 3.0}},
              "b": {"linear": {"heldout_rmse_mm": 3.0}, "lstm": {"heldout_rmse_mm": 0.5}}}
    assert mean_heldout_rmse(scores) == {"linear": 2.0, "lstm": 1.75}
    assert choose_resampler(scores) == "lstm"
    assert choose_resampler(scores, method="linear") == "linear"
    scores["b"]["lstm"]["heldout_rmse_mm"] = np.nan  # no finite mean: not a candidate
    assert choose_resampler(scores) == "linear"
    with pytest.raises(ValueError, match="finite"):
        choose_resampler({"a": {"linear": {"heldout_rmse_mm": np.nan}}})


def test_resamplers_to_score():
    assert resamplers_to_score("auto") == ("linear", "pchip", "lstm")
    assert resamplers_to_score("lstm") == ("linear", "pchip", "lstm")
    assert resamplers_to_score("linear") == ("linear", "pchip")
    assert resamplers_to_score("pchip") == ("linear", "pchip")
    with pytest.raises(ValueError, match="unknown"):
        resamplers_to_score("spline")


def test_make_resampler():
    assert isinstance(make_resampler("linear"), LinearResampler)
    assert make_resampler("pchip", {"outside": "linear"}).outside == "linear"
    lstm = make_resampler("lstm", {"units": 7}, seed=3)
    assert isinstance(lstm, LSTMResampler)
    assert (lstm.units, lstm.layers, lstm.learning_rate, lstm.seed) == (7, 3, 0.008, 3)
    assert make_resampler("lstm", {"seed": 1}, seed=2).seed == 2  # the seed argument wins
    assert make_resampler("lstm").get_params()["recurrent_dropout"] == 0.2
    with pytest.raises(InputError, match="no parameter 'cells'"):
        make_resampler("lstm", {"cells": 7})
    with pytest.raises(ValueError, match="auto"):
        make_resampler("auto")
    with pytest.raises(ValueError, match="unknown"):
        make_resampler("spline")
