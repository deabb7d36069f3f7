"""`series` (every product's series at a place) and the self-contained viewer page.

The viewer test loads the page in a real headless Chromium (Debian's ``chromium``), lets it
honour ``?click=X,Y`` and checks the series plotted in the dumped DOM; it is skipped when no
Chromium is installed.
"""

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from insarfusion.crs import xy_to_lonlat
from insarfusion.dataset import point_dataset
from insarfusion.errors import InputError
from insarfusion.grid import make_grid
from insarfusion.gridinfo import data_mask, support_rasters, write_grid_info
from insarfusion.products import (
    velocity_map,
    velocity_std_map,
    write_displacement_nc,
    write_gnss_los,
    write_points_gpkg,
    write_velocity_tif,
)
from insarfusion.tools.series import product_files, series_at, write_series_csv
from insarfusion.tools.viewer import viewer_data, write_viewer

CRS = "EPSG:32717"
DATES = pd.date_range("2020-01-01", periods=6, freq="12D").values


def _plane(grid, slope_mm, offset=0.0):
    """d(t, x) = t_index * slope * (x - x0) / 100 + offset: exact under bilinear sampling."""
    dx = (grid["x"].values - grid["x"].values[0])[None, :] + 0 * grid["y"].values[:, None]
    values = np.arange(len(DATES))[:, None, None] * slope_mm * dx[None] / 100.0 + offset
    return xr.DataArray(values, dims=("time", "y", "x"),
                        coords={"time": DATES, "y": grid["y"], "x": grid["x"]})


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    grid = make_grid(721000.0, 721220.0, 9678000.0, 9678180.0, cell_size=20.0, crs=CRS)
    synergic = _plane(grid, 1.0)
    nearest = _plane(grid, 2.0)
    std = synergic * 0 + 0.7
    write_displacement_nc(folder / "displacement.nc", synergic, CRS, std=std)
    write_displacement_nc(folder / "displacement_nearest.nc", nearest, CRS,
                          attrs={"method": "nearest"})
    write_velocity_tif(folder / "velocity.tif", velocity_map(synergic), grid, CRS)
    write_velocity_tif(folder / "velocity_std.tif", velocity_std_map(std), grid, CRS)
    pts = {name: point_dataset(np.cumsum(np.ones((3, len(DATES))), axis=1) * k, DATES,
                               x=x0 + np.arange(3.0) * 40, y=np.full(3, 9678090.0), crs=CRS,
                               incidence=35.0, heading=-10.0, name=name,
                               ids=[f"{name}{i}" for i in range(3)])
           for k, (name, x0) in enumerate((("CSK", 721010.0), ("S1A", 721150.0)), 1)}
    write_points_gpkg(folder / "points.gpkg", pts, fused=synergic)
    support = support_rasters(grid, pts)
    write_grid_info(folder, grid, CRS, support=support, mask=data_mask(support, 60.0))
    write_gnss_los(folder / "gnss_los.csv", [np.arange(6.0), -np.arange(6.0)], ["M01", "M02"],
                   DATES, [721050.0, 721200.0], [9678100.0, 9678020.0], CRS)
    return folder


def test_product_files(out):
    assert list(product_files(out)) == ["synergic", "nearest"]


def test_series_at_a_place(out):
    x, y = 721053.0, 9678097.0
    lon, lat = xy_to_lonlat([x], [y], CRS)
    frame = series_at(out, float(lon[0]), float(lat[0]))
    assert frame.index.name == "date"
    assert list(frame.index) == list(pd.DatetimeIndex(DATES))
    assert list(frame.columns) == ["synergic", "synergic_std", "nearest", "CSK_point",
                                   "S1A_point", "gnss_M01"]
    steps = np.arange(len(DATES))
    x0 = 721010.0   # first cell centre of the grid
    assert np.allclose(frame["synergic"], steps * (x - x0) / 100.0, atol=1e-3)
    assert np.allclose(frame["nearest"], 2 * steps * (x - x0) / 100.0, atol=1e-3)
    assert np.allclose(frame["synergic_std"], 0.7, atol=1e-5)
    assert np.allclose(frame["gnss_M01"], steps)
    assert np.allclose(frame["CSK_point"], steps + 1)     # nearest CSK point (721050)
    assert frame.attrs["sources"]["CSK_point"]["id"] == "CSK1"
    assert frame.attrs["sources"]["gnss_M01"]["station"] == "M01"
    assert frame.attrs["x"] == pytest.approx(x, abs=1e-3)
    # x/y instead of lon/lat; a point radius that excludes every point
    same = series_at(out, x=x, y=y, point_radius_m=1.0, gnss_radius_m=1.0)
    assert list(same.columns) == ["synergic", "synergic_std", "nearest"]
    assert np.allclose(same["synergic"], frame["synergic"])


def test_series_off_the_grid_and_errors(out, tmp_path):
    frame = series_at(out, x=700000.0, y=9678100.0, point_radius_m=None)
    assert frame["synergic"].isna().all()
    with pytest.raises(InputError, match="no displacement product"):
        series_at(tmp_path, 0.0, 0.0)
    with pytest.raises(InputError, match="lon/lat"):
        series_at(out)


def test_series_csv(out, tmp_path):
    frame = series_at(out, x=721053.0, y=9678097.0)
    path = tmp_path / "series.csv"
    text = write_series_csv(frame, path)
    assert text.startswith("# LOS displacement (mm), positive toward the satellite")
    assert "# gnss_M01: station M01" in text
    back = pd.read_csv(path, comment="#", index_col="date", parse_dates=True)
    assert list(back.columns) == list(frame.columns)
    assert np.allclose(back.values, frame.values, atol=1e-3, equal_nan=True)


def test_viewer_data_and_thinning(out):
    data = viewer_data(out)
    assert data["grid"]["stride"] == 1
    assert [p["name"] for p in data["products"]] == ["synergic", "nearest"]
    assert [layer["name"] for layer in data["layers"]] == [
        "velocity", "velocity std", "distance to nearest point", "points within radius",
        "data mask (1 near data)"]
    assert [s["name"] for s in data["stations"]] == ["M01", "M02"]
    assert data["stations"][1]["series"] == [0.0, -1.0, -2.0, -3.0, -4.0, -5.0]
    thin = viewer_data(out, max_values=2 * len(DATES) * 30)
    assert thin["grid"]["stride"] > 1
    assert thin["grid"]["cell"] == 20.0 * thin["grid"]["stride"]


def test_viewer_page_is_self_contained(out, tmp_path):
    page = write_viewer(out, tmp_path / "viewer.html")
    text = page.read_text()
    assert "<script src" not in text and "<link" not in text
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)
    data = json.loads(re.search(r'<script id="viewer-data" type="application/json">(.*?)'
                                r"</script>", text, re.S).group(1))
    assert data["dates"][0] == "2020-01-01"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _dump_dom(url, profile):
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert "<svg" in result.stdout, result.stderr[-2000:]
    lines = re.findall(r'<polyline[^>]*class="series"[^>]*>', result.stdout)
    series = {re.search(r'data-name="([^"]*)"', line).group(1):
              re.search(r'points="([^"]*)"', line).group(1).split() for line in lines}
    info = re.search(r'<div id="series-info"[^>]*>([^<]*)</div>', result.stdout).group(1)
    return series, info


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium installed")
def test_viewer_click_shows_every_series_in_chromium(out, tmp_path):
    page = write_viewer(out, tmp_path / "viewer.html")
    # a click on an input point: every product at its cell, the point, the nearest station
    series, info = _dump_dom(page.resolve().as_uri() + "?click=721050,9678090",
                             tmp_path / "profile")
    assert list(series) == ["synergic", "nearest", "CSK point CSK1",
                            "GNSS M01 (10 m away)"]
    assert all(len(points) == len(DATES) for points in series.values())
    assert "cell row 5, col 2" in info
    # a click on a cell away from the points
    series, info = _dump_dom(page.resolve().as_uri() + "?cell=8,9", tmp_path / "profile")
    assert list(series) == ["synergic", "nearest", "GNSS M02 (14 m away)"]
    assert "cell row 8, col 9" in info


def test_viewer_with_the_main_product_only(tmp_path):
    grid = make_grid(0.0, 100.0, 0.0, 60.0, cell_size=20.0, crs=CRS)
    write_displacement_nc(tmp_path / "displacement.nc", _plane(grid, 1.0), CRS)
    data = viewer_data(tmp_path)
    assert [layer["name"] for layer in data["layers"]] == ["velocity"]
    assert data["stations"] == [] and [p["name"] for p in data["products"]] == ["synergic"]
    assert write_viewer(tmp_path).is_file()
    frame = series_at(tmp_path, x=30.0, y=30.0)
    assert list(frame.columns) == ["synergic"]
