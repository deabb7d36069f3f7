"""The interpolating resamplers: exact answers; and the small synthetic sets other tests use."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from insarfusion.dataset import point_dataset
from insarfusion.temporal import LinearResampler, PchipResampler

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


# -- a small point dataset (also used by test_resampling, test_lstm, test_parallel) -------


def small_dataset(n_point=30, n_time=25, seed=0, noise_mm=1.0):
    days = irregular_days(n_time, seed=seed, span=600)
    clean, noisy = landslide_series(days, n_point, seed=seed, noise_mm=noise_mm)
    noisy[np.random.default_rng(seed).random(noisy.shape) < 0.1] = np.nan
    noisy[:, 0] = clean[:, 0]
    lon = -2.13 + 0.001 * np.arange(n_point)
    ds = point_dataset(noisy, dates(days), lon=lon, lat=np.full(n_point, 40.07), incidence=35.0,
                       heading=-170.0, name="csk", band="X", technique="PSI")
    return ds, days, clean
