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
