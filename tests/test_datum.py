import logging
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from insarfusion import conventions as cv
from insarfusion.crs import lonlat_to_xy
from insarfusion.dataset import gnss_dataset, point_dataset, to_crs
from insarfusion.datum import (
    apply_offset,
    area_means,
    common_reference_area,
    evaluate_plane,
    fit_offset_model,
    gnss_los,
    gnss_on_epochs,
    offset_plane,
    plane_coefficients,
    reference_dataset,
    reference_grid,
    reference_to_area,
    station_geometry,
    station_offset,
    stations_los_on_epochs,
    validation_stations,
)
from insarfusion.errors import InputError, StageError

CRS = "EPSG:32717"
EPOCHS = np.datetime64("2018-01-05", "D") + np.arange(61) * np.timedelta64(12, "D")
INC, HEAD = 41.0, -12.0
NEAR_M = 150.0  # ground within this distance of a station moves with the station


def _ground_enu(x, y, years, seasonal):
    """East/north/up (mm) of the ground at (x, y) after ``years``: a smooth velocity field."""
    xk, yk = (np.asarray(x) - 1000.0) / 1000.0, (np.asarray(y) - 1000.0) / 1000.0
    t = np.asarray(years)[None, :]
    east = (2.0 + 0.5 * xk)[:, None] * t
    north = (-1.0 - 0.3 * yk)[:, None] * t
    up = (-3.0 + 0.8 * yk)[:, None] * t + seasonal * np.sin(2 * np.pi * t)
    return east, north, up


def _scenario(stations=(("REF", 1000.0, 1000.0),), offset=None, seasonal=0.0, gnss_step=1,
              noise=False, seed=0, n_random=150):
    """A referenced-to-nothing point dataset, its GNSS and the truth.

    ``offset(years, x, y)`` (mm, zero at the first epoch) is the motion of the dataset's own
    reference as seen in its series; default a drift of 5 mm/yr.
    """
    rng = np.random.default_rng(seed)
    offset = offset or (lambda t, x, y: np.broadcast_to(5.0 * t, (x.size, t.size)))
    xs, ys = [rng.uniform(0, 2000, n_random)], [rng.uniform(0, 2000, n_random)]
    for _, sx, sy in stations:  # keep the random points out of the station areas
        keep = np.hypot(xs[0] - sx, ys[0] - sy) > 120.0
        xs[0], ys[0] = xs[0][keep], ys[0][keep]
    for _, sx, sy in stations:  # 10 points in opposite pairs, centred on each station
        r = np.repeat(rng.uniform(5, 60, 5), 2)
        a = np.repeat(rng.uniform(0, np.pi, 5), 2) + np.tile([0.0, np.pi], 5)
        xs.append(sx + r * np.cos(a))
        ys.append(sy + r * np.sin(a))
    x, y = np.concatenate(xs), np.concatenate(ys)
    # ground near a station moves exactly with it; elsewhere the field plus a landslide
    sxy = np.array([(sx, sy) for _, sx, sy in stations])
    dist = np.hypot(x[:, None] - sxy[None, :, 0], y[:, None] - sxy[None, :, 1])
    nearest = dist.argmin(axis=1)
    near = dist.min(axis=1) < NEAR_M
    gx, gy = np.where(near, sxy[nearest, 0], x), np.where(near, sxy[nearest, 1], y)
    years = cv.decimal_years(EPOCHS)
    truth = cv.enu_to_los(*_ground_enu(gx, gy, years, seasonal), INC, HEAD)
    slide = 30.0 * np.exp(-((x - 600) ** 2 + (y - 1500) ** 2) / 200.0**2) * ~near
    truth = truth - slide[:, None] * years[None, :]
    true_offset = offset(years, x, y)
    observed = truth + true_offset
    if noise:
        insar_noise = rng.normal(0, 1.0, observed.shape)
        observed = observed + insar_noise - insar_noise[:, :1]
    ds = point_dataset(observed, EPOCHS, x=x, y=y, crs=CRS, incidence=INC, heading=HEAD,
                       name="S1A")

    gnss_time = np.arange(EPOCHS[0] - np.timedelta64(30, "D"), EPOCHS[-1] + np.timedelta64(30, "D"),
                          np.timedelta64(gnss_step, "D"))
    gyears = (gnss_time - EPOCHS[0]).astype(float) / cv.DAYS_PER_YEAR
    east, north, up = _ground_enu(sxy[:, 0], sxy[:, 1], gyears, seasonal)
    origin = 1000.0 * (1 + np.arange(len(stations)))[:, None]  # arbitrary station origins
    east, north, up = east + origin, north - origin, up + 0.5 * origin
    if noise:
        east = east + rng.normal(0, 1.5, east.shape)
        north = north + rng.normal(0, 1.5, north.shape)
        up = up + rng.normal(0, 4.0, up.shape)
    gnss = gnss_dataset(east, north, up, gnss_time, stations=[s[0] for s in stations],
                        x=sxy[:, 0], y=sxy[:, 1], crs=CRS)
    return ds, gnss, truth, true_offset


def _near_station(ds, sx=1000.0, sy=1000.0, radius=100.0):
    return np.hypot(ds["x"].values - sx, ds["y"].values - sy) <= radius


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# --------------------------------------------------------------------------- GNSS on the LOS

def test_gnss_los_eq2_known_answers():
    time = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]")
    gnss = gnss_dataset([[10.0, 0.0]], [[0.0, 0.0]], [[0.0, 10.0]], time, stations=["M21"],
                        x=[0.0], y=[0.0], crs=CRS)
    los = gnss_los(gnss, "M21", 40.0, -10.0)
    assert los.dims == ("time",) and los.attrs["units"] == "mm"
    np.testing.assert_allclose(los.values, [-6.33, 7.66], atol=0.005)


def test_gnss_on_epochs_known_answers():
    days = np.datetime64("2020-01-01") + np.arange(31)
    values = np.arange(31.0)
    epochs = np.datetime64("2020-01-01") + np.array([5, 17, 29, 100])
    # default half window: half the median spacing, 6 days
    np.testing.assert_allclose(gnss_on_epochs(values, days, epochs),
                               [5.5, 17.0, 26.5, np.nan])
    np.testing.assert_allclose(gnss_on_epochs(values, days, epochs[:3], half_window_days=0),
                               [5.0, 17.0, 29.0])
    two = np.vstack([values, np.where(values < 20, np.nan, values)])
    out = gnss_on_epochs(two, days, epochs[:3])
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[1], [np.nan, 21.5, 26.5])


def test_fit_offset_models_known_answers():
    t = cv.decimal_years(EPOCHS)
    line = 3.0 + 4.0 * t
    gappy = line.copy()
    gappy[[0, 10, 11, 40]] = np.nan
    for model in ("linear", "lowpass"):
        np.testing.assert_allclose(fit_offset_model(EPOCHS, gappy, model), line, atol=1e-9)
    # raw: inner gaps bridged linearly, ends held at the nearest value
    raw = fit_offset_model(EPOCHS, gappy, "raw")
    np.testing.assert_allclose(raw[1:], line[1:], atol=1e-9)
    assert raw[0] == line[1]
    np.testing.assert_allclose(fit_offset_model(EPOCHS, gappy, "constant"),
                               np.nanmean(gappy))


# --------------------------------------------------------------------------- one station

@pytest.mark.parametrize("model", ["raw", "linear", "lowpass"])
def test_noise_free_referencing_recovers_truth(model):
    ds, gnss, truth, true_offset = _scenario()
    out = reference_dataset(ds, gnss, "REF", model=model)
    np.testing.assert_allclose(out["datum_offset"].values, true_offset[0], atol=1e-6)
    np.testing.assert_allclose(out["displacement"].values, truth, atol=1e-6)
    np.testing.assert_allclose(out["velocity"].values, ds["velocity"].values - 5.0, atol=1e-6)
    assert out.attrs["datum"] == "GNSS" and out.attrs["datum_stations"] == "REF"
    assert out["datum_offset"].attrs["n_points"] == _near_station(ds).sum()


def datum_model_rmse(seed=0, offset=None, seasonal=3.0):
    """RMSE (mm) against the truth of the referenced series near the station and of the
    offset itself, for each model, on a noisy weekly GNSS case."""
    ds, gnss, truth, true_offset = _scenario(offset=offset, seasonal=seasonal, gnss_step=7,
                                             noise=True, seed=seed)
    near = _near_station(ds)
    out = {}
    for model in ("constant", "linear", "lowpass", "raw"):
        ref = reference_dataset(ds, gnss, "REF", model=model)
        station_series = ref["displacement"].values[near].mean(axis=0)
        out[model] = {"station_series": _rmse(station_series, truth[near].mean(axis=0)),
                      "offset": _rmse(ref["datum_offset"].values, true_offset[0])}
    return out


def test_noisy_gnss_smooth_models_beat_raw():
    rmse = datum_model_rmse()
    for model in ("linear", "lowpass"):
        assert rmse[model]["station_series"] < rmse["raw"]["station_series"]
        assert rmse[model]["offset"] < rmse["raw"]["offset"]
    # within the noise: InSAR noise of 1 mm averaged over 10 points, GNSS noise ~3 mm in LOS
    assert rmse["linear"]["station_series"] < 1.0
    assert rmse["raw"]["station_series"] < 4.0


def test_constant_model_when_the_reference_is_stable():
    still = lambda t, x, y: np.zeros((x.size, t.size))  # noqa: E731
    rmse = datum_model_rmse(offset=still)
    assert rmse["constant"]["offset"] == 0.0
    assert rmse["constant"]["station_series"] < rmse["raw"]["station_series"]


def test_station_offset_attrs_and_zero_at_first_epoch():
    ds, gnss, _, _ = _scenario(noise=True, gnss_step=7)
    off = station_offset(ds, gnss, "REF")
    assert off.dims == ("time",) and off.values[0] == 0.0
    assert off.attrs["station"] == "REF" and off.attrs["model"] == "linear"
    assert off.attrs["max_distance_m"] <= 100.0
    assert off.attrs["incidence"] == pytest.approx(INC) and off.attrs["heading"] == pytest.approx(HEAD)
    assert off.attrs["rate_mm_yr"] == pytest.approx(5.0, abs=1.0)


def test_gnss_in_another_crs_is_moved_into_the_dataset_crs():
    ds, gnss, _, true_offset = _scenario()
    moved = to_crs(gnss, "EPSG:3857")
    off = station_offset(ds, moved, "REF", model="raw")
    np.testing.assert_allclose(off.values, true_offset[0], atol=1e-6)


def test_fallback_to_k_nearest_warns(caplog):
    ds, gnss, _, _ = _scenario()
    far = ds.isel(point=np.flatnonzero(~_near_station(ds, radius=300.0)))
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        off = station_offset(far, gnss, "REF", k_fallback=4)
    assert off.attrs["n_points"] == 4 and off.attrs["max_distance_m"] > 300.0
    assert "using the 4 nearest" in caplog.text
    assert f"{off.attrs['max_distance_m']:.0f} m away" in caplog.text


def test_unknown_station_and_station_without_gnss_on_epochs():
    ds, gnss, _, _ = _scenario()
    with pytest.raises(InputError, match="'NOPE' not found.*REF"):
        station_offset(ds, gnss, "NOPE")
    early = gnss.assign_coords(time=gnss["time"].values - np.timedelta64(3000, "D"))
    with pytest.raises(StageError, match="REF has no position near any epoch"):
        station_offset(ds, early, "REF")
    with pytest.raises(InputError, match="offset model"):
        station_offset(ds, gnss, "REF", model="spline")


def test_apply_offset_checks_epochs():
    ds, gnss, _, _ = _scenario()
    off = station_offset(ds, gnss, "REF")
    with pytest.raises(StageError, match="epochs"):
        apply_offset(ds.isel(time=slice(1, None)), off)
    with pytest.raises(StageError, match="missing"):
        apply_offset(ds, off.where(off.time != off.time[3]))


# --------------------------------------------------------------------------- several stations

STATIONS3 = (("A", 400.0, 400.0), ("B", 1700.0, 500.0), ("C", 900.0, 1800.0))


def _tilted(t, x, y):
    """Reference drift that varies in space: 2 mm/yr + 1.5 mm/yr/km east - 1 mm/yr/km north."""
    rate = 2.0 + 1.5 * (x - 1000.0) / 1000.0 - 1.0 * (y - 900.0) / 1000.0
    return rate[:, None] * t[None, :]


def test_plane_with_three_stations_recovers_tilt():
    ds, gnss, truth, true_offset = _scenario(stations=STATIONS3, offset=_tilted)
    plane = offset_plane(ds, gnss, ["A", "B", "C"])
    assert plane.dims == ("point", "time")
    np.testing.assert_allclose(plane.values, true_offset, atol=1e-6)
    out = reference_dataset(ds, gnss, ["A", "B", "C"], model="raw")
    np.testing.assert_allclose(out["displacement"].values, truth, atol=1e-6)
    assert out.attrs["datum_stations"] == "A, B, C"


def test_plane_with_two_stations_fits_tilt_along_baseline(caplog):
    stations = (("A", 400.0, 1000.0), ("B", 1600.0, 1000.0))
    along_x = lambda t, x, y: ((2.0 + 1.5 * (x - 1000.0) / 1000.0)[:, None] * t[None, :])  # noqa: E731
    ds, gnss, _, true_offset = _scenario(stations=stations, offset=along_x)
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        plane = offset_plane(ds, gnss, ["A", "B"])
    np.testing.assert_allclose(plane.values, true_offset, atol=1e-6)
    assert "across it is assumed zero" in caplog.text


def test_plane_with_collinear_stations_fails():
    stations = (("A", 200.0, 1000.0), ("B", 1000.0, 1000.0), ("C", 1800.0, 1000.0))
    ds, gnss, _, _ = _scenario(stations=stations)
    with pytest.raises(StageError, match="on a line"):
        offset_plane(ds, gnss, ["A", "B", "C"])


def test_plane_coefficients_on_measured_offsets():
    """The plane through offsets measured elsewhere (as the leave-one-station-out check uses
    it): a drifting plane is recovered at any point, one station gives its own offset."""
    sx, sy = np.array([0.0, 2000.0, 500.0]), np.array([0.0, 300.0, 1800.0])
    years = cv.decimal_years(EPOCHS) - cv.decimal_years(EPOCHS)[0]
    plane = lambda x, y: (1.0 + 0.8 * x / 1000.0 - 0.5 * y / 1000.0)[:, None] * years  # noqa: E731
    raw = plane(sx, sy) + 7.0  # an arbitrary origin of the GNSS is removed
    coef, x0, y0 = plane_coefficients(EPOCHS, raw, sx, sy, "linear")
    targets = np.array([100.0, 900.0]), np.array([1500.0, -200.0])
    np.testing.assert_allclose(evaluate_plane(coef, x0, y0, *targets), plane(*targets),
                               atol=1e-9)
    one, x1, y1 = plane_coefficients(EPOCHS, raw[:1], sx[:1], sy[:1], "linear")
    np.testing.assert_allclose(evaluate_plane(one, x1, y1, *targets),
                               np.repeat(plane(sx[:1], sy[:1]), 2, axis=0), atol=1e-9)


def test_area_means_within_radius_else_nearest():
    x = np.array([0.0, 50.0, 90.0, 500.0, 900.0, 3000.0])
    values = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0],
                       [np.nan, np.nan]])
    means, n, far = area_means(x, np.zeros(6), values, [0.0, 2900.0], [0.0, 0.0], 100.0,
                               k_fallback=2)
    np.testing.assert_allclose(means, [[3.0, 4.0], [8.0, 9.0]])  # the point without data skipped
    assert n.tolist() == [3, 2] and far.tolist() == [90.0, 2400.0]


# --------------------------------------------------------------------------- grid and validation

def test_reference_grid_removes_offset_from_every_cell():
    ds, gnss, _, _ = _scenario()
    xs = np.arange(0.0, 2000.0, 50.0) + 25.0
    ys = np.arange(0.0, 2000.0, 50.0) + 25.0
    years = cv.decimal_years(EPOCHS)
    xx, yy = np.meshgrid(xs, ys)
    near = np.hypot(xx - 1000.0, yy - 1000.0) < NEAR_M
    gx, gy = np.where(near, 1000.0, xx), np.where(near, 1000.0, yy)
    truth = cv.enu_to_los(*_ground_enu(gx.ravel(), gy.ravel(), years, 0.0), INC, HEAD)
    truth = truth.T.reshape(years.size, ys.size, xs.size)
    drift = 4.0 * years - 2.0 * np.sin(np.pi * years)  # not linear: use the per-epoch offsets
    values = truth + drift[:, None, None]
    values[:, :3, :3] = np.nan  # cells without data
    cube = xr.DataArray(values, dims=("time", "y", "x"),
                        coords={"time": EPOCHS.astype("datetime64[ns]"), "y": ys, "x": xs},
                        name="displacement", attrs={"units": "mm", "crs": CRS})
    out = reference_grid(cube, gnss, "REF", INC, HEAD, model="raw")
    assert out.dims == cube.dims and out.attrs["datum_stations"] == "REF"
    np.testing.assert_allclose(out["datum_offset"].values, drift, atol=1e-6)
    np.testing.assert_allclose(out.values[:, 3:, 3:], truth[:, 3:, 3:], atol=1e-6)
    assert np.isnan(out.values[:, :3, :3]).all()


def test_validation_stations_exclude_references():
    time = np.array(["2020-01-01"], dtype="datetime64[D]")
    zeros = np.zeros((4, 1))
    gnss = gnss_dataset(zeros, zeros, zeros, time, stations=["M01", "M09", "M21", "M30"],
                        x=np.arange(4.0), y=np.zeros(4), crs=CRS)
    assert validation_stations(gnss, ["M21"], "M01") == ["M09", "M30"]
    assert validation_stations(gnss, "M21") == ["M01", "M09", "M30"]
    with pytest.raises(InputError, match="X99 not found"):
        validation_stations(gnss, ["X99"], "M01")


# --------------------------------------------------------------------------- primary geometry

def _two_site_primary():
    """Eight primary points around (0, 0) and eight around (1000, 0) with known geometry."""
    a = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    x = np.concatenate([10 * np.cos(a), 1000 + 10 * np.cos(a)])
    y = np.concatenate([10 * np.sin(a), 10 * np.sin(a)])
    incidence = np.concatenate([np.full(8, 40.0), np.tile([30.0, 32.0], 4)])
    heading = np.concatenate([np.full(8, -10.0), np.tile([-12.0, -8.0], 4)])
    return point_dataset(np.zeros((16, 2)), EPOCHS[:2], x=x, y=y, crs=CRS, incidence=incidence,
                         heading=heading, name="S1A")


def _up_only_gnss():
    """Stations B (at 1000, 0) and A (at 0, 0): 10 mm up, nothing else, daily; a gap for A."""
    time = np.datetime64("2020-01-01") + np.arange(60)
    up = np.full((2, time.size), 10.0)
    up[1, 30:] = np.nan
    zeros = np.zeros_like(up)
    return gnss_dataset(zeros, zeros, up, time, stations=["B", "A"], x=[1000.0, 0.0],
                        y=[0.0, 0.0], crs=CRS)


def test_station_geometry_is_the_mean_of_the_nearest_primary_points():
    primary, gnss = _two_site_primary(), _up_only_gnss()
    np.testing.assert_allclose(station_geometry(gnss, primary, "A"), (40.0, -10.0))
    inc, head = station_geometry(gnss, primary, "B")
    assert isinstance(inc, float) and isinstance(head, float)
    np.testing.assert_allclose((inc, head), (31.0, -10.0))
    with pytest.raises(InputError, match="'C' not found"):
        station_geometry(gnss, primary, "C")


def test_stations_los_on_epochs_known_answers():
    primary, gnss = _two_site_primary(), _up_only_gnss()
    epochs = np.datetime64("2020-01-01") + np.array([6, 18, 42, 90])
    got = stations_los_on_epochs(gnss, primary, epochs, ["A", "B"])
    assert got.shape == (2, 4)
    up_on_los = 10.0 * np.cos(np.deg2rad([40.0, 31.0]))  # eq. 2 with east = north = 0
    np.testing.assert_allclose(got[:, :2], np.repeat(up_on_los[:, None], 2, axis=1))
    assert np.isnan(got[0, 2]) and got[1, 2] == pytest.approx(up_on_los[1])  # A's gap
    assert np.isnan(got[:, 3]).all()  # after the GNSS
    # the same numbers as station_geometry, gnss_los and gnss_on_epochs one by one
    for row, name in enumerate(["A", "B"]):
        los = gnss_los(gnss, name, *station_geometry(gnss, primary, name))
        np.testing.assert_array_equal(got[row], gnss_on_epochs(los.values, gnss.time.values,
                                                               epochs))
    assert stations_los_on_epochs(gnss, primary, epochs, []).shape == (0, 4)


# --------------------------------------------------------------------------- no GNSS

def _block_datasets():
    """Two datasets on 200 m blocks: both have points in blocks (0, 0) and (1, 0)."""
    def points(x, values):
        x = np.asarray(x, dtype=float)
        return point_dataset(np.asarray(values, dtype=float), EPOCHS[:2], x=x,
                             y=np.full(x.size, 50.0), crs=CRS, incidence=INC, heading=HEAD)

    a = points([10, 20, 30, 210, 220, 230, 240, 250],
               [[0, 1], [0, 2], [0, 3], [0, 10], [0, 10], [0, 10], [0, 10], [0, 10]])
    b = points([10, 20, 30, 40, 210, 410, 420, 430],
               [[0, 5], [0, 5], [0, 7], [0, 7], [0, 9], [0, 0], [0, 0], [0, 0]])
    return {"A": a, "B": b}


def test_common_reference_area_best_overlap_block(caplog):
    datasets = _block_datasets()
    with caplog.at_level(logging.INFO, logger="insarfusion"):
        area = common_reference_area(datasets, None, CRS)
    # block (0, 0) holds 3 and 4 points, block (1, 0) 5 and 1, block (2, 0) only B's
    assert area == (100.0, 100.0, 100.0)
    assert "block of best overlap" in caplog.text
    rp = SimpleNamespace(lon=-79.0, lat=-2.92, radius_m=250.0)
    x, y = lonlat_to_xy([-79.0], [-2.92], CRS)
    assert common_reference_area(datasets, rp, CRS) == (float(x[0]), float(y[0]), 250.0)


def test_reference_to_area_subtracts_the_area_mean(caplog):
    datasets = _block_datasets()
    out = reference_to_area(datasets, 20.0, 50.0, 15.0)
    # A: points at x = 10, 20, 30 (mean 2 mm at the second epoch); B: 10, 20, 30 (17/3 mm)
    np.testing.assert_allclose(out["A"]["displacement"].values[:, 1],
                               datasets["A"]["displacement"].values[:, 1] - 2.0)
    np.testing.assert_allclose(out["B"]["displacement"].values[:, 1],
                               datasets["B"]["displacement"].values[:, 1] - 17.0 / 3.0)
    assert out["A"].attrs["datum"] == "reference area x=20.0 y=50.0 r=15 m"
    assert "datum" not in datasets["A"].attrs
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        far = reference_to_area(datasets, 600.0, 50.0, 50.0)
    # A has no point within 50 m: its 5 nearest (x = 210..250, all 10 mm) are used
    np.testing.assert_allclose(far["A"]["displacement"].values[:, 1],
                               datasets["A"]["displacement"].values[:, 1] - 10.0)
    assert "A: no point within 50 m of the reference area; using the 5 nearest" in caplog.text
