"""Per-cell geometry, support and data mask rasters on the run's grid."""

import numpy as np
import pandas as pd
import pytest
import rasterio

from insarfusion.conventions import enu_to_los, los_unit_vector
from insarfusion.dataset import point_dataset
from insarfusion.errors import StageError
from insarfusion.grid import make_grid
from insarfusion.gridinfo import (
    data_mask,
    default_max_distance,
    geometry_rasters,
    support_rasters,
    write_grid_info,
)

CRS = "EPSG:32717"
DATES = pd.date_range("2020-01-01", periods=3, freq="12D").values


@pytest.fixture
def grid():
    return make_grid(0.0, 200.0, 0.0, 100.0, cell_size=20.0, crs=CRS)


def _points(x, y, incidence, heading, name="S1A"):
    n = len(x)
    return point_dataset(np.zeros((n, 3)), DATES, x=x, y=y, crs=CRS, incidence=incidence,
                         heading=heading, name=name)


def test_nearest_geometry_and_unit_vector(grid):
    pts = _points([10.0, 190.0], [50.0, 50.0], [30.0, 40.0], [-10.0, -170.0])
    geo = geometry_rasters(grid, pts, method="nearest")
    assert set(geo) == {"incidence", "heading", "los_east", "los_north", "los_up"}
    assert geo["incidence"].dims == ("y", "x")
    left, right = geo.isel(x=0, y=2), geo.isel(x=-1, y=2)
    assert float(left["incidence"]) == pytest.approx(30.0)
    assert float(right["incidence"]) == pytest.approx(40.0)
    assert float(left["heading"]) == pytest.approx(-10.0)
    assert float(right["heading"]) == pytest.approx(-170.0)
    e, n, u = los_unit_vector(30.0, -10.0)
    assert float(left["los_east"]) == pytest.approx(e)
    assert float(left["los_north"]) == pytest.approx(n)
    assert float(left["los_up"]) == pytest.approx(u)
    # the package's convention: an ascending (heading ~ -10) right-looking LOS points west, up
    assert float(left["los_east"]) < 0 and float(left["los_up"]) > 0
    # LOS of a unit vertical motion is los_up, so vertical = LOS / los_up
    assert enu_to_los(0, 0, 1.0, 30.0, -10.0) == pytest.approx(float(left["los_up"]))
    norm = geo["los_east"] ** 2 + geo["los_north"] ** 2 + geo["los_up"] ** 2
    assert np.allclose(norm, 1.0)


def test_idw_geometry_is_a_weighted_vector_mean(grid):
    # headings on either side of +/-180: averaging angles would give ~0, vectors give 180
    pts = _points([100.0, 120.0], [50.0, 50.0], 35.0, [179.0, -179.0])
    geo = geometry_rasters(grid, pts, method="idw", k=2)
    middle = geo.sel(x=110.0, y=50.0)
    assert abs(abs(float(middle["heading"])) - 180.0) < 1e-6
    assert float(middle["incidence"]) == pytest.approx(35.0, abs=0.01)
    assert np.allclose(geo["incidence"], 35.0, atol=0.01)


def test_unknown_geometry_is_left_out_or_fails(grid):
    pts = _points([10.0, 190.0], [50.0, 50.0], [np.nan, 40.0], -10.0)
    geo = geometry_rasters(grid, pts, method="nearest")
    assert np.allclose(geo["incidence"], 40.0)
    with pytest.raises(StageError, match="incidence and heading"):
        geometry_rasters(grid, _points([10.0], [50.0], np.nan, np.nan))


def test_support_and_mask(grid):
    a = _points([10.0, 30.0], [110.0, 110.0], 35.0, -10.0)    # on the top row's centres
    b = _points([12.0], [108.0], 35.0, -10.0, name="CSK")
    support = support_rasters(grid, [a, b], radius_m=25.0)
    assert support["distance_m"].dims == ("y", "x")
    assert float(support["distance_m"].isel(y=0, x=0)) == pytest.approx(0.0, abs=1e-9)
    far = float(np.hypot(210.0 - 30.0, 110.0 - 10.0))
    assert float(support["distance_m"].isel(y=-1, x=-1)) == pytest.approx(far)
    assert int(support["n_points"].isel(y=0, x=0)) == 3
    assert int(support["n_points"].isel(y=0, x=1)) == 3      # (30, 110): all within 25 m
    assert int(support["n_points"].isel(y=-1, x=-1)) == 0
    mask = data_mask(support, 30.0)
    assert mask.dtype == np.uint8
    assert int(mask.isel(y=0, x=0)) == 1 and int(mask.isel(y=-1, x=-1)) == 0
    assert default_max_distance(grid, [a, b]) == pytest.approx(40.0)   # two cells
    assert support_rasters(grid, ([0.0], [0.0])).attrs["radius_m"] == 40.0


def test_written_as_cogs(tmp_path, grid):
    pts = _points([10.0, 190.0], [50.0, 50.0], [30.0, 40.0], [-10.0, -170.0])
    geo = geometry_rasters(grid, pts)
    support = support_rasters(grid, pts)
    mask = data_mask(support, 50.0)
    files = write_grid_info(tmp_path, grid, CRS, geometry=geo, support=support, mask=mask,
                            metadata={"primary_dataset": "S1A"})
    assert sorted(files) == ["data_mask", "geometry", "support"]
    with rasterio.open(files["geometry"]) as src:
        assert src.count == 5
        assert src.descriptions == ("incidence", "heading", "los_east", "los_north", "los_up")
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.overviews(1)
        assert src.tags()["primary_dataset"] == "S1A"
        assert np.allclose(src.read(3), geo["los_east"].values, atol=1e-6)
    with rasterio.open(files["support"]) as src:
        assert src.descriptions == ("distance_m", "n_points")
        assert np.allclose(src.read(1), support["distance_m"].values, atol=1e-3)
    with rasterio.open(files["data_mask"]) as src:
        assert src.dtypes[0] == "uint8"
        assert np.array_equal(src.read(1), mask.values)
