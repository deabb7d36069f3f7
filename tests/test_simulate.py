"""The simulated Cuenca-like case: shape of the data, determinism, formats, and the truth."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest

from insarfusion.config import load_config
from insarfusion.conventions import WAVELENGTH_MM, as_days
from insarfusion.errors import InputError
from insarfusion.simulate import (
    STATIONS,
    SceneGeometry,
    TruthModel,
    dataset_truth,
    gaussian_random_fields,
    load_truth,
    plot_case,
    simulate_case,
    write_case,
)

INPUT_FILES = ("csk_psi.csv", "s1a_sbas.csv", "config.yaml", "README.md",
               *(f"gnss/{s}.tenv3" for s in STATIONS))


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "case"
    write_case(out, seed=0, scale=1.0)
    return out


@pytest.fixture(scope="module")
def truth(case):
    return load_truth(case / "truth.nc")


def _readers():
    io = pytest.importorskip("insarfusion.io")
    for module in ("csv_points", "egms", "gnss"):
        pytest.importorskip(f"insarfusion.io.{module}",
                            reason="the project's readers are not available")
    return io


@pytest.fixture(scope="module")
def points(case):
    io = _readers()
    return {"CSK": io.read_points(case / "csk_psi.csv", "csv", crs="EPSG:32717"),
            "S1A": io.read_points(case / "s1a_sbas.csv", "egms", crs="EPSG:32717")}


def test_files_and_counts(case, truth):
    for name in (*INPUT_FILES, "truth.nc"):
        assert (case / name).is_file(), name
    assert not [p for p in case.parent.iterdir() if p.name.startswith(".")]  # no staging left
    assert truth.sizes["CSK_time"] == 57 and truth.sizes["S1A_time"] == 61
    csk, s1a = as_days(truth["CSK_time"].values), as_days(truth["S1A_time"].values)
    assert (str(csk[0]), str(csk[-1])) == ("2015-03-12", "2019-01-13")
    assert (str(s1a[0]), str(s1a[-1])) == ("2015-01-10", "2018-11-26")
    # S1A on the 12-day grid with gaps; CSK irregular
    s1a_steps = np.diff(s1a).astype(int)
    assert (s1a_steps % 12 == 0).all() and s1a_steps.max() > 12
    assert np.unique(np.diff(csk).astype(int)).size > 5 and np.diff(csk).astype(int).min() >= 4
    assert 800 <= truth.sizes["CSK_point"] <= 1300
    assert 700 <= truth.sizes["S1A_point"] <= 1200
    assert list(truth["station"].values) == list(STATIONS) and truth.sizes["station"] == 11
    # common epochs: latest first date .. earliest last date, every 12 days
    epochs = as_days(truth["time"].values)
    assert str(epochs[0]) == "2015-03-12"
    assert (np.diff(epochs).astype(int) == 12).all()
    assert epochs[-1] <= np.datetime64("2018-11-26") < epochs[-1] + np.timedelta64(12, "D")


@pytest.mark.parametrize("name,column", [("CSK", "velocity"), ("S1A", "mean_velocity")])
def test_velocity_histograms_have_the_papers_shape(case, name, column):
    import pandas as pd

    file = "csk_psi.csv" if name == "CSK" else "s1a_sbas.csv"
    velocity = pd.read_csv(case / file, usecols=[column])[column].to_numpy()
    counts, edges = np.histogram(velocity, bins=np.arange(-40.0, 21.0, 1.0))
    mode_upper_edge = edges[np.argmax(counts) + 1]
    assert -40 <= velocity.min() <= -22, velocity.min()     # paper: -33 (CSK), -28 (S1A)
    assert 8 <= velocity.max() <= 20, velocity.max()        # paper: +14
    assert mode_upper_edge <= 0.0                           # the modal 1-mm/yr bin is negative
    assert np.mean((velocity >= -15) & (velocity <= 0)) > 0.5  # "most"; paper: ~75 % in -13..0


def test_same_seed_same_bytes_other_seed_differs(case, tmp_path):
    write_case(tmp_path / "again", seed=0)
    for name in (*INPUT_FILES, "truth.nc"):
        assert filecmp.cmp(case / name, tmp_path / "again" / name, shallow=False), name
    write_case(tmp_path / "other", seed=1)
    assert not filecmp.cmp(case / "csk_psi.csv", tmp_path / "other" / "csk_psi.csv",
                           shallow=False)


def test_refuses_a_non_empty_folder_unless_forced(case, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        write_case(out, seed=0, scale=0.2)
    assert (out / "keep.txt").exists()
    summary = write_case(out, seed=0, scale=0.2, force=True)
    assert not (out / "keep.txt").exists() and (out / "config.yaml").is_file()
    assert "CSK" in summary and "S1A" in summary and "11 stations" in summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_config_loads(case):
    cfg = load_config(case / "config.yaml")
    assert [d.name for d in cfg.datasets] == ["CSK", "S1A"]
    assert [(d.format, d.band, d.technique) for d in cfg.datasets] == [
        ("csv", "X", "PSI"), ("egms", "C", "SBAS")]
    assert cfg.primary == "S1A" and cfg.crs == "EPSG:32717"
    assert cfg.gnss.reference == ["M21"] and cfg.gnss.final_reference == "M01"
    assert cfg.gnss.radius_m == 100 and cfg.gnss.format == "tenv3"
    assert cfg.time.step_days == 12 and cfg.spatial.cell_size_m == pytest.approx(20.22)
    assert cfg.temporal.method == "lstm" and cfg.spatial.method == "cnn"
    for path in (*(d.path for d in cfg.datasets), cfg.gnss.path, cfg.truth):
        assert path.exists(), path


def test_csk_is_absent_at_several_validation_stations(truth):
    sx, sy = truth["station_x"].values, truth["station_y"].values
    dist = np.hypot(truth["CSK_x"].values[:, None] - sx, truth["CSK_y"].values[:, None] - sy)
    empty = set(truth["station"].values[(dist.min(axis=0) > 50.0)])
    assert {"M17", "M19", "M20", "M22"} <= empty
    # the references have points of both datasets within the 100 m referencing radius
    for name in ("CSK", "S1A"):
        d = np.hypot(truth[f"{name}_x"].values[:, None] - sx, truth[f"{name}_y"].values[:, None]
                     - sy)
        for ref in ("M01", "M21"):
            k = list(truth["station"].values).index(ref)
            assert (d[:, k] < 100).sum() >= 3, (name, ref)


@pytest.mark.parametrize("name,noise_mm", [("CSK", 1.0), ("S1A", 2.0)])
def test_files_read_back_equal_truth_within_the_noise(points, truth, name, noise_mm):
    ds = points[name]
    tr = dataset_truth(truth, name)
    assert list(ds["point"].values) == list(tr["point"].values)
    assert np.allclose(ds["x"].values, tr["x"].values, atol=0.2)
    clean = tr["unwrap_jump"].values == 0
    assert 0 < (~clean).sum() <= 0.02 * clean.size
    # with the atmosphere and ramps known, what is left is white noise minus its first date
    resid = (ds["displacement"].values - tr["los"].values - tr["nuisance"].values)
    reference_share = np.median(resid[clean], axis=0)  # the same for every point
    resid = resid - reference_share
    rms = np.sqrt(np.mean(resid[clean][:, 1:] ** 2))
    # the unwrapping jumps are half a wavelength
    half = WAVELENGTH_MM["X" if name == "CSK" else "C"] / 2
    steps = np.abs(np.diff(resid[~clean], axis=1)).max(axis=1)
    assert np.all(np.abs(steps - half) < 6 * noise_mm)
    assert rms == pytest.approx(noise_mm * np.sqrt(2), rel=0.15)
    # without them: noise plus a few mm of atmosphere
    resid = (ds["displacement"].values - tr["los"].values)[clean]
    resid -= np.median(resid, axis=0)
    rms_all = np.sqrt(np.mean(resid**2))
    assert rms < rms_all < 3 * noise_mm + 6.0
    # the file is referenced: zero on the first date and at the reference point
    assert np.all(ds["displacement"].values[:, 0] == 0)
    ref = list(ds["point"].values).index(tr.attrs["reference"])
    assert np.abs(ds["displacement"].values[ref]).max() < 0.051


def test_gnss_reads_back_equal_truth_within_the_noise(case, truth):
    io = _readers()
    gnss = io.read_gnss(case / "gnss", "tenv3", crs="EPSG:32717")
    assert sorted(gnss["station"].values) == sorted(STATIONS)
    sub = truth.sel(station=gnss["station"].values)
    true = sub[["gnss_east", "gnss_north", "gnss_up"]].rename(gnss_time="time").reindex(
        time=gnss["time"].values)
    for comp, sigma in (("east", 1.5), ("north", 1.5), ("up", 4.0)):
        resid = gnss[comp].values - true[f"gnss_{comp}"].values
        resid -= np.nanmedian(resid, axis=1, keepdims=True)
        finite = resid[np.isfinite(resid)]
        robust = 1.4826 * np.median(np.abs(finite))
        assert robust == pytest.approx(sigma, rel=0.15), comp
        assert (np.abs(finite) > 5 * sigma).sum() <= 3 * len(STATIONS)  # a few outliers
        assert np.isnan(gnss[comp].values).any()                         # gaps


def test_truth_model_properties(truth):
    scene = SceneGeometry(1.0)
    model = TruthModel(scene)
    # stable references do not move, and the grid truth starts at zero
    refs = truth["station_role"].values == "reference"
    assert np.abs(truth["station_velocity"].values[refs]).max() < 1e-6
    assert np.abs(truth["gnss_up"].values[refs]).max() < 1e-6
    assert np.all(truth["displacement"].values[0] == 0)
    # the grid cube is the model in the primary geometry
    k = (len(truth["y"]) // 2, len(truth["x"]) // 3)
    x, y = truth["x"].values[k[1]], truth["y"].values[k[0]]
    los = model.los([x], [y], as_days(truth["time"].values), truth["incidence"].values[k],
                    truth["heading"].values[k])[0]
    assert np.allclose(truth["displacement"].values[:, k[0], k[1]], los, atol=1e-3)
    # crowns subside, toes bulge; west moves to the north-east, east to the north
    east, north, up = model.enu(np.array([-345.0, -345.0 + 300, 375.0, 375.0]) + scene.centre_x,
                                np.array([-100.0, 200.0, -600.0, 420.0]) + scene.centre_y,
                                np.array(["2015-01-01", "2016-01-01"]))
    assert east[1, 1] > 5 and north[1, 1] > 5
    assert abs(east[3, 1]) < 1e-9 and north[3, 1] > 5
    assert up[2, 1] < -3 and up[3, 1] > 5
    # a landslide accelerates from mid-2017 in part of the western body
    grid_v = truth["velocity"].values
    assert -40 < grid_v.min() < -20 and 8 < grid_v.max() < 25
    campus = model.enu([scene.centre_x - 220.0], [scene.centre_y + 40.0],
                       np.array(["2016-01-01", "2017-01-01", "2018-06-01", "2019-06-01"]))
    speed = np.hypot(campus[0], campus[1])[0]
    assert (speed[3] - speed[2]) > 1.5 * (speed[1] - speed[0])


def test_random_fields_have_the_requested_variance_and_correlation():
    rng = np.random.default_rng(3)
    fields = gaussian_random_fields(rng, 40, (128, 128), 50.0, 500.0, np.full(40, 3.0))
    assert fields.std() == pytest.approx(3.0, rel=0.15)
    lag = 10  # 500 m: one correlation length of an exponential covariance
    corr = np.mean(fields[:, :, :-lag] * fields[:, :, lag:]) / fields.var()
    assert corr == pytest.approx(np.exp(-1), abs=0.12)


def test_scale_multiplies_area_and_points():
    small = simulate_case(seed=2, scale=1.0)
    large = simulate_case(seed=2, scale=4.0)
    assert large.scene.side == pytest.approx(2 * small.scene.side)
    for name in ("CSK", "S1A"):
        ratio = large.datasets[name].ids.size / small.datasets[name].ids.size
        assert ratio == pytest.approx(4.0, rel=0.15), name
    assert len(large.gnss.names) == 11


def test_plot_case_writes_a_png(case, tmp_path):
    path = plot_case(case, tmp_path / "fig.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
