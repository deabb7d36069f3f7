"""Tables of the report, from a small validation dictionary with known numbers."""

import pandas as pd
import pytest

from insarfusion.report.tables import (
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
    from insarfusion.report.tables import for_people, human_header

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


def test_a_dataset_not_covered_at_a_station_reads_so_with_its_distance(tmp_path):
    from insarfusion.report import coverage_reading
    from insarfusion.report.tables import NOT_COVERED

    v = _validation()
    s1a = v["methods"]["S1A"] = {
        "stations": {"A": {"velocity_mm_yr": -5.0, "cross_correlation": 90.0,
                           "timeseries_rmse_mm": 1.0},
                     "B": {"not_covered": True, "nearest_point_m": 600.0}},
        "velocity_rmse_mm_yr": 0.5, "cross_correlation_mean": 90.0,
        "timeseries_rmse_mm_mean": 1.0, "not_covered": {"B": 600.0}, "n_stations": 1}
    v["nearest_point_m"] = {"S1A": {"A": 50.0, "B": 600.0}}
    tables = write_tables(v, tmp_path)
    velocity = tables["velocity"]
    assert velocity.loc["B", "S1A"] == NOT_COVERED
    assert velocity.loc["B", "synergic"] == "-1.00"          # the grid covers every station
    assert velocity.loc["RMSE", "S1A"] == "0.50"              # the validation's own summary
    assert tables["timeseries_rmse"].loc["Mean", "S1A"] == "1.00"
    assert tables["station_coverage"].loc["B", "S1A"] == "600"
    assert NOT_COVERED in (tmp_path / "tables" / "velocity.csv").read_text()
    assert "S1A at B (600 m)" in coverage_reading(v, 100.0)[0]
    del s1a["not_covered"]
    assert coverage_reading(v, 100.0) == []


def test_the_reading_names_a_dataset_scored_at_fewer_stations():
    from insarfusion.report import reading

    v = _validation()
    del v["leave_one_station_out"]
    v["methods"]["S1A"] = dict(v["methods"]["S1A"], not_covered={"B": 600.0}, n_stations=1)
    assert any("S1A (1 of 2 stations)" in line for line in reading(v))


def test_before_after_the_filter_and_the_error_split_tables(tmp_path):
    from insarfusion.report.tables import aps_table, error_split_table

    v = _validation()
    v["aps_before_after"] = {"stations": ["A", "B"], "methods": {"synergic": {
        "filtered": {"velocity_rmse_mm_yr": 2.0, "timeseries_rmse_mm_mean": 3.0},
        "unfiltered": {"velocity_rmse_mm_yr": 2.1, "timeseries_rmse_mm_mean": 4.5},
        "aps_rms_mm": 2.4}}}
    v["truth"] = {"synergic": {"field_rmse_mm": 5.0, "field_pattern_rmse_mm": 4.0,
                               "field_common_mode_rmse_mm": 3.0}}
    aps = aps_table(v)
    assert aps.loc["synergic", "series_rmse_unfiltered_mm"] == 4.5
    split = error_split_table(v)
    assert split.loc["synergic", "common_mode_share_pct"] == pytest.approx(36.0)
    assert split.loc["synergic", "rest_rmse_mm"] == 4.0
    del v["truth"]["synergic"]["field_common_mode_rmse_mm"]   # older files: from the two
    assert error_split_table(v).loc["synergic", "common_mode_rmse_mm"] == pytest.approx(3.0)
    tables = write_tables(v, tmp_path)
    assert tables["aps_before_after"].loc["synergic", "series RMSE unfiltered (mm)"] == "4.50"
    assert aps_table({}) is None and error_split_table({}) is None


def test_the_reading_says_what_the_data_were_referenced_to_without_gnss():
    from insarfusion.report import reference_lines

    ref = {"mode": "stable_area", "primary": "SBAS",
           "area": {"lon": 103.66, "lat": 32.07, "radius_m": 100.0,
                    "datasets": {"SBAS": {"n_points": 40}, "PS": {"n_points": 6}}},
           "ties": {"PS": {"n_cells": 32, "cell_m": 50.0, "rms_before_mm": 25.7,
                           "rms_after_mm": 7.5}},
           "motion": {"velocity_mm_yr": 3.2, "limit_mm_yr": 2.2, "moving": True}}
    line = reference_lines(ref)[0]
    assert "stable area area" not in line and "SBAS 40, PS 6" in line
    assert "MOVING: the reference moves +3.20 mm/yr relative to the primary's own" in line
    assert reference_lines(None) == []


def test_calibration_table_and_curve(tmp_path):
    from insarfusion.report.figures import fig_calibration
    from insarfusion.report.tables import calibration_table

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


def test_the_reading_says_when_the_fused_product_is_not_the_best():
    from insarfusion.report import reading

    truth = {"synergic": {"field_rmse_mm": 3.6, "field_pattern_rmse_mm": 2.86},
             "kriging": {"field_rmse_mm": 3.3, "field_pattern_rmse_mm": 2.74}}
    lines = reading({"truth": truth})
    assert any("synergic product is not the best" in line and "2.86" in line
               and "kriging" in line for line in lines)
    truth["synergic"]["field_pattern_rmse_mm"] = 2.5
    assert not any("not the best" in line for line in reading({"truth": truth}))


def test_a_method_held_out_on_fewer_folds_is_compared_on_those():
    from insarfusion.report import reading
    from insarfusion.report.tables import holdout_table

    block = {"coverage": 1.0, "block_m": 185.0, "folds": 5}
    holdout = {"kriging": {"rmse_mm": 4.4, **block}, "linear": {"rmse_mm": 4.1, **block},
               "synergic": {"rmse_mm": 4.3, **block, "folds_scored": 1,
                            "same_folds_rmse_mm": {"kriging": 4.5, "linear": 4.2}}}
    table = holdout_table({"holdout_blocks": holdout})
    assert "same_folds_rmse_mm" not in table.columns
    assert table["rmse_on_synergic_folds_mm"].to_dict() == {"kriging": 4.5, "linear": 4.2,
                                                             "synergic": 4.3}
    lines = reading({"holdout_blocks": holdout})
    assert lines[0].startswith("On input points held out in spatial blocks, linear predicts "
                               "best (4.10 mm)") and "synergic" not in lines[0]
    assert lines[1] == ("synergic was retrained on 1 of the 5 folds; on those, linear predicts "
                        "best (4.20 mm); linear 4.20, synergic 4.30, kriging 4.50")
