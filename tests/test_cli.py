"""The command line's own logic: the headline printed after a run."""

from __future__ import annotations

from insarfusion.cli import headline


def _validation():
    method = {"velocity_rmse_mm_yr": 2.5, "timeseries_rmse_mm_mean": 4.75,
              "cross_correlation_mean": 71.0}
    return {
        "methods": {"S1A": dict(method), "synergic": dict(method, velocity_rmse_mm_yr=1.25)},
        "truth": {"synergic": {"field_rmse_mm": 5.5, "field_pattern_rmse_mm": 3.9}},
        "improvement_pct": {"synergic_vs_S1A": 50.0},
        "leave_one_station_out": {"methods": {
            "synergic": {"velocity_rmse_mm_yr": 1.91, "timeseries_rmse_mm_mean": None}}},
        "holdout_blocks": {"kriging": {"rmse_mm": 5.16, "coverage": 1.0},
                           "linear": {"rmse_mm": 4.72, "coverage": 0.936}},
    }


def test_headline_has_every_score():
    text = headline(_validation())
    lines = text.splitlines()
    assert lines[0].split() == ["method", "velocity", "RMSE", "series", "RMSE", "corr", "%",
                                "truth", "RMSE"]
    assert "1.25 mm/yr" in lines[2] and "5.50 mm" in lines[2]
    assert "-" in lines[1].split()  # no truth for a single dataset
    assert "improvement synergic_vs_S1A: +50.0 %" in text
    loso = lines.index("leave one station out (velocity RMSE, mean series RMSE):")
    assert lines[loso + 1].split() == ["synergic", "1.91", "mm/yr", "-"]
    held = text.split("held-out spatial blocks")[1].splitlines()
    assert held[1].split()[0] == "linear" and held[1].split()[-2:] == ["94", "%"]


def test_headline_without_stations_keeps_the_held_out_scores():
    v = _validation()
    for key in ("methods", "truth", "improvement_pct", "leave_one_station_out"):
        del v[key]
    assert headline(v).startswith("held-out spatial blocks")
