"""InSAR LOS series against GNSS at a station, and a check of the LOS geometry (beyond the paper).

For every InSAR dataset of a configuration, the GNSS station's east/north/up series (for
``ecef`` files: geocentric X/Y/Z turned into local ENU by the reader) is projected onto the
dataset's LOS with the paper's eq. (2) (:func:`insarfusion.datum.gnss_los`), averaged onto the
InSAR dates that fall inside the GNSS span (:func:`insarfusion.datum.gnss_on_epochs`, a window
of half the InSAR spacing), and compared with the mean series of the dataset's points within
``gnss.radius_m`` of the station over that overlap:

* ``rmse_mm``: root mean square of InSAR - GNSS after removing the mean difference (the shape
  of the series; :func:`insarfusion.metrics.timeseries_rmse`); ``rmse_zeroed_mm`` without
  removing it, both series being zero at the first overlap epoch;
* ``correlation_pct``: Pearson correlation (:func:`insarfusion.metrics.cross_correlation`);
* ``velocity_insar_mm_yr``, ``velocity_gnss_mm_yr``: least-squares rates over the overlap.

Geometry check. A LOS geometry that is wrong (a heading in another convention, angles copied
from another track) makes the GNSS projection disagree with the InSAR series wherever the
motion has a horizontal part. Each series is therefore also compared with the GNSS projected
on every other geometry found in the configuration and on its own incidence with the
opposite pass (heading + 180 degrees); ``best_geometry`` names the one with the lowest RMSE.
This tells which geometry the series was measured in; it cannot tell which of two geometries
is right when the motion is purely vertical (then only the incidence matters), and a series
that sees less (or more) motion than the GNSS for other reasons (a point not on the station,
a biased chain of interferograms) favours whichever geometry shrinks (or grows) the GNSS LOS.

Pairs. A sharper test of the headings: every pair of datasets from opposite passes (headings
more than 90 degrees apart) is decomposed into east and up at the station
(:func:`insarfusion.decompose.decompose`, the GNSS north removed) on common 6-day epochs, and
the east and up rates are compared with the GNSS's. It is done with the headings as given and
with both headings turned by 180 degrees (the other convention for the flight direction): a
wrong convention flips the sign of the decomposed east.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..conventions import as_days, los_unit_vector, wrap_angle
from ..datum import gnss_los, gnss_on_epochs
from ..errors import InputError, StageError
from ..log import logger
from ..metrics import cross_correlation, rounded, timeseries_rmse
from ..series import linear_rate


def station_series(ds: xr.Dataset, gnss: xr.Dataset, station: str, radius_m: float = 100.0):
    """Mean LOS series and geometry of a dataset's points near a GNSS station.

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset, ``x``/``y`` in the CRS of ``gnss``.
    gnss : xarray.Dataset
        GNSS dataset.
    station : str
    radius_m : float
        Points within this distance are averaged; when there is none, the nearest point is
        taken (and logged).

    Returns
    -------
    series : numpy.ndarray, shape (n_time,)
        Mean LOS displacement (mm), NaN where no point has a value.
    incidence, heading : float
        Mean incidence and circular-mean heading of those points, degrees.
    info : dict
        ``points`` used and ``distance_m`` of the farthest.
    """
    if station not in gnss["station"].values:
        raise InputError(f"GNSS station {station!r} not found (have: "
                         f"{', '.join(map(str, gnss['station'].values))})",
                         gnss.attrs.get("source") or None)
    sx = float(gnss["x"].sel(station=station))
    sy = float(gnss["y"].sel(station=station))
    dist = np.hypot(ds["x"].values - sx, ds["y"].values - sy)
    near = dist <= radius_m
    if not near.any():
        near = dist == dist.min()
        logger.warning("%s: no point within %.0f m of %s; using the nearest (%.0f m)",
                       ds.attrs.get("name"), radius_m, station, dist.min())
    values = ds["displacement"].values[near]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # epochs no point has: NaN
        series = np.nanmean(values, axis=0)
    inc = float(np.nanmean(ds["incidence"].values[near]))
    head = float(np.rad2deg(np.angle(np.nanmean(np.exp(1j * np.deg2rad(
        ds["heading"].values[near]))))))
    if not (np.isfinite(inc) and np.isfinite(head)):
        raise InputError(f"dataset {ds.attrs.get('name')!r} has no incidence/heading near "
                         f"{station}; set them in the config", ds.attrs.get("source") or None)
    return series, inc, head, {"points": int(near.sum()),
                               "distance_m": rounded(dist[near].max(), 1)}


def compare_series(insar_dates, insar, gnss: xr.Dataset, station: str, incidence: float,
                   heading: float, half_window_days=None) -> dict:
    """Scores of one InSAR LOS series against the GNSS projected on a given geometry.

    Parameters
    ----------
    insar_dates : array_like of dates
    insar : array_like, shape (n_time,)
        InSAR LOS displacement, mm, positive toward the satellite.
    gnss : xarray.Dataset
        GNSS dataset (east/north/up, mm).
    station : str
    incidence, heading : float
        Geometry to project the GNSS onto (degrees; heading clockwise from north).
    half_window_days : float, optional
        GNSS days averaged around each InSAR date; default half the InSAR date spacing.

    Returns
    -------
    dict
        ``epochs``, ``start``, ``end`` of the overlap, ``rmse_mm``, ``rmse_zeroed_mm``,
        ``correlation_pct``, ``velocity_insar_mm_yr``, ``velocity_gnss_mm_yr``,
        ``velocity_diff_mm_yr``, and (for plotting) ``dates``, ``insar_mm``, ``gnss_mm``.
    """
    dates = as_days(insar_dates)
    insar = np.asarray(insar, dtype=float)
    los = gnss_los(gnss, station, incidence, heading)
    gdays = as_days(los["time"].values)
    ok_g = np.isfinite(los.values)
    if not ok_g.any():
        raise StageError(f"GNSS station {station} has no position")
    first, last = gdays[ok_g].min(), gdays[ok_g].max()
    inside = (dates >= first) & (dates <= last) & np.isfinite(insar)
    if half_window_days is None and dates.size > 1:
        half_window_days = float(np.median(np.diff(dates.astype("int64")))) / 2.0
    g = gnss_on_epochs(los.values, gdays, dates[inside], half_window_days=half_window_days)
    both = np.isfinite(g)
    idx = np.flatnonzero(inside)[both]
    if idx.size < 3:
        raise StageError(f"fewer than 3 InSAR epochs overlap the GNSS of {station} "
                         f"({first}..{last})")
    d, a, b = dates[idx], insar[idx] - insar[idx[0]], g[both] - g[both][0]
    v_a, v_b = float(linear_rate(d, a)), float(linear_rate(d, b))
    return {"epochs": int(idx.size), "start": str(d[0]), "end": str(d[-1]),
            "incidence": rounded(incidence, 2), "heading": rounded(heading, 2),
            "rmse_mm": rounded(timeseries_rmse(a, b), 2),
            "rmse_zeroed_mm": rounded(timeseries_rmse(a, b, remove_mean=False), 2),
            "correlation_pct": rounded(cross_correlation(a, b), 1),
            "velocity_insar_mm_yr": rounded(v_a, 2), "velocity_gnss_mm_yr": rounded(v_b, 2),
            "velocity_diff_mm_yr": rounded(v_a - v_b, 2),
            "dates": [str(x) for x in d], "insar_mm": a.round(2).tolist(),
            "gnss_mm": b.round(2).tolist()}


def candidate_geometries(own: tuple[float, float], others: dict) -> dict:
    """Geometries to test a series against: its own, every other one, its opposite pass.

    Parameters
    ----------
    own : (incidence, heading)
        Degrees.
    others : dict of label -> (incidence, heading)

    Returns
    -------
    dict of label -> (incidence, heading)
        ``"own"`` first; geometries within 0.5 degree of one already listed are left out.
    """
    out = {"own": own}
    opposite = (own[0], float(wrap_angle(own[1] + 180.0)))
    for label, geom in [*others.items(), ("own, opposite pass", opposite)]:
        if all(abs(geom[0] - g[0]) > 0.5 or abs(float(wrap_angle(geom[1] - g[1]))) > 0.5
               for g in out.values()):
            out[label] = geom
    return out


def compare_with_gnss(datasets: dict, gnss: xr.Dataset, station: str | None = None,
                      radius_m: float = 100.0) -> dict:
    """Every dataset against the GNSS station, with its own and every candidate geometry.

    Returns
    -------
    dict
        ``station`` and its ``lon``/``lat``; ``datasets``: per dataset ``points``,
        ``distance_m``, ``own`` (scores with its own geometry, :func:`compare_series`),
        ``geometries`` (label -> scores without the series) and ``best_geometry``.
    """
    stations = [str(s) for s in gnss["station"].values]
    station = station or stations[0]
    found = {}
    for name, ds in datasets.items():
        found[name] = station_series(ds, gnss, station, radius_m)
    geoms = {name: (f[1], f[2]) for name, f in found.items()}
    out = {"station": station, "lon": rounded(float(gnss["lon"].sel(station=station)), 5),
           "lat": rounded(float(gnss["lat"].sel(station=station)), 5), "datasets": {}}
    for name, (series, inc, head, info) in found.items():
        dates = datasets[name]["time"].values
        try:
            own = compare_series(dates, series, gnss, station, inc, head)
        except StageError as exc:
            logger.warning("%s: %s", name, exc)
            out["datasets"][name] = {**info, "error": str(exc)}
            continue
        scores = {}
        others = {f"as {other}": g for other, g in geoms.items() if other != name}
        for label, (i, h) in candidate_geometries((inc, head), others).items():
            s = compare_series(dates, series, gnss, station, i, h)
            scores[label] = {k: s[k] for k in ("incidence", "heading", "rmse_mm",
                                               "correlation_pct", "velocity_gnss_mm_yr",
                                               "velocity_diff_mm_yr")}
        best = min(scores, key=lambda k: scores[k]["rmse_mm"])
        out["datasets"][name] = {**info, "technique": datasets[name].attrs.get("technique"),
                                 "own": own, "geometries": scores, "best_geometry": best}
        logger.info("%s vs %s: %d epochs %s..%s, RMSE %.2f mm, correlation %.1f %%, best "
                    "geometry %s", name, station, own["epochs"], own["start"], own["end"],
                    own["rmse_mm"], own["correlation_pct"], best)
    return out


def compare_pairs(datasets: dict, gnss: xr.Dataset, station: str, radius_m: float = 100.0,
                  step_days: int = 6) -> dict:
    """East and up at the station from every opposite-pass pair of datasets, against GNSS.

    Pairs of two entries that read the same file are skipped.

    Returns
    -------
    dict of "A+B" -> dict
        ``epochs``, ``start``, ``end``; for ``"as given"`` and ``"headings + 180"``: the
        decomposed and GNSS ``east``/``up`` rates (mm/yr) over the common epochs and the
        RMSE of the series after removing the mean difference (mm).
    """
    from ..temporal import make_resampler, resample_dataset
    from ..timegrid import common_epochs
    from .decompose import decompose

    found = {name: station_series(ds, gnss, station, radius_m) for name, ds in datasets.items()}
    names = list(datasets)
    gdays = as_days(gnss["time"].values)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if abs(float(wrap_angle(found[a][2] - found[b][2]))) <= 90.0:
                continue
            if datasets[a].attrs.get("source") and \
                    datasets[a].attrs.get("source") == datasets[b].attrs.get("source"):
                continue  # one file read with two geometries: not two measurements
            spans = {a: datasets[a]["time"].values, b: datasets[b]["time"].values,
                     "GNSS": gdays}
            try:
                epochs = common_epochs(spans, step_days=step_days)
            except StageError:
                continue
            series = []
            for name in (a, b):
                one = datasets[name].isel(point=[0]).copy()
                one["displacement"] = (("point", "time"), found[name][0][None, :])
                series.append(resample_dataset(one, epochs, make_resampler("linear"))
                              ["displacement"].values[0])
            enu = {}
            for c in ("east", "north", "up"):
                v = gnss_on_epochs(gnss[c].sel(station=station).values, gdays, epochs,
                                   half_window_days=step_days / 2)
                enu[c] = v - v[np.isfinite(v)][0]
            ok = np.isfinite(enu["east"]) & np.isfinite(enu["north"]) & np.isfinite(enu["up"])
            if ok.sum() < 3:
                continue
            entry = {"epochs": int(ok.sum()), "start": str(epochs[ok][0]),
                     "end": str(epochs[ok][-1])}
            for label, turn in (("as given", 0.0), ("headings + 180", 180.0)):
                vectors = [los_unit_vector(found[n][1], found[n][2] + turn) for n in (a, b)]
                res = decompose([xr.DataArray(v[ok], dims="epoch") for v in series], vectors,
                                north=xr.DataArray(enu["north"][ok], dims="epoch"))
                entry[label] = {}
                for c in ("east", "up"):
                    ins = res[c].values
                    entry[label][c] = {
                        "insar_mm_yr": rounded(linear_rate(epochs[ok], ins), 2),
                        "gnss_mm_yr": rounded(linear_rate(epochs[ok], enu[c][ok]), 2),
                        "rmse_mm": rounded(timeseries_rmse(ins, enu[c][ok]), 2)}
            out[f"{a}+{b}"] = entry
    return out


def run_gnss_comparison(cfg, out, force: bool = False) -> dict:
    """``insarfusion compare-gnss``: every dataset of ``cfg`` against its GNSS station.

    Writes into ``out`` atomically: ``gnss_comparison.json``, ``gnss_comparison.csv`` (one row
    per dataset and geometry), ``gnss_comparison.png``, ``config.resolved.yaml``, ``run.log``.
    """
    from ..load import load_inputs
    from ..runframe import run_frame

    if cfg.gnss is None:
        raise InputError("compare-gnss needs a 'gnss' section in the configuration")
    station = cfg.gnss.stations[0] if cfg.gnss.stations else None
    with run_frame(cfg, out, force=force) as tmp:
        inputs = load_inputs(cfg)
        result = compare_with_gnss(inputs.datasets, inputs.gnss, station,
                                   radius_m=cfg.gnss.radius_m)
        result["pairs"] = compare_pairs(inputs.datasets, inputs.gnss, result["station"],
                                        radius_m=cfg.gnss.radius_m)
        (tmp / "gnss_comparison.json").write_text(json.dumps(result, indent=1))
        _table(result).to_csv(tmp / "gnss_comparison.csv", index=False)
        plot_comparison(result, tmp / "gnss_comparison.png")
    return result


def _table(result: dict):
    import pandas as pd

    rows = []
    for name, d in result["datasets"].items():
        for label, s in d.get("geometries", {}).items():
            rows.append({"dataset": name, "geometry": label, **s,
                         "epochs": d["own"]["epochs"], "start": d["own"]["start"],
                         "end": d["own"]["end"], "best": label == d["best_geometry"]})
    return pd.DataFrame(rows)


def plot_comparison(result: dict, path, title=None) -> Path:
    """One panel per dataset: its LOS series and the GNSS in its own geometry, mm.

    Over the overlap, both zero at the first overlap epoch.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    items = [(n, d) for n, d in result["datasets"].items() if "own" in d]
    if not items:
        raise StageError("no dataset overlaps the GNSS: nothing to plot")
    ncol = min(len(items), 4)
    nrow = int(np.ceil(len(items) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.2 * nrow), squeeze=False,
                             constrained_layout=True)
    for ax, (name, d) in zip(axes.ravel(), items, strict=False):
        s = d["own"]
        t = np.asarray(s["dates"], dtype="datetime64[D]")
        ax.plot(t, s["gnss_mm"], "-", color="0.4", lw=1.2, label="GNSS in LOS")
        ax.plot(t, s["insar_mm"], "o", ms=2.5, color="C3", label="InSAR")
        ax.set_title(f"{name}: RMSE {s['rmse_mm']:.1f} mm, r {s['correlation_pct']:.0f} %",
                     fontsize=7)
        loc = mdates.AutoDateLocator(minticks=3, maxticks=5)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(items):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("LOS (mm)", fontsize=7)
    axes[0, 0].legend(fontsize=6, frameon=False)
    fig.suptitle(title or f"InSAR and GNSS {result['station']} in each LOS", fontsize=8)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)


__all__ = ["candidate_geometries", "compare_pairs", "compare_series", "compare_with_gnss",
           "plot_comparison",
           "run_gnss_comparison", "station_series"]
