import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from insarfusion import conventions as cv

angles_inc = st.floats(min_value=1, max_value=89)
angles_head = st.floats(min_value=-180, max_value=180)


def test_eq2_known_answers():
    # ascending, heading -10 deg, incidence 40 deg
    assert cv.enu_to_los(10, 0, 0, 40, -10) == pytest.approx(-6.33, abs=0.005)
    assert cv.enu_to_los(0, 0, 10, 40, -10) == pytest.approx(7.66, abs=0.005)
    # north motion seen by an ascending track is slightly away from the satellite
    assert cv.enu_to_los(0, 10, 0, 40, -10) < 0


@given(angles_inc, angles_head)
def test_unit_vector_has_unit_length(inc, head):
    e, n, u = cv.los_unit_vector(inc, head)
    assert np.sqrt(e**2 + n**2 + u**2) == pytest.approx(1.0)
    assert u > 0  # the satellite is above


@given(angles_inc, angles_head)
def test_geometry_round_trip(inc, head):
    inc2, head2 = cv.geometry_from_los_vector(*cv.los_unit_vector(inc, head))
    assert inc2 == pytest.approx(inc, abs=1e-9)
    assert cv.wrap_angle(head2 - head) == pytest.approx(0, abs=1e-9)


@given(angles_inc, st.floats(min_value=-30, max_value=30))
def test_ascending_descending_symmetry(inc, head):
    """A descending track mirrors the east component and keeps the vertical one."""
    ea, na, ua = cv.los_unit_vector(inc, head)
    ed, nd, ud = cv.los_unit_vector(inc, 180 - head)
    assert ed == pytest.approx(-ea, abs=1e-12)
    assert nd == pytest.approx(na, abs=1e-12)
    assert ud == pytest.approx(ua)


@given(angles_head)
def test_mintpy_azimuth_angle_round_trip(head):
    az = cv.azimuth_angle_from_heading(head)
    assert cv.wrap_angle(cv.heading_from_azimuth_angle(az) - head) == pytest.approx(0, abs=1e-9)


def test_mintpy_unit_vector_agrees():
    """MintPy writes the LOS vector as [-sin t sin az, sin t cos az, cos t]."""
    inc, head = 39.0, -12.0
    az = np.deg2rad(cv.azimuth_angle_from_heading(head))
    t = np.deg2rad(inc)
    mintpy = np.array([-np.sin(t) * np.sin(az), np.sin(t) * np.cos(az), np.cos(t)])
    assert np.allclose(cv.los_unit_vector(inc, head), mintpy)


def test_projection_factor_forms():
    # same geometry: factor 1
    assert cv.projection_factor(40, -10, 40, -10, "vector") == pytest.approx(1)
    assert cv.projection_factor(40, -10, 40, -10, "paper") == pytest.approx(1)
    # paper eq. (1): 1/cos(a1 - a2)
    assert cv.projection_factor(30, -10, 43, -12, "paper") == pytest.approx(1 / np.cos(np.deg2rad(13)))
    # vector form for equal headings differs from the paper form only by heading terms
    assert cv.projection_factor(30, -10, 43, -10, "vector") == pytest.approx(
        1 / np.cos(np.deg2rad(13)))
    with pytest.raises(ValueError):
        cv.projection_factor(30, 0, 40, 0, "nope")


def test_decimal_years():
    yrs = cv.decimal_years(["2020-01-01", "2021-01-01"])
    assert yrs[1] == pytest.approx(366 / 365.25)
