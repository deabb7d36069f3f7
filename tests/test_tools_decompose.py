"""East-up decomposition: known answers, a property test, the grid workflow and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from insarfusion.conventions import enu_to_los, los_unit_vector
from insarfusion.dataset import point_dataset
from insarfusion.errors import InputError
from insarfusion.grid import make_grid
from insarfusion.tools.decompose import decompose, decompose_datasets, grid_los

ASC = (39.0, -8.9)      # incidence, heading (degrees): Sentinel-1 ascending, EGMS track 117
DSC = (37.3, -168.6)    # descending, EGMS track 022 (track_angle 191.4)


def _cube(values):
    return xr.DataArray(np.asarray(values, float), dims=("time", "y", "x"))


def test_ascending_descending_motion_decomposed_back_exactly():
    rng = np.random.default_rng(1)
    east = _cube(rng.normal(0, 10, (5, 3, 4)))
    up = _cube(rng.normal(0, 10, (5, 3, 4)))
    los = [east.copy(data=enu_to_los(east.values, 0.0, up.values, *geom))
           for geom in (ASC, DSC)]
    out = decompose(los, [los_unit_vector(*ASC), los_unit_vector(*DSC)])
    np.testing.assert_allclose(out["east"], east, atol=1e-9)
    np.testing.assert_allclose(out["up"], up, atol=1e-9)
    np.testing.assert_allclose(out["residual"], 0.0, atol=1e-9)
    assert out["east"].dims == ("time", "y", "x")
    assert out.attrs["north"] == "neglected"


def test_hand_computed_answer():
    # pure subsidence of 10 mm: both LOS see -10 cos(theta); east motion of +5 mm: the
    # ascending LOS (looking east) sees -5 sin(theta) cos(heading), the descending +.
    asc, dsc = los_unit_vector(*ASC), los_unit_vector(*DSC)
    d_asc = xr.DataArray(-10 * asc[2] + 5 * asc[0])
    d_dsc = xr.DataArray(-10 * dsc[2] + 5 * dsc[0])
    assert d_asc < d_dsc  # eastward motion moves away from an ascending (east-looking) sensor
    out = decompose([d_asc, d_dsc], [asc, dsc])
    assert float(out["up"]) == pytest.approx(-10.0)
    assert float(out["east"]) == pytest.approx(5.0)


def test_known_north_is_removed_and_neglected_north_leaks():
    asc, dsc = los_unit_vector(*ASC), los_unit_vector(*DSC)
    e, n, u = 3.0, 8.0, -6.0
    los = [xr.DataArray(enu_to_los(e, n, u, *g)) for g in (ASC, DSC)]
    exact = decompose(los, [asc, dsc], north=n)
    assert float(exact["east"]) == pytest.approx(e)
    assert float(exact["up"]) == pytest.approx(u)
    assert exact.attrs["north"] == "removed"
    biased = decompose(los, [asc, dsc])
    a = np.array([[asc[0], asc[2]], [dsc[0], dsc[2]]])
    leak = np.linalg.solve(a, n * np.array([asc[1], dsc[1]]))
    assert float(biased["east"]) == pytest.approx(e + leak[0])
    assert float(biased["up"]) == pytest.approx(u + leak[1])
    # Sentinel-1: the leak is nearly common to both LOS, so it goes mostly into up
    assert leak[1] == pytest.approx(-0.138 * n, abs=0.01 * n)
    assert abs(leak[0]) < 0.03 * n


def test_three_geometries_least_squares_and_sigma():
    geoms = [ASC, DSC, (44.0, -14.9)]
    vecs = [los_unit_vector(*g) for g in geoms]
    los = [xr.DataArray(enu_to_los(2.0, 0.0, -4.0, *g)) for g in geoms]
    out = decompose(los, vecs, sigma=[1.0, 1.0, 2.0])
    assert float(out["east"]) == pytest.approx(2.0)
    assert float(out["up"]) == pytest.approx(-4.0)
    assert int(out["n_geometries"]) == 3
    a = np.array([[v[0], v[2]] for v in vecs])
    w = np.diag([1.0, 1.0, 0.25])
    cov = np.linalg.inv(a.T @ w @ a)
    assert float(out["east_std"]) == pytest.approx(np.sqrt(cov[0, 0]))
    assert float(out["up_std"]) == pytest.approx(np.sqrt(cov[1, 1]))
    # an inconsistent third geometry leaves a residual
    los[2] = los[2] + 3.0
    assert float(decompose(los, vecs)["residual"]) > 0.5


def test_nan_parallel_and_bad_inputs():
    asc, dsc = los_unit_vector(*ASC), los_unit_vector(*DSC)
    d1 = xr.DataArray([1.0, np.nan], dims="cell")
    d2 = xr.DataArray([2.0, 2.0], dims="cell")
    out = decompose([d1, d2], [asc, dsc])
    assert np.isfinite(out["east"][0]) and np.isnan(out["east"][1])
    assert int(out["n_geometries"][1]) == 0
    same = decompose([d2, d2], [asc, asc])  # one geometry twice: east and up not separable
    assert np.isnan(same["up"]).all()
    with pytest.raises(InputError, match="at least two"):
        decompose([d1], [asc])
    with pytest.raises(InputError, match="unit vectors"):
        decompose([d1, d2], [asc])
    with pytest.raises(InputError, match="same coordinates"):
        decompose([d1.assign_coords(cell=[0, 1]), d2.assign_coords(cell=[5, 6])], [asc, dsc])
    with pytest.raises(InputError, match="label its dimensions"):
        decompose([d1, d2], [asc, (np.zeros(2), 0.0, 1.0)])


@settings(max_examples=60, deadline=None)
@given(east=st.floats(-500, 500), up=st.floats(-500, 500),
       inc_a=st.floats(20, 46), head_a=st.floats(-25, 5),
       inc_d=st.floats(20, 46), head_d=st.floats(-195, -160))
def test_property_any_asc_desc_pair_recovers_east_and_up(east, up, inc_a, head_a, inc_d,
                                                         head_d):
    geoms = [(inc_a, head_a), (inc_d, head_d)]
    los = [xr.DataArray(enu_to_los(east, 0.0, up, *g)) for g in geoms]
    out = decompose(los, [los_unit_vector(*g) for g in geoms])
    assert float(out["east"]) == pytest.approx(east, abs=1e-8)
    assert float(out["up"]) == pytest.approx(up, abs=1e-8)


def _points(rng, n, geom, east_rate, up_rate, dates, grid_extent):
    x = rng.uniform(*grid_extent[:2], n)
    y = rng.uniform(*grid_extent[2:], n)
    years = (dates - dates[0]).astype(int) / 365.25
    los_rate = enu_to_los(east_rate(x, y), 0.0, up_rate(x, y), *geom)
    disp = los_rate[:, None] * years[None, :]
    return point_dataset(disp, dates, x=x, y=y, crs="EPSG:32633", incidence=geom[0],
                         heading=geom[1], name="asc" if geom == ASC else "dsc")


def test_grid_workflow_recovers_velocities():
    rng = np.random.default_rng(3)
    extent = (500_000.0, 500_400.0, 4_290_000.0, 4_290_300.0)
    dates_a = np.arange(np.datetime64("2020-01-03"), np.datetime64("2021-01-01"), 12)
    dates_d = dates_a + np.timedelta64(5, "D")
    east_rate = lambda x, y: 4.0 + 0.0 * x  # noqa: E731
    up_rate = lambda x, y: -2.0 + 0.0 * y  # noqa: E731
    asc = _points(rng, 400, ASC, east_rate, up_rate, dates_a, extent)
    dsc = _points(rng, 400, DSC, east_rate, up_rate, dates_d, extent)
    grid = make_grid(*extent, 100.0, crs="EPSG:32633")
    cells = grid_los(asc, grid)
    assert cells["count"].sum() == 400
    norm = np.hypot(np.hypot(cells["los_east"], cells["los_north"]), cells["los_up"]).values
    np.testing.assert_allclose(norm[cells["count"].values > 0], 1.0)
    assert np.isnan(norm[cells["count"].values == 0]).all()
    epochs = np.arange(dates_d[0], dates_a[-1], 6)
    out = decompose_datasets({"asc": asc, "dsc": dsc}, grid, epochs)
    ok = np.isfinite(out["velocity_east"].values)
    assert ok.sum() >= 10
    np.testing.assert_allclose(out["velocity_east"].values[ok], 4.0, atol=1e-6)
    np.testing.assert_allclose(out["velocity_up"].values[ok], -2.0, atol=1e-6)
    np.testing.assert_allclose(out["residual"].values[:, ok], 0.0, atol=1e-9)
    assert float(out["east"].isel(time=0).max()) == 0.0  # zero at the first epoch
    assert set(out.data_vars) >= {"east", "up", "velocity_east", "velocity_up", "count_asc"}


def test_decompose_command_writes_outputs_atomically(tmp_path, cli):
    import pandas as pd

    from insarfusion.crs import xy_to_lonlat

    rng = np.random.default_rng(5)
    extent = (500_000.0, 500_400.0, 4_290_000.0, 4_290_300.0)
    dates = np.arange(np.datetime64("2020-01-03"), np.datetime64("2021-01-01"), 12)
    files = {}
    for geom, name in ((ASC, "asc"), (DSC, "dsc")):
        ds = _points(rng, 200, geom, lambda x, y: 3.0 + 0 * x, lambda x, y: -5.0 + 0 * x,
                     dates, extent)
        lon, lat = xy_to_lonlat(ds["x"].values, ds["y"].values, "EPSG:32633")
        table = pd.DataFrame({"id": np.arange(200), "lon": lon, "lat": lat,
                              "incidence": geom[0], "heading": geom[1]})
        disp = pd.DataFrame(ds["displacement"].values,
                            columns=[str(d).replace("-", "") for d in dates])
        files[name] = tmp_path / f"{name}.csv"
        pd.concat([table, disp], axis=1).to_csv(files[name], index=False)
    config = tmp_path / "config.yaml"
    config.write_text(
        "datasets:\n"
        "  - {name: A, path: asc.csv, format: csv}\n"
        "  - {name: D, path: dsc.csv, format: csv}\n"
        "crs: EPSG:32633\n"
        "decomposition: {cell_size_m: 100, step_days: 12}\n")
    out = tmp_path / "out"
    code, stdout, err = cli("decompose", config, "--out", out)
    assert code == 0, err
    assert "cells decomposed" in stdout
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["cells"] > 5
    with xr.open_dataset(out / "decomposition.nc") as ds:
        v = ds["velocity_east"].values
        np.testing.assert_allclose(v[np.isfinite(v)], 3.0, atol=1e-3)
        np.testing.assert_allclose(ds["velocity_up"].values[np.isfinite(v)], -5.0, atol=1e-3)
    assert (out / "velocity_up.tif").is_file() and (out / "decomposition.png").is_file()
    # a second run without --force leaves the first untouched, with one line of error
    code, _, err = cli("decompose", config, "--out", out)
    assert code == 2 and "exists" in err and len(err.strip().splitlines()) == 1
    # a bad comparison file fails the run and leaves no folder behind
    config.write_text(config.read_text().replace(
        "step_days: 12}", "step_days: 12, compare: {up: missing.csv}}"))
    code, _, err = cli("decompose", config, "--out", tmp_path / "out2")
    assert code == 2 and "missing.csv" in err
    assert not (tmp_path / "out2").exists()
