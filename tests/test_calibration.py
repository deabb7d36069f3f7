"""Calibrated std: known noise recovered, correlated errors in the velocity, the fallbacks."""

import logging

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from insarfusion import calibration
from insarfusion.model_selection import HeldOutResiduals
from insarfusion.series import linear_rate

EPOCHS = np.arange("2020-01-01", "2021-01-01", 12, dtype="datetime64[D]")


def epoch_cube(values, ny=4, nx=5):
    """A (time, y, x) cube whose every cell holds ``values`` (one per epoch)."""
    values = np.broadcast_to(np.asarray(values, float)[:, None, None], (values.size, ny, nx))
    return xr.DataArray(values.copy(), dims=("time", "y", "x"),
                        coords={"time": EPOCHS[:values.shape[0]].astype("datetime64[ns]"),
                                "y": np.arange(ny, 0, -1) * 10.0, "x": np.arange(nx) * 10.0})


def test_coverage_counts_within_k_std():
    error = np.array([0.5, -1.5, 2.5, np.nan])
    assert calibration.coverage(error, 1.0, 1) == pytest.approx(1 / 3)
    assert calibration.coverage(error, 1.0, 2) == pytest.approx(2 / 3)


def test_noise_variance_of_neighbouring_points_recovers_the_noise():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1000, (2, 3000))
    signal = 0.01 * x[:, None] * np.arange(4)        # smooth: a few mm over the area
    values = signal + rng.normal(0, 2.0, signal.shape)
    sd = np.sqrt(calibration.noise_variance(x, y, values))
    assert sd[1:] == pytest.approx(2.0, rel=0.1)


def test_known_noise_factor_recovered_and_two_sigma_coverage():
    """The method's std is a third of its real error, the held-out values have 1 mm noise."""
    rng = np.random.default_rng(1)
    n, t = 3000, EPOCHS.size
    raw = rng.uniform(0.5, 2.0, (n, 1)) * np.linspace(0.2, 1.0, t)  # grows with time
    true_sd = 3.0 * raw

    def draw():
        return rng.normal(0, true_sd) + rng.normal(0, 1.0, (n, t))

    cal = calibration.StdCalibrator().fit(draw(), raw, EPOCHS, noise_var=1.0)
    assert np.median(cal.factor_) == pytest.approx(3.0, rel=0.1)
    # a fresh error of the product (no noise) against the calibrated std
    error = rng.normal(0, true_sd)
    assert 0.90 <= calibration.coverage(error, cal.factor_ * raw, 2) <= 0.98
    assert cal.displacement_coverage_.after_2 == pytest.approx(calibration.QUANTILE, abs=0.02)
    assert cal.displacement_coverage_.before_2 < 0.5


def test_velocity_std_of_correlated_errors_matches_the_spread_of_fitted_velocities():
    """Random-walk errors: the white-noise slope std is far too small; the fitted one is not."""
    rng = np.random.default_rng(2)
    n, t = 3000, EPOCHS.size

    def walks():
        return np.cumsum(rng.normal(0, 1.0, (n, t)), axis=1)

    marginal = np.sqrt(np.arange(1, t + 1))[None, :] * np.ones((n, 1))  # true per-epoch sd
    cal = calibration.StdCalibrator().fit(walks(), marginal, EPOCHS)
    spatial = cal.factor_ * marginal
    white = calibration.white_velocity_std(spatial, EPOCHS)
    v_std = cal.velocity_factor_ * white
    fresh = linear_rate(EPOCHS, walks())
    assert cal.velocity_factor_ > 2.0                  # the white-noise slope std undershoots
    assert np.median(v_std) == pytest.approx(np.std(fresh), rel=0.1)
    assert 0.90 <= calibration.coverage(fresh, v_std, 2) <= 0.98


def test_scale_factor_is_zero_where_the_noise_explains_the_residuals():
    r = np.random.default_rng(3).normal(0, 1.0, 2000)
    assert calibration.scale_factor(r, np.ones_like(r), noise_var=4.0) == 0.0


def _residuals(rng, n=500, with_std=True):
    t = EPOCHS.size
    res = rng.normal(0, 2.0, (n, t)) * np.linspace(0, 1, t)
    return HeldOutResiduals(np.arange(n), res,
                            np.full((n, t), 0.5) * np.linspace(0, 1, t) if with_std else None)


def test_calibrate_products_own_and_borrowed_with_a_logged_fallback(caplog):
    rng = np.random.default_rng(4)
    ramp = np.linspace(0, 1, EPOCHS.size)
    stds = {"kriging": epoch_cube(0.5 * ramp), "synergic": epoch_cube(0.01 * ramp), "idw": None}
    velocity = {"kriging": np.zeros((4, 5)), "synergic": np.full((4, 5), 0.1)}
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        out = calibration.calibrate_products(
            stds, {"kriging": _residuals(rng)}, EPOCHS, velocity.get,
            tie_sigmas={"synergic": [1.0] * EPOCHS.size})
    assert set(out) == {"kriging", "synergic"}
    assert out["kriging"].summary["source"] == "own held-out blocks"
    assert out["synergic"].summary["source"].startswith("borrowed")
    assert "synergic was not scored on held-out blocks" in caplog.text
    # borrowed spatial std (kriging's, 4x its raw 0.5 mm at the end) plus the 1 mm tie; kriging
    # has no tie sigma and no station: its common mode is its median spatial std
    last = float(out["synergic"].std.isel(time=-1).median())
    spatial = float(out["kriging"].std.isel(time=-1).median()) / np.sqrt(2)
    assert spatial == pytest.approx(2.0, rel=0.15)
    assert last == pytest.approx(np.hypot(spatial, 1.0), rel=0.01)
    assert out["synergic"].std_raw.isel(time=-1).median() == pytest.approx(0.01)
    assert out["synergic"].attrs()["std_calibration_source"].startswith("borrowed")
    assert float(out["synergic"].velocity_std.median()) > float(
        out["synergic"].velocity_std_raw.median())


def test_a_held_out_method_without_a_std_of_its_own_borrows_one():
    """The CNN with ``mc_samples: 0``, scored on held-out blocks: NaN std, no residual std."""
    rng = np.random.default_rng(5)
    ramp = np.linspace(0, 1, EPOCHS.size)
    stds = {"kriging": epoch_cube(0.5 * ramp), "synergic": epoch_cube(np.full(EPOCHS.size, np.nan))}
    velocity = {"kriging": np.zeros((4, 5)), "synergic": np.full((4, 5), 0.1)}
    out = calibration.calibrate_products(
        stds, {"kriging": _residuals(rng), "synergic": _residuals(rng, with_std=False)},
        EPOCHS, velocity.get)
    assert out["synergic"].summary["source"].startswith("borrowed: calibrated spatial std of "
                                                        "kriging")
    assert np.isfinite(out["synergic"].std.isel(time=slice(1, None))).all()
    assert not out["synergic"].own_std and out["kriging"].own_std
    assert float(out["synergic"].std.isel(time=-1).median()) == pytest.approx(
        float(out["kriging"].std.isel(time=-1).median()))


def test_nothing_held_out_keeps_the_raw_std_and_says_so(caplog):
    stds = {"synergic": epoch_cube(np.linspace(0, 1, EPOCHS.size))}
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        out = calibration.calibrate_products(stds, {}, EPOCHS, lambda m: np.zeros((4, 5)))
    assert out["synergic"].summary["method"] == "none"
    assert "not calibrated" in caplog.text


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 400), with_noise=st.booleans())
def test_scale_factor_puts_the_quantile_at_k(seed, n, with_noise):
    """The factor is the smallest that puts the 95.45 % quantile of the z-scores within k."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0, rng.uniform(0.1, 10), n)
    r[rng.random(n) < 0.05] = 0.0
    s = rng.uniform(0.1, 3, n)
    noise = rng.uniform(0, 4, n) if with_noise else 0.0
    a = calibration.scale_factor(r, s, noise_var=noise)

    def spread(factor):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(r != 0, np.abs(r) / np.sqrt((factor * s) ** 2 + noise), 0.0)
        return np.quantile(z, calibration.QUANTILE, method="higher")

    assert spread(a) <= calibration.K * (1 + 1e-9)
    if a > 0:
        assert spread(a * (1 - 1e-6)) > calibration.K
