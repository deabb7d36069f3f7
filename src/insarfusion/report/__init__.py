"""The last stage: tables (CSV, Markdown), figures like the paper's, and one self-contained HTML page.

The tables are built in :mod:`insarfusion.report.tables`, the figures drawn in
:mod:`insarfusion.report.figures`; this module writes the page that holds them.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..conventions import FUSED
from .figures import (
    fig_calibration,
    fig_differences,
    fig_histograms,
    fig_station_series,
    fig_station_series_aps,
    fig_uncertainty,
    fig_velocity_maps,
)
from .tables import same_fold_scores, write_tables


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
            if FUSED in pattern and best != FUSED:
                lines.append(f"The synergic product is not the best here: its pattern error "
                             f"({pattern[FUSED]:.2f} mm) is above {best}'s on the same "
                             f"inputs.")
    lines += _holdout_lines(validation.get("holdout_blocks", {}))
    if validation.get("temporal_method"):
        lines.append(f"Temporal resampling used: {validation['temporal_method']}.")
    return lines + error_model_lines(validation)


def _holdout_lines(holdout: dict) -> list[str]:
    """The held-out-block ranking; a method scored on fewer folds ranked on those folds."""
    fewer = same_fold_scores(holdout)
    full = _scores({m: s for m, s in holdout.items() if m not in fewer}, "rmse_mm")
    lines = []
    if full:
        best = min(full, key=full.get)
        lines.append(f"On input points held out in spatial blocks, {best} predicts best "
                     f"({full[best]:.2f} mm); " + _ranking(full))
    for name, same in fewer.items():
        same = {m: v for m, v in same.items() if v is not None}
        best = min(same, key=same.get)
        lines.append(f"{name} was retrained on {holdout[name]['folds_scored']} of the "
                     f"{holdout[name]['folds']} folds; on those, {best} predicts best "
                     f"({same[best]:.2f} mm); " + _ranking(same))
    return lines


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
