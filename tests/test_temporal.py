"""Temporal resamplers: exact answers for the interpolators, the LSTM on tiny synthetic sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.interpolate import PchipInterpolator

from insarfusion.config import LSTMConfig, TemporalConfig
from insarfusion.dataset import point_dataset
from insarfusion.temporal import (
    LinearResampler,
    LSTMResampler,
    PchipResampler,
    choose_resampler,
    make_resampler,
    resample_dataset,
    score_resamplers,
)

torch.set_num_threads(1)

START = np.datetime64("2015-03-12")


def dates(days):
    return START + np.asarray(days).astype("timedelta64[D]")


def irregular_days(n, seed=0, span=700):
    rng = np.random.default_rng(seed)
    inner = np.sort(rng.choice(np.arange(1, span), size=n - 2, replace=False))
    return np.r_[0, inner, span]


def landslide_series(days, n_series, seed=0, noise_mm=1.0):
    """Trend + seasonal term + a smooth acceleration, mm."""
    rng = np.random.default_rng(seed)
    years = days / 365.25
    rate = rng.uniform(-30, 5, (n_series, 1))
    amplitude = rng.uniform(0, 6, (n_series, 1))
    phase = rng.uniform(0, 2 * np.pi, (n_series, 1))
    onset = rng.uniform(0.3, 0.7, (n_series, 1)) * years[-1]
    extra = rng.uniform(-25, 0, (n_series, 1))
    accel = extra * np.logaddexp(0, (years - onset) / 0.1) * 0.1
    clean = rate * years + amplitude * np.sin(2 * np.pi * years + phase) + accel
    return clean, clean + rng.normal(0, noise_mm, clean.shape)


# -- interpolators ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [LinearResampler, PchipResampler])
def test_straight_line_is_exact(cls):
    days = irregular_days(20)
    values = np.vstack([2.0 + 0.05 * days, -1.0 - 0.1 * days])
    query = np.arange(0, 701, 12)
    predicted = cls().fit(dates(days), values).predict(dates(query))
    np.testing.assert_allclose(predicted, np.vstack([2.0 + 0.05 * query, -1.0 - 0.1 * query]),
                               atol=1e-9)


def test_linear_bridges_a_gap_exactly():
    days = np.array([0, 10, 20, 30, 40])
    values = np.array([[0.0, np.nan, np.nan, 30.0, 40.0]])
    predicted = LinearResampler().fit(dates(days), values).predict(dates([5, 15, 25, 30, 35]))
    np.testing.assert_allclose(predicted, [[5.0, 15.0, 25.0, 30.0, 35.0]])


@pytest.mark.parametrize("cls", [LinearResampler, PchipResampler])
def test_outside_the_span(cls):
    days = np.array([0, 10, 20, 30])
    values = np.array([[np.nan, 10.0, 20.0, np.nan]])
    query = dates([0, 5, 25, 30])
    held = cls().fit(dates(days), values).predict(query)
    np.testing.assert_allclose(held, [[10.0, 10.0, 20.0, 20.0]])
    extended = cls(outside="linear").fit(dates(days), values).predict(query)
    np.testing.assert_allclose(extended, [[0.0, 5.0, 25.0, 30.0]])


@pytest.mark.parametrize("cls", [LinearResampler, PchipResampler])
def test_fewer_than_two_observations_give_nan(cls):
    days = np.array([0, 10, 20])
    values = np.array([[np.nan, 1.0, np.nan], [np.nan] * 3, [1.0, 2.0, np.nan]])
    predicted = cls().fit(dates(days), values).predict(dates([0, 5, 20]))
    assert np.isnan(predicted[:2]).all()
    assert np.isfinite(predicted[2]).all()


def gappy_batch(seed=1):
    days = irregular_days(30, seed=seed)
    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(0, 3, (40, days.size)), axis=1)
    values[rng.random(values.shape) < 0.25] = np.nan
    values[0, :5] = np.nan  # gap at the start
    values[1, -6:] = np.nan  # gap at the end
    values[2, 10:20] = np.nan  # long gap inside
    values[3, 1:-1] = np.nan  # only the ends
    values[3, [0, -1]] = [1.0, 5.0]
    return days, values


def test_linear_matches_per_series_interp_with_gaps():
    days, values = gappy_batch()
    query = np.arange(-20, 721, 7)
    predicted = LinearResampler().fit(dates(days), values).predict(dates(query))
    for row, series in zip(predicted, values, strict=True):
        ok = np.isfinite(series)
        np.testing.assert_allclose(row, np.interp(query, days[ok], series[ok]), atol=1e-9)


def test_pchip_matches_per_series_scipy_with_gaps():
    days, values = gappy_batch(seed=2)
    query = np.arange(-20, 721, 7)
    resampler = PchipResampler().fit(dates(days), values)
    predicted = resampler.predict(dates(query))
    assert resampler.n_patterns_ == len({tuple(np.isfinite(v)) for v in values})
    for row, series in zip(predicted, values, strict=True):
        ok = np.isfinite(series)
        inside = np.clip(query, days[ok][0], days[ok][-1])
        np.testing.assert_allclose(row, PchipInterpolator(days[ok], series[ok])(inside),
                                   atol=1e-9)


def test_pchip_preserves_a_step():
    days = np.arange(0, 120, 12)
    step = np.where(days < 50, 0.0, 10.0)[None, :]
    query = np.arange(0, 109)
    predicted = PchipResampler().fit(dates(days), step).predict(dates(query))[0]
    assert predicted.min() >= 0.0 and predicted.max() <= 10.0
    assert (np.diff(predicted) >= -1e-12).all()
    np.testing.assert_allclose(predicted[query <= 48], 0.0)
    np.testing.assert_allclose(predicted[query >= 60], 10.0)


def test_single_jump_does_not_overshoot():
    days = np.arange(0, 240, 12)
    series = -0.05 * days + np.where(days >= 120, -20.0, 0.0)
    query = np.arange(0, 229)
    for cls in (LinearResampler, PchipResampler):
        predicted = cls().fit(dates(days), series[None]).predict(dates(query))[0]
        # between two epochs the value stays between the two observations
        assert predicted.min() >= series.min() - 1e-9 and predicted.max() <= series.max() + 1e-9
        left = np.searchsorted(days, query, side="right") - 1
        right = np.minimum(left + 1, days.size - 1)
        low = np.minimum(series[left], series[right]) - 1e-9
        high = np.maximum(series[left], series[right]) + 1e-9
        assert ((predicted >= low) & (predicted <= high)).all(), cls.__name__


# -- datasets and scoring --------------------------------------------------------------------


def small_dataset(n_point=30, n_time=25, seed=0, noise_mm=1.0):
    days = irregular_days(n_time, seed=seed, span=600)
    clean, noisy = landslide_series(days, n_point, seed=seed, noise_mm=noise_mm)
    noisy[np.random.default_rng(seed).random(noisy.shape) < 0.1] = np.nan
    noisy[:, 0] = clean[:, 0]
    lon = -2.13 + 0.001 * np.arange(n_point)
    ds = point_dataset(noisy, dates(days), lon=lon, lat=np.full(n_point, 40.07), incidence=35.0,
                       heading=-170.0, name="csk", band="X", technique="PSI")
    return ds, days, clean


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
    config = TemporalConfig(lstm=LSTMConfig(layers=1, units=4, epochs=2, max_train_series=20))
    scores = score_resamplers(ds, methods=("linear", "pchip", "lstm"), holdout_fraction=0.2,
                              config=config, truth=truth)
    assert set(scores) == {"linear", "pchip", "lstm"}
    for score in scores.values():
        assert score["heldout_rmse_mm"] > 0 and np.isfinite(score["heldout_rmse_mm"])
        assert score["n_heldout"] > 0 and np.isfinite(score["truth_rmse_mm"])
    # noise of 1 mm: interpolators land near sqrt(1.5) mm, far below the series' spread
    assert scores["linear"]["heldout_rmse_mm"] < 3.0
    assert choose_resampler(scores) == min(scores, key=lambda m: scores[m]["heldout_rmse_mm"])
    assert choose_resampler({"a": {"heldout_rmse_mm": 2.0}, "b": {"heldout_rmse_mm": 1.0}}) == "b"


def test_make_resampler():
    assert isinstance(make_resampler("linear"), LinearResampler)
    assert isinstance(make_resampler("pchip"), PchipResampler)
    lstm = make_resampler("lstm", TemporalConfig(lstm=LSTMConfig(units=7)), seed=3)
    assert (lstm.units, lstm.layers, lstm.learning_rate, lstm.seed) == (7, 3, 0.008, 3)
    assert make_resampler("lstm").get_params()["recurrent_dropout"] == 0.2
    with pytest.raises(ValueError, match="auto"):
        make_resampler("auto")
    with pytest.raises(ValueError, match="unknown"):
        make_resampler("spline")


# -- LSTM ------------------------------------------------------------------------------------


def tiny_lstm(**kwargs):
    params = dict(layers=2, units=8, epochs=2, batch_size=8, max_train_series=40, progress=False,
                  n_threads=1)
    params.update(kwargs)
    return LSTMResampler(**params)


def test_lstm_runs_and_is_reproducible():
    days = irregular_days(20)
    _, values = landslide_series(days, 30, seed=4)
    values[np.random.default_rng(4).random(values.shape) < 0.1] = np.nan
    values[0, 1:] = np.nan  # a single observation: NaN out
    query = dates(np.arange(0, 701, 12))
    first = tiny_lstm(seed=1).fit(dates(days), values).predict(query)
    second = tiny_lstm(seed=1).fit(dates(days), values).predict(query)
    other = tiny_lstm(seed=2).fit(dates(days), values).predict(query)
    assert first.shape == (30, query.size)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first[1:], other[1:])
    assert np.isnan(first[0]).all() and np.isfinite(first[1:]).all()
    # observed dates come back as observed
    both = np.isfinite(values[1:, 0])
    np.testing.assert_array_equal(first[1:, 0][both], values[1:, 0][both])


def test_lstm_recurrent_dropout_only_in_training():
    resampler = tiny_lstm(recurrent_dropout=0.5, dropout=0.0)
    days = irregular_days(12)
    _, values = landslide_series(days, 10, seed=5)
    resampler.fit(dates(days), values)
    network = resampler.network_
    x = torch.randn(3, 12, 4)
    query = resampler._query_tensors(resampler.days_, "cpu")
    network.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(network(x, *query).numpy(), network(x, *query).numpy())
        network.train()
        torch.manual_seed(0)
        assert not torch.equal(network(x, *query), network(x, *query))
    network.eval()


def test_lstm_beats_series_mean_on_heldout_epochs():
    days = irregular_days(40, seed=6, span=1000)
    clean, noisy = landslide_series(days, 400, seed=6, noise_mm=1.0)
    hidden = np.zeros(days.size, dtype=bool)
    hidden[np.random.default_rng(6).choice(np.arange(1, days.size - 1), 6, replace=False)] = True
    train = noisy.copy()
    train[:, hidden] = np.nan
    resampler = tiny_lstm(layers=2, units=16, epochs=8, batch_size=32, max_train_series=400,
                          learning_rate=0.01, seed=0)
    predicted = resampler.fit(dates(days), train).predict(dates(days[hidden]))
    lstm_rmse = np.sqrt(np.mean((predicted - noisy[:, hidden]) ** 2))
    mean_rmse = np.sqrt(np.mean((np.nanmean(train, axis=1, keepdims=True) - noisy[:, hidden]) ** 2))
    linear = LinearResampler().fit(dates(days), train).predict(dates(days[hidden]))
    linear_rmse = np.sqrt(np.mean((linear - noisy[:, hidden]) ** 2))
    assert lstm_rmse < 0.15 * mean_rmse
    assert lstm_rmse < 2.0 * linear_rmse
    assert resampler.history_[-1]["val_loss"] < resampler.history_[0]["val_loss"] * 1.5
    assert np.isfinite(resampler.test_rmse_mm_)
