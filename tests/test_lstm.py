"""The LSTM resampler on tiny synthetic sets: reproducible, recurrent dropout, better than a mean."""

from __future__ import annotations

import numpy as np
import torch
from test_temporal import dates, irregular_days, landslide_series

from insarfusion.temporal import LinearResampler, LSTMResampler

torch.set_num_threads(1)


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
    # by default the network's own estimate, also on observed dates ...
    both = np.isfinite(values[1:, 0])
    assert not np.allclose(first[1:, 0][both], values[1:, 0][both])
    # ... with keep_observed, observed dates come back as observed
    kept = tiny_lstm(seed=1, keep_observed=True).fit(dates(days), values).predict(query)
    np.testing.assert_array_equal(kept[1:, 0][both], values[1:, 0][both])


def test_lstm_queries_between_dates_are_interpolated_between_own_estimates():
    """Dates between two of the fit's come linearly from the estimates on those two dates."""
    days = irregular_days(16)
    _, values = landslide_series(days, 12, seed=8)
    resampler = tiny_lstm(seed=0).fit(dates(days), values)
    own = resampler.predict(dates(days))
    middle = (days[3] + days[4]) // 2
    weight = (middle - days[3]) / (days[4] - days[3])
    between = resampler.predict(dates(np.array([days[3], middle, days[4]])))
    np.testing.assert_allclose(between[:, 1], (1 - weight) * own[:, 3] + weight * own[:, 4],
                               rtol=1e-12)
    # beyond the last date: along the series' fitted line from the last estimate
    after = resampler.predict(dates(np.array([days[-1], days[-1] + 100])))
    assert np.all(np.sign(after[:, 1] - after[:, 0]) == np.sign(values[:, -1] - values[:, 0]))


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
    assert resampler.history_["val_loss"][-1] < resampler.history_["val_loss"][0] * 1.5
    assert np.isfinite(resampler.test_rmse_mm_)


def test_lstm_history_and_best_epoch():
    days = irregular_days(15)
    _, values = landslide_series(days, 30, seed=7)
    resampler = tiny_lstm(epochs=3, seed=0).fit(dates(days), values)
    history = resampler.history_
    assert set(history) == {"train_loss", "val_loss", "best_epoch", "train_seconds"}
    assert len(history["train_loss"]) == len(history["val_loss"]) <= 3
    assert resampler.best_epoch_ == history["best_epoch"]
    assert history["val_loss"][resampler.best_epoch_] == min(history["val_loss"])
    assert history["train_seconds"] > 0
    assert LSTMResampler().device == "auto"


def test_lstm_runs_its_network_once_per_set_of_series(monkeypatch):
    """Predicting the same series again (the held-out epochs, then the truth's dates) reuses
    the estimates on the dates of the fit; new series (set_series) get their own."""
    resampler = tiny_lstm()
    days = irregular_days(12)
    _, values = landslide_series(days, 10, seed=5)
    resampler.fit(dates(days), values)
    passes = []
    network_pass = resampler._predict_queries
    monkeypatch.setattr(resampler, "_predict_queries",
                        lambda *a, **k: passes.append(1) or network_pass(*a, **k))
    first = resampler.predict(dates(days[:3]))
    np.testing.assert_array_equal(resampler.predict(dates(days[:3])), first)
    assert passes == []
    resampler.set_series(dates(days), values[:4])
    assert passes == [1] and resampler.predict(dates(days[:3])).shape == (4, 3)
    np.testing.assert_allclose(resampler.predict(dates(days[:3])), first[:4], rtol=1e-6)
