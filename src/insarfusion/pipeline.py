"""The whole run, stage by stage as in the paper's Figure 2.

load → project LOS → common epochs → temporal resampling → GNSS datum → spatial fusion →
re-reference → products → validation → report. Each stage is a function of labelled data;
:func:`run` composes them and writes every output atomically.
"""

from __future__ import annotations

import inspect
import json
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from . import cubes, datum, spatial, temporal
from .config import Config, dump_config
from .errors import StageError
from .grid import make_grid
from .load import Inputs, extent, load_inputs
from .log import logger, progress_bar, run_log, show_progress
from .metrics import rounded
from .project import primary_geometry_at, project_to_primary
from .series import linear_rate
from .timegrid import common_epochs
from .validate import (
    improvements,
    leave_one_station_out,
    sample_cube,
    station_metrics,
    truth_on_grid,
    truth_scores,
)


@dataclass
class RunState:
    """What the stages hand to each other."""

    cfg: Config
    inputs: Inputs
    datasets: dict = field(default_factory=dict)      # projected, then resampled, referenced
    epochs: np.ndarray | None = None
    temporal_scores: dict = field(default_factory=dict)
    temporal_method: str | None = None
    grid: xr.Dataset | None = None
    products: dict = field(default_factory=dict)      # method -> cube (time, y, x)
    product_std: dict = field(default_factory=dict)   # method -> std cube or None
    validation: dict = field(default_factory=dict)
    station_series: dict = field(default_factory=dict)  # method -> (station, epoch) mm
    gnss_series: np.ndarray | None = None             # (station, epoch) mm, primary LOS
    truth: xr.Dataset | None = None
    timings: dict = field(default_factory=dict)
    client: object = None                             # dask.distributed.Client or None
    scratch: Path | None = None                       # folder of the cubes on disk, or None
    _velocities: dict = field(default_factory=dict, repr=False)

    def velocity(self, name: str) -> xr.DataArray:
        """Mean LOS velocity map (y, x; mm/yr) of a finished product, computed once."""
        if name not in self._velocities:
            from .products import velocity_map

            self._velocities[name] = velocity_map(self.products[name])
        return self._velocities[name]


class _Timer:
    """Logs a step as it starts ("stage 4/10 temporal ...") and its wall time as it ends, and
    keeps the time (s) in ``state.timings``."""

    def __init__(self, state: RunState, name: str, number: int | None = None,
                 total: int | None = None):
        self.state, self.name = state, name
        self.label = f"stage {number}/{total} {name}" if number and total else f"stage {name}"

    def __enter__(self):
        logger.info("%s ...", self.label)
        self.t0 = _time.perf_counter()
        return self

    def __exit__(self, *exc):
        dt = _time.perf_counter() - self.t0
        self.state.timings[self.name] = round(dt, 2)
        if exc[0] is None:
            logger.info("%s done in %.1f s", self.label, dt)


# --------------------------------------------------------------------------- stages

def stage_project(state: RunState) -> None:
    """Bring every dataset into the primary LOS (paper eq. 1 or the unit-vector form)."""
    primary = state.inputs.datasets[state.inputs.primary]
    state.datasets = {
        name: ds if name == state.inputs.primary
        else project_to_primary(ds, primary, method=state.cfg.projection)
        for name, ds in state.inputs.datasets.items()
    }


def stage_epochs(state: RunState) -> None:
    t = state.cfg.time
    state.epochs = common_epochs([ds for ds in state.datasets.values()], step_days=t.step_days,
                                 start=t.start, end=t.end)
    logger.info("common epochs: %d from %s to %s every %d days", state.epochs.size,
                state.epochs[0], state.epochs[-1], t.step_days)


def stage_temporal(state: RunState) -> None:
    """Score the resamplers on held-out epochs, choose, resample every dataset.

    Learned resamplers are trained once: the model scored on the held-out epochs then
    resamples the complete series (it sees every observation as input).
    """
    cfg = state.cfg.temporal
    methods = ("linear", "pchip", "lstm") if cfg.method == "auto" else \
        tuple(dict.fromkeys(("linear", "pchip", cfg.method)))
    fitted = {}
    for name, ds in progress_bar(state.datasets.items(), "temporal: scoring resamplers",
                                 total=len(state.datasets), unit="dataset"):
        truth = _dataset_truth(state, name)
        state.temporal_scores[name], fitted[name] = temporal.score_resamplers(
            ds, methods=methods, holdout_fraction=cfg.holdout_fraction, seed=state.cfg.seed,
            config=cfg, truth=truth, return_fitted=True)
    if cfg.method == "auto":
        totals = {m: float(np.mean([s[m]["heldout_rmse_mm"]
                                    for s in state.temporal_scores.values()]))
                  for m in methods}
        state.temporal_method = min(totals, key=totals.get)
        logger.info("temporal.method auto: %s (mean held-out RMSE %s)", state.temporal_method,
                    {k: round(v, 3) for k, v in totals.items()})
    else:
        state.temporal_method = cfg.method
    state.datasets = {
        name: temporal.resample_dataset(ds, state.epochs, fitted[name][state.temporal_method],
                                        rezero=True, refit=False, client=state.client)
        for name, ds in state.datasets.items()
    }


def _dataset_truth(state: RunState, name: str):
    """The true primary-LOS series of a dataset's points on the common epochs, if known."""
    if state.truth is None or f"{name}_primary" not in state.truth:
        return None
    from .simulate import dataset_truth

    return dataset_truth(state.truth, name)["primary"].rename(epoch="time")


def stage_datum(state: RunState) -> None:
    """Tie every dataset to the GNSS datum (or to a common reference area without GNSS)."""
    g = state.cfg.gnss
    if g is not None and g.reference:
        state.datasets = {
            name: datum.reference_dataset(ds, state.inputs.gnss, g.reference,
                                          radius_m=g.radius_m, model=g.offset_model)
            for name, ds in state.datasets.items()
        }
        return
    x0, y0, radius = _common_reference_area(state)
    out = {}
    for name, ds in state.datasets.items():
        d = np.hypot(ds["x"].values - x0, ds["y"].values - y0)
        near = d <= radius
        if not near.any():
            near = d <= np.sort(d)[min(4, d.size - 1)]
            logger.warning("%s: no point within %.0f m of the reference area; using the 5 "
                           "nearest (up to %.0f m)", name, radius, d[near].max())
        offset = ds["displacement"].isel(point=np.flatnonzero(near)).mean("point")
        out[name] = ds.assign(displacement=ds["displacement"] - offset)
        out[name].attrs["datum"] = f"reference area x={x0:.1f} y={y0:.1f} r={radius:.0f} m"
    state.datasets = out


def _common_reference_area(state: RunState) -> tuple[float, float, float]:
    """The configured reference area, else the 200 m block where the datasets overlap best."""
    rp = state.cfg.reference_point
    if rp is not None:
        from .crs import lonlat_to_xy
        x, y = lonlat_to_xy([rp.lon], [rp.lat], state.inputs.crs)
        return float(x[0]), float(y[0]), rp.radius_m
    block = 200.0
    counts = []
    for ds in state.datasets.values():
        bx = np.floor(ds["x"].values / block).astype(np.int64)
        by = np.floor(ds["y"].values / block).astype(np.int64)
        counts.append({k: v for k, v in zip(*np.unique(bx * 10**7 + by, return_counts=True),
                                             strict=True)})
    keys = set.intersection(*(set(c) for c in counts)) or set(counts[0])
    best = max(keys, key=lambda k: (min(c.get(k, 0) for c in counts), k))
    bx, by = divmod(best, 10**7)
    logger.info("no GNSS: datasets tied together at the 200 m block of best overlap")
    return (bx + 0.5) * block, (by + 0.5) * block, block / 2


def _all_points(state: RunState):
    """x, y (m), displacement (point, epoch; mm) and dataset label of every point together."""
    sets = state.datasets.values()
    return (np.concatenate([ds["x"].values for ds in sets]),
            np.concatenate([ds["y"].values for ds in sets]),
            np.concatenate([ds["displacement"].values for ds in sets]),
            np.concatenate([np.full(ds.sizes["point"], name)
                            for name, ds in state.datasets.items()]))


def stage_spatial(state: RunState) -> None:
    """Fuse all datasets on one grid with the chosen method and the baselines."""
    cfg = state.cfg.spatial
    x, y, data, groups = _all_points(state)
    if cfg.cell_size_m == "auto":
        # a handful of epochs spread over the span is enough to rank the candidates
        few = np.unique(np.linspace(0, data.shape[1] - 1, 6).round().astype(int))[1:]
        cell, scores = spatial.choose_cell_size(x, y, data[:, few],
                                                candidates=cfg.cell_size_candidates_m,
                                                seed=state.cfg.seed)
        state.validation["cell_size_cv_rmse_mm"] = {str(k): v for k, v in scores.items()}
    else:
        cell = float(cfg.cell_size_m)
    xmin, xmax, ymin, ymax = extent(state.inputs)
    state.grid = make_grid(xmin, xmax, ymin, ymax, cell, crs=state.inputs.crs)
    mask = spatial.hull_mask(state.grid, x, y, cfg.mask_buffer_m).values
    times = state.epochs.astype("datetime64[ns]")
    methods = [cfg.method] + [b for b in cfg.baselines if b != cfg.method]
    for method in methods:
        t0 = _time.perf_counter()
        interp = spatial.make_interpolator(method, cfg, seed=state.cfg.seed)
        if getattr(interp, "progress", None) is False:  # the CNN's bars, as the LSTM's
            interp.progress = show_progress()
        name = "synergic" if method == cfg.method else method
        store = None if state.scratch is None else state.scratch / f"{name}.nc"
        if "store" in inspect.signature(interp.fit).parameters:  # the CNN: inference in bands
            interp.fit((x, y), data, groups=groups, client=state.client,
                       store=None if store is None else store.with_name(f"{name}_fused.nc"))
        else:
            interp.fit((x, y), data, groups=groups)
        # the CNN's prediction only samples its fused grid: not worth shipping to workers
        client = None if method == "cnn" else state.client
        if "return_std" in inspect.signature(interp.predict).parameters:
            cube, std = spatial.grid(interp, state.grid, time=times, mask=mask, return_std=True,
                                     client=client, store=store)
        else:
            cube, std = spatial.grid(interp, state.grid, time=times, mask=mask,
                                     client=client, store=store), None
        if std is None and getattr(interp, "fused_std_", None) is not None:
            # the CNN's std is on its own (padded) grid: put on the run's, block by block
            std = cubes.regrid(interp.fused_std_.assign_coords(time=times), times,
                               state.grid["y"].values, state.grid["x"].values,
                               store=None if store is None
                               else store.with_name(f"{name}_std.nc")).where(mask)
        state.products[name] = cube
        state.product_std[name] = std
        state.timings[f"spatial_{method}"] = round(_time.perf_counter() - t0, 2)
        logger.info("spatial %s: %.1f s", method, _time.perf_counter() - t0)


def _primary_geometry_at_station(state: RunState, station: str):
    g = state.inputs.gnss
    primary = state.inputs.datasets[state.inputs.primary]
    inc, head = primary_geometry_at(primary, g["x"].sel(station=[station]).values,
                                    g["y"].sel(station=[station]).values)
    return float(inc[0]), float(head[0])


def stage_rereference(state: RunState) -> None:
    """Re-reference every fused product to the final GNSS reference (paper §4.2.4)."""
    g = state.cfg.gnss
    if g is None or not g.final_reference:
        return
    inc, head = _primary_geometry_at_station(state, g.final_reference)
    state.products = {
        name: datum.reference_grid(cube, state.inputs.gnss, g.final_reference, inc, head,
                                   radius_m=g.radius_m, model=g.offset_model)
        for name, cube in state.products.items()
    }


def stage_validate(state: RunState) -> None:
    """Scores at the GNSS stations (paper Tables 4–7), held-out epochs, and the truth."""
    v: dict = {**state.validation,
               "epochs": {"start": str(state.epochs[0]), "end": str(state.epochs[-1]),
                          "count": int(state.epochs.size), "step_days": state.cfg.time.step_days},
               "cell_size_m": float(state.grid.attrs["cell_size"])}
    g = state.cfg.gnss
    gnss = state.inputs.gnss
    methods: dict = {}
    if gnss is not None:
        names = [str(s) for s in gnss["station"].values]
        stations = datum.validation_stations(gnss, g.reference, g.final_reference)
        x, y = gnss["x"].values, gnss["y"].values
        gnss_all = []
        for s in names:
            inc, head = _primary_geometry_at_station(state, s)
            los = datum.gnss_los(gnss, s, inc, head)
            gnss_all.append(datum.gnss_on_epochs(np.asarray(los), gnss["time"].values,
                                                 state.epochs))
        gnss_all = np.asarray(gnss_all, dtype=float)  # every station, for the LOSO check
        series_all = {}
        for name, ds in state.datasets.items():
            interp = spatial.make_interpolator("idw", state.cfg.spatial, seed=state.cfg.seed)
            interp.fit((ds["x"].values, ds["y"].values), ds["displacement"].values)
            series_all[name] = interp.predict((x, y))
        for name, cube in state.products.items():
            series_all[name] = sample_cube(cube, x, y)
        rows = [names.index(s) for s in stations]
        gnss_series = gnss_all[rows]
        v["stations"] = list(stations)
        v["gnss"] = {s: {"velocity_mm_yr": rounded(linear_rate(state.epochs, gnss_series[i]))}
                     for i, s in enumerate(stations)}
        for name, series in series_all.items():
            state.station_series[name] = series[rows]
            methods[name] = station_metrics(series[rows], gnss_series, state.epochs, stations)
        state.gnss_series = gnss_series
        v["methods"] = methods
        v["improvement_pct"] = improvements(methods)
        v["leave_one_station_out"] = _leave_one_station_out(state, names, gnss_all, series_all)
    holdout = _holdout_blocks(state)
    if holdout:
        v["holdout_blocks"] = holdout
    v["temporal"] = {name: scores for name, scores in state.temporal_scores.items()}
    v["temporal_method"] = state.temporal_method
    if state.truth is not None:
        v["truth"] = _truth_section(state)
    v["timings_s"] = state.timings
    state.validation = v


def _near_station_series(state: RunState, name: str, x, y) -> np.ndarray:
    """Mean series of a method's points or cells within the datum radius of each station."""
    radius = state.cfg.gnss.radius_m
    if name in state.datasets:
        ds = state.datasets[name]
        means, _, far = datum.area_means(ds["x"].values, ds["y"].values,
                                         ds["displacement"].values, x, y, radius)
    else:
        means, _, far = datum.cube_area_means(state.products[name], x, y, radius)
    if (far > radius).any():
        logger.debug("leave-one-station-out, %s: no data within %g m of %d station(s); the "
                     "nearest used, up to %.0f m away", name, radius, int((far > radius).sum()),
                     float(np.nanmax(far)))
    return means


def _leave_one_station_out(state: RunState, names, gnss_all, series_all) -> dict:
    """Every method scored at each station with its datum tied through the other stations
    (see :mod:`insarfusion.validate`); the fused products are not refitted."""
    g = state.cfg.gnss
    gnss = state.inputs.gnss
    x, y = gnss["x"].values, gnss["y"].values
    methods = {
        name: leave_one_station_out(series, _near_station_series(state, name, x, y), gnss_all,
                                    x, y, state.epochs, names, model=g.offset_model)
        for name, series in series_all.items()
    }
    scored = [s for i, s in enumerate(names) if np.isfinite(gnss_all[i]).sum() >= 2]
    out = {"stations": scored, "model": g.offset_model, "radius_m": float(g.radius_m),
           "gnss": {s: {"velocity_mm_yr": rounded(linear_rate(state.epochs,
                                                             gnss_all[names.index(s)]))}
                    for s in scored},
           "methods": methods, "improvement_pct": improvements(methods)}
    summary = ", ".join(f"{m} {r['velocity_rmse_mm_yr']} mm/yr / "
                        f"{r['timeseries_rmse_mm_mean']} mm" for m, r in methods.items())
    logger.info("leave-one-station-out at %d stations (offset model %s), velocity RMSE / "
                "mean series RMSE: %s", len(scored), g.offset_model, summary)
    return out


def _holdout_blocks(state: RunState) -> dict:
    """Each method's RMSE (mm) on input points it never saw, held out in spatial blocks.

    The points are the referenced, resampled points of every dataset together; the score is
    over all held-out points and epochs (beyond the paper: what a user gets away from data).
    """
    hv, sc = state.cfg.validation, state.cfg.spatial
    if hv.holdout_folds < 2:
        return {}
    x, y, data, groups = _all_points(state)
    block = hv.holdout_block_m or max(np.ptp(x), np.ptp(y)) / 8.0
    methods = hv.holdout_methods
    if methods is None:
        main = [] if sc.method == "cnn" else [sc.method]
        methods = list(dict.fromkeys(main + list(sc.baselines)))
    out = {}
    for method in methods:
        interp = spatial.make_interpolator(method, sc, seed=state.cfg.seed)
        score, coverage = spatial.block_cv_score(interp, x, y, data, block,
                                                 n_folds=hv.holdout_folds, seed=state.cfg.seed,
                                                 groups=groups, return_coverage=True)
        name = "synergic" if method == sc.method else method
        out[name] = {"rmse_mm": rounded(score), "coverage": rounded(coverage),
                     "block_m": rounded(block, 1), "folds": hv.holdout_folds}
        logger.info("held-out blocks (%.0f m, %d folds): %s RMSE %.2f mm, %.0f %% of the "
                    "held-out values predicted", block, hv.holdout_folds, name, score,
                    100 * coverage)
    return out


def _truth_section(state: RunState) -> dict:
    truth = state.truth
    if not state.products:
        return {}
    # every product is on the run's grid and epochs: the truth is put on them once
    aligned = truth_on_grid(next(iter(state.products.values())), truth["displacement"],
                            truth.get("velocity"),
                            store=None if state.scratch is None else state.scratch / "truth.nc")
    return {name: truth_scores(cube, truth["displacement"], truth.get("velocity"),
                               state.velocity(name).values, aligned=aligned)
            for name, cube in state.products.items()}


#: The stages after loading, in the order of the paper's Figure 2.
STAGES = (("project", stage_project), ("epochs", stage_epochs), ("temporal", stage_temporal),
          ("datum", stage_datum), ("spatial", stage_spatial),
          ("rereference", stage_rereference), ("validate", stage_validate))


# --------------------------------------------------------------------------- the run

def run(cfg: Config, out, force: bool = False, report: bool = True, client=None) -> dict:
    """Run the whole pipeline and write every product into ``out`` atomically.

    With a ``dask.distributed`` ``client`` the chunked steps run on its workers
    (:mod:`insarfusion.parallel`); the results are the same.

    The gridded cubes are kept on disk, in a scratch folder of the output being written, and
    the stages after gridding read them block by block (:mod:`insarfusion.cubes`); those
    block computations run on this machine's threads, as they read its files.

    Returns the validation dictionary (also written as ``validation.json``).
    """
    import shutil

    import dask

    from . import products
    from .log import setup_logging

    with products.atomic_output(out, force=force) as tmp, \
            dask.config.set(scheduler="threads"):
        with run_log(tmp / "run.log"):
            dump_config(cfg, tmp / "config.resolved.yaml")
            state = RunState(cfg=cfg, inputs=None, client=client,  # type: ignore[arg-type]
                             scratch=tmp / ".cubes")
            t0 = _time.perf_counter()
            steps = [("load", _stage_load), *STAGES,
                     ("products", lambda st: _write_products(st, tmp))]
            if report:
                from .report import write_report
                steps.append(("report", lambda st: write_report(st, tmp)))
            try:
                for number, (name, stage) in enumerate(steps, start=1):
                    with _Timer(state, name, number, len(steps)):
                        stage(state)
            finally:
                if state.truth is not None:
                    state.truth.close()
                state.products.clear()
                state.product_std.clear()
                shutil.rmtree(state.scratch, ignore_errors=True)
            state.timings["total"] = round(_time.perf_counter() - t0, 2)
            logger.info("run done in %.1f s", state.timings["total"])
            state.validation["timings_s"] = state.timings
            (tmp / "validation.json").write_text(json.dumps(state.validation, indent=2))
    setup_logging()
    return state.validation


def _stage_load(state: RunState) -> None:
    """Read the datasets and the GNSS (and the truth of a simulated case)."""
    state.inputs = load_inputs(state.cfg)
    for line in state.inputs.summary_lines():
        logger.info(line)
    if state.cfg.truth is not None:
        state.truth = _load_truth(state.cfg.truth)


def _load_truth(path):
    from .simulate import load_truth
    try:
        return load_truth(path, lazy=True)
    except FileNotFoundError:
        raise StageError(f"{path}: truth file named in the config does not exist") from None


def _write_products(state: RunState, out) -> None:
    from . import products

    crs = state.inputs.crs
    main = state.products["synergic"]
    std = state.product_std.get("synergic")
    products.write_displacement_nc(out / "displacement.nc", main, crs, std=std,
                                   attrs={"method": state.cfg.spatial.method,
                                          "temporal_method": state.temporal_method})
    products.write_velocity_tif(out / "velocity.tif", state.velocity("synergic"), state.grid,
                                crs)
    if std is not None and "time" in getattr(std, "dims", ()):
        products.write_velocity_tif(out / "velocity_std.tif", products.velocity_std_map(std),
                                    state.grid, crs, description="std of the mean LOS velocity")
    products.write_points_gpkg(out / "points.gpkg", state.datasets)
    for name, cube in state.products.items():
        if name != "synergic":
            products.write_displacement_nc(out / f"displacement_{name}.nc", cube, crs,
                                           attrs={"method": name})
