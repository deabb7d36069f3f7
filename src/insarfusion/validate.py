"""Validation at GNSS stations and against held-out points (the truth: :mod:`.truth_scoring`).

Every method is scored through the same functions: a method is a set of displacement series
at the stations, on the common epochs, in the primary LOS and the GNSS datum (mm), relative to
the first common epoch. The metrics are those of :mod:`insarfusion.metrics` (paper Tables 4–7).

Leave one station out
---------------------
The stations scored in ``methods`` are those not used as a datum reference; the reference
stations agree with the products by construction and are never scored there. The
leave-one-station-out check (:func:`leave_one_station_out`, beyond the paper) scores every
station that has GNSS on the common epochs, references included: for station ``i`` each
product (every single dataset and every fused product) is tied to the GNSS datum through all
the *other* stations, with the offset plane of :func:`insarfusion.datum.plane_coefficients`
(offset and east/north tilt per epoch, smoothed with the run's ``gnss.offset_model``; one other
station gives a constant offset, two a tilt along their baseline), and the tied series is
compared with the GNSS at ``i``. The raw offset at a tie station is the product's mean series
within ``gnss.radius_m`` minus the GNSS, as in the run's own datum step. The re-tie is applied
to the finished products, so no network is refitted: the products' own datum offsets lie in
the space the plane removes (constant in space, the offset model in time), so the re-tie
replaces them (exactly for the ``constant``, ``linear`` and ``raw`` models, up to the
smoothing for ``lowpass``). What it does not undo is the tie of the datasets to each other
before fusion, made at ``gnss.reference``.

``validation.json["leave_one_station_out"]`` has the keys

``stations``
    The stations scored (those with GNSS on at least two common epochs), in the GNSS order.
``model``, ``radius_m``
    The offset model and the radius of the tie (the run's ``gnss`` settings).
``gnss``
    ``{station: {"velocity_mm_yr": ...}}``, the GNSS LOS velocity on the common epochs.
``methods``
    ``{method: {"stations": {station: {"velocity_mm_yr", "velocity_error_mm_yr",
    "timeseries_rmse_mm", "cross_correlation", "tie_stations"}}, "velocity_rmse_mm_yr",
    "timeseries_rmse_mm_mean", "cross_correlation_mean", "n_stations"}}``: per station the
    tied product's velocity, its error against the GNSS velocity (mm/yr), the time-series
    RMSE (mm, mean difference removed) and cross-correlation (%), and the number of stations
    it was tied through; the summary is the RMSE of the velocity errors over the stations and
    the mean of the per-station time-series RMSE and cross-correlation (as in ``methods``).
    A station that cannot be scored (no other station to tie through, or tie stations on a
    line) has ``null`` metrics and a ``note``.
``improvement_pct``
    As the top-level ``improvement_pct``, on the leave-one-station-out summaries.
"""

from __future__ import annotations

import numpy as np

from . import datum
from .conventions import FUSED
from .errors import StageError
from .log import logger
from .metrics import (
    cross_correlation,
    improvement_pct,
    rmse,
    rounded,
    timeseries_rmse,
    velocity_rmse,
)
from .series import linear_rate


def station_metrics(series: np.ndarray, gnss: np.ndarray, epochs, stations,
                    not_covered: dict | None = None) -> dict:
    """Per-station and summary metrics of one method.

    Parameters
    ----------
    series, gnss : ndarray, shape (n_station, n_epoch)
        The method's and the GNSS LOS displacement on the common epochs (mm).
    epochs : array of dates
    stations : list of str
    not_covered : dict, optional
        ``{station: metres}``: stations the method does not cover (a single dataset farther
        than ``gnss.radius_m`` from its nearest point there); they are not scored.

    Returns
    -------
    dict
        ``{"stations": {name: {velocity_mm_yr, timeseries_rmse_mm, cross_correlation}},
        "velocity_rmse_mm_yr", "timeseries_rmse_mm_mean", "cross_correlation_mean"}``
        (velocity error against the GNSS velocity on the same epochs). A station not covered
        reads ``{"not_covered": true, "nearest_point_m": metres}`` and is left out of the
        summaries; with ``not_covered`` the result also has ``not_covered`` (that dictionary)
        and ``n_stations`` (the stations scored).
    """
    series = np.array(series, dtype=float)
    not_covered = dict(not_covered or {})
    for station in not_covered:
        series[list(stations).index(station)] = np.nan
    v_method = linear_rate(epochs, series)
    v_gnss = linear_rate(epochs, gnss)
    ts = timeseries_rmse(series, gnss)
    cc = cross_correlation(series, gnss)
    per_station = {
        s: {"velocity_mm_yr": rounded(v_method[i]), "timeseries_rmse_mm": rounded(ts[i]),
            "cross_correlation": rounded(cc[i])}
        for i, s in enumerate(stations)
    }
    for station, distance in not_covered.items():
        per_station[station] = {"not_covered": True, "nearest_point_m": distance}
    out = {
        "stations": per_station,
        "velocity_rmse_mm_yr": rounded(velocity_rmse(v_method, v_gnss)),
        "timeseries_rmse_mm_mean": rounded(np.nanmean(ts)) if np.isfinite(ts).any() else None,
        "cross_correlation_mean": rounded(np.nanmean(cc)) if np.isfinite(cc).any() else None,
    }
    if not_covered:
        out["not_covered"] = not_covered
        out["n_stations"] = len(stations) - len(not_covered)
    return out


def _summary_over(method: dict, stations: list, gnss: dict) -> dict:
    """A method's velocity RMSE and mean time-series RMSE over some of its stations.

    The velocity error of a station is its ``velocity_error_mm_yr`` where the method has one
    (leave one station out), else its velocity minus the GNSS velocity in ``gnss``.
    """
    rows = [method["stations"][s] for s in stations]
    errors = np.array([np.nan if r.get("velocity_mm_yr") is None else
                       r["velocity_error_mm_yr"] if r.get("velocity_error_mm_yr") is not None
                       else r["velocity_mm_yr"] - gnss[s]["velocity_mm_yr"]
                       for s, r in zip(stations, rows, strict=True)], dtype=float)
    ts = np.array([np.nan if r.get("timeseries_rmse_mm") is None else r["timeseries_rmse_mm"]
                   for r in rows], dtype=float)
    return {"velocity_rmse_mm_yr": rounded(rmse(errors)),
            "timeseries_rmse_mm_mean": rounded(np.nanmean(ts)) if np.isfinite(ts).any()
            else None}


def covered_stations(methods: dict, name: str, reference=FUSED) -> list | None:
    """The stations where both ``name`` and ``reference`` are scored, if ``name`` misses some.

    None when ``name`` covers every station (its ``not_covered`` is empty or absent).
    """
    m = methods[name]
    if not m.get("not_covered"):
        return None
    return [s for s in m["stations"] if s not in m["not_covered"]
            and s in methods[reference]["stations"]]


def improvements(methods: dict, reference=FUSED, gnss: dict | None = None) -> dict:
    """``{"synergic_vs_<m>": pct}`` on the velocity RMSE (paper §5.4).

    As ``"..._timeseries"``, the same on the mean time-series RMSE. Against a method that
    does not cover every station (:func:`covered_stations`), both summaries are taken over
    the stations it covers only, recomputed from the per-station values with ``gnss``
    (``{station: {"velocity_mm_yr": ...}}``).
    """
    out = {}
    if reference not in methods:
        return out
    for name, m in methods.items():
        if name == reference:
            continue
        ref, other = methods[reference], m
        covered = covered_stations(methods, name, reference)
        if covered is not None and gnss is not None:
            ref = _summary_over(methods[reference], covered, gnss)
            other = _summary_over(m, covered, gnss)
        if other.get("velocity_rmse_mm_yr") and ref.get("velocity_rmse_mm_yr") is not None:
            out[f"{reference}_vs_{name}"] = rounded(improvement_pct(
                other["velocity_rmse_mm_yr"], ref["velocity_rmse_mm_yr"]))
        if other.get("timeseries_rmse_mm_mean") and ref.get("timeseries_rmse_mm_mean") is not None:
            out[f"{reference}_vs_{name}_timeseries"] = rounded(improvement_pct(
                other["timeseries_rmse_mm_mean"], ref["timeseries_rmse_mm_mean"]))
    return out


def improvement_stations(methods: dict, reference=FUSED) -> dict:
    """``{"synergic_vs_<m>": [stations]}`` for the methods scored on a subset of stations."""
    if reference not in methods:
        return {}
    out = {}
    for name in methods:
        covered = None if name == reference else covered_stations(methods, name, reference)
        if covered is not None:
            out[f"{reference}_vs_{name}"] = covered
    return out


def leave_one_station_out(series, near, gnss, x, y, epochs, stations, model="linear"
                          ) -> dict:
    """Score one method at each station with the product tied to the datum by the others.

    Parameters
    ----------
    series : array_like, shape (n_station, n_epoch)
        The method's series at the stations (as scored in ``methods``), mm.
    near : array_like, shape (n_station, n_epoch)
        The method's mean series within the datum radius of each station
        (:func:`insarfusion.datum.area_means`), mm: what the datum tie compares with the GNSS.
    gnss : array_like, shape (n_station, n_epoch)
        GNSS LOS series on the epochs, mm; NaN where missing.
    x, y : array_like, shape (n_station,)
        Station positions, metres.
    epochs : array of dates
    stations : list of str
    model : {"constant", "linear", "lowpass", "raw"}
        Offset model of the tie (the run's ``gnss.offset_model``).

    Returns
    -------
    dict
        ``{"stations": {...}, "velocity_rmse_mm_yr", "timeseries_rmse_mm_mean",
        "cross_correlation_mean", "n_stations"}`` as described in the module docstring. Only
        stations with GNSS on at least two epochs are scored or used to tie.
    """
    series = np.asarray(series, dtype=float)
    gnss = np.asarray(gnss, dtype=float)
    raw = np.asarray(near, dtype=float) - gnss
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    names = [str(s) for s in stations]
    has_gnss = np.isfinite(gnss).sum(axis=1) >= 2
    can_tie = has_gnss & (np.isfinite(raw).sum(axis=1) >= 2)
    scored = np.flatnonzero(has_gnss)
    tied = np.full((scored.size, series.shape[1]), np.nan)
    ties, notes = np.zeros(scored.size, dtype=int), {}
    for row, i in enumerate(scored):  # a handful of stations
        others = np.flatnonzero(can_tie & (np.arange(len(names)) != i))
        if others.size == 0:
            notes[names[i]] = "no other station to tie through"
            continue
        try:
            coef, x0, y0 = datum.plane_coefficients(epochs, raw[others], x[others], y[others],
                                                    model, [names[j] for j in others],
                                                    warn=False)
        except StageError as exc:
            notes[names[i]] = str(exc)
            continue
        tied[row] = series[i] - datum.evaluate_plane(coef, x0, y0, x[i], y[i])[0]
        ties[row] = others.size
    scored_names = [names[i] for i in scored]
    out = station_metrics(tied, gnss[scored], epochs, scored_names)
    error = linear_rate(epochs, tied) - linear_rate(epochs, gnss[scored])
    for row, s in enumerate(scored_names):
        out["stations"][s]["velocity_error_mm_yr"] = rounded(error[row])
        out["stations"][s]["tie_stations"] = int(ties[row])
        if s in notes:
            out["stations"][s]["note"] = notes[s]
    out["n_stations"] = int(np.isfinite(error).sum())
    return out




# --------------------------------------------------------------------------- the run's sections

class StationValidation:
    """Every method scored at the GNSS stations, as in the paper's Tables 4–7, and left out.

    Parameters
    ----------
    gnss : xarray.Dataset
        The stations (:func:`insarfusion.dataset.gnss_dataset`), in the working CRS.
    primary : xarray.Dataset
        The primary dataset, whose geometry near each station projects the GNSS onto its LOS.
    epochs : array of dates
        The common epochs.
    config : insarfusion.config.GnssConfig
        References (never scored in ``methods``), datum radius and offset model.
    idw_params : dict, optional
        Parameters of the inverse-distance interpolation that takes each dataset alone to the
        stations.
    seed : int
        The run's seed.

    Attributes
    ----------
    series : dict
        After :meth:`score`: ``{method: (station, epoch)}`` series at the scored stations, mm
        (NaN at a station a single dataset does not cover).
    series_unfiltered : dict
        After :meth:`aps_before_after`: the same with the removed APS added back, mm.
    gnss_series : ndarray, shape (station, epoch)
        The GNSS LOS series at the scored stations, mm.
    """

    def __init__(self, gnss, primary, epochs, config, idw_params=None, seed=0):
        self.gnss, self.primary, self.epochs = gnss, primary, epochs
        self.config, self.idw_params, self.seed = config, idw_params or {}, seed
        self.names = [str(s) for s in gnss["station"].values]
        self.x, self.y = gnss["x"].values, gnss["y"].values
        self.series, self.gnss_series = {}, None
        self.series_unfiltered, self.uncovered, self.stations = {}, {}, []

    def _series_at_stations(self, datasets, products) -> dict:
        """Every method's series at every station, (station, epoch), mm.

        Each dataset alone by inverse distance from its own points, each product from its
        cells, bilinear.
        """
        from .grid import sample
        from .spatial import make_interpolator

        out = {}
        for name, ds in datasets.items():
            idw = make_interpolator("idw", self.idw_params, seed=self.seed)
            idw.fit((ds["x"].values, ds["y"].values), ds["displacement"].values)
            out[name] = idw.predict((self.x, self.y))
        for name, cube in products.items():
            out[name] = sample(cube, self.x, self.y, fallback="nearest")
        return out

    def score(self, datasets, products) -> dict:
        """The station sections of ``validation.json``.

        ``stations``, ``gnss``, ``methods``, ``improvement_pct`` and ``leave_one_station_out``.
        """
        g = self.config
        stations = datum.validation_stations(self.gnss, g.reference, g.final_reference)
        far = self._not_covered(datasets)
        stations = [s for s in stations if s not in far]
        gnss_all = datum.stations_los_on_epochs(self.gnss, self.primary, self.epochs,
                                                self.names)
        series_all = self._series_at_stations(datasets, products)
        rows = [self.names.index(s) for s in stations]
        self.gnss_series = gnss_all[rows]
        distance = self._nearest_point(datasets)
        uncovered = {name: self._uncovered(d, stations) for name, d in distance.items()}
        self.uncovered, self.stations = uncovered, list(stations)
        gnss_velocity = {s: {"velocity_mm_yr": rounded(linear_rate(self.epochs,
                                                                   self.gnss_series[i]))}
                         for i, s in enumerate(stations)}
        methods = {}
        for name, series in series_all.items():
            methods[name] = station_metrics(series[rows], self.gnss_series, self.epochs,
                                            stations, uncovered.get(name))
            self.series[name] = series[rows].copy()
            for station in uncovered.get(name, {}):  # not drawn either
                self.series[name][stations.index(station)] = np.nan
        near = {name: self._near_station_series(datasets, products, name)
                for name in series_all}
        return {"stations": list(stations), "not_covered": far,
                "nearest_point_m": {name: {s: rounded(d[self.names.index(s)], 1)
                                           for s in stations}
                                    for name, d in distance.items()},
                "gnss": gnss_velocity,
                "methods": methods,
                "improvement_pct": improvements(methods, gnss=gnss_velocity),
                "improvement_stations": improvement_stations(methods),
                "leave_one_station_out": self._leave_one_out(series_all, near, gnss_all,
                                                             distance)}

    def aps_before_after(self, aps: dict) -> dict:
        """Every method's station scores with the removed APS added back (the unfiltered run).

        Call after :meth:`score`. The APS each dataset lost (:mod:`insarfusion.atmosphere`)
        is taken to the stations by the same inverse-distance interpolation as the dataset
        itself (every dataset's APS points together for the fused products) and added to the
        method's series there; the sum is the series without the filter, scored like the
        others. It is kept in :attr:`series_unfiltered`.

        Parameters
        ----------
        aps : dict
            ``{dataset: removed APS (point, time), mm, with x, y}``; empty without filtering.

        Returns
        -------
        dict
            ``{"stations", "methods": {method: {"filtered": {...}, "unfiltered": {...},
            "aps_rms_mm"}}}``: velocity RMSE (mm/yr) and mean time-series RMSE (mm) at the
            scored stations with and without the filter, and the RMS of the APS added back
            (mm); empty when no APS was removed.
        """
        from .spatial import make_interpolator

        if not aps or not self.stations or not self.series:
            return {}
        rows = [self.names.index(s) for s in self.stations]
        at = {}
        for name, a in aps.items():
            idw = make_interpolator("idw", self.idw_params, seed=self.seed)
            idw.fit((a["x"].values, a["y"].values), a.transpose("point", "time").values)
            at[name] = idw.predict((self.x[rows], self.y[rows]))
        idw = make_interpolator("idw", self.idw_params, seed=self.seed)
        idw.fit((np.concatenate([a["x"].values for a in aps.values()]),
                 np.concatenate([a["y"].values for a in aps.values()])),
                np.concatenate([a.transpose("point", "time").values for a in aps.values()]))
        fused = idw.predict((self.x[rows], self.y[rows]))
        methods = {}
        for name, series in self.series.items():
            added = at.get(name, fused)
            self.series_unfiltered[name] = series + added
            scores = {}
            for label, values in (("filtered", series), ("unfiltered", series + added)):
                m = station_metrics(values, self.gnss_series, self.epochs, self.stations,
                                    self.uncovered.get(name))
                scores[label] = {k: m[k] for k in ("velocity_rmse_mm_yr",
                                                   "timeseries_rmse_mm_mean")}
            scores["aps_rms_mm"] = rounded(rmse(np.where(np.isfinite(series), added, np.nan)))
            methods[name] = scores
        return {"stations": list(self.stations), "methods": methods}

    def _nearest_point(self, datasets) -> dict:
        """``{dataset: distance (m) from each station to the dataset's nearest point}``."""
        from scipy.spatial import cKDTree

        places = np.column_stack([self.x, self.y]).astype(float)
        ok = np.isfinite(places).all(axis=1)
        out = {}
        for name, ds in datasets.items():
            distance = np.full(len(self.names), np.inf)
            if ds.sizes["point"] and ok.any():
                tree = cKDTree(np.column_stack([ds["x"].values, ds["y"].values]))
                distance[ok] = tree.query(places[ok])[0]
            out[name] = distance
        return out

    def _uncovered(self, distance: np.ndarray, stations) -> dict:
        """``{station: metres}`` of the stations beyond ``gnss.radius_m`` of the points."""
        out = {}
        for s in stations:
            d = float(distance[self.names.index(s)])
            if d > self.config.radius_m:
                out[s] = rounded(d, 1)
        return out

    def _not_covered(self, datasets) -> dict:
        """Stations farther than the datum radius from every input point: ``{name: metres}``.

        Their series would be read from an edge cell, extrapolated rather than measured; they
        are not scored in ``methods`` (logged).
        """
        xs = np.concatenate([ds["x"].values for ds in datasets.values()])
        ys = np.concatenate([ds["y"].values for ds in datasets.values()])
        far = {}
        for name, x0, y0 in zip(self.names, self.x, self.y, strict=True):
            gap = float(np.min(np.hypot(xs - x0, ys - y0))) if np.isfinite(x0 + y0) else np.inf
            if gap > self.config.radius_m:
                far[name] = rounded(gap, 1) if np.isfinite(gap) else None
        if far:
            logger.warning("GNSS station(s) %s: no InSAR point within %g m (gnss.radius_m); "
                           "not scored (validation.json: not_covered)", ", ".join(far),
                           self.config.radius_m)
        return far

    def _near_station_series(self, datasets, products, name) -> np.ndarray:
        """Mean series of a method's points or cells within the datum radius of each station."""
        radius = self.config.radius_m
        if name in datasets:
            ds = datasets[name]
            means, _, far = datum.area_means(ds["x"].values, ds["y"].values,
                                             ds["displacement"].values, self.x, self.y, radius)
        else:
            means, _, far = datum.cube_area_means(products[name], self.x, self.y, radius)
        if (far > radius).any():
            logger.debug("leave-one-station-out, %s: no data within %g m of %d station(s); "
                         "the nearest used, up to %.0f m away", name, radius,
                         int((far > radius).sum()), float(np.nanmax(far)))
        return means

    def _leave_one_out(self, series_all, near, gnss_all, distance) -> dict:
        """Every method at each station with its datum tied through the other stations.

        The fused products are not refitted. A single dataset neither ties nor is scored at
        a station beyond ``gnss.radius_m`` of its nearest point (``not_covered``).
        """
        model = self.config.offset_model
        scored = [s for i, s in enumerate(self.names) if np.isfinite(gnss_all[i]).sum() >= 2]
        gnss = {s: {"velocity_mm_yr": rounded(linear_rate(
            self.epochs, gnss_all[self.names.index(s)]))} for s in scored}
        methods = {}
        for name, series in series_all.items():
            far = self._uncovered(distance[name], scored) if name in distance else {}
            rows = [self.names.index(s) for s in far]
            series, means = np.array(series, dtype=float), np.array(near[name], dtype=float)
            series[rows], means[rows] = np.nan, np.nan
            methods[name] = leave_one_station_out(series, means, gnss_all, self.x, self.y,
                                                  self.epochs, self.names, model=model)
            for station, metres in far.items():
                methods[name]["stations"][station] = {"not_covered": True,
                                                      "nearest_point_m": metres}
            if far:
                methods[name]["not_covered"] = far
        out = {"stations": scored, "model": model, "radius_m": float(self.config.radius_m),
               "gnss": gnss, "methods": methods,
               "improvement_pct": improvements(methods, gnss=gnss),
               "improvement_stations": improvement_stations(methods)}
        summary = ", ".join(f"{m} {r['velocity_rmse_mm_yr']} mm/yr / "
                            f"{r['timeseries_rmse_mm_mean']} mm" for m, r in methods.items())
        logger.info("leave-one-station-out at %d stations (offset model %s), velocity RMSE / "
                    "mean series RMSE: %s", len(scored), model, summary)
        return out


def holdout_blocks(x, y, data, groups, methods, params, main, folds=5, block_m=None,
                   seed=0, epochs=None, keep_residuals=False, learned_folds=None):
    """Each method's RMSE (mm) on input points it never saw, held out in spatial blocks.

    Every method, the CNN included, goes through
    :func:`insarfusion.model_selection.cross_val_score` with the same
    :class:`~insarfusion.model_selection.BlockKFold` split. A method that trains a model
    (``learned``, the CNN) may be retrained on the first ``learned_folds`` folds only; its
    entry then also gives every other method's RMSE on those folds, the like-for-like
    comparison.

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        The referenced, resampled points of every dataset together, metres.
    data : ndarray, shape (n, n_time)
        Their displacement, mm.
    groups : ndarray, shape (n,)
        Their dataset.
    methods : list of str
        Spatial methods to score.
    params : dict
        ``{method: estimator parameters}``.
    main : str
        The run's fusion method, reported as ``synergic``.
    folds : int
        Folds of blocks; fewer than 2 scores nothing.
    block_m : float, optional
        Side of the blocks, metres; default an eighth of the larger side of the extent.
    seed : int
        Seed of the split and of the estimators.
    epochs : array of dates, optional
        The dates of ``data``'s columns; with them each held-out point's predicted velocity is
        compared with its own (least-squares rates, mm/yr).
    keep_residuals : bool
        Also return every method's held-out residuals and own std
        (:class:`~insarfusion.model_selection.HeldOutResiduals`), which calibrate the std of
        the products (:mod:`insarfusion.calibration`).
    learned_folds : int, optional
        Folds a learned method is retrained and scored on (at least one; default all): each
        is a whole training.

    Returns
    -------
    dict
        ``{method: {"rmse_mm", "coverage", "block_m", "folds"}}`` over every held-out point and
        epoch (beyond the paper: what a user gets away from data); with ``epochs`` also
        ``velocity_rmse_mm_yr``, the RMSE over the held-out points of the predicted minus the
        observed velocity. A method scored on fewer folds has ``folds_scored`` and
        ``same_folds_rmse_mm``, ``{other method: RMSE on those folds}``. With
        ``keep_residuals``, the pair ``(scores, {method: HeldOutResiduals})``, methods named
        as in the scores.
    """
    from .model_selection import BlockKFold, cross_val_score
    from .spatial import make_interpolator, product_name

    if folds < 2:
        return ({}, {}) if keep_residuals else {}
    block = block_m or max(np.ptp(x), np.ptp(y)) / 8.0
    out, residuals, results, fewer = {}, {}, {}, {}
    for method in methods:
        estimator = make_interpolator(method, params.get(method), seed=seed)
        errors: list = []
        scoring = None if epochs is None else _velocity_scoring(epochs, errors)
        scored = folds
        if estimator.learned and learned_folds is not None and learned_folds < folds:
            scored = max(1, learned_folds)
        cv = BlockKFold(block, folds, seed, only=None if scored == folds else range(scored))
        result = cross_val_score(estimator, (x, y), data, cv, scoring=scoring, groups=groups,
                                 progress=None, keep_residuals=keep_residuals,
                                 keep_fitted=False)
        name = product_name(method, main)
        results[name] = result
        if result.residuals is not None:
            residuals[name] = result.residuals
        out[name] = {"rmse_mm": rounded(result.rmse), "coverage": rounded(result.coverage),
                     "block_m": rounded(block, 1), "folds": folds}
        if scored < folds:
            out[name]["folds_scored"] = fewer[name] = scored
        if errors:
            out[name]["velocity_rmse_mm_yr"] = rounded(rmse(np.concatenate(errors)))
        logger.info("held-out blocks (%.0f m, %d of %d folds): %s RMSE %.2f mm, %.0f %% of "
                    "the held-out values predicted", block, scored, folds, name, result.rmse,
                    100 * result.coverage)
    for name, scored in fewer.items():
        out[name]["same_folds_rmse_mm"] = {
            other: rounded(result.rmse_over(range(scored)))
            for other, result in results.items() if other not in fewer}
    return (out, residuals) if keep_residuals else out


def _velocity_scoring(epochs, errors: list):
    """A fold scorer that keeps each held-out point's velocity error (mm/yr) in ``errors``."""
    def score(observed, predicted):
        error = linear_rate(epochs, predicted) - linear_rate(epochs, observed)
        errors.append(error)
        return rmse(error)
    return score
