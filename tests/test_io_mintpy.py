"""MintPy reader: units, pixel-centre coordinates, selections, geometry, errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from insarfusion.errors import InputError
from insarfusion.io import read_points
from insarfusion.io.mintpy import read_mintpy

DATES = [b"20200101", b"20200113", b"20200125"]
LENGTH, WIDTH = 3, 4


def series_m():
    """(date, row, col) metres: pixel (r, c) moves by (r * 10 + c) mm per epoch."""
    per_epoch = (np.arange(LENGTH)[:, None] * 10 + np.arange(WIDTH)[None, :]) / 1000.0
    return (np.arange(len(DATES))[:, None, None] * per_epoch[None]).astype(np.float32)


def write_ts(path, data=None, dates=DATES, **attrs):
    data = series_m() if data is None else data
    with h5py.File(path, "w") as f:
        f.create_dataset("timeseries", data=data)
        if dates is not None:
            f.create_dataset("date", data=np.array(dates, dtype="S8"))
        base = {"LENGTH": str(data.shape[1]), "WIDTH": str(data.shape[2]), "REF_Y": "0",
                "REF_X": "0", "WAVELENGTH": "0.05546576", "FILE_TYPE": "timeseries"}
        for k, v in {**base, **attrs}.items():
            f.attrs[k] = v
    return path


GEO_DEG = {"X_FIRST": "10.0", "Y_FIRST": "45.0", "X_STEP": "0.001", "Y_STEP": "-0.001",
           "X_UNIT": "degrees", "Y_UNIT": "degrees"}


def write_grid(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=np.asarray(data))
    return path


def full(value, dtype=np.float32):
    return np.full((LENGTH, WIDTH), value, dtype=dtype)


def test_geocoded_values_units_and_pixel_centres(tmp_path):
    ts = write_ts(tmp_path / "timeseries.h5", **GEO_DEG)
    ds = read_mintpy(ts)
    assert ds.sizes == {"point": 12, "time": 3}
    p = ds.sel(point="r1_c2")
    # metres -> mm: 12 mm per epoch
    np.testing.assert_allclose(p["displacement"].values, [0.0, 12.0, 24.0], rtol=1e-6)
    # X_FIRST/Y_FIRST are the outer corner: centre = first + (index + 0.5) * step
    assert p["lon"].item() == pytest.approx(10.0025, abs=1e-9)
    assert p["lat"].item() == pytest.approx(44.9985, abs=1e-9)
    assert ds.attrs["band"] == "C"
    assert ds.attrs["reference"] == "pixel r0_c0"
    assert np.isnan(ds["incidence"].values).all()


def test_geometry_beside_and_heading_conversion(tmp_path):
    ts = write_ts(tmp_path / "timeseries.h5", **GEO_DEG)
    inc = full(35.0)
    inc[2, 3] = 41.0
    write_grid(tmp_path / "geometryGeo.h5", incidenceAngle=inc, azimuthAngle=full(-100.0),
               height=full(250.0))
    ds = read_mintpy(ts)
    assert ds.sel(point="r2_c3")["incidence"].item() == pytest.approx(41.0)
    # azimuthAngle -100 (descending) -> heading 90 - (-100) = 190 -> wrapped -170
    np.testing.assert_allclose(ds["heading"].values, -170.0)
    np.testing.assert_allclose(ds["height"].values, 250.0)


def test_heading_attribute_fallback_and_option_override(tmp_path):
    ts = write_ts(tmp_path / "timeseries.h5", HEADING="-12.5", **GEO_DEG)
    write_grid(tmp_path / "geometryGeo.h5", incidenceAngle=full(33.0))
    ds = read_mintpy(ts)
    np.testing.assert_allclose(ds["heading"].values, -12.5)
    ds = read_mintpy(ts, incidence=40.0, heading=190.0)
    np.testing.assert_allclose(ds["incidence"].values, 40.0)
    np.testing.assert_allclose(ds["heading"].values, -170.0)


def test_no_geometry_gives_nan_and_warning(tmp_path, caplog):
    ts = write_ts(tmp_path / "timeseries.h5", **GEO_DEG)
    with caplog.at_level("WARNING", logger="insarfusion"):
        ds = read_mintpy(ts)
    assert np.isnan(ds["heading"].values).all()
    assert "incidence and heading" in caplog.text


def test_default_mask_beside_and_coherence_quality(tmp_path):
    ts = write_ts(tmp_path / "timeseries.h5", **GEO_DEG)
    mask = np.zeros((LENGTH, WIDTH), dtype=bool)
    mask[0, 1] = mask[2, 2] = True
    write_grid(tmp_path / "maskTempCoh.h5", mask=mask)
    coh = full(0.5)
    coh[2, 2] = 0.93
    write_grid(tmp_path / "temporalCoherence.h5", temporalCoherence=coh)
    ds = read_mintpy(ts)
    assert list(ds["point"].values) == ["r0_c1", "r2_c2"]
    np.testing.assert_allclose(ds["quality"].values, [0.5, 0.93], rtol=1e-6)


def test_coherence_threshold_selection(tmp_path):
    ts = write_ts(tmp_path / "timeseries.h5", **GEO_DEG)
    write_grid(tmp_path / "maskTempCoh.h5", mask=np.ones((LENGTH, WIDTH), bool))
    coh = np.linspace(0.0, 1.0, LENGTH * WIDTH).reshape(LENGTH, WIDTH).astype(np.float32)
    cfile = write_grid(tmp_path / "coh.h5", temporalCoherence=coh)
    ds = read_mintpy(ts, coherence=cfile, min_coherence=0.8)
    expected = [f"r{r}_c{c}" for r, c in zip(*np.nonzero(coh >= 0.8), strict=True)]
    assert list(ds["point"].values) == expected == ["r2_c1", "r2_c2", "r2_c3"]
    assert (ds["quality"].values >= 0.8).all()


def test_explicit_mask_and_step(tmp_path):
    ts = write_ts(tmp_path / "timeseries.h5", **GEO_DEG)
    mfile = write_grid(tmp_path / "m.h5", mask=np.ones((LENGTH, WIDTH), np.int8))
    ds = read_mintpy(ts, mask=mfile, step=2)
    assert list(ds["point"].values) == ["r0_c0", "r0_c2", "r2_c0", "r2_c2"]
    np.testing.assert_allclose(ds.sel(point="r2_c2")["displacement"].values, [0, 22, 44],
                               rtol=1e-6)


def test_nan_pixels_dropped(tmp_path, caplog):
    data = series_m()
    data[:, 1, 1] = np.nan
    ts = write_ts(tmp_path / "timeseries.h5", data=data, **GEO_DEG)
    with caplog.at_level("WARNING", logger="insarfusion"):
        ds = read_mintpy(ts)
    assert "r1_c1" not in ds["point"].values and ds.sizes["point"] == 11
    assert "dropped 1" in caplog.text


def test_projected_grid_epsg_and_utm_zone(tmp_path):
    attrs = {"X_FIRST": "500000.0", "Y_FIRST": "5000000.0", "X_STEP": "20.0",
             "Y_STEP": "-20.0", "X_UNIT": "meters", "Y_UNIT": "meters"}
    ts = write_ts(tmp_path / "timeseries.h5", EPSG="32633", **attrs)
    ds = read_mintpy(ts)
    p = ds.sel(point="r1_c2")
    assert ds.attrs["crs"] == "EPSG:32633"
    assert (p["x"].item(), p["y"].item()) == pytest.approx((500050.0, 4999970.0))
    assert p["lon"].item() == pytest.approx(15.0, abs=0.01)  # zone 33 central meridian
    ts2 = write_ts(tmp_path / "ts_utm.h5", UTM_ZONE="33N", **attrs)
    assert read_mintpy(ts2).attrs["crs"] == "EPSG:32633"
    other = read_mintpy(ts, crs="EPSG:32632")
    assert other.attrs["crs"] == "EPSG:32632"
    assert other.sel(point="r1_c2")["lon"].item() == pytest.approx(p["lon"].item())


def test_radar_coded_with_geometry_in_inputs(tmp_path):
    (tmp_path / "inputs").mkdir()
    (tmp_path / "run").mkdir()
    ts = write_ts(tmp_path / "run" / "timeseries.h5")
    lat = 30.0 + np.arange(LENGTH)[:, None] * 0.01 + np.zeros((1, WIDTH))
    lon = 100.0 + np.arange(WIDTH)[None, :] * 0.01 + np.zeros((LENGTH, 1))
    write_grid(tmp_path / "inputs" / "geometryRadar.h5", latitude=lat, longitude=lon,
               incidenceAngle=full(39.0), azimuthAngle=full(100.0))
    ds = read_mintpy(ts)
    p = ds.sel(point="r2_c3")
    assert (p["lat"].item(), p["lon"].item()) == pytest.approx((30.02, 100.03))
    np.testing.assert_allclose(ds["heading"].values, -10.0)  # 90 - 100


def test_cli_inspect(tmp_path, cli):
    ts = write_ts(tmp_path / "timeseries.h5", **GEO_DEG)
    code, out, err = cli("inspect", ts)
    assert code == 0, err
    assert "12 points, 3 epochs" in out and "2020-01-01 .. 2020-01-25" in out
    assert read_points(ts).sizes["point"] == 12


@pytest.mark.parametrize("case,what", [
    ("not_hdf5", "not an HDF5 file"),
    ("no_timeseries", "no 'timeseries' dataset"),
    ("no_date", "no 'date' dataset"),
    ("bad_date", "not a date: '20201301'"),
    ("geometry_shape", "but the time series is 3 x 4 pixels"),
    ("radar_no_geometry", "needs a geometry file"),
    ("mask_shape", "dataset 'mask' is 2 x 2"),
    ("empty_selection", "no pixel selected"),
])
def test_bad_input(tmp_path, case, what):
    ts = tmp_path / "timeseries.h5"
    kwargs = {}
    if case == "not_hdf5":
        ts.write_text("date,value\n")
    elif case == "no_timeseries":
        write_grid(ts, velocity=full(1.0))
    elif case == "no_date":
        write_ts(ts, dates=None, **GEO_DEG)
    elif case == "bad_date":
        write_ts(ts, dates=[b"20200101", b"20201301", b"20200125"], **GEO_DEG)
    elif case == "geometry_shape":
        write_ts(ts, **GEO_DEG)
        kwargs["geometry"] = write_grid(tmp_path / "g.h5", incidenceAngle=np.ones((2, 4)))
    elif case == "radar_no_geometry":
        write_ts(ts)
    elif case == "mask_shape":
        write_ts(ts, **GEO_DEG)
        kwargs["mask"] = write_grid(tmp_path / "m.h5", mask=np.ones((2, 2)))
    elif case == "empty_selection":
        write_ts(ts, **GEO_DEG)
        kwargs["mask"] = write_grid(tmp_path / "m.h5", mask=np.zeros((LENGTH, WIDTH)))
    with pytest.raises(InputError) as err:
        read_mintpy(ts, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and what in msg and str(tmp_path) in msg


def test_block_reading_matches_whole_read(tmp_path, monkeypatch):
    import insarfusion.io.mintpy as mod

    rng = np.random.default_rng(3)
    data = rng.normal(0, 0.01, (3, 7, 5)).astype(np.float32)
    ts = write_ts(tmp_path / "timeseries.h5", data=data, **GEO_DEG)
    whole = read_mintpy(ts)
    monkeypatch.setattr(mod, "_BLOCK_BYTES", 3 * 5 * 4 * 2)  # two rows per block
    blocks = read_mintpy(ts)
    np.testing.assert_array_equal(whole["displacement"].values, blocks["displacement"].values)
    np.testing.assert_allclose(whole.sel(point="r6_c4")["displacement"].values,
                               data[:, 6, 4] * 1000.0, rtol=1e-6)
