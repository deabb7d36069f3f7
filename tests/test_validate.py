"""Leave-one-station-out validation on tiny cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from insarfusion.conventions import decimal_years
from insarfusion.validate import leave_one_station_out

EPOCHS = np.datetime64("2018-01-01", "D") + np.arange(61) * np.timedelta64(12, "D")
YEARS = decimal_years(EPOCHS) - decimal_years(EPOCHS)[0]
NAMES = ["A", "B", "C", "D", "E"]
X = np.array([0.0, 3000.0, 0.0, 3000.0, 1200.0])
Y = np.array([0.0, 0.0, 2500.0, 2500.0, 1400.0])


def _gnss(seed=0):
    rng = np.random.default_rng(seed)
    rates = rng.uniform(-8, 4, len(NAMES))
    seasonal = rng.uniform(0, 3, len(NAMES))
    g = rates[:, None] * YEARS + seasonal[:, None] * np.sin(2 * np.pi * YEARS)
    return g - g[:, :1]


def _plane(x, y):
    """A reference drift of the product: offset and tilts growing linearly in time (mm)."""
    a, b, c = 4.0 * YEARS, -1.5 * YEARS, 2.0 * YEARS  # mm, mm/km, mm/km
    return a + b * (x[:, None] / 1000.0) + c * (y[:, None] / 1000.0)


def _score(product, near=None, gnss=None, model="linear", names=NAMES, x=X, y=Y):
    gnss = _gnss() if gnss is None else gnss
    near = product if near is None else near
    return leave_one_station_out(product, near, gnss, x, y, EPOCHS, names, model=model)


def test_a_product_off_by_a_drifting_plane_is_exactly_corrected():
    gnss = _gnss()
    product = gnss + _plane(X, Y)
    for model in ("linear", "raw"):
        out = _score(product, gnss=gnss, model=model)
        assert out["n_stations"] == len(NAMES)
        assert out["velocity_rmse_mm_yr"] == pytest.approx(0.0, abs=1e-3)
        assert out["timeseries_rmse_mm_mean"] == pytest.approx(0.0, abs=1e-3)
        for s in NAMES:
            assert out["stations"][s]["tie_stations"] == 4
            assert out["stations"][s]["velocity_mm_yr"] == pytest.approx(
                float(np.polyfit(YEARS, gnss[NAMES.index(s)], 1)[0]), abs=1e-2)


def test_a_local_bump_shows_only_at_its_station():
    """A seasonal term the GNSS does not have, at station E only, even about the middle of
    the epochs: the linear tie does not see it, so it is scored at E and nowhere else."""
    gnss = _gnss()
    mid = YEARS - YEARS.mean()
    bump = 3.0 * np.cos(2 * np.pi * mid)
    product = gnss + _plane(X, Y)
    product[4] += bump
    out = _score(product, gnss=gnss)
    assert out["stations"]["E"]["timeseries_rmse_mm"] == pytest.approx(
        float(np.sqrt(np.mean((bump - bump.mean()) ** 2))), abs=1e-3)
    for s in "ABCD":
        assert out["stations"][s]["timeseries_rmse_mm"] == pytest.approx(0.0, abs=1e-3)
        assert out["stations"][s]["velocity_error_mm_yr"] == pytest.approx(0.0, abs=1e-3)


def test_a_local_rate_is_measured_in_full_where_it_is():
    """A local subsidence at station E: left out, E is tied by the clean stations and shows
    the whole rate; at the others it only leaks in through the fitted plane, diluted."""
    gnss = _gnss()
    product = gnss + _plane(X, Y)
    product[4] += -5.0 * YEARS
    out = _score(product, gnss=gnss)
    assert out["stations"]["E"]["velocity_error_mm_yr"] == pytest.approx(-5.0, abs=1e-2)
    for s in "ABCD":
        assert abs(out["stations"][s]["velocity_error_mm_yr"]) < 5.0


def test_the_offset_model_is_honoured():
    """With the ``constant`` model the tie is zero (every series is zero at the first
    epoch): the product keeps its own drift, which the ``linear`` model removes."""
    gnss = _gnss()
    product = gnss + 4.0 * YEARS  # the product's reference drifts 4 mm/yr
    const = _score(product, gnss=gnss, model="constant")
    linear = _score(product, gnss=gnss, model="linear")
    assert const["velocity_rmse_mm_yr"] == pytest.approx(4.0, abs=1e-2)
    assert linear["velocity_rmse_mm_yr"] == pytest.approx(0.0, abs=1e-3)


def test_station_without_gnss_is_neither_scored_nor_used():
    gnss = _gnss()
    gnss[2] = np.nan
    product = gnss + 4.0 * YEARS
    product[2] = 100.0 * YEARS  # would spoil every tie if it were used
    out = _score(product, gnss=gnss)
    assert "C" not in out["stations"]
    assert out["n_stations"] == 4
    assert out["velocity_rmse_mm_yr"] == pytest.approx(0.0, abs=1e-3)
    assert all(out["stations"][s]["tie_stations"] == 3 for s in "ABDE")


def test_two_stations_tie_each_other_and_one_is_not_enough():
    gnss = _gnss()[:2]
    product = gnss + 2.0 * YEARS
    out = _score(product, gnss=gnss, names=NAMES[:2], x=X[:2], y=Y[:2])
    assert out["n_stations"] == 2
    assert out["stations"]["A"]["tie_stations"] == 1
    assert out["velocity_rmse_mm_yr"] == pytest.approx(0.0, abs=1e-3)
    alone = _score(product[:1], gnss=gnss[:1], names=NAMES[:1], x=X[:1], y=Y[:1])
    assert alone["n_stations"] == 0
    assert alone["velocity_rmse_mm_yr"] is None
    assert "no other station" in alone["stations"]["A"]["note"]


def test_collinear_tie_stations_are_noted_not_fatal():
    x = np.array([0.0, 1000.0, 2000.0, 3000.0])
    y = np.array([500.0, 500.0, 500.0, 800.0])
    gnss = _gnss()[:4]
    out = _score(gnss.copy(), gnss=gnss, names=NAMES[:4], x=x, y=y)
    assert out["stations"]["D"]["velocity_mm_yr"] is None
    assert "line" in out["stations"]["D"]["note"]
    assert out["n_stations"] == 3


def test_stations_beyond_the_radius_of_every_point_are_not_covered(caplog):
    """A validation station 2 km from the data is listed, not scored from an edge cell."""
    from types import SimpleNamespace

    import xarray as xr

    from insarfusion.validate import StationValidation

    gnss = xr.Dataset(coords={"station": ["IN", "FAR"], "x": ("station", [50.0, 2000.0]),
                              "y": ("station", [50.0, 0.0])})
    points = xr.Dataset(coords={"x": ("point", [0.0, 100.0]), "y": ("point", [0.0, 100.0])})
    cfg = SimpleNamespace(radius_m=100.0, reference=[], final_reference=None)
    sv = StationValidation(gnss, points, np.array([], dtype="datetime64[D]"), cfg)
    with caplog.at_level("WARNING", logger="insarfusion"):
        far = sv._not_covered({"A": points})
    assert list(far) == ["FAR"] and far["FAR"] == pytest.approx(1902.6, abs=0.1)
    assert "FAR" in caplog.text and "not scored" in caplog.text


def test_a_dataset_is_not_scored_where_it_has_no_point_and_improvements_use_its_stations():
    """S1A is 600 m from station B: not scored there, its summaries and the improvement over
    it are over station A alone, where the fused product happens to be no better."""
    from insarfusion.validate import improvement_stations, improvements, station_metrics

    gnss = _gnss()[:2]
    rates = np.array([1.0, 5.0])  # product minus GNSS, mm/yr at A and B
    synergic = station_metrics(gnss + rates[:, None] * YEARS, gnss, EPOCHS, ["A", "B"])
    s1a = station_metrics(gnss + np.array([1.0, 0.0])[:, None] * YEARS, gnss, EPOCHS,
                          ["A", "B"], not_covered={"B": 600.0})
    assert s1a["stations"]["B"] == {"not_covered": True, "nearest_point_m": 600.0}
    assert s1a["n_stations"] == 1 and s1a["not_covered"] == {"B": 600.0}
    assert s1a["velocity_rmse_mm_yr"] == pytest.approx(1.0, abs=1e-3)
    gnss_velocity = {s: {"velocity_mm_yr": float(np.polyfit(YEARS, gnss[i], 1)[0])}
                     for i, s in enumerate("AB")}
    methods = {"synergic": synergic, "S1A": s1a}
    # over both stations the product's RMSE is sqrt((1 + 25) / 2) = 3.61, over A alone 1.0
    assert synergic["velocity_rmse_mm_yr"] == pytest.approx(3.606, abs=1e-3)
    pct = improvements(methods, gnss=gnss_velocity)
    assert pct["synergic_vs_S1A"] == pytest.approx(0.0, abs=0.1)
    assert improvement_stations(methods) == {"synergic_vs_S1A": ["A"]}
    # scored over B too, where S1A has no point, the product would look 261 % worse
    assert improvements(methods)["synergic_vs_S1A"] == pytest.approx(-260.6, abs=0.5)


def test_a_learned_method_is_held_out_on_fewer_folds_beside_the_others_on_those():
    """The CNN is retrained on ``learned_folds`` folds; the others are reported there too."""
    from insarfusion.model_selection import BlockKFold, cross_val_score
    from insarfusion.spatial import IDWInterpolator
    from insarfusion.validate import holdout_blocks

    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 1200, 400), rng.uniform(0, 900, 400)
    data = np.sin(x / 300.0)[:, None] * np.arange(1, 4) + 0.1 * rng.normal(size=(400, 3))
    groups = np.where(rng.random(400) < 0.5, "A", "B")
    cnn = {"cell_size_m": 60.0, "epochs": 1, "n_patches": 20, "patch_size": 16,
           "tile_size": 32, "progress": False}
    scores = holdout_blocks(x, y, data, groups, ["cnn", "idw"], {"cnn": cnn, "idw": {}},
                            main="cnn", folds=4, block_m=300.0, seed=1, learned_folds=1)
    synergic, idw = scores["synergic"], scores["idw"]
    assert synergic["folds_scored"] == 1 and "folds_scored" not in idw
    assert np.isfinite(synergic["rmse_mm"]) and synergic["coverage"] == 1.0
    alone = cross_val_score(IDWInterpolator(), (x, y), data,
                            BlockKFold(300.0, 4, seed=1, only=[0])).rmse
    assert synergic["same_folds_rmse_mm"] == {"idw": pytest.approx(alone, abs=1e-3)}
    every = holdout_blocks(x, y, data, groups, ["idw"], {"idw": {}}, main="cnn", folds=4,
                           block_m=300.0, seed=1)
    assert every["idw"] == idw
