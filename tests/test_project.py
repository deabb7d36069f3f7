import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insarfusion import conventions as cv
from insarfusion.dataset import point_dataset
from insarfusion.errors import InputError
from insarfusion.project import primary_geometry_at, project_to_primary

CRS = "EPSG:32717"
TIME = np.datetime64("2018-01-01") + np.arange(0, 360, 12)


def _points(displacement, x, y, incidence, heading, name):
    return point_dataset(displacement, TIME, x=x, y=y, crs=CRS, incidence=incidence,
                         heading=heading, name=name)


def _landslide(n_point=300, seed=0):
    """Points moving north-east and down at up to 40 mm/yr, plus both geometries."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 2000, n_point)
    y = rng.uniform(0, 2000, n_point)
    years = cv.decimal_years(TIME)
    speed = 40.0 * np.exp(-((x - 1000) ** 2 + (y - 1000) ** 2) / 600.0**2)  # mm/yr
    azimuth = np.deg2rad(rng.normal(45.0, 10.0, n_point))  # direction of motion, from north
    dip = np.deg2rad(rng.normal(30.0, 5.0, n_point))  # downward plunge
    motion = speed[:, None] * years[None, :]
    east = motion * (np.cos(dip) * np.sin(azimuth))[:, None]
    north = motion * (np.cos(dip) * np.cos(azimuth))[:, None]
    up = -motion * np.sin(dip)[:, None]
    csk_inc = 30.0 + 0.5 * (x - 1000) / 1000  # slight range variation across the scene
    s1_inc = 41.0 + 0.5 * (x - 1000) / 1000
    return x, y, east, north, up, csk_inc, s1_inc


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def landslide_projection_rmse():
    """RMSE (mm) of both projections against the true primary-LOS displacement."""
    x, y, east, north, up, csk_inc, s1_inc = _landslide()
    csk = _points(cv.enu_to_los(east, north, up, csk_inc[:, None], -10.0), x, y, csk_inc, -10.0,
                  "CSK")
    s1_truth = cv.enu_to_los(east, north, up, s1_inc[:, None], -12.0)
    s1 = _points(s1_truth, x, y, s1_inc, -12.0, "S1A")
    out = {"unprojected": _rmse(csk["displacement"].values, s1_truth)}
    for method in ("paper", "vector"):
        projected = project_to_primary(csk, s1, method=method, k=1)
        out[method] = _rmse(projected["displacement"].values, s1_truth)
    return out


def test_landslide_field_both_forms_close_to_truth():
    rmse = landslide_projection_rmse()
    # both forms improve on using the CSK LOS as it is, and agree closely with each other
    assert rmse["vector"] < rmse["unprojected"]
    assert rmse["paper"] < rmse["unprojected"]
    assert abs(rmse["vector"] - rmse["paper"]) < 0.1


def test_motion_along_primary_los_is_recovered_exactly():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 500, 50), rng.uniform(0, 500, 50)
    los_truth = rng.normal(0, 10, (50, TIME.size))
    e, n, u = cv.los_unit_vector(41.0, -12.0)
    csk_los = los_truth * cv.enu_to_los(e, n, u, 30.0, -10.0)
    csk = _points(csk_los, x, y, 30.0, -10.0, "CSK")
    s1 = _points(np.zeros((50, TIME.size)), x, y, 41.0, -12.0, "S1A")
    out = project_to_primary(csk, s1, method="vector")
    np.testing.assert_allclose(out["displacement"].values, los_truth, atol=1e-9)
    np.testing.assert_allclose(out["incidence"].values, 41.0)
    np.testing.assert_allclose(out["heading"].values, -12.0)
    np.testing.assert_allclose(out["source_incidence"].values, 30.0)
    assert out.attrs["projection_method"] == "vector" and out.attrs["projected_onto"] == "S1A"
    assert out.attrs["source_heading_mean"] == pytest.approx(-10.0)
    np.testing.assert_allclose(out["velocity"].values,
                               csk["velocity"].values * out["projection_factor"].values)
    # the paper's form ignores the 2 degree heading difference: close, not exact
    paper = project_to_primary(csk, s1, method="paper")
    assert np.abs(paper["displacement"].values - los_truth).max() < 0.01 * np.abs(los_truth).max()
    assert project_to_primary(s1, s1) is s1
    assert project_to_primary(s1.copy(deep=True), s1).identical(s1)


def test_primary_geometry_circular_mean_of_headings():
    x = np.array([0.0, 10.0, 1000.0, 1010.0])
    y = np.zeros(4)
    primary = _points(np.zeros((4, TIME.size)), x, y, [40.0, 42.0, 30.0, 30.0],
                      [179.0, -179.0, -10.0, -12.0], "S1D")
    inc, head = primary_geometry_at(primary, [5.0, 1005.0], [0.0, 0.0], k=2)
    np.testing.assert_allclose(inc, [41.0, 30.0])
    assert abs(cv.wrap_angle(head[0] - 180.0)) < 1e-9
    assert head[1] == pytest.approx(-11.0)


def test_missing_geometry_names_dataset_and_config_keys():
    csk = _points(np.zeros((3, TIME.size)), [0, 1, 2], [0, 0, 0], None, None, "CSK")
    s1 = _points(np.zeros((3, TIME.size)), [0, 1, 2], [0, 0, 0], 41.0, -12.0, "S1A")
    with pytest.raises(InputError, match="CSK.*'incidence' and 'heading'"):
        project_to_primary(csk, s1)
    with pytest.raises(InputError, match="primary dataset .CSK."):
        project_to_primary(s1.assign_attrs(name="other"), csk)


def test_ascending_onto_descending_warns(caplog):
    x, y = np.array([0.0, 50.0]), np.zeros(2)
    asc = _points(np.ones((2, TIME.size)), x, y, 35.0, -10.0, "ASC")
    desc = _points(np.zeros((2, TIME.size)), x, y, 35.0, -170.0, "DESC")
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        out = project_to_primary(asc, desc, method="vector")
    factor = float(out["projection_factor"].values[0])
    assert abs(factor) > 2
    assert "2 of 2 points" in caplog.text and f"{abs(factor):.2f}" in caplog.text


angles_inc = st.floats(min_value=15, max_value=60)
angles_head = st.floats(min_value=-180, max_value=180)


@settings(max_examples=50, deadline=None)
@given(angles_inc, angles_head, angles_inc, st.floats(min_value=-40, max_value=40),
       st.floats(min_value=-50, max_value=50))
def test_vector_form_inverts_los_for_motion_along_target(inc_s, head_s, inc_t, dhead, amount):
    head_t = head_s + dhead
    e, n, u = cv.los_unit_vector(inc_t, head_t)
    seen = cv.enu_to_los(amount * e, amount * n, amount * u, inc_s, head_s)
    factor = cv.projection_factor(inc_s, head_s, inc_t, head_t, method="vector")
    assert seen * factor == pytest.approx(amount, abs=1e-9)
    if abs(dhead) < 1e-12:
        paper = cv.projection_factor(inc_s, head_s, inc_t, head_t, method="paper")
        assert paper == pytest.approx(factor, rel=1e-9)


def _eastward_pair(rate_east, n=400, seed=0):
    """Primary (S1-like) and secondary (CSK-like) points over a slope moving east."""
    rng = np.random.default_rng(seed)
    time = np.arange("2016-01-01", "2018-01-01", 12, dtype="datetime64[D]")
    years = (time - time[0]).astype(float) / 365.25

    def make(name, inc, head, spacing_jitter):
        x = rng.uniform(0, 1000, n) + spacing_jitter
        y = rng.uniform(0, 1000, n)
        e, _, _ = cv.los_unit_vector(inc, head)
        moving = np.where(x < 500, rate_east, 0.0)  # the west half slides east, the rest stable
        disp = (e * moving)[:, None] * years[None, :] + rng.normal(0, 0.3, (n, years.size))
        return point_dataset(disp, time, x=x, y=y, crs="EPSG:32717", incidence=inc,
                             heading=head, name=name)

    return make("S1", 41.0, -12.0, 0.0), make("CSK", 30.0, -10.0, 3.0)


def test_calibrated_projection_recovers_the_motion_ratio():
    primary, csk = _eastward_pair(rate_east=20.0)
    projected = project_to_primary(csk, primary, method="calibrated")
    factor = projected.projection_factor.values
    x = csk.x.values
    expected = cv.los_unit_vector(41.0, -12.0)[0] / cv.los_unit_vector(30.0, -10.0)[0]
    geometric = project_to_primary(csk, primary, method="vector").projection_factor.values
    inside = x < 350  # well inside the moving half: the ratio of the east components
    assert np.median(factor[inside]) == pytest.approx(expected, rel=0.05)
    assert abs(np.median(geometric[inside]) - expected) > 0.2  # the geometry alone is off
    stable = x > 820  # farther than the 300 m window from any motion: geometric factor stays
    assert np.allclose(factor[stable], geometric[stable])
    assert projected.attrs["projection_method"] == "calibrated"
