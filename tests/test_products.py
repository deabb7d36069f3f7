import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr

from insarfusion import products
from insarfusion.dataset import point_dataset
from insarfusion.errors import InputError, StageError
from insarfusion.grid import grid_transform, make_grid
from insarfusion.products import (
    atomic_output,
    velocity_map,
    write_displacement_nc,
    write_points_gpkg,
    write_velocity_tif,
)

CRS = "EPSG:32717"
DATES = pd.date_range("2020-01-01", periods=4, freq="12D").values


@pytest.fixture
def grid():
    return make_grid(721000.0, 721200.0, 9678000.0, 9678100.0, cell_size=20.22, crs=CRS)


@pytest.fixture
def cube(grid):
    """Displacement growing at 10 mm/yr plus a per-cell offset, one NaN cell."""
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    years = (DATES - DATES[0]) / np.timedelta64(1, "D") / 365.25
    offset = np.arange(ny * nx, dtype=float).reshape(ny, nx)
    values = offset[None] + 10.0 * years[:, None, None]
    values[:, 1, 2] = np.nan
    return xr.DataArray(values, dims=("time", "y", "x"),
                        coords={"time": DATES, "y": grid["y"], "x": grid["x"]})


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_netcdf_round_trip_with_crs_and_std(tmp_path, grid, cube):
    path = tmp_path / "displacement.nc"
    write_displacement_nc(path, cube, CRS, std=cube * 0 + 0.5, attrs={"method": "kriging"})
    ds = xr.open_dataset(path, decode_coords="all")
    assert ds["displacement"].dims == ("time", "y", "x")
    assert ds["displacement"].attrs["units"] == "mm"
    assert ds.rio.crs.to_epsg() == 32717
    assert ds["displacement"].attrs.get("grid_mapping") is None  # decoded into the coordinate
    assert "spatial_ref" in ds.coords
    assert np.array_equal(ds["time"].values, DATES)
    assert np.allclose(ds["x"].values, grid["x"].values)
    assert np.allclose(ds["y"].values, grid["y"].values)
    geotransform = [float(v) for v in ds["spatial_ref"].attrs["GeoTransform"].split()]
    assert np.allclose(geotransform, grid_transform(grid).to_gdal())
    assert np.allclose(ds["displacement"].values, cube.values, equal_nan=True, atol=1e-4)
    assert np.isnan(ds["displacement"].values[:, 1, 2]).all()
    assert np.allclose(ds["displacement_std"].values[~np.isnan(cube.values)], 0.5)
    assert ds.attrs["method"] == "kriging"
    ds.close()


def test_netcdf_carries_raw_std_and_velocity_std_maps(tmp_path, cube):
    path = tmp_path / "displacement.nc"
    std = (cube * 0 + 2.0).assign_attrs(std_calibration_source="own held-out blocks")
    velocity_std = cube.isel(time=0, drop=True) * 0 + 1.5
    write_displacement_nc(path, cube, CRS, std=std, variables={
        "displacement_std_raw": (cube * 0 + 0.1).assign_attrs(units="mm"),
        "velocity_std": velocity_std.assign_attrs(units="mm/yr")})
    with xr.open_dataset(path) as ds:
        assert ds["displacement_std_raw"].dims == ("time", "y", "x")
        assert ds["velocity_std"].dims == ("y", "x")
        assert ds["velocity_std"].attrs["units"] == "mm/yr"
        assert ds["displacement_std"].attrs["std_calibration_source"] == "own held-out blocks"
        finite = ~np.isnan(cube.values)
        assert np.allclose(ds["displacement_std_raw"].values[finite], 0.1)
        assert np.allclose(ds["displacement_std"].values[finite], 2.0)


def test_netcdf_is_read_by_gdal(tmp_path, grid, cube):
    path = tmp_path / "displacement.nc"
    write_displacement_nc(path, cube, CRS)
    with rasterio.open(f"netcdf:{path}:displacement") as src:
        assert src.crs.to_epsg() == 32717
        assert src.count == cube.sizes["time"]
        assert src.transform.almost_equals(grid_transform(grid))
        assert np.allclose(src.read(2), cube.values[1], equal_nan=True, atol=1e-4)


def test_velocity_map_is_the_slope(cube):
    velocity = velocity_map(cube)
    assert velocity.dims == ("y", "x")
    assert velocity.attrs["units"] == "mm/yr"
    finite = np.isfinite(velocity.values)
    assert finite.sum() == velocity.size - 1
    assert np.allclose(velocity.values[finite], 10.0)


def test_velocity_geotiff(tmp_path, grid, cube):
    velocity = velocity_map(cube)
    path = tmp_path / "velocity.tif"
    write_velocity_tif(path, velocity, grid, CRS)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32717
        assert src.dtypes[0] == "float32"
        assert np.isnan(src.nodata)
        assert src.transform == grid_transform(grid)
        # cell centres of the file are the grid's
        xs, ys = rasterio.transform.xy(src.transform, [0, 2], [0, 3])
        assert np.allclose(xs, grid["x"].values[[0, 3]])
        assert np.allclose(ys, grid["y"].values[[0, 2]])
        band = src.read(1)
        assert src.tags(1)["units"] == "mm/yr"
    assert np.isnan(band[1, 2])
    assert np.allclose(band, velocity.values, equal_nan=True)
    with pytest.raises(InputError, match="shape"):
        write_velocity_tif(tmp_path / "bad.tif", velocity.values[:-1], grid, CRS)


def _points(name, n, x0, crs=CRS):
    rng = np.random.default_rng(n)
    disp = np.cumsum(rng.normal(size=(n, 4)), axis=1)
    disp[0, 1] = np.nan
    return point_dataset(disp, DATES, x=x0 + 10.0 * np.arange(n), y=np.full(n, 9678050.0),
                         crs=crs, incidence=35.0, heading=-10.0, name=name,
                         ids=[f"{name}{i}" for i in range(n)])


def test_points_geopackage(tmp_path):
    path = tmp_path / "points.gpkg"
    datasets = [_points("CSK", 5, 721000.0), _points("S1A", 3, 721100.0)]
    write_points_gpkg(path, datasets)
    layers = pyogrio.list_layers(path)
    assert [row[0] for row in layers] == ["points"]
    frame = pyogrio.read_dataframe(path, layer="points")
    assert frame.crs.to_epsg() == 32717
    assert len(frame) == 8
    assert list(frame["dataset"]) == ["CSK"] * 5 + ["S1A"] * 3
    assert frame["id"].iloc[5] == "S1A0"
    for column in ("x", "y", "lon", "lat", "velocity", "incidence", "heading", "n_epochs"):
        assert column in frame.columns
    assert np.allclose(frame.geometry.x, frame["x"])
    assert np.allclose(frame["velocity"], np.r_[datasets[0].velocity.values,
                                                datasets[1].velocity.values])
    assert frame["n_epochs"].iloc[0] == 3
    with pytest.raises(StageError, match="one CRS"):
        write_points_gpkg(tmp_path / "mixed.gpkg",
                          [_points("A", 2, 721000.0), _points("B", 2, 721000.0, "EPSG:32617")])


def test_failing_writer_leaves_nothing(tmp_path, grid, cube, monkeypatch):
    path = tmp_path / "displacement.nc"
    write_displacement_nc(path, cube, CRS)
    before = path.read_bytes()
    real = xr.Dataset.to_netcdf

    def half_then_fail(self, target, *args, **kwargs):
        real(self, target, *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_displacement_nc(path, cube + 1, CRS)
    assert path.read_bytes() == before  # the old product is untouched
    with pytest.raises(OSError, match="disk full"):
        write_displacement_nc(tmp_path / "new.nc", cube, CRS)
    assert not (tmp_path / "new.nc").exists()
    assert _leftovers(tmp_path) == []


def test_atomic_output_moves_in_only_on_success(tmp_path, grid, cube):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="stage failed"), atomic_output(out) as staging:
        write_displacement_nc(staging / "displacement.nc", cube, CRS)
        raise RuntimeError("stage failed")
    assert not out.exists()
    assert _leftovers(tmp_path) == []

    with atomic_output(out) as staging:
        write_velocity_tif(staging / "velocity.tif", velocity_map(cube), grid, CRS)
        assert not out.exists()
    assert (out / "velocity.tif").is_file()

    with pytest.raises(InputError, match="not empty"), atomic_output(out):
        pass
    with atomic_output(out, force=True) as staging:
        (staging / "validation.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == [products.OUTPUT_MARKER, "validation.json"]
    assert _leftovers(tmp_path) == []

    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_output(empty) as staging:
        (staging / "a.txt").write_text("a")
    assert (empty / "a.txt").read_text() == "a"


def test_cube_must_be_labelled(tmp_path, cube):
    with pytest.raises(InputError, match="DataArray"):
        write_displacement_nc(tmp_path / "x.nc", cube.values, CRS)
    with pytest.raises(InputError, match="dims"):
        products.velocity_map(cube.isel(time=0))


def test_velocity_std_map_constant_sigma():
    from insarfusion.products import velocity_std_map

    times = np.arange("2016-01-01", "2018-01-01", 12, dtype="datetime64[D]")
    cube = xr.DataArray(np.full((times.size, 2, 3), 2.0), dims=("time", "y", "x"),
                        coords={"time": times.astype("datetime64[ns]"), "y": [15.0, 5.0],
                                "x": [5.0, 15.0, 25.0]})
    cube[:, 0, 0] = np.nan
    years = (times - times[0]).astype(int) / 365.25
    expected = 2.0 / np.sqrt(((years - years.mean()) ** 2).sum())
    out = velocity_std_map(cube)
    assert np.isnan(out.values[0, 0])
    assert np.allclose(out.values[1], expected)


def test_every_former_name_is_still_importable_from_the_package():
    import importlib

    names = ["OUTPUT_MARKER", "OutputError", "atomic_output", "check_output_target",
             "output_lock", "remove_stale_staging", "write_displacement_nc", "velocity_map",
             "velocity_std_map", "LOS_SIGN_CONVENTION", "product_metadata", "write_cog",
             "write_velocity_tif", "DATE_FIELD_PREFIX", "date_field", "field_dates",
             "points_table", "fused_at_points", "write_points_gpkg", "write_gnss_los",
             "write_run_products", "_atomic_file", "_as_cube", "_clean"]
    package = importlib.import_module("insarfusion.products")
    assert all(hasattr(package, name) for name in names)
    # one concept per module
    for module, name in (("output", "atomic_output"), ("netcdf", "write_displacement_nc"),
                         ("rasters", "write_cog"), ("points", "write_points_gpkg"),
                         ("metadata", "product_metadata"), ("run", "write_run_products"),
                         ("guide", "product_lines")):
        assert hasattr(importlib.import_module(f"insarfusion.products.{module}"), name)
