"""Product formats users open in their own tools: COG layout, metadata, per-date point fields."""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import xarray as xr

from insarfusion.dataset import point_dataset
from insarfusion.grid import make_grid, sample
from insarfusion.products import (
    LOS_SIGN_CONVENTION,
    date_field,
    field_dates,
    fused_at_points,
    points_table,
    product_metadata,
    write_cog,
    write_displacement_nc,
    write_gnss_los,
    write_points_gpkg,
    write_velocity_tif,
)

CRS = "EPSG:32717"
DATES = pd.date_range("2020-01-01", periods=4, freq="12D").values


@pytest.fixture
def grid():
    return make_grid(721000.0, 722000.0, 9678000.0, 9679500.0, cell_size=20.0, crs=CRS)


@pytest.fixture
def cube(grid):
    """A plane in space growing in time: d = t_index * (x - x0) / 100 mm."""
    xx = (grid["x"].values - grid["x"].values[0])[None, :] + 0 * grid["y"].values[:, None]
    values = np.arange(4.0)[:, None, None] * xx[None] / 100.0
    return xr.DataArray(values, dims=("time", "y", "x"),
                        coords={"time": DATES, "y": grid["y"], "x": grid["x"]})


@pytest.fixture
def meta():
    return product_metadata(method="cnn", primary="S1A", incidence=39.2, heading=-10.5,
                            reference_station="M21", reference_date="2020-01-01",
                            temporal_method="lstm", crs=CRS)


def test_metadata_fields(meta):
    assert meta["los_sign_convention"] == LOS_SIGN_CONVENTION
    assert "positive toward the satellite" in meta["los_sign_convention"]
    assert meta["orbit_direction"] == "ascending"
    assert meta["primary_dataset"] == "S1A"
    assert meta["reference_date"] == "2020-01-01"
    assert meta["projected_crs"] == CRS
    assert product_metadata(heading=190.0)["orbit_direction"] == "descending"
    assert product_metadata(heading=-170.0)["orbit_direction"] == "descending"
    area = product_metadata(reference_area={"lon": -79.0, "lat": -2.9, "radius_m": 100})
    assert area["reference_area"] == "lon=-79.0, lat=-2.9, radius_m=100"


def _assert_cog(path, n_bands=1):
    with rasterio.open(path) as src:
        assert src.profile["tiled"]
        assert src.count == n_bands
        for band in range(1, n_bands + 1):
            assert src.overviews(band), "no overviews"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        return src.tags(), [src.tags(b) for b in range(1, n_bands + 1)], src.descriptions


def test_velocity_is_a_cog_with_metadata(tmp_path, grid, cube, meta):
    path = write_velocity_tif(tmp_path / "velocity.tif", cube.isel(time=-1), grid, CRS,
                              metadata=meta)
    tags, band_tags, descriptions = _assert_cog(path)
    assert tags["units"] == "mm/yr"
    assert band_tags[0]["units"] == "mm/yr"
    assert descriptions == ("mean LOS velocity",)
    for key in ("los_sign_convention", "primary_dataset", "primary_incidence_deg",
                "primary_heading_deg", "reference_station", "reference_date", "method"):
        assert key in tags, key
    assert tags["reference_station"] == "M21"
    with rasterio.open(path) as src:
        assert np.allclose(src.read(1), cube.values[-1], atol=1e-5)
        assert np.isnan(src.nodata)


def test_multiband_cog_and_small_grid(tmp_path, cube):
    tiny = make_grid(0.0, 40.0, 0.0, 40.0, cell_size=20.0, crs=CRS)
    a = np.ones((tiny.sizes["y"], tiny.sizes["x"]))
    path = write_cog(tmp_path / "two.tif", [a, 2 * a], tiny, CRS, descriptions=["a", "b"],
                     units=["m", "1"])
    _, band_tags, descriptions = _assert_cog(path, 2)
    assert descriptions == ("a", "b")
    assert band_tags[1]["units"] == "1"
    mask = write_cog(tmp_path / "mask.tif", a.astype("uint8"), tiny, CRS, dtype="uint8",
                     nodata=255, resampling="nearest")
    with rasterio.open(mask) as src:
        assert src.dtypes[0] == "uint8"
        assert src.nodata == 255


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="gdalinfo not installed")
def test_gdalinfo_reports_cog_layout(tmp_path, grid, cube, meta):
    path = write_velocity_tif(tmp_path / "velocity.tif", cube.isel(time=-1), grid, CRS,
                              metadata=meta)
    out = subprocess.run(["gdalinfo", str(path)], capture_output=True, text=True,
                         check=True).stdout
    assert "LAYOUT=COG" in out
    assert "Overviews:" in out
    assert "los_sign_convention=positive toward the satellite" in out


def test_netcdf_carries_metadata(tmp_path, cube, meta):
    path = write_displacement_nc(tmp_path / "displacement.nc", cube, CRS, attrs=meta)
    with xr.open_dataset(path) as ds:
        assert ds.attrs["los_sign_convention"] == LOS_SIGN_CONVENTION
        assert ds.attrs["reference_station"] == "M21"
        assert ds.attrs["primary_heading_deg"] == pytest.approx(-10.5)
        assert ds["displacement"].attrs["units"] == "mm"
    # without metadata the sign convention is still there
    path = write_displacement_nc(tmp_path / "plain.nc", cube, CRS, attrs={"x": None})
    with xr.open_dataset(path) as ds:
        assert "positive toward the satellite" in ds.attrs["los_sign_convention"]
        assert "x" not in ds.attrs


def test_bilinear_sampling_is_exact_on_a_plane(cube):
    x = np.array([721105.0, 721333.3, 700000.0])
    y = np.array([9678500.0, 9679001.0, 9678500.0])
    series = sample(cube, x, y, outside="cell", nan="skip")
    assert series.shape == (3, 4)
    expected = np.arange(4.0)[None] * (x[:2, None] - cube["x"].values[0]) / 100.0
    assert np.allclose(series[:2], expected)
    assert np.isnan(series[2]).all()
    # an empty neighbour is left out, not propagated
    holed = cube.copy()
    holed[:, :, 5] = np.nan
    x_mid = float(cube["x"].values[5] + 5.0)
    value = sample(holed.isel(time=-1), [x_mid], [float(cube["y"].values[3])],
                   outside="cell", nan="skip")
    assert value[0] == pytest.approx(3 * (cube["x"].values[6] - cube["x"].values[0]) / 100)


def _points(name, n, x0, dates=DATES):
    rng = np.random.default_rng(n)
    disp = np.cumsum(rng.normal(size=(n, len(dates))), axis=1)
    disp[0, 1] = np.nan
    return point_dataset(disp, dates, x=x0 + 10.0 * np.arange(n), y=np.full(n, 9678050.0),
                         crs=CRS, incidence=35.0, heading=-10.0, name=name,
                         ids=[f"{name}{i}" for i in range(n)])


def test_points_table_has_per_date_fields():
    a = _points("CSK", 3, 721000.0)
    b = _points("S1A", 2, 721100.0, dates=DATES[1:])
    table = points_table([a, b])
    fields = field_dates(table.columns)
    assert [f for f, _ in fields] == [date_field(d) for d in DATES]
    assert fields[0][0] == "D" + pd.Timestamp(DATES[0]).strftime("%Y%m%d")
    # the name both QGIS plugins read: D + 8 digits (PS Time Series Viewer's pattern)
    assert all(re.fullmatch(r"D\d{8}", name) for name, _ in fields)
    assert field_dates(["D_20200101", "D20200113", "D2020", "Dx0200101", "velocity"]) == [
        ("D_20200101", np.datetime64("2020-01-01")), ("D20200113", np.datetime64("2020-01-13"))]
    assert np.allclose(table[date_field(DATES[2])].iloc[:3], a["displacement"].values[:, 2])
    assert np.isnan(table[fields[0][0]].iloc[3:]).all()   # S1A has no first date
    assert np.isnan(table[fields[1][0]].iloc[0])
    assert not field_dates(points_table([a], dates=False).columns)


def test_geopackage_layers_with_per_date_fields(tmp_path, cube, meta):
    datasets = {"CSK": _points("CSK", 5, 721100.0), "S1A": _points("S1A", 3, 721300.0)}
    path = write_points_gpkg(tmp_path / "points.gpkg", datasets, fused=cube,
                             layer_metadata=meta)
    assert [row[0] for row in pyogrio.list_layers(path)] == ["points", "fused"]
    points = pyogrio.read_dataframe(path, layer="points")
    fused = pyogrio.read_dataframe(path, layer="fused")
    names = [date_field(d) for d in DATES]
    for frame in (points, fused):
        assert [f for f, _ in field_dates(frame.columns)] == names
        assert frame.crs.to_epsg() == 32717
        assert len(frame) == 8
    assert np.allclose(points[names[3]].iloc[:5], datasets["CSK"]["displacement"].values[:, 3])
    expected = 3 * (fused["x"] - cube["x"].values[0]) / 100.0
    assert np.allclose(fused[names[3]], expected)
    assert list(fused["id"]) == list(points["id"])
    assert np.allclose(fused["velocity"], fused_at_points(cube, points)["velocity"])
    info = pyogrio.read_info(path, layer="points")
    assert info["layer_metadata"]["los_sign_convention"] == LOS_SIGN_CONVENTION
    assert info["layer_metadata"]["reference_station"] == "M21"


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo not installed")
def test_ogrinfo_lists_per_date_fields(tmp_path, cube):
    path = write_points_gpkg(tmp_path / "points.gpkg", [_points("CSK", 4, 721100.0)],
                             fused=cube)
    out = subprocess.run(["ogrinfo", "-so", "-al", str(path)], capture_output=True, text=True,
                         check=True).stdout
    for day in DATES:
        assert f"{date_field(day)}: Real" in out
    assert "Layer name: points" in out and "Layer name: fused" in out


def test_gnss_los_csv(tmp_path):
    path = write_gnss_los(tmp_path / "gnss_los.csv", [[0.0, 1.0, 2.0, 3.0], [0, -1, -2, -3]],
                          ["M01", "M02"], DATES, [721000.0, 721500.0], [9678000.0, 9678500.0],
                          CRS)
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["station", "x", "y", "lon", "lat", "date", "los_mm"]
    assert len(frame) == 8
    assert frame["date"].iloc[1] == pd.Timestamp(DATES[1]).strftime("%Y-%m-%d")
    assert frame.loc[frame.station == "M02", "los_mm"].tolist() == [0, -1, -2, -3]
    assert frame["lat"].between(-3, -2).all()
