"""Stage 9: tables (CSV, Markdown), figures like the paper's, and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .series import linear_rate  # noqa: E402

VELOCITY_CMAP = "RdYlBu"


# --------------------------------------------------------------------------- tables

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
    return name.startswith("n_") or name in ("folds", "count", "cells", "points", "epochs")


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
    holdout = validation.get("holdout_blocks")
    holdout = pd.DataFrame(holdout).T.rename_axis("method") if holdout else None
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


# --------------------------------------------------------------------------- figures

def _velocity_limits(values) -> tuple[float, float]:
    v = np.concatenate([np.ravel(a) for a in values])
    v = v[np.isfinite(v)]
    lim = float(np.nanpercentile(np.abs(v), 99)) if v.size else 1.0
    return -lim, lim


def _stations(ax, state):
    g = state.inputs.gnss
    if g is None:
        return
    refs = set(state.cfg.gnss.reference) | {state.cfg.gnss.final_reference}
    for s in g["station"].values:
        x, y = float(g["x"].sel(station=s)), float(g["y"].sel(station=s))
        ax.plot(x, y, "^", color="k" if s in refs else "w", mec="k", ms=7)
        ax.annotate(s, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)


def fig_velocity_maps(state, path):
    """Velocity of each dataset's points and of the fused product, one colour scale (Figs 6, 7, 9)."""
    names = list(state.datasets)
    vel = state.velocity("synergic").values
    vlim = _velocity_limits([vel] + [state.datasets[n]["velocity"].values for n in names])
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(5 * (len(names) + 1), 4.6),
                             sharex=True, sharey=True, constrained_layout=True)
    for ax, name in zip(axes, names, strict=False):
        ds = state.datasets[name]
        v = linear_rate(state.epochs, ds["displacement"].values)
        sc = ax.scatter(ds["x"], ds["y"], c=v, s=4, cmap=VELOCITY_CMAP, vmin=vlim[0],
                        vmax=vlim[1])
        ax.set_title(f"{name}: {ds.sizes['point']} points")
        _stations(ax, state)
    g = state.grid
    axes[-1].imshow(vel, extent=_extent(g), origin="upper", cmap=VELOCITY_CMAP,
                    vmin=vlim[0], vmax=vlim[1])
    axes[-1].set_title(f"synergic ({state.cfg.spatial.method})")
    _stations(axes[-1], state)
    for ax in axes:
        _metre_axes(ax)
    axes[0].set_ylabel("y (m)")
    fig.colorbar(sc, ax=axes, label="LOS velocity (mm/yr, + toward satellite)", shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _metre_axes(ax):
    ax.set_aspect("equal")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.set_xlabel("x (m)")
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def _extent(g):
    c = float(g.attrs["cell_size"])
    return (float(g.x[0]) - c / 2, float(g.x[-1]) + c / 2, float(g.y[-1]) - c / 2,
            float(g.y[0]) + c / 2)


def fig_histograms(state, path):
    """Velocity histograms of each dataset and of the fused cells (Figs 8, 10)."""
    series = {n: linear_rate(state.epochs, ds["displacement"].values)
              for n, ds in state.datasets.items()}
    series["synergic"] = state.velocity("synergic").values.ravel()
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4),
                             constrained_layout=True)
    for ax, (name, v) in zip(axes, series.items(), strict=True):
        v = v[np.isfinite(v)]
        ax.hist(v, bins=np.arange(np.floor(v.min()) - 0.5, np.ceil(v.max()) + 1.5, 1.0),
                color="0.4")
        inside = np.mean((v >= -15) & (v <= 0)) * 100
        ax.set_title(f"{name} (n={v.size}; {inside:.1f}% in −15…0)")
        ax.set_xlabel("LOS velocity (mm/yr)")
    axes[0].set_ylabel("count")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig_station_series(state, path):
    """Time series of every method against GNSS at each validation station (Figs 12, 13)."""
    stations = state.validation.get("stations", [])
    if not stations:
        return False
    t = state.epochs.astype("datetime64[D]")
    gnss = state.gnss_series
    fig, axes = _station_axes(stations, t, gnss, row_height=2.8)
    for i, ax in enumerate(axes.flat[:len(stations)]):
        gm = np.nanmean(gnss[i])
        for name, ser in state.station_series.items():
            if not np.isfinite(ser[i]).any():  # a dataset not covering the station
                continue
            d = ser[i] - np.nanmean(ser[i] - gnss[i]) - gm
            ax.plot(t, d, lw=1.4 if name == "synergic" else 0.9, label=name)
    axes.flat[0].legend(fontsize=7, ncol=2)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _station_axes(stations, t, gnss, row_height):
    """A figure of one panel per station, three a row, each with the GNSS series (mm).

    The GNSS series (``gnss``, station × epoch, LOS) is drawn less its mean; a method's series
    drawn on a panel is aligned to it by its mean difference.
    """
    n = len(stations)
    ncol = 3
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, row_height * nrow), sharex=True,
                             constrained_layout=True, squeeze=False)
    for i, s in enumerate(stations):
        ax = axes.flat[i]
        ax.plot(t, gnss[i] - np.nanmean(gnss[i]), "k.", ms=3, label="GNSS (LOS)")
        ax.set_title(s)
        ax.set_ylabel("mm")
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes


def fig_station_series_aps(state, path, method="synergic"):
    """A product's series at each station with and without the APS filter, against GNSS."""
    stations = state.validation.get("stations", [])
    unfiltered = state.station_series_unfiltered.get(method)
    if not stations or unfiltered is None:
        return False
    t = state.epochs.astype("datetime64[D]")
    gnss, filtered = state.gnss_series, state.station_series[method]
    fig, axes = _station_axes(stations, t, gnss, row_height=2.6)
    for i, ax in enumerate(axes.flat[:len(stations)]):
        gm = np.nanmean(gnss[i])
        for label, ser, style in (("without the APS filter", unfiltered[i], "0.6"),
                                  ("with the APS filter", filtered[i], "C3")):
            ax.plot(t, ser - np.nanmean(ser - gnss[i]) - gm, color=style, lw=1.0, label=label)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{method}: station series with and without the APS filter")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def fig_uncertainty(state, path):
    """Map of the fused product's std averaged over the epochs (mm); False without a std."""
    std = state.product_std.get("synergic")
    if std is None:
        return False
    arr = std.mean("time") if "time" in std.dims else std
    fig, ax = plt.subplots(figsize=(5.5, 4.6), constrained_layout=True)
    im = ax.imshow(np.asarray(arr), extent=_extent(state.grid), origin="upper", cmap="magma_r")
    _stations(ax, state)
    _metre_axes(ax)
    ax.set_title("synergic: mean per-epoch standard deviation (calibrated)")
    fig.colorbar(im, ax=ax, label="mm")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def fig_calibration(validation: dict, path) -> bool:
    """Coverage curves: nominal against observed share within k std, per calibrated method.

    Held-out values (after calibration) and, where there is a truth, the products against
    it; displacement and velocity side by side. False without a calibration.
    """
    from scipy.stats import norm

    cal = validation.get("calibration", {})
    if not cal.get("methods"):
        return False
    ks = np.asarray(cal["curve_k"], float)
    nominal = 100 * (2 * norm.cdf(ks) - 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    for ax, what in zip(axes, ("displacement", "velocity"), strict=True):
        ax.plot([0, 100], [0, 100], color="0.6", lw=1, label="ideal")
        for i, (name, c) in enumerate(cal["methods"].items()):
            colour = f"C{i}"
            held = c.get(f"heldout_{what}", {}).get("within_k")
            if held:
                ax.plot(nominal, 100 * np.asarray(held, float), "o--", color=colour,
                        label=f"{name}, held out")
            truth = validation.get("truth", {}).get(name, {})
            for prefix, style, label in (("", "s-", "truth"), ("raw_", "x:", "truth, raw std")):
                curve = truth.get(f"{prefix}{what}_within_k")
                if curve:
                    ax.plot(nominal, 100 * np.asarray(curve, float), style, color=colour,
                            label=f"{name}, {label}")
        ax.set_xlabel("nominal coverage (%) of ±k std, k = " + ", ".join(f"{k:g}" for k in ks))
        ax.set_ylabel("observed coverage (%)")
        ax.set_title(f"{what}: calibrated std")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def fig_differences(state, path):
    """Velocity difference maps between the fused product and each baseline."""
    others = [m for m in state.products if m != "synergic"]
    if not others:
        return False
    vel = {m: state.velocity(m).values for m in state.products}
    diffs = {m: vel["synergic"] - vel[m] for m in others}
    lim = max(_velocity_limits(list(diffs.values()))[1], 0.5)
    fig, axes = plt.subplots(1, len(others), figsize=(5 * len(others), 4.4),
                             constrained_layout=True, squeeze=False)
    for ax, m in zip(axes[0], others, strict=True):
        im = ax.imshow(diffs[m], extent=_extent(state.grid), origin="upper", cmap="PuOr",
                       vmin=-lim, vmax=lim)
        ax.set_title(f"synergic − {m}")
        _stations(ax, state)
        _metre_axes(ax)
    fig.colorbar(im, ax=axes, label="velocity difference (mm/yr)", shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- page

def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def _ranking(scores: dict) -> str:
    """``"a 1.00, b 2.00"``: methods from the lowest score up."""
    return ", ".join(f"{m} {v:.2f}" for m, v in sorted(scores.items(), key=lambda kv: kv[1]))


def _scores(methods: dict, key: str) -> dict:
    """``{method: its value of key}`` for the methods that have one."""
    return {m: v[key] for m, v in methods.items() if v.get(key) is not None}


def _partial_labels(methods: dict, n: int) -> dict:
    """The methods, those scored at fewer than ``n`` stations named ``"CSK (6 of 9 stations)"``."""
    return {(f"{m} ({v['n_stations']} of {n} stations)" if v.get("not_covered") else m): v
            for m, v in methods.items()}


def reading(validation: dict) -> list[str]:
    """A few plain sentences on what the tables say (whichever method wins)."""
    lines = []
    methods = _partial_labels(validation.get("methods", {}), len(validation.get("stations", [])))
    if methods:
        ts = _scores(methods, "timeseries_rmse_mm_mean")
        vr = _scores(methods, "velocity_rmse_mm_yr")
        if ts:
            best = min(ts, key=ts.get)
            lines.append(f"Lowest mean time-series RMSE at the {len(validation['stations'])} "
                         f"validation stations: {best} ({ts[best]:.2f} mm); "
                         + _ranking(ts))
        if vr:
            best = min(vr, key=vr.get)
            lines.append(f"Lowest velocity RMSE: {best} ({vr[best]:.2f} mm/yr).")
    loso = validation.get("leave_one_station_out", {})
    lv = _scores(loso.get("methods", {}), "velocity_rmse_mm_yr")
    lt = _scores(loso.get("methods", {}), "timeseries_rmse_mm_mean")
    if lv and lt:
        bv, bt = min(lv, key=lv.get), min(lt, key=lt.get)
        lines.append(f"Leave one station out (each of {len(loso['stations'])} stations scored "
                     f"with the product tied to GNSS through the others, offset model "
                     f"{loso['model']}): lowest velocity RMSE {bv} ({lv[bv]:.2f} mm/yr), lowest "
                     f"mean time-series RMSE {bt} ({lt[bt]:.2f} mm); "
                     + _ranking(lv)
                     + " mm/yr.")
    truth = validation.get("truth")
    if truth:
        fr = {m: v["field_rmse_mm"] for m, v in truth.items() if v.get("field_rmse_mm")}
        if fr:
            best = min(fr, key=fr.get)
            lines.append(f"Against the simulated truth everywhere on the grid, {best} has the "
                         f"lowest error ({fr[best]:.2f} mm).")
        pattern = _scores(truth, "field_pattern_rmse_mm")
        if pattern:
            best = min(pattern, key=pattern.get)
            lines.append(f"With each epoch's common offset (datum, atmosphere at the reference) "
                         f"removed, {best} has the best spatial pattern ({pattern[best]:.2f} mm); "
                         + _ranking(pattern)
                         + " mm.")
    held = _scores(validation.get("holdout_blocks", {}), "rmse_mm")
    if held:
        best = min(held, key=held.get)
        lines.append(f"On input points held out in spatial blocks, {best} predicts best "
                     f"({held[best]:.2f} mm); " + _ranking(held))
    if validation.get("temporal_method"):
        lines.append(f"Temporal resampling used: {validation['temporal_method']}.")
    return lines + error_model_lines(validation)


def error_model_lines(validation: dict) -> list[str]:
    """What the error model did: APS removed, GNSS screened, the tie and its uncertainty."""
    lines = []
    aps = validation.get("atmosphere", {})
    if aps.get("removed_rms_mm"):
        lost = ", ".join(f"{k} {v:.2f} mm" for k, v in aps["removed_rms_mm"].items())
        lines.append(f"Atmosphere ({aps['method']}): APS removed, RMS per dataset: {lost} "
                     "(atmosphere.nc).")
    elif aps:
        lines.append("Atmosphere: none removed.")
    screening = validation.get("gnss_screening", {})
    if screening.get("enabled"):
        lines.append(f"GNSS screening: {screening['outlier_epochs']} outlier epoch(s) removed "
                     f"and {screening['steps']} step(s) corrected, at "
                     f"{len(screening['stations'])} station(s).")
    tie = validation.get("datum_tie", {})
    for kind, ties in (("datasets", tie.get("datasets", {})),
                       ("products", tie.get("products", {}))):
        for name, t in list(ties.items())[:1 if kind == "products" else None]:
            down = (f"; down-weighted: {', '.join(t['down_weighted'])}"
                    if t["down_weighted"] else "")
            what = name if kind == "datasets" else "fused products"
            lines.append(f"Network GNSS tie of {what} through {', '.join(t['stations'])}: "
                         f"uncertainty {t['sigma_mm_mean']:.2f} mm per epoch{down}.")
    lines += reference_lines(validation.get("datum_reference"))
    if validation.get("not_covered"):
        lines.append("Not scored (no data within gnss.radius_m): "
                     + ", ".join(validation["not_covered"]) + ".")
    return lines


def reference_lines(ref: dict | None) -> list[str]:
    """What the datasets were referenced to without GNSS, and whether it moves."""
    if not ref:
        return []
    if ref["mode"] == "primary":
        line = f"Without GNSS the products keep {ref['primary']}'s own reference"
    else:
        a = ref["area"]
        counts = ", ".join(f"{n} {d['n_points']}" for n, d in a["datasets"].items())
        kind = {"stable_area": "stable area", "best_overlap": "block of best overlap",
                "reference_point": "configured reference area"}.get(ref["mode"], ref["mode"])
        line = (f"Without GNSS the datasets are referenced to the {kind} at lon {a['lon']}, lat {a['lat']} (radius {a['radius_m']:.0f} m; "
                f"points: {counts})")
    ties = "; ".join(f"{n} tied to {ref['primary']} over {t['n_cells']} cells of "
                     f"{t['cell_m']:g} m, co-located differences {t['rms_before_mm']} → "
                     f"{t['rms_after_mm']} mm RMS" for n, t in (ref.get("ties") or {}).items())
    line += f"; {ties}." if ties else "."
    motion = ref.get("motion")
    if motion:
        line += (f" {'MOVING: the' if motion['moving'] else 'The'} reference moves "
                 f"{motion['velocity_mm_yr']:+.2f} mm/yr relative to "
                 + ("the most stable block of the data" if ref["mode"] == "primary"
                    else "the primary's own reference")
                 + f" (limit {motion['limit_mm_yr']:.2f} mm/yr).")
    return [line]


def coverage_reading(validation: dict, radius_m) -> list[str]:
    """A sentence naming every single dataset not scored at a station (beyond ``radius_m``)."""
    far = [f"{name} at {station} ({m['stations'][station]['nearest_point_m']:.0f} m)"
           for name, m in validation.get("methods", {}).items()
           for station in m.get("not_covered", {})]
    if not far:
        return []
    return [f"Not covered, more than {radius_m:g} m from the dataset's nearest point: "
            + ", ".join(far) + "; not scored there, and the dataset's summary rows and the "
            "improvement over it are taken over the stations it covers."]


def write_report(state, out) -> Path:
    """Write ``figures/*.png``, ``tables/*`` and ``report.html`` into ``out``."""
    out = Path(out)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    figures = []
    fig_velocity_maps(state, figdir / "velocity_maps.png")
    figures.append(("Mean LOS velocity per dataset and fused", figdir / "velocity_maps.png"))
    fig_histograms(state, figdir / "velocity_histograms.png")
    figures.append(("Velocity histograms", figdir / "velocity_histograms.png"))
    if fig_station_series(state, figdir / "station_timeseries.png"):
        figures.append(("Time series at the validation stations",
                        figdir / "station_timeseries.png"))
    if fig_station_series_aps(state, figdir / "station_timeseries_aps.png"):
        figures.append(("Before/after the APS filter: the fused product at the stations",
                        figdir / "station_timeseries_aps.png"))
    if fig_uncertainty(state, figdir / "uncertainty.png"):
        figures.append(("Uncertainty of the fused product", figdir / "uncertainty.png"))
    if fig_calibration(state.validation, figdir / "calibration.png"):
        figures.append(("Calibration of the std: nominal against observed coverage",
                        figdir / "calibration.png"))
    if fig_differences(state, figdir / "differences.png"):
        figures.append(("Differences between methods", figdir / "differences.png"))
    radius = state.cfg.gnss.radius_m if state.cfg.gnss is not None else None
    tables = write_tables(state.validation, out)
    titles = {"velocity": "Velocity at GNSS stations, mm/yr (Table 4)",
              "cross_correlation": "Cross-correlation with GNSS, % (Table 5)",
              "timeseries_rmse": "Time-series RMSE w.r.t. GNSS, mm (Tables 6–7)",
              "loso_velocity_error": "Leave one station out: velocity error, mm/yr (product "
                                     "tied to GNSS through the other stations)",
              "loso_timeseries_rmse": "Leave one station out: time-series RMSE, mm",
              "truth": "Error against the simulated truth",
              "calibration": "Calibrated std: share of values within 1σ and 2σ, nominal "
                             "against observed (held-out points and, where known, the truth)",
              "holdout_blocks": "Held-out spatial blocks of input points (mm)",
              "temporal": "Temporal resampling, held-out epochs (mm)",
              "aps_before_after": "Before/after the APS filter: scores at the GNSS stations "
                                  "with the filter and with the removed APS added back",
              "error_split": "Error against the truth: the per-epoch common mode (datum, "
                             "atmosphere at the reference) and the rest (field² = common "
                             "mode² + rest²)",
              "station_coverage": "Distance from each station to each dataset's nearest "
                                  f"point, m (beyond {radius} m a dataset is not scored "
                                  "there: not covered)"}
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>insarfusion report"
             "</title><style>body{font-family:sans-serif;max-width:1200px;margin:auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 6px;"
             "text-align:right}img{max-width:100%}</style></head><body>",
             "<h1>insarfusion report</h1>"]
    sentences = reading(state.validation) + coverage_reading(state.validation, radius)
    parts.append("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in sentences) + "</ul>")
    for name, df in tables.items():
        parts.append(f"<h2>{html.escape(titles.get(name, name))}</h2>")
        parts.append(df.to_html(na_rep="–"))
    for title, path in figures:
        parts.append(f"<h2>{html.escape(title)}</h2>{_img(path)}")
    parts.append("</body></html>")
    page = out / "report.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
