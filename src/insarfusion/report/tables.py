"""The report's tables: every score of ``validation.json`` as CSV and Markdown, for people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def station_tables(validation: dict) -> dict[str, pd.DataFrame]:
    """The paper's Tables 4–7 analogues from ``validation.json``'s content.

    Returns ``{"velocity": ..., "cross_correlation": ..., "timeseries_rmse": ...}``: stations
    as rows, methods as columns, with the summary row (RMSE or mean) last.
    """
    if "methods" not in validation:
        return {}
    return _metric_tables(validation, (
        ("velocity", "velocity_mm_yr", "velocity_rmse_mm_yr", "RMSE"),
        ("cross_correlation", "cross_correlation", "cross_correlation_mean", "Mean"),
        ("timeseries_rmse", "timeseries_rmse_mm", "timeseries_rmse_mm_mean", "Mean"),
    ), "station", gnss_column="GNSS")


def _metric_tables(section, specs, index_name, gnss_column) -> dict[str, pd.DataFrame]:
    """One :func:`_station_table` per ``(key, metric, summary, label)`` of ``specs``.

    The first table gets the GNSS velocity of each station as the column ``gnss_column``.
    """
    stations = section["stations"]
    tables = {}
    for key, metric, summary, label in specs:
        df = _station_table(section, stations, metric, summary, label, index_name)
        if not tables:
            df[gnss_column] = [section["gnss"][s]["velocity_mm_yr"] for s in stations] + [None]
        tables[key] = df
    return tables


def _station_table(section, stations, metric, summary, label, index_name) -> pd.DataFrame:
    """One metric of every method of ``section["methods"]``, stations as rows.

    The summary row ``label`` comes last.
    """
    methods = list(section["methods"])
    rows = {s: [_station_value(section["methods"][m]["stations"][s], metric) for m in methods]
            for s in stations}
    rows[label] = [section["methods"][m][summary] for m in methods]
    df = pd.DataFrame.from_dict(rows, orient="index", columns=methods)
    df.index.name = index_name
    return df


def _station_value(entry: dict, metric: str):
    """A method's metric at a station, or :data:`NOT_COVERED` where it was not scored."""
    return NOT_COVERED if entry.get("not_covered") else entry.get(metric)


def loso_tables(validation: dict) -> dict[str, pd.DataFrame]:
    """Leave-one-station-out tables, stations as rows and methods as columns.

    Velocity error (mm/yr, RMSE row) and time-series RMSE (mm, mean row); see
    :mod:`insarfusion.validate`.
    """
    loso = validation.get("leave_one_station_out")
    if not loso or not loso.get("methods"):
        return {}
    return _metric_tables(loso, (
        ("loso_velocity_error", "velocity_error_mm_yr", "velocity_rmse_mm_yr", "RMSE"),
        ("loso_timeseries_rmse", "timeseries_rmse_mm", "timeseries_rmse_mm_mean", "Mean"),
    ), "station left out", gnss_column="GNSS velocity")


def truth_table(validation: dict) -> pd.DataFrame | None:
    """Each product's errors against the truth (methods as rows), or None without a truth."""
    if "truth" not in validation:
        return None
    # the coverage curves (lists) are drawn, not tabulated
    df = pd.DataFrame({m: {k: v for k, v in scores.items() if not isinstance(v, list)}
                       for m, scores in validation["truth"].items()}).T
    df.index.name = "method"
    if {"field_rmse_mm", "field_pattern_rmse_mm"} <= set(df.columns):
        # the per-epoch common mode of the error (datum, atmosphere at the references)
        field = df["field_rmse_mm"].astype(float)
        pattern = df["field_pattern_rmse_mm"].astype(float)
        df["common_mode_mm"] = np.sqrt((field**2 - pattern**2).clip(lower=0.0)).round(3)
    return df


def aps_table(validation: dict) -> pd.DataFrame | None:
    """Station scores of every method with and without the APS filter (methods as rows).

    From ``validation["aps_before_after"]`` (:meth:`insarfusion.validate.StationValidation.
    aps_before_after`): mean time-series RMSE (mm) and velocity RMSE (mm/yr), filtered and
    with the removed APS added back, and the RMS of that APS at the stations (mm).
    """
    section = validation.get("aps_before_after")
    if not section or not section.get("methods"):
        return None
    rows = {}
    for method, m in section["methods"].items():
        rows[method] = {
            "series_rmse_filtered_mm": m["filtered"]["timeseries_rmse_mm_mean"],
            "series_rmse_unfiltered_mm": m["unfiltered"]["timeseries_rmse_mm_mean"],
            "velocity_rmse_filtered_mm_yr": m["filtered"]["velocity_rmse_mm_yr"],
            "velocity_rmse_unfiltered_mm_yr": m["unfiltered"]["velocity_rmse_mm_yr"],
            "aps_at_stations_rms_mm": m["aps_rms_mm"]}
    df = pd.DataFrame(rows).T
    df.index.name = "method"
    return df


def error_split_table(validation: dict) -> pd.DataFrame | None:
    """Each product's field error against the truth split into common mode and the rest.

    ``field² = common_mode² + rest²``: the common mode is each epoch's mean error over the
    cells (datum tie, atmosphere at the reference), the rest the error of the spatial
    pattern. None without a truth.
    """
    truth = validation.get("truth")
    if not truth:
        return None
    rows = {}
    for method, t in truth.items():
        field, rest = t.get("field_rmse_mm"), t.get("field_pattern_rmse_mm")
        if field is None or rest is None:
            continue
        common = t.get("field_common_mode_rmse_mm")
        if common is None:
            common = float(np.sqrt(max(field**2 - rest**2, 0.0)))
        rows[method] = {"field_rmse_mm": field, "common_mode_rmse_mm": common,
                        "rest_rmse_mm": rest,
                        "common_mode_share_pct": 100.0 * common**2 / field**2 if field else None}
    if not rows:
        return None
    df = pd.DataFrame(rows).T
    df.index.name = "method"
    return df


def temporal_table(validation: dict) -> pd.DataFrame | None:
    """Held-out (and truth) RMSE of every resampler, rows (dataset, resampler), mm."""
    rows = {}
    for ds, scores in validation.get("temporal", {}).items():
        for method, s in scores.items():
            rows[(ds, method)] = s
    if not rows:
        return None
    df = pd.DataFrame(rows).T
    df.index.names = ["dataset", "resampler"]
    return df


#: Nominal share of a Gaussian error within 1 and 2 std.
NOMINAL = {1: 0.6827, 2: 0.9545}


def calibration_table(validation: dict) -> pd.DataFrame | None:
    """Nominal against observed coverage of every calibrated std, in %, methods as rows.

    Held out (input points in spatial blocks, and their velocities) before and after
    calibration, and against the truth where there is one; None without a calibration.
    """
    cal = validation.get("calibration", {}).get("methods")
    if not cal:
        return None
    truth = validation.get("truth", {})
    rows = {}
    for name, c in cal.items():
        row = {"std from": c["source"]}
        for what, key in (("displacement", "heldout_displacement"),
                          ("velocity", "heldout_velocity")):
            held = c.get(key, {})
            for k in (1, 2):
                row[f"held-out {what} within {k}σ, raw (%)"] = _pct(held.get(f"within_{k}std_raw"))
                row[f"held-out {what} within {k}σ (%)"] = _pct(held.get(f"within_{k}std"))
        for what in ("displacement", "velocity"):
            for k in (1, 2):
                t = truth.get(name, {})
                row[f"truth: {what} within {k}σ, raw (%)"] = _pct(
                    t.get(f"raw_{what}_within_{k}std"))
                row[f"truth: {what} within {k}σ (%)"] = _pct(t.get(f"{what}_within_{k}std"))
        rows[name] = row
    df = pd.DataFrame(rows).T
    df = df.loc[:, df.notna().any()]
    df.loc["nominal"] = {c: (100 * NOMINAL[1] if "1σ" in c else 100 * NOMINAL[2])
                         for c in df.columns if "σ" in c}
    df.index.name = "method"
    return df


def _pct(share):
    return None if share is None else round(100 * float(share), 1)


#: Readable headers of the tables' JSON keys (other keys: :func:`human_header`).
HEADERS = {"rmse_mm": "RMSE (mm)", "coverage": "share of points predicted",
           "block_m": "block side (m)", "heldout_rmse_mm": "held-out RMSE (mm)",
           "n_heldout": "held-out values", "truth_rmse_mm": "RMSE against the truth (mm)",
           "truth_pattern_rmse_mm": "RMSE against the truth without each epoch's offset (mm)",
           "field_rmse_mm": "RMSE everywhere (mm)",
           "field_pattern_rmse_mm": "RMSE without each epoch's offset (mm)"}

#: Units told by the end of a key.
_UNITS = (("_mm_yr", "mm/yr"), ("_pct", "%"), ("_mm", "mm"), ("_m", "m"), ("_s", "s"))

#: Label of a single dataset's score at a station beyond its support radius.
NOT_COVERED = "not covered"


def human_header(key) -> str:
    """A table header for a JSON key: ``velocity_rmse_mm_yr`` → ``velocity RMSE (mm/yr)``."""
    if key in HEADERS:
        return HEADERS[key]
    text, unit = str(key), ""
    for suffix, name in _UNITS:
        if text.endswith(suffix):
            text, unit = text[:-len(suffix)], name
            break
    words = text.replace("_", " ").replace("rmse", "RMSE")
    if words.startswith("n "):
        words = "number of " + words[2:]
    return f"{words} ({unit})" if unit else words


def _is_count(column) -> bool:
    name = str(column)
    return name.startswith("n_") or name in ("folds", "folds_scored", "count", "cells",
                                             "points", "epochs")


def _cell(value, count: bool) -> str:
    """One cell as text: counts as integers, other numbers with two decimals."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value) or np.isinf(float(value)):
        return "–"
    if count or isinstance(value, (int, np.integer)):
        return str(int(round(float(value))))
    return f"{float(value):.2f}"


def for_people(df: pd.DataFrame) -> pd.DataFrame:
    """A table as text for the report: human headers, counts as integers, 2 decimals."""
    shown = pd.DataFrame({human_header(c): [_cell(v, _is_count(c)) for v in df[c]]
                          for c in df.columns}, index=df.index)
    shown.index.names = [human_header(n) if n else n for n in df.index.names]
    return shown


def station_coverage(validation: dict) -> pd.DataFrame | None:
    """Distance (m) from each scored station to each single dataset's nearest point.

    Parameters
    ----------
    validation : dict
        The validation (its ``stations`` and ``nearest_point_m``).

    Returns
    -------
    pandas.DataFrame or None
        Stations as rows, datasets as columns, metres (rounded); None without stations.
    """
    stations = list(validation.get("stations") or [])
    nearest = validation.get("nearest_point_m") or {}
    if not stations or not nearest:
        return None
    columns = {name: pd.array([None if d.get(s) is None else round(d[s]) for s in stations],
                              dtype="Int64") for name, d in nearest.items()}
    return pd.DataFrame(columns, index=pd.Index(stations, name="station"))


def same_fold_scores(holdout: dict) -> dict:
    """``{method: {other: RMSE}}`` (mm) of each method scored on fewer folds, its own included.

    Parameters
    ----------
    holdout : dict
        The validation's ``holdout_blocks``.
    """
    return {name: {**scores["same_folds_rmse_mm"], name: scores["rmse_mm"]}
            for name, scores in holdout.items()
            if scores.get("same_folds_rmse_mm") is not None}


def holdout_table(validation: dict) -> pd.DataFrame | None:
    """The held-out-block scores, a row per method; None without them.

    A method scored on fewer folds (the CNN, ``folds_scored``) adds a column of every
    method's RMSE on those folds (``rmse_on_<method>_folds_mm``), its own included: the
    column to compare it by.
    """
    holdout = validation.get("holdout_blocks")
    if not holdout:
        return None
    rows = {m: {k: v for k, v in s.items() if k != "same_folds_rmse_mm"}
            for m, s in holdout.items()}
    for name, same in same_fold_scores(holdout).items():
        for method, value in same.items():
            rows[method][f"rmse_on_{name}_folds_mm"] = value
    return pd.DataFrame(rows).T.rename_axis("method")


def write_tables(validation: dict, out: Path) -> dict[str, pd.DataFrame]:
    """Write every table as ``tables/<name>.csv`` and ``tables/<name>.md``.

    The CSV files hold the validation's values under its keys; the Markdown files (and the
    returned tables, for the page) read as :func:`for_people`: human headers, counts as
    integers. A single dataset not scored at a station (beyond ``gnss.radius_m`` of its
    nearest point) reads :data:`NOT_COVERED` there, and its summary row is over the stations
    it covers (as ``validation.json`` has it); the distances themselves are the table
    ``station_coverage`` (:func:`station_coverage`).
    """
    out = Path(out) / "tables"
    out.mkdir(parents=True, exist_ok=True)
    tables = dict(station_tables(validation))
    tables.update(loso_tables(validation))
    holdout = holdout_table(validation)
    for name, df in (("truth", truth_table(validation)),
                     ("calibration", calibration_table(validation)),
                     ("holdout_blocks", holdout),
                     ("temporal", temporal_table(validation)),
                     ("aps_before_after", aps_table(validation)),
                     ("error_split", error_split_table(validation))):
        if df is not None:
            tables[name] = df
    coverage = station_coverage(validation)
    if coverage is not None:
        tables["station_coverage"] = coverage
    shown = {}
    for name, df in tables.items():
        df.to_csv(out / f"{name}.csv")
        shown[name] = for_people(df)
        (out / f"{name}.md").write_text(
            shown[name].to_markdown(disable_numparse=True, stralign="right") + "\n")
    return shown


