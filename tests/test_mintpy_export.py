"""MintPy layout of timeseries.h5, velocity.h5 and geometryGeo.h5, and the velocity reader.

The layout test checks every dataset and attribute against MintPy's documented layout. The
optional test opens the files with MintPy's own reader: in-process when ``mintpy`` imports,
or through the interpreter named by ``MINTPY_PYTHON`` (a separate environment with MintPy),
and is skipped otherwise.
"""

import importlib.util
import json
import os
import subprocess
import textwrap

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from insarfusion.conventions import azimuth_angle_from_heading
from insarfusion.crs import lonlat_to_xy, xy_to_lonlat
from insarfusion.dataset import point_dataset
from insarfusion.errors import InputError
from insarfusion.grid import make_grid
from insarfusion.gridinfo import geometry_rasters
from insarfusion.mintpy_export import (
    grid_attributes,
    read_mintpy_velocity,
    write_mintpy,
)
from insarfusion.products import velocity_map

CRS = "EPSG:32717"
DATES = pd.date_range("2020-01-05", periods=5, freq="12D").values


@pytest.fixture
def grid():
    return make_grid(721000.0, 721200.0, 9678000.0, 9678100.0, cell_size=20.0, crs=CRS)


@pytest.fixture
def cube(grid):
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    years = (DATES - DATES[0]) / np.timedelta64(1, "D") / 365.25
    values = 3.0 + np.arange(ny * nx, dtype=float).reshape(ny, nx)[None] \
        - 12.0 * years[:, None, None]
    values[:, 1, 2] = np.nan
    return xr.DataArray(values, dims=("time", "y", "x"),
                        coords={"time": DATES, "y": grid["y"], "x": grid["x"]})


@pytest.fixture
def geometry(grid):
    pts = point_dataset(np.zeros((2, 5)), DATES, x=[721000.0, 721200.0],
                        y=[9678050.0, 9678050.0], crs=CRS, incidence=[38.0, 40.0],
                        heading=-12.0, name="S1A")
    return geometry_rasters(grid, pts, method="nearest")


@pytest.fixture
def files(tmp_path, grid, cube, geometry):
    velocity = velocity_map(cube)
    lon, lat = xy_to_lonlat([float(grid["x"][3])], [float(grid["y"][2])], CRS)
    return write_mintpy(tmp_path / "mintpy", cube, grid, CRS, velocity=velocity,
                        velocity_std=velocity * 0 + 0.5, geometry=geometry,
                        height=np.full((grid.sizes["y"], grid.sizes["x"]), 2500.0),
                        reference={"lon": lon[0], "lat": lat[0], "name": "M21"},
                        wavelength_m=0.0555, heading=-12.0)


def _attrs(path):
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def _check_grid_attrs(attrs, grid):
    assert attrs["LENGTH"] == str(grid.sizes["y"]) and attrs["WIDTH"] == str(grid.sizes["x"])
    assert float(attrs["X_FIRST"]) == pytest.approx(float(grid["x"][0]) - 10.0)
    assert float(attrs["Y_FIRST"]) == pytest.approx(float(grid["y"][0]) + 10.0)
    assert float(attrs["X_STEP"]) == 20.0 and float(attrs["Y_STEP"]) == -20.0
    assert attrs["X_UNIT"] == attrs["Y_UNIT"] == "meters"
    assert attrs["EPSG"] == "32717" and attrs["UTM_ZONE"] == "17S"


def test_timeseries_layout(files, grid, cube):
    with h5py.File(files["timeseries"], "r") as f:
        assert set(f) == {"timeseries", "date", "bperp"}
        ts = f["timeseries"]
        assert ts.shape == (5, grid.sizes["y"], grid.sizes["x"]) and ts.dtype == np.float32
        assert ts.attrs["UNIT"] == "m"
        assert f["date"].dtype == np.dtype("S8")
        assert [d.decode() for d in f["date"][()]] == [
            pd.Timestamp(d).strftime("%Y%m%d") for d in DATES]
        assert f["bperp"].shape == (5,) and f["bperp"].dtype == np.float32
        data = ts[()]
    expected = (cube.values - cube.values[0]) / 1000.0    # metres, zero at REF_DATE
    assert np.allclose(data, expected, equal_nan=True, atol=1e-7)
    assert np.isnan(data[:, 1, 2]).all()
    attrs = _attrs(files["timeseries"])
    _check_grid_attrs(attrs, grid)
    assert attrs["FILE_TYPE"] == "timeseries" and attrs["UNIT"] == "m"
    assert attrs["REF_DATE"] == "20200105"
    assert (attrs["REF_Y"], attrs["REF_X"]) == ("2", "3")
    assert attrs["REF_STATION"] == "M21"
    # MintPy's convention for a geocoded file: the reference cell's centre in the grid's CRS
    assert float(attrs["REF_LON"]) == pytest.approx(float(grid["x"][3]))
    assert float(attrs["REF_LAT"]) == pytest.approx(float(grid["y"][2]))
    assert float(attrs["WAVELENGTH"]) == 0.0555
    assert attrs["ORBIT_DIRECTION"] == "ASCENDING"
    assert float(attrs["HEADING"]) == -12.0


def test_velocity_layout(files, grid, cube):
    with h5py.File(files["velocity"], "r") as f:
        assert set(f) == {"velocity", "velocityStd"}
        assert f["velocity"].dtype == np.float32 and f["velocity"].attrs["UNIT"] == "m/year"
        velocity = f["velocity"][()]
        std = f["velocityStd"][()]
    assert np.allclose(velocity, velocity_map(cube).values / 1000.0, equal_nan=True)
    assert np.allclose(velocity[np.isfinite(velocity)], -0.012, atol=1e-6)
    assert np.allclose(std[np.isfinite(velocity)], 0.0005) and np.isnan(std[1, 2])
    attrs = _attrs(files["velocity"])
    _check_grid_attrs(attrs, grid)
    assert attrs["FILE_TYPE"] == "velocity" and attrs["UNIT"] == "m/year"
    assert attrs["START_DATE"] == "20200105" and attrs["END_DATE"] == "20200222"
    assert attrs["DATE12"] == "20200105_20200222"


def test_geometry_layout(files, grid, geometry):
    with h5py.File(files["geometry"], "r") as f:
        assert set(f) == {"incidenceAngle", "azimuthAngle", "height", "latitude", "longitude"}
        for name in f:
            assert f[name].shape == (grid.sizes["y"], grid.sizes["x"])
            assert f[name].dtype == np.float32
        assert f["incidenceAngle"].attrs["UNIT"] == "degree"
        assert np.allclose(f["incidenceAngle"][()], geometry["incidence"].values, atol=1e-5)
        assert np.allclose(f["azimuthAngle"][()], azimuth_angle_from_heading(-12.0), atol=1e-4)
        assert np.allclose(f["azimuthAngle"][()], 102.0, atol=1e-4)   # -(heading - 90)
        assert np.allclose(f["height"][()], 2500.0)
        lon, lat = f["longitude"][0, 0], f["latitude"][0, 0]
    x, y = lonlat_to_xy([lon], [lat], CRS)
    assert x[0] == pytest.approx(float(grid["x"][0]), abs=0.5)
    assert y[0] == pytest.approx(float(grid["y"][0]), abs=0.5)
    attrs = _attrs(files["geometry"])
    _check_grid_attrs(attrs, grid)
    assert attrs["FILE_TYPE"] == "geometry"


def test_package_reader_reads_the_export_back(files, grid, cube):
    from insarfusion.io.mintpy import read_mintpy

    ds = read_mintpy(files["timeseries"], crs=CRS)
    assert ds.sizes["point"] == grid.sizes["y"] * grid.sizes["x"] - 1   # the NaN cell left out
    first = ds.sel(point="r0_c0")
    assert float(first["x"]) == pytest.approx(float(grid["x"][0]))
    assert float(first["y"]) == pytest.approx(float(grid["y"][0]))
    assert float(first["heading"]) == pytest.approx(-12.0, abs=1e-3)
    assert np.allclose(first["displacement"].values, cube.values[:, 0, 0] - cube.values[0, 0, 0],
                       atol=1e-3)


def test_velocity_reader(files, grid, cube):
    velocity = read_mintpy_velocity(files["velocity"])
    assert velocity.dims == ("y", "x") and velocity.attrs["units"] == "mm/yr"
    assert velocity.attrs["crs"] == CRS
    assert np.allclose(velocity["x"], grid["x"]) and np.allclose(velocity["y"], grid["y"])
    assert np.allclose(velocity.values, velocity_map(cube).values, equal_nan=True, atol=1e-4)
    std = read_mintpy_velocity(files["velocity"], dataset="velocityStd")
    assert np.allclose(std.values[np.isfinite(velocity.values)], 0.5)
    assert velocity.attrs["START_DATE"] == "20200105"


def test_velocity_reader_degrees_units_and_errors(tmp_path):
    path = tmp_path / "velocity.h5"
    with h5py.File(path, "w") as f:
        f["velocity"] = np.full((3, 4), 2.0, dtype="float32")
        f.attrs.update(FILE_TYPE="velocity", UNIT="cm/year", X_FIRST="-79.0", Y_FIRST="-2.8",
                       X_STEP="0.001", Y_STEP="-0.001", X_UNIT="degrees", Y_UNIT="degrees",
                       LENGTH="3", WIDTH="4")
    velocity = read_mintpy_velocity(path)
    assert np.allclose(velocity.values, 20.0)
    assert velocity.attrs["crs"] == "EPSG:4326"
    assert velocity["x"].values[0] == pytest.approx(-78.9995)
    with pytest.raises(InputError, match="no dataset"):
        read_mintpy_velocity(path, dataset="velocityStd")
    with pytest.raises(InputError, match="not an HDF5"):
        (tmp_path / "bad.h5").write_text("x")
        read_mintpy_velocity(tmp_path / "bad.h5")


def test_grid_attributes_reject_a_south_up_grid():
    with pytest.raises(InputError, match="north up"):
        grid_attributes([0.0, 20.0], [0.0, 20.0], CRS)


_MINTPY_SCRIPT = textwrap.dedent("""
    import json, sys
    from mintpy.utils import readfile
    from mintpy.objects import timeseries
    ts_file, vel_file, geo_file = sys.argv[1:4]
    out = {}
    data, atr = readfile.read(ts_file, datasetName="20200222")
    out["ts_shape"] = list(data.shape)
    out["ts_value"] = float(data[0, 0])
    out["ts_type"] = atr["FILE_TYPE"]
    obj = timeseries(ts_file)
    obj.open(print_msg=False)
    out["dates"] = obj.dateList
    vel, atr = readfile.read(vel_file, datasetName="velocity")
    out["vel_value"] = float(vel[0, 0])
    out["vel_type"] = atr["FILE_TYPE"]
    inc, atr = readfile.read(geo_file, datasetName="incidenceAngle")
    out["inc_value"] = float(inc[0, 0])
    out["geo_type"] = atr["FILE_TYPE"]
    az = readfile.read(geo_file, datasetName="azimuthAngle")[0]
    out["az_value"] = float(az[0, 0])
    print(json.dumps(out))
""")


def _run_with_mintpy(args):
    if importlib.util.find_spec("mintpy") is not None:
        python = None
    elif os.environ.get("MINTPY_PYTHON"):
        python = os.environ["MINTPY_PYTHON"]
    else:
        pytest.skip("mintpy is not importable (set MINTPY_PYTHON to an interpreter with it)")
    import sys

    result = subprocess.run([python or sys.executable, "-c", _MINTPY_SCRIPT, *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mintpy_reads_the_files(files, cube, geometry):
    out = _run_with_mintpy([files["timeseries"], files["velocity"], files["geometry"]])
    assert out["ts_type"] == "timeseries" and out["vel_type"] == "velocity"
    assert out["geo_type"] == "geometry"
    assert out["dates"] == [pd.Timestamp(d).strftime("%Y%m%d") for d in DATES]
    assert out["ts_shape"] == list(cube.shape[1:])
    assert out["ts_value"] == pytest.approx((cube.values[-1, 0, 0] - cube.values[0, 0, 0])
                                            / 1000.0, abs=1e-6)
    assert out["vel_value"] == pytest.approx(-0.012, abs=1e-6)
    assert out["inc_value"] == pytest.approx(float(geometry["incidence"][0, 0]), abs=1e-4)
    assert out["az_value"] == pytest.approx(102.0, abs=1e-4)
