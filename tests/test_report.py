"""Tables of the report, from a small validation dictionary with known numbers."""

import pandas as pd

from insarfusion.report import (
    loso_tables,
    station_tables,
    temporal_table,
    truth_table,
    write_tables,
)


def _validation():
    stations = ["A", "B"]
    method = {"stations": {"A": {"velocity_mm_yr": -5.0, "cross_correlation": 90.0,
                                 "timeseries_rmse_mm": 1.0, "velocity_error_mm_yr": 0.5},
                           "B": {"velocity_mm_yr": -1.0, "cross_correlation": 80.0,
                                 "timeseries_rmse_mm": 3.0, "velocity_error_mm_yr": -0.5}},
              "velocity_rmse_mm_yr": 0.5, "cross_correlation_mean": 85.0,
              "timeseries_rmse_mm_mean": 2.0}
    gnss = {"A": {"velocity_mm_yr": -5.5}, "B": {"velocity_mm_yr": -0.5}}
    return {"stations": stations, "gnss": gnss, "methods": {"synergic": method, "S1A": method},
            "leave_one_station_out": {"stations": stations, "gnss": gnss,
                                      "methods": {"synergic": method}},
            "truth": {"synergic": {"field_rmse_mm": 1.5}},
            "temporal": {"S1A": {"linear": {"heldout_rmse_mm": 2.0},
                                 "lstm": {"heldout_rmse_mm": 1.5}}}}


def test_station_tables_rows_columns_and_summary():
    tables = station_tables(_validation())
    assert list(tables) == ["velocity", "cross_correlation", "timeseries_rmse"]
    velocity = tables["velocity"]
    assert list(velocity.index) == ["A", "B", "RMSE"]
    assert list(velocity.columns) == ["synergic", "S1A", "GNSS"]
    assert velocity.loc["A", "GNSS"] == -5.5 and pd.isna(velocity.loc["RMSE", "GNSS"])
    assert tables["timeseries_rmse"].loc["Mean", "S1A"] == 2.0
    assert "GNSS" not in tables["cross_correlation"]


def test_loso_tables_and_the_others():
    tables = loso_tables(_validation())
    assert tables["loso_velocity_error"].loc["B", "synergic"] == -0.5
    assert tables["loso_velocity_error"].loc["B", "GNSS velocity"] == -0.5
    assert tables["loso_timeseries_rmse"].index.name == "station left out"
    assert truth_table(_validation()).loc["synergic", "field_rmse_mm"] == 1.5
    assert temporal_table(_validation()).loc[("S1A", "lstm"), "heldout_rmse_mm"] == 1.5
    assert station_tables({}) == {} and loso_tables({}) == {}


def test_write_tables(tmp_path):
    tables = write_tables(_validation(), tmp_path)
    for name in tables:
        assert (tmp_path / "tables" / f"{name}.csv").exists()
        assert (tmp_path / "tables" / f"{name}.md").exists()


def test_headers_for_people_and_counts_as_integers(tmp_path):
    from insarfusion.report import for_people, human_header

    assert human_header("velocity_rmse_mm_yr") == "velocity RMSE (mm/yr)"
    assert human_header("n_stations") == "number of stations"
    assert human_header("rmse_mm") == "RMSE (mm)"
    v = _validation()
    v["holdout_blocks"] = {"idw": {"rmse_mm": 4.5, "coverage": 0.93, "block_m": 250.0,
                                   "folds": 5.0}}
    v["temporal"]["S1A"]["lstm"]["n_heldout"] = 120.0
    tables = write_tables(v, tmp_path)
    held = tables["holdout_blocks"]
    assert list(held.columns) == ["RMSE (mm)", "share of points predicted", "block side (m)",
                                  "folds"]
    assert held.loc["idw", "folds"] == "5" and held.loc["idw", "RMSE (mm)"] == "4.50"
    md = (tmp_path / "tables" / "temporal.md").read_text()
    assert "held-out values" in md and "120" in md and "120.00" not in md
    # the CSV keeps the validation's keys
    assert "heldout_rmse_mm" in (tmp_path / "tables" / "temporal.csv").read_text()
    assert for_people(pd.DataFrame({"x": [None]})).iloc[0, 0] == "–"


def test_a_dataset_is_not_scored_beyond_its_support_radius(tmp_path):
    import numpy as np
    import xarray as xr

    from insarfusion.report import NOT_COVERED, coverage_reading, station_coverage

    v = _validation()
    gnss = xr.Dataset(coords={"station": ["A", "B"], "x": ("station", [0.0, 1000.0]),
                              "y": ("station", [0.0, 0.0])})
    s1a = xr.Dataset(coords={"point": [0, 1], "x": ("point", [30.0, 400.0]),
                             "y": ("point", [40.0, 0.0])})
    coverage = station_coverage(v, {"S1A": s1a}, gnss)
    assert coverage.loc["A", "S1A"] == 50.0 and coverage.loc["B", "S1A"] == 600.0
    tables = write_tables(v, tmp_path, coverage=coverage, radius_m=100.0)
    velocity = tables["velocity"]
    assert velocity.loc["B", "S1A"] == NOT_COVERED
    assert velocity.loc["B", "synergic"] == "-1.00"          # the grid covers every station
    # the summary is over the covered station only: |-5.0 - (-5.5)| = 0.5
    assert velocity.loc["RMSE", "S1A"] == "0.50"
    assert tables["timeseries_rmse"].loc["Mean", "S1A"] == "1.00"
    assert tables["station_coverage"].loc["B", "S1A"] == "600"
    assert "S1A at B (600 m)" in coverage_reading(coverage, 100.0)[0]
    assert coverage_reading(coverage, 1000.0) == []
    assert np.isfinite(coverage.to_numpy(dtype=float)).all()


def test_calibration_table_and_curve(tmp_path):
    from insarfusion.report import calibration_table, fig_calibration

    v = _validation()
    held = {"within_1std_raw": 0.1, "within_2std_raw": 0.2, "within_1std": 0.7,
            "within_2std": 0.95, "within_k": [0.4, 0.7, 0.85, 0.95, 0.98, 0.99]}
    v["calibration"] = {"curve_k": [0.5, 1, 1.5, 2, 2.5, 3], "methods": {"synergic": {
        "source": "own held-out blocks", "heldout_displacement": held,
        "heldout_velocity": held}}}
    v["truth"]["synergic"].update({"displacement_within_1std": 0.8,
                                   "displacement_within_2std": 0.96,
                                   "raw_displacement_within_2std": 0.05,
                                   "velocity_within_k": [0.4, 0.7, 0.85, 0.95, 0.98, 0.99]})
    df = calibration_table(v)
    assert df.loc["synergic", "truth: displacement within 2σ (%)"] == 96.0
    assert df.loc["synergic", "held-out velocity within 1σ, raw (%)"] == 10.0
    assert df.loc["nominal", "held-out displacement within 2σ (%)"] == 95.45
    assert "truth: velocity within 1σ (%)" not in df.columns        # not known: left out
    assert calibration_table(_validation()) is None
    assert fig_calibration(v, tmp_path / "c.png") and (tmp_path / "c.png").stat().st_size > 0
