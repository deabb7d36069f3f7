"""The two calls that write a run's interoperable products, on a small synthetic run."""

import h5py
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import xarray as xr

from insarfusion.dataset import gnss_dataset, point_dataset
from insarfusion.grid import make_grid
from insarfusion.interop import (
    primary_geometry,
    run_metadata,
    run_reference,
    write_interop_products,
    write_view_products,
)
from insarfusion.products import velocity_map, write_displacement_nc, write_run_products

CRS = "EPSG:32717"
DATES = pd.date_range("2020-01-01", periods=5, freq="12D").values


@pytest.fixture
def run():
    grid = make_grid(721000.0, 721300.0, 9678000.0, 9678200.0, cell_size=20.0, crs=CRS)
    rng = np.random.default_rng(1)
    datasets = {
        name: point_dataset(rng.normal(size=(n, 5)).cumsum(axis=1), DATES,
                            x=rng.uniform(721000, 721300, n), y=rng.uniform(9678000, 9678200, n),
                            crs=CRS, incidence=inc, heading=head, name=name, band=band)
        for name, n, inc, head, band in (("S1A", 40, 39.0, [-12.0] * 40, "C"),
                                         ("CSK", 30, 30.0, -170.0, "X"))}
    years = np.arange(5) * 12 / 365.25
    cube = xr.DataArray(-10.0 * years[:, None, None] + np.zeros((5, grid.sizes["y"],
                                                                 grid.sizes["x"])),
                        dims=("time", "y", "x"),
                        coords={"time": DATES, "y": grid["y"], "x": grid["x"]})
    return grid, datasets, cube


def test_primary_geometry_and_metadata(run):
    _, datasets, _ = run
    inc, head = primary_geometry(datasets["S1A"])
    assert inc == pytest.approx(39.0) and head == pytest.approx(-12.0)
    assert primary_geometry(datasets["CSK"])[1] == pytest.approx(-170.0)
    meta = run_metadata(datasets, "S1A", method="cnn", reference_station="M01", crs=CRS)
    assert meta["primary_band"] == "C" and meta["orbit_direction"] == "ascending"
    assert meta["primary_heading_deg"] == pytest.approx(-12.0)


def test_interop_and_view_products(tmp_path, run):
    grid, datasets, cube = run
    meta = run_metadata(datasets, "S1A", method="cnn", reference_station="M01", crs=CRS)
    write_displacement_nc(tmp_path / "displacement.nc", cube, CRS, attrs=meta)
    files = write_interop_products(tmp_path, cubes={"synergic": cube}, grid=grid,
                                   datasets=datasets, primary="S1A", crs=CRS, metadata=meta,
                                   velocity=velocity_map(cube),
                                   reference={"x": 721105.0, "y": 9678105.0, "name": "M01"})
    assert sorted(files) == ["data_mask", "geometry", "mintpy_geometry", "mintpy_timeseries",
                             "mintpy_velocity", "points", "support"]
    with rasterio.open(files["geometry"]) as src:
        assert np.allclose(src.read(1), 39.0, atol=1e-4)   # the primary's incidence
        assert src.tags()["primary_dataset"] == "S1A"
    assert [r[0] for r in pyogrio.list_layers(files["points"])] == ["points", "fused"]
    with h5py.File(files["mintpy_timeseries"], "r") as f:
        assert f.attrs["WAVELENGTH"] == "0.0555"
        assert f.attrs["REF_STATION"] == "M01"
        assert f.attrs["insarfusion_method"] == "cnn"
    gnss = gnss_dataset(np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 3)),
                        pd.date_range("2020-01-01", periods=3, freq="20D").values,
                        stations=["M01", "M02"], x=[721100.0, 721200.0],
                        y=[9678100.0, 9678150.0], crs=CRS)
    view = write_view_products(tmp_path, gnss=gnss, stations=["M02"],
                               gnss_series=[np.arange(5.0)], epochs=DATES, crs=CRS)
    table = pd.read_csv(view["gnss_los"])
    assert set(table["station"]) == {"M02"}
    assert table["x"].iloc[0] == pytest.approx(721200.0, abs=1e-3)
    assert view["viewer"].name == "viewer.html" and view["viewer"].stat().st_size > 0


def test_run_reference_station_plane_or_area(run):
    from types import SimpleNamespace

    _, datasets, _ = run
    gnss = gnss_dataset(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)),
                        DATES[:3], stations=["M01", "M02"], x=[721100.0, 721200.0],
                        y=[9678100.0, 9678150.0], crs=CRS)
    cfg = SimpleNamespace(gnss=SimpleNamespace(reference=["M01", "M02"], final_reference="M02"),
                          reference_point=None)
    ref = run_reference(cfg, gnss, datasets, "S1A")
    assert ref["station"] == "M02" and ref["area"] is None
    assert ref["place"]["name"] == "M02"
    assert ref["place"]["lon"] == pytest.approx(float(gnss["lon"].sel(station="M02")))
    cfg.gnss.final_reference = None  # two stations tie the datasets: no single place
    ref = run_reference(cfg, gnss, datasets, "S1A")
    assert ref["station"] == "M01, M02" and ref["place"] is None
    cfg = SimpleNamespace(gnss=None, reference_point=SimpleNamespace(lon=-79.0, lat=-2.9,
                                                                     radius_m=50.0))
    ref = run_reference(cfg, None, datasets, "S1A")
    assert ref["station"] is None and ref["place"] == {"lon": -79.0, "lat": -2.9}
    assert "radius_m" in ref["area"]


def test_write_run_products_with_a_primary_writes_everything_with_metadata(tmp_path, run):
    grid, datasets, cube = run
    meta = run_metadata(datasets, "S1A", method="cnn", reference_station="M01", crs=CRS)
    cubes = {"synergic": cube, "idw": cube + 1.0}
    stds = {"synergic": xr.ones_like(cube), "idw": None}
    files = write_run_products(tmp_path, cubes, stds, lambda name: velocity_map(cubes[name]),
                               grid, datasets, CRS, attrs=meta, primary="S1A",
                               reference={"x": 721105.0, "y": 9678105.0, "name": "M01"})
    assert {"displacement", "displacement_idw", "velocity", "velocity_std", "geometry",
            "support", "data_mask", "points", "mintpy_timeseries", "mintpy_velocity",
            "mintpy_geometry"} <= set(files)
    with xr.open_dataset(files["displacement_idw"]) as ds:
        assert ds.attrs["method"] == "idw" and ds.attrs["primary_dataset"] == "S1A"
    for name in ("velocity", "velocity_std"):
        with rasterio.open(files[name]) as tif:
            assert tif.tags()["reference_station"] == "M01"
    with h5py.File(files["mintpy_velocity"], "r") as f:
        assert "velocityStd" in f
