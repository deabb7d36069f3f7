"""End to end on the simulated case: every output, finite numbers, and accuracy that can fail."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import xarray as xr

from insarfusion import datum
from insarfusion import pipeline as P
from insarfusion.config import load_config
from insarfusion.simulate import load_truth, write_case

pytestmark = pytest.mark.slow

VALIDATION_STATIONS = ["M09", "M10", "M15", "M17", "M18", "M19", "M20", "M22", "M23"]


def _small_training(cfg):
    # the fusion is tested on linearly resampled series (a 3-epoch LSTM is no fair input);
    # the LSTM path of the run is tested in test_lstm_resampling_in_the_run
    cfg.temporal.method = "linear"
    cfg.temporal.lstm.epochs = 3
    cfg.temporal.lstm.max_train_series = 150
    cfg.temporal.lstm.units = 16
    cfg.spatial.cnn.epochs = 1
    cfg.spatial.cnn.n_patches = 40
    cfg.spatial.cnn.filters = 16
    cfg.spatial.cnn.mc_samples = 2
    return cfg


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    write_case(root / "case", seed=0)
    return root


@pytest.fixture(scope="module")
def result(case):
    cfg = _small_training(load_config(case / "case" / "config.yaml"))
    validation = P.run(cfg, case / "out")
    return case / "out", validation


def test_every_output_is_written(result):
    out, validation = result
    for name in ("displacement.nc", "velocity.tif", "velocity_std.tif", "points.gpkg",
                 "validation.json", "report.html", "config.resolved.yaml", "run.log",
                 "figures/velocity_maps.png", "figures/station_timeseries.png",
                 "figures/station_timeseries_aps.png", "tables/aps_before_after.md",
                 "tables/error_split.md",
                 "tables/velocity.csv", "tables/velocity.md", "tables/truth.md",
                 "tables/holdout_blocks.md", "atmosphere.nc"):
        assert (out / name).is_file(), name
    assert json.loads((out / "validation.json").read_text()) == validation
    html = (out / "report.html").read_text()
    assert html.count("<img src=\"data:image/png;base64,") >= 4
    assert "Table 4" in html and "Table 5" in html
    assert "Leave one station out: velocity error" in html
    assert "Leave one station out (each of 11 stations" in html
    for name in ("loso_velocity_error", "loso_timeseries_rmse"):
        for ext in ("csv", "md"):
            assert (out / "tables" / f"{name}.{ext}").is_file()
    # the error model's sections: APS removed, GNSS screened, the network tie's uncertainty
    assert set(validation["atmosphere"]["removed_rms_mm"]) == {"CSK", "S1A"}
    assert validation["gnss_screening"]["enabled"]
    tie = validation["datum_tie"]
    assert tie["tie"] == "network" and set(tie["datasets"]) == {"CSK", "S1A"}
    assert len(tie["products"]["synergic"]["sigma_mm"]) == validation["epochs"]["count"]
    assert validation["not_covered"] == {}
    log = (out / "run.log").read_text()
    assert "stage 4/11 temporal ..." in log and "stage 11/11 report done in" in log
    assert "stage 5/11 atmosphere ..." in log
    # the cubes kept on disk during the run are gone; the products are float32, chunked by
    # epoch and band of rows
    assert not (out / ".cubes").exists()
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".partial")]
    with xr.open_dataset(out / "displacement.nc") as ds:
        assert ds["displacement"].dtype == np.float32
        assert ds["displacement"].encoding["chunksizes"][0] == 1
        # the std is calibrated on held-out data, the method's own kept beside it
        assert {"displacement_std_raw", "velocity_std", "velocity_std_raw"} <= set(ds)
        assert ds.attrs["std_calibration_source"]
        assert float(ds["displacement_std"].median()) > float(ds["displacement_std_raw"].median())
    cal = validation["calibration"]["methods"]
    assert set(cal) == {name for name in cal if name in validation["truth"]}
    for name, c in cal.items():
        assert c["heldout_displacement"]["within_2std"] is not None
        assert 0 <= validation["truth"][name]["displacement_within_2std"] <= 1


def test_timings_of_every_stage(result):
    _, v = result
    stages = ("load", "project", "epochs", "temporal", "atmosphere", "datum", "spatial",
              "calibrate", "products", "validate", "report", "total")
    # the documented order of the paper's Figure 2, every stage timed
    assert tuple(name for name, _ in P.STAGES) == stages[:-1]
    assert all(v["timings_s"][s] >= 0 for s in stages)
    assert v["timings_s"]["total"] >= sum(v["timings_s"][s] for s in stages[:-1]) - 0.1


def test_products_are_georeferenced(result):
    out, _ = result
    cube = xr.open_dataset(out / "displacement.nc")
    assert cube["displacement"].dims == ("time", "y", "x")
    assert cube["displacement"].attrs["units"] == "mm"
    assert cube.sizes["time"] == 113
    with rasterio.open(out / "velocity.tif") as tif:
        assert tif.crs.to_epsg() == 32717
        assert tif.transform.a == pytest.approx(20.22)
        x0, y0 = tif.transform @ (0.5, 0.5)
        assert x0 == pytest.approx(float(cube.x[0])) and y0 == pytest.approx(float(cube.y[0]))
    cube.close()


def test_validation_numbers(result):
    _, v = result
    assert v["stations"] == VALIDATION_STATIONS  # M01 and M21 are references, never validated
    assert set(v["nearest_point_m"]) == {"S1A", "CSK"}
    for method in ("S1A", "CSK", "synergic", "nearest", "kriging", "idw", "linear"):
        m = v["methods"][method]
        assert set(m["stations"]) == set(VALIDATION_STATIONS)
        # a single dataset is not scored beyond gnss.radius_m (100 m) of its nearest point
        distance = v["nearest_point_m"].get(method, {})
        far = {s for s, d in distance.items() if d > 100.0}
        assert set(m.get("not_covered", {})) == far
        for s in far:
            assert m["stations"][s] == {"not_covered": True, "nearest_point_m": distance[s]}
        if far:
            assert v["improvement_stations"][f"synergic_vs_{method}"] == [
                s for s in VALIDATION_STATIONS if s not in far]
        for key in ("velocity_rmse_mm_yr", "timeseries_rmse_mm_mean", "cross_correlation_mean"):
            assert np.isfinite(m[key]), (method, key)
        assert m["cross_correlation_mean"] > 50
    # fusing the datasets beats each single dataset at the stations (paper Tables 6)
    syn = v["methods"]["synergic"]["timeseries_rmse_mm_mean"]
    assert syn < v["methods"]["CSK"]["timeseries_rmse_mm_mean"]
    assert syn < v["methods"]["S1A"]["timeseries_rmse_mm_mean"]
    assert v["improvement_pct"]["synergic_vs_CSK"] > 0
    # every method scored on input points held out in spatial blocks; the CNN, retrained by
    # each fold, on one fold, beside the others' scores on that fold
    held = v["holdout_blocks"]
    assert set(held) == {"synergic", "nearest", "kriging", "idw", "linear"}
    for scores in held.values():
        assert 0 < scores["rmse_mm"] < 10 and 0.5 < scores["coverage"] <= 1
    assert held["kriging"]["rmse_mm"] < held["nearest"]["rmse_mm"]
    assert held["synergic"]["folds_scored"] == 1
    same = held["synergic"]["same_folds_rmse_mm"]
    assert set(same) == {"nearest", "kriging", "idw", "linear"}
    assert held["synergic"]["epochs"] >= 1
    assert 0.5 < held["synergic"]["rmse_mm"] / same["kriging"] < 2  # a few epochs only here
    # leave one station out: every station with GNSS scored, the references included, each
    # product tied to the datum through the other ten stations
    loso = v["leave_one_station_out"]
    assert loso["stations"] == sorted(VALIDATION_STATIONS + ["M01", "M21"])
    assert loso["model"] == "linear"
    for method in ("S1A", "CSK", "synergic", "nearest", "kriging", "idw", "linear"):
        m = loso["methods"][method]
        far = set(m.get("not_covered", {}))  # a dataset neither ties nor is scored there
        assert m["n_stations"] == 11 - len(far)
        for key in ("velocity_rmse_mm_yr", "timeseries_rmse_mm_mean", "cross_correlation_mean"):
            assert np.isfinite(m[key]) and m[key] > 0, (method, key)
        for s in loso["stations"]:
            if s in far:
                assert m["stations"][s]["not_covered"] is True
                continue
            assert m["stations"][s]["tie_stations"] == 10 - len(far)
            assert np.isfinite(m["stations"][s]["velocity_error_mm_yr"])
        assert m["velocity_rmse_mm_yr"] < 10 and m["timeseries_rmse_mm_mean"] < 10
    # tied through ten stations the fused product is no worse than tied through one
    assert (loso["methods"]["synergic"]["velocity_rmse_mm_yr"]
            < 1.2 * v["methods"]["synergic"]["velocity_rmse_mm_yr"])
    assert "synergic_vs_CSK" in loso["improvement_pct"]
    # before/after the APS filter: the removed APS added back at the stations is the
    # unfiltered series, worse at the stations for the fused product
    aps = v["aps_before_after"]["methods"]
    assert set(aps) == set(v["methods"])
    syn = aps["synergic"]
    assert syn["filtered"]["timeseries_rmse_mm_mean"] == v["methods"]["synergic"][
        "timeseries_rmse_mm_mean"]
    assert syn["unfiltered"]["timeseries_rmse_mm_mean"] > syn["filtered"][
        "timeseries_rmse_mm_mean"]
    assert 0 < syn["aps_rms_mm"] < 10
    # each resampler scored on held-out epochs and against the truth
    for ds in ("S1A", "CSK"):
        for r in ("linear", "pchip"):
            assert 0 < v["temporal"][ds][r]["heldout_rmse_mm"] < 10
            assert 0 < v["temporal"][ds][r]["truth_rmse_mm"] < 10


def test_accuracy_against_truth(result):
    _, v = result
    for method, scores in v["truth"].items():
        assert scores["field_rmse_mm"] ** 2 == pytest.approx(
            scores["field_pattern_rmse_mm"] ** 2 + scores["field_common_mode_rmse_mm"] ** 2,
            rel=0.01)
        # atmosphere (a few mm per epoch) is in every product; the field must still be close
        assert scores["field_rmse_mm"] < 8.0, method
        assert scores["velocity_rmse_mm_yr"] < 4.0, method
    assert v["truth"]["kriging"]["velocity_rmse_mm_yr"] < 2.5


def test_reference_station_agrees_with_gnss(case):
    """After projection, resampling and datum, each dataset matches GNSS at the reference."""
    cfg = load_config(case / "case" / "config.yaml")
    cfg.temporal.method = "linear"
    state = P.RunState(cfg=cfg, inputs=P.load_inputs(cfg))
    P.run_project(state)
    P.run_epochs(state)
    P.run_temporal(state)
    P.run_datum(state)
    truth = load_truth(cfg.truth)
    gnss = state.inputs.gnss
    for name, ds in state.datasets.items():
        d = np.hypot(ds.x.values - float(gnss.x.sel(station="M21")),
                     ds.y.values - float(gnss.y.sel(station="M21")))
        insar = ds.displacement.values[d <= 100].mean(axis=0)
        inc, head = float(ds.incidence[d <= 100].mean()), float(ds.heading[d <= 100].mean())
        los = datum.gnss_los(gnss, "M21", inc, head)
        on_epochs = datum.gnss_on_epochs(np.asarray(los), gnss.time.values, state.epochs)
        diff = insar - on_epochs
        diff -= np.nanmean(diff)
        # the noise of the difference: GNSS ~3.2 mm in LOS per weekly position, ~2.4 mm on a
        # 12-day epoch; InSAR ~3 mm atmosphere per epoch (not averaged out over 100 m) plus
        # point noise: about 4 mm together
        assert np.sqrt(np.nanmean(diff**2)) < 4.5, name
        # against the true motion of the station: only the InSAR errors are left
        true_los = datum.gnss_on_epochs(truth["gnss_los"].sel(station="M21").values,
                                        truth["gnss_time"].values, state.epochs)
        err = insar - true_los
        err -= np.nanmean(err)
        assert np.sqrt(np.nanmean(err**2)) < 4.0, name


def test_lstm_resampling_in_the_run(case):
    """The run's temporal stage with the LSTM: scored beside the interpolators, series finite."""
    cfg = _small_training(load_config(case / "case" / "config.yaml"))
    cfg.temporal.method = "auto"
    state = P.RunState(cfg=cfg, inputs=P.load_inputs(cfg))
    state.truth = P._load_truth(cfg.truth)
    P.run_project(state)
    P.run_epochs(state)
    P.run_temporal(state)
    assert state.temporal_method in ("linear", "pchip", "lstm")
    for name, scores in state.temporal_scores.items():
        for r in ("linear", "pchip", "lstm"):
            assert 0 < scores[r]["heldout_rmse_mm"] < 10, (name, r)
            assert 0 < scores[r]["truth_rmse_mm"] < 10, (name, r)
        resampled = state.datasets[name].displacement.values
        assert resampled.shape[1] == state.epochs.size and np.isfinite(resampled).mean() > 0.99


def test_run_on_a_dask_cluster_equals_the_single_process_run(case, result):
    from insarfusion.parallel import dask_client

    out, validation = result
    cfg = _small_training(load_config(case / "case" / "config.yaml"))
    cfg.validation.holdout_folds = 2  # held-out blocks run in process: no need to repeat them
    cfg.validation.holdout_methods = ["kriging"]
    with dask_client(workers=2) as client:
        distributed = P.run(cfg, case / "out_dask", client=client, report=False)
    for name in ("methods", "leave_one_station_out"):
        assert distributed[name] == validation[name], name

    def errors(truth):  # the coverage depends on the held-out settings, changed above
        return {m: {k: v for k, v in s.items() if "within" not in k} for m, s in truth.items()}

    assert errors(distributed["truth"]) == errors(validation["truth"])
    with xr.open_dataset(out / "displacement.nc") as a, \
            xr.open_dataset(case / "out_dask" / "displacement.nc") as b:
        np.testing.assert_array_equal(a["displacement"].values, b["displacement"].values)


def test_command_line_run_on_local_dask_workers(case, cli, tmp_path):
    import yaml

    cfg = yaml.safe_load((case / "case" / "config.yaml").read_text())
    cfg["temporal"] = {"method": "linear"}
    cfg["spatial"] = {"method": "idw", "cell_size_m": 20.22, "baselines": []}
    cfg["validation"] = {"holdout_folds": 0}
    path = case / "case" / "config_dask.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("run", path, "--workers", "2", "--out", tmp_path / "out")
    assert code == 0
    assert "Dask: 2 workers (local cluster)" in err
    assert out.splitlines()[0].split()[:3] == ["method", "velocity", "RMSE"]
    validation = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert np.isfinite(validation["methods"]["synergic"]["velocity_rmse_mm_yr"])
    code, _, err = cli("run", path, "--workers", "0", "--out", tmp_path / "none")
    assert code == 2 and not (tmp_path / "none").exists()


def test_every_product_carries_the_metadata_and_the_view_files_follow_validation(result):
    import h5py
    import pandas as pd
    import pyogrio

    out, validation = result
    for name in ("geometry.tif", "support.tif", "data_mask.tif", "mintpy/timeseries.h5",
                 "mintpy/velocity.h5", "mintpy/geometryGeo.h5", "gnss_los.csv",
                 "viewer.html"):
        assert (out / name).is_file(), name
    for path in [out / "displacement.nc", *out.glob("displacement_*.nc")]:
        with xr.open_dataset(path) as ds:
            assert ds.attrs["primary_dataset"] and ds.attrs["reference_date"], path.name
            assert "positive toward the satellite" in ds.attrs["los_sign_convention"]
            if path.name != "displacement.nc":  # a baseline's file names its own method
                assert ds.attrs["method"] == path.stem.split("_", 1)[1]
    for name in ("velocity.tif", "velocity_std.tif", "geometry.tif", "support.tif",
                 "data_mask.tif"):
        with rasterio.open(out / name) as tif:
            tags = tif.tags()
            assert tags["primary_dataset"] and tags["reference_station"], name
            assert tif.overviews(1), name
    assert [r[0] for r in pyogrio.list_layers(out / "points.gpkg")] == ["points", "fused"]
    with h5py.File(out / "mintpy" / "timeseries.h5", "r") as f:
        assert f.attrs["REF_STATION"]
    table = pd.read_csv(out / "gnss_los.csv")
    assert list(dict.fromkeys(table["station"])) == validation["stations"]


def test_same_seed_gives_identical_products(case):
    """Two runs with one seed, LSTM and CNN included, write the same products on the CPU."""
    cfg = _small_training(load_config(case / "case" / "config.yaml"))
    cfg.temporal.method = "lstm"
    cfg.validation.holdout_folds = 2
    cfg.validation.holdout_methods = ["kriging", "cnn"]  # the CNN retrained on one fold
    cfg.spatial.cnn.mc_samples = 0  # the default: no std of the CNN's own
    outs = [case / f"out_seed_{k}" for k in range(2)]
    for out in outs:
        P.run(cfg, out, report=False)
    rasters = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*.tif"))
    assert rasters
    for name in rasters:  # GeoTIFFs carry no time stamp: the files themselves are equal
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    with xr.open_dataset(outs[0] / "displacement.nc") as a, \
            xr.open_dataset(outs[1] / "displacement.nc") as b:
        for var in a.data_vars:
            np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
        # the calibrated std is borrowed from kriging; no all-NaN raw std is written
        assert "displacement_std_raw" not in a and "velocity_std_raw" not in a
        assert np.isfinite(a["displacement_std"].isel(time=-1)).any()
    first, second = (json.loads((out / "validation.json").read_text()) for out in outs)
    first.pop("timings_s"), second.pop("timings_s")
    assert first["holdout_blocks"]["synergic"]["folds_scored"] == 1
    assert first == second
