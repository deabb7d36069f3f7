"""Known answers from the paper's Tables 4–6 and properties of the metrics."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from insarfusion.metrics import (
    cross_correlation,
    improvement_pct,
    rmse,
    rounded,
    timeseries_rmse,
    velocity_rmse,
)

# Table 4: station velocities (mm/yr) for M09, M10, M15, M17, M18, M19, M20, M22, M23
CSK = [-4, -4, -2, -8, -9, -4, -7, -6, -11]
S1A = [-5, -10, -15, -2, -5, -3, -4, -5, -6]
SYNERGIC = [-6, -13, -17, -4, -7, -5, -7, -3, -9]
GPS = [-6, -12, -17, -5, -6, -4, -6, -2, -10]


def test_table4_velocity_rmse():
    assert velocity_rmse(CSK, GPS) == pytest.approx(6.05, abs=0.005)
    assert velocity_rmse(S1A, GPS) == pytest.approx(2.33, abs=0.005)
    assert velocity_rmse(SYNERGIC, GPS) == pytest.approx(0.88, abs=0.005)


def test_section54_improvements():
    # the paper computes them from its rounded RMSEs
    assert improvement_pct(2.33, 0.88) == pytest.approx(62.23, abs=0.01)
    assert improvement_pct(6.05, 0.88) == pytest.approx(85.5, abs=0.06)
    # from the unrounded station values
    syn = velocity_rmse(SYNERGIC, GPS)
    assert improvement_pct(velocity_rmse(S1A, GPS), syn) == pytest.approx(62.2, abs=0.05)


def test_table5_and_6_mean_rows():
    t5_csk = [97.98, 99.10, 99.86, 98.57, 98.81, 97.34, 98.43, 71.40, 99.24]
    t6_syn = [0.40, 0.94, 0.47, 0.88, 0.93, 0.90, 0.79, 0.77, 0.88]
    assert np.mean(t5_csk) == pytest.approx(95.64, abs=0.005)
    assert np.mean(t6_syn) == pytest.approx(0.77, abs=0.005)


def test_timeseries_rmse_ignores_offset_when_asked():
    t = np.arange(50.0)
    gnss = -0.1 * t
    series = gnss + 3.0 + np.where(t % 2 == 0, 1.0, -1.0)
    assert timeseries_rmse(series, gnss) == pytest.approx(1.0)
    assert timeseries_rmse(series, gnss, remove_mean=False) == pytest.approx(np.sqrt(10.0))


def test_nan_epochs_are_skipped():
    a = np.array([0.0, 1.0, np.nan, 3.0])
    b = np.array([0.0, 1.0, 2.0, np.nan])
    assert timeseries_rmse(a, b) == pytest.approx(0.0)
    assert np.isnan(rmse([np.nan, np.nan]))


def test_cross_correlation_values():
    t = np.linspace(0, 1, 40)
    assert cross_correlation(t, 2 * t + 5) == pytest.approx(100.0)
    assert cross_correlation(t, -t) == pytest.approx(-100.0)
    rows = cross_correlation(np.vstack([t, -t]), np.vstack([t, t]))
    assert np.allclose(rows, [100.0, -100.0])


@given(arrays(float, 30, elements=st.floats(-100, 100)), st.floats(-50, 50))
def test_rmse_properties(x, offset):
    y = x + offset
    assert timeseries_rmse(y, x) == pytest.approx(0.0, abs=1e-6)
    assert timeseries_rmse(y, x, remove_mean=False) == pytest.approx(abs(offset), abs=1e-6)


def test_rounded_is_json_friendly():
    assert rounded(np.float64(2.34567)) == 2.346 and type(rounded(np.float32(1.5))) is float
    assert rounded(2.34567, 1) == 2.3
    assert rounded(np.nan) is None and rounded(None) is None and rounded(np.inf) is None
