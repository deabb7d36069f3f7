"""GNSS screening: a 1 km spike and a 20 mm step are found, logged, and leave no trace."""

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insarfusion.dataset import gnss_dataset
from insarfusion.errors import InputError
from insarfusion.gnss_screening import read_ngl_steps, screen_gnss
from insarfusion.metrics import timeseries_rmse
from insarfusion.series import linear_rate

START = np.datetime64("2016-01-01")
N_DAYS = 3 * 365
NOISE_MM = (1.5, 1.5, 4.0)
RATES = np.array([[5.0, -3.0, 0.0], [12.0, 2.0, -40.0], [0.0, 0.0, 1.0]])  # station × ENU
NAMES = ["M01", "M09", "M17"]


def series(seed=0):
    """Daily true and noisy ENU positions (component, station, time), mm from the first day."""
    rng = np.random.default_rng(seed)
    years = np.arange(N_DAYS) / 365.25
    truth = RATES.T[:, :, None] * years + 2.0 * np.sin(2 * np.pi * years)
    noisy = truth + np.asarray(NOISE_MM)[:, None, None] * rng.standard_normal(truth.shape)
    noisy -= noisy[:, :, :1]
    truth -= truth[:, :, :1]
    return START + np.arange(N_DAYS).astype("timedelta64[D]"), truth, noisy


def station_set(time, enu, sigma=None):
    return gnss_dataset(*enu, time, stations=NAMES, x=[0.0, 500.0, 900.0],
                        y=[0.0, 300.0, 800.0], crs="EPSG:32717",
                        sigma_east=sigma, sigma_north=sigma, sigma_up=sigma, source="test")


def scores(ds, time, truth):
    """Per station and component: velocity (mm/yr) and RMSE against the truth (mm)."""
    out = []
    for c, comp in enumerate(("east", "north", "up")):
        values = ds[comp].values
        out.append(np.stack([linear_rate(time, values),
                             timeseries_rmse(values, truth[c])]))
    return np.stack(out)


def test_a_1_km_spike_is_removed_and_the_scores_are_those_without_it(caplog):
    time, truth, clean = series()
    spiked = clean.copy()
    spiked[2, 1, 400] += 1.0e6          # one tenv3 epoch of M09 is 1 km high
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        screened, report = screen_gnss(station_set(time, spiked, sigma=2.0))
    # the spike itself is removed, in all three components of that epoch
    assert bool(report.removed.sel(station="M09").isel(time=400))
    assert np.isnan(screened["east"].values[1, 400]) and np.isnan(screened["up"].values[1, 400])
    assert np.isnan(screened["sigma_up"].values[1, 400])
    row = report.for_station("M09")
    spike = row[(row["kind"] == "outlier") & (row["time"] == time[400])]
    assert list(spike["component"]) == ["up"] and spike["size_mm"].iloc[0] > 9.9e5
    assert any("GNSS station M09" in r.getMessage() and "2017-02-04 up" in r.getMessage()
               for r in caplog.records)
    # the scores: unusable with the spike, equal to those without it once screened
    raw = scores(station_set(time, spiked), time, truth)
    without = scores(station_set(time, clean), time, truth)
    after = scores(screened, time, truth)
    assert abs(raw[2, 0, 1] - without[2, 0, 1]) > 100.0
    np.testing.assert_allclose(after, without, atol=0.05)     # mm/yr and mm
    # nothing else in the data was taken for an outlier or a step (0.1 % false alarms)
    assert int(report.removed.sum()) <= 1 + 0.001 * 3 * N_DAYS
    assert (report.flags["kind"] == "outlier").sum() <= 1 + 0.001 * 3 * N_DAYS
    assert not (report.flags["kind"] == "step").any()
    assert screened.attrs["screened_outliers"] == int(report.removed.sum())


def test_a_20_mm_step_is_detected_and_corrected():
    time, truth, clean = series(1)
    stepped = clean.copy()
    stepped[0, 1, 500:] += 20.0         # antenna change at M09: east jumps by 20 mm
    screened, report = screen_gnss(station_set(time, stepped))
    steps = report.flags[report.flags["kind"] == "step"]
    assert len(steps) == 1
    step = steps.iloc[0]
    assert (step["station"], step["component"], step["action"]) == ("M09", "east", "corrected")
    assert abs((np.datetime64(step["time"], "D") - time[500]).astype(int)) <= 1
    assert step["size_mm"] == pytest.approx(20.0, abs=1.5)
    # the series before the step is untouched, the one after is back on its line
    np.testing.assert_allclose(screened["east"].values[1, :500], stepped[0, 1, :500])
    v_clean = linear_rate(time, clean[0, 1])
    v_stepped = linear_rate(time, stepped[0, 1])
    v_screened = linear_rate(time, screened["east"].values[1])
    assert abs(v_stepped - v_clean) > 5.0
    assert abs(v_screened - v_clean) < 0.5
    assert report.summary()["M09"]["steps"][0]["component"] == "east"


def test_a_step_inside_a_gap_is_placed_after_it_and_corrected():
    time, truth, clean = series(5)
    stepped = clean.copy()
    stepped[2, 2, 600:] -= 25.0         # up at M17 drops by 25 mm during a 40-day outage
    stepped[:, 2, 580:620] = np.nan
    screened, report = screen_gnss(station_set(time, stepped))
    steps = report.flags[report.flags["kind"] == "step"]
    assert len(steps) == 1
    assert np.datetime64(steps["time"].iloc[0], "D") == time[620]
    assert steps["size_mm"].iloc[0] == pytest.approx(-25.0, abs=3.0)
    v = linear_rate(time, screened["up"].values[2])
    assert abs(v - linear_rate(time, np.where(np.isnan(stepped[2, 2]), np.nan, clean[2, 2]))) < 1.0


def test_given_step_dates_are_corrected_whatever_their_size(tmp_path):
    time, truth, clean = series(2)
    stepped = clean.copy()
    stepped[:, 0, 700:] += np.array([3.0, -2.0, 4.0])[:, None]   # too small to be detected
    path = tmp_path / "steps.txt"
    path.write_text("M01  17DEC01  1  TRM57971.00     NONE\n"
                    "ZZZZ  10JAN01  2  0.57  72.5  6.4  usc000abcd\n")
    dates = read_ngl_steps(path, stations=NAMES)
    assert list(dates) == ["M01"] and dates["M01"][0] == np.datetime64("2017-12-01")
    assert time[700] == np.datetime64("2017-12-01")
    screened, report = screen_gnss(station_set(time, stepped), step_dates=dates)
    given_rows = report.flags[report.flags["source"] == "given"]
    assert sorted(given_rows["component"]) == ["east", "north", "up"]
    for c, comp in enumerate(("east", "north", "up")):
        v = linear_rate(time, screened[comp].values[0])
        assert abs(v - linear_rate(time, clean[c, 0])) < 0.3


@settings(max_examples=6, deadline=None)
@given(day=st.integers(1, N_DAYS - 1), component=st.integers(0, 2), station=st.integers(0, 2),
       size=st.sampled_from([-1.0e6, -5.0e4, 200.0, 1.0e6]))
def test_any_gross_outlier_is_removed(day, component, station, size):
    time, truth, clean = series(3)
    spiked = clean.copy()
    spiked[component, station, day] += size
    screened, report = screen_gnss(station_set(time, spiked))
    assert bool(report.removed.values[station, day])
    finite = np.isfinite(screened["east"].values)
    assert (np.abs(screened["up"].values[finite]) < 200).all()


def test_a_removed_first_epoch_leaves_series_relative_to_the_new_first():
    time, truth, clean = series(4)
    spiked = clean.copy()
    spiked[0, 2, 0] += 1.0e6
    spiked[1, 0, :] = np.nan            # and a station without any north position
    screened, report = screen_gnss(station_set(time, spiked))
    assert np.isnan(screened["north"].values[0]).all()
    assert bool(report.removed.values[2, 0])
    assert screened["east"].values[2, 1] == 0.0
    assert screened["up"].values[2, 1] == 0.0
    np.testing.assert_allclose(screened["east"].values[2, 2:],
                               clean[0, 2, 2:] - clean[0, 2, 1])


def test_bad_input_is_a_one_line_error(tmp_path):
    time, truth, clean = series()
    with pytest.raises(InputError, match="window_days"):
        screen_gnss(station_set(time, clean), window_days=0)
    with pytest.raises(InputError, match="no up"):
        screen_gnss(station_set(time, clean).drop_vars("up"))
    bad = tmp_path / "steps.txt"
    bad.write_text("M01  2017-12-01  1\n")
    with pytest.raises(InputError, match="line 1"):
        read_ngl_steps(bad)


def test_the_run_screens_as_configured(tmp_path):
    """``gnss.screening``: a spike removed and reported for validation.json, steps from the
    configured file, nothing done when disabled."""
    from insarfusion.config import GnssScreeningConfig
    from insarfusion.gnss_screening import screen_for_run

    time, _, clean = series(3)
    spiked = clean.copy()
    spiked[2, 1, 400] += 1.0e6
    path = tmp_path / "steps.txt"
    path.write_text("M01  17DEC01  1  TRM57971.00     NONE\n")
    cleaned, section = screen_for_run(station_set(time, spiked),
                                      GnssScreeningConfig(steps_file=path))
    assert section["enabled"] and section["outlier_epochs"] >= 1
    assert section["stations"]["M09"]["outlier_epochs"] >= 1
    assert [s["date"] for s in section["stations"]["M01"]["steps"]] == ["2017-12-01"] * 3
    assert np.isnan(cleaned["up"].values[1, 400])
    same, off = screen_for_run(station_set(time, spiked), GnssScreeningConfig(enabled=False))
    assert off == {"enabled": False} and same["up"].values[1, 400] > 1e5
