"""The whole run, stage by stage as in the paper's Figure 2.

1. load (and GNSS screening) → 2. project LOS → 3. common epochs → 4. temporal resampling →
5. atmosphere (APS filtering, beyond the paper) → 6. GNSS datum → 7. spatial fusion (and the
fused products' final reference) → 8. held-out blocks and the calibration of every std
(beyond the paper) → 9. products → 10. validation → 11. report.

Each ``run_<stage>`` is a few lines that hand the run's labelled data to the stage's own
module, where the computation is; :data:`STAGES` lists them in that order and :func:`run`
composes them inside one :func:`~insarfusion.runframe.run_frame` (atomic output, ``run.log``,
the resolved configuration).
"""

from __future__ import annotations

import json
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from . import (
    atmosphere,
    calibration,
    datum,
    guards,
    parallel,
    spatial,
    temporal,
    truth_scoring,
    validate,
)
from .config import Config
from .errors import StageError
from .grid import make_grid
from .load import Inputs, extent, load_inputs
from .log import logger
from .project import project_to_primary
from .runframe import run_frame
from .timegrid import common_epochs


@dataclass
class RunState:
    """What the stages hand to each other."""

    cfg: Config
    inputs: Inputs | None = None
    datasets: dict = field(default_factory=dict)      # projected, then resampled, referenced
    epochs: np.ndarray | None = None
    temporal_scores: dict = field(default_factory=dict)
    temporal_method: str | None = None
    aps: dict = field(default_factory=dict)           # dataset -> removed APS (point, time)
    grid: xr.Dataset | None = None
    products: dict = field(default_factory=dict)      # method -> cube (time, y, x)
    product_std: dict = field(default_factory=dict)   # method -> std cube or None
    calibrated: dict = field(default_factory=dict)    # method -> calibration.Calibrated
    validation: dict = field(default_factory=dict)
    station_series: dict = field(default_factory=dict)  # method -> (station, epoch) mm
    station_series_unfiltered: dict = field(default_factory=dict)  # the same, APS added back
    gnss_series: np.ndarray | None = None             # (station, epoch) mm, primary LOS
    truth: xr.Dataset | None = None
    timings: dict = field(default_factory=dict)
    trained_epochs: dict = field(default_factory=dict)  # learned method -> epochs it kept
    out: Path | None = None                           # the staging folder being written
    report: bool = True
    _velocities: dict = field(default_factory=dict, repr=False)

    def velocity(self, name: str) -> xr.DataArray:
        """Mean LOS velocity map (y, x; mm/yr) of a finished product, computed once."""
        if name not in self._velocities:
            from .products import velocity_map

            self._velocities[name] = velocity_map(self.products[name])
        return self._velocities[name]

    def all_points(self):
        """x, y (m), displacement (point, epoch; mm) and dataset label of every point."""
        sets = self.datasets.values()
        return (np.concatenate([ds["x"].values for ds in sets]),
                np.concatenate([ds["y"].values for ds in sets]),
                np.concatenate([ds["displacement"].values for ds in sets]),
                np.concatenate([np.full(ds.sizes["point"], name)
                                for name, ds in self.datasets.items()]))


# --------------------------------------------------------------------------- stages

def run_load(state: RunState) -> None:
    """Read the datasets and the GNSS (and the truth of a simulated case)."""
    state.inputs = load_inputs(state.cfg)
    for line in state.inputs.summary_lines():
        logger.info(line)
    g = state.cfg.gnss
    if g is not None and state.inputs.gnss is not None:
        from .gnss_screening import screen_for_run

        state.inputs.gnss, state.validation["gnss_screening"] = screen_for_run(
            state.inputs.gnss, g.screening)
    guards.check_holdout_blocks(state.inputs, state.cfg.validation)
    if state.cfg.truth is not None:
        state.truth = _load_truth(state.cfg.truth)


def run_project(state: RunState) -> None:
    """Bring every dataset into the primary LOS (paper eq. 1 or the unit-vector form)."""
    primary = state.inputs.datasets[state.inputs.primary]
    state.datasets = {
        name: ds if name == state.inputs.primary
        else project_to_primary(ds, primary, method=state.cfg.projection)
        for name, ds in state.inputs.datasets.items()
    }


def run_epochs(state: RunState) -> None:
    """The common epochs of every dataset (paper §4.2.2)."""
    t = state.cfg.time
    state.epochs = common_epochs(list(state.datasets.values()), step_days=t.step_days,
                                 start=t.start, end=t.end)
    logger.info("common epochs: %d from %s to %s every %d days", state.epochs.size,
                state.epochs[0], state.epochs[-1], t.step_days)
    # before any training: a grid too large for this machine's memory is refused now
    guards.check_run_grid(state.inputs, state.cfg.spatial, state.epochs.size)


def run_temporal(state: RunState) -> None:
    """Score the resamplers on held-out epochs, choose one, resample every dataset with it.

    A learned resampler is trained once: the model scored on the held-out epochs then
    resamples the complete series. Datasets run side by side where the cores allow.
    """
    cfg = state.cfg.temporal
    state.temporal_scores, state.temporal_method, state.datasets = temporal.resample_datasets(
        state.datasets, state.epochs, method=cfg.method, holdout_fraction=cfg.holdout_fraction,
        seed=state.cfg.seed, params={"lstm": cfg.estimator_params("lstm")},
        truths={name: _dataset_truth(state, name) for name in state.datasets})


def run_atmosphere(state: RunState) -> None:
    """Estimate and remove each dataset's atmospheric phase screen, dataset by dataset.

    The removed APS is kept for ``atmosphere.nc``; what each dataset lost (RMS, mm) is logged
    and goes to ``validation.json`` (``atmosphere``).
    """
    state.datasets, state.aps, state.validation["atmosphere"] = atmosphere.filter_datasets(
        state.datasets, state.cfg.atmosphere.filter_params())


def run_datum(state: RunState) -> None:
    """Tie every dataset to the GNSS datum; without reference GNSS, to one common datum.

    Without GNSS the choice (``datum.no_gnss_reference``) and its statistics go to
    ``validation.json`` (``datum_reference``).
    """
    g = state.cfg.gnss
    if g is not None and g.reference and g.tie == "network":
        # every configured reference station ties each dataset, the final one included
        state.datasets, ties = datum.network_tie_all(
            state.datasets, state.inputs.gnss, _tie_stations(g), radius_m=g.radius_m,
            model=g.offset_model, plane=g.network_plane)
        state.validation["datum_tie"] = {"tie": "network", "datasets": ties}
        return
    if g is not None and g.reference:
        state.datasets = {
            name: datum.reference_dataset(ds, state.inputs.gnss, g.reference,
                                          radius_m=g.radius_m, model=g.offset_model)
            for name, ds in state.datasets.items()
        }
        return
    state.datasets, state.validation["datum_reference"] = datum.reference_without_gnss(
        state.datasets, state.inputs.primary, reference_point=state.cfg.reference_point,
        crs=state.inputs.crs, **state.cfg.datum.reference_params())


def run_spatial(state: RunState) -> None:
    """Fuse all datasets on one grid with the chosen method and the baselines.

    The fused products are then tied to the final GNSS reference (paper §4.2.4).
    """
    cfg = state.cfg.spatial
    x, y, data, groups = state.all_points()
    cell = _cell_size(state, x, y, data)
    state.grid = make_grid(*extent(state.inputs), cell, crs=state.inputs.crs)
    mask = spatial.hull_mask(state.grid, x, y, cfg.mask_buffer_m).values
    times = state.epochs.astype("datetime64[ns]")
    for method in cfg.methods():
        t0 = _time.perf_counter()
        name = spatial.product_name(method, cfg.method)
        estimator = spatial.make_interpolator(method, cfg.estimator_params(method, cell),
                                              seed=state.cfg.seed)
        estimator.fit((x, y), data, groups=groups)
        if estimator.learned and estimator.best_epoch_ >= 0:
            state.trained_epochs[method] = estimator.best_epoch_ + 1
        store = parallel.scratch_file(f"{name}.nc")
        state.products[name], state.product_std[name] = spatial.grid(
            estimator, state.grid, time=times, mask=mask, client=parallel.current_client(),
            store=store)
        state.timings[f"spatial_{method}"] = round(_time.perf_counter() - t0, 2)
        logger.info("spatial %s: %.1f s", method, _time.perf_counter() - t0)
    _final_reference(state)


def _cell_size(state: RunState, x, y, data) -> float:
    """The configured cell size, or the one block cross-validation chooses (``auto``)."""
    cfg = state.cfg.spatial
    if cfg.cell_size_m != "auto":
        return float(cfg.cell_size_m)
    # a handful of epochs spread over the span is enough to rank the candidates
    few = np.unique(np.linspace(0, data.shape[1] - 1, 6).round().astype(int))[1:]
    cell, scores = spatial.choose_cell_size(x, y, data[:, few],
                                            candidates=cfg.cell_size_candidates_m,
                                            seed=state.cfg.seed)
    state.validation["cell_size_cv_rmse_mm"] = {str(k): v for k, v in scores.items()}
    return cell


def _final_reference(state: RunState) -> None:
    """Re-reference every fused product to the final GNSS reference station."""
    g = state.cfg.gnss
    if g is None or not g.final_reference:
        return
    primary = state.inputs.datasets[state.inputs.primary]
    inc, head = datum.station_geometry(state.inputs.gnss, primary, g.final_reference)
    if g.tie == "network":
        state.products, ties = datum.network_tie_all(
            state.products, state.inputs.gnss, _tie_stations(g), radius_m=g.radius_m,
            model=g.offset_model, plane=g.network_plane, geometry=(inc, head))
        state.validation.setdefault("datum_tie", {})["products"] = ties
        return
    state.products = {
        name: datum.reference_grid(cube, state.inputs.gnss, g.final_reference, inc, head,
                                   radius_m=g.radius_m, model=g.offset_model)
        for name, cube in state.products.items()
    }


def _tie_stations(g) -> list[str]:
    """The stations of the network tie: the reference ones and the final one."""
    return list(dict.fromkeys([*g.reference, *([g.final_reference] if g.final_reference
                                                 else [])]))


def run_calibrate(state: RunState) -> None:
    """Score every method on held-out blocks and calibrate the products' std on them.

    The held-out scores go to ``validation.json`` (``holdout_blocks``); each product with a
    std gets it calibrated (:mod:`insarfusion.calibration`: the spatial part on its held-out
    residuals, the datum's common mode, the velocity from held-out residual series), the raw
    std kept beside it, and the calibration summary goes to ``validation.json``
    (``calibration``).
    """
    cfg = state.cfg
    x, y, data, groups = state.all_points()
    params = {m: cfg.spatial.estimator_params(m) for m in cfg.spatial.methods()}
    for method, epochs in state.trained_epochs.items():
        # a fold's network trains as many epochs as the product's was kept at, without the
        # wait for early stopping
        params[method] = {**params[method], "epochs": epochs, "patience": epochs}
    scores, residuals = validate.holdout_blocks(
        x, y, data, groups, cfg.validation.methods_for(cfg.spatial), params,
        main=cfg.spatial.method, folds=cfg.validation.holdout_folds,
        block_m=cfg.validation.holdout_block_m, seed=cfg.seed, epochs=state.epochs,
        keep_residuals=True, learned_folds=cfg.validation.learned_folds)
    for method, epochs in state.trained_epochs.items():
        name = spatial.product_name(method, cfg.spatial.method)
        if name in scores:
            scores[name]["epochs"] = epochs
    if scores:
        state.validation["holdout_blocks"] = scores
    if not any(std is not None for std in state.product_std.values()):
        return
    residuals = {name: calibration.subsample(res, seed=cfg.seed)
                 for name, res in residuals.items()}
    state.calibrated = calibration.calibrate_products(
        state.product_std, residuals, state.epochs, lambda m: state.velocity(m).values,
        noise_var=calibration.noise_variance(x, y, data, groups),
        velocity_noise_var=float(calibration.noise_variance(
            x, y, _point_velocities(state), groups)),
        valid=lambda m: state.products[m].notnull(), stations_xy=_tie_station_xy(state),
        tie_sigmas={name: tie["sigma_mm"] for name, tie in
                    state.validation.get("datum_tie", {}).get("products", {}).items()})
    state.product_std = {name: cal.std for name, cal in state.calibrated.items()}
    state.validation["calibration"] = {
        "methods": {name: cal.summary for name, cal in state.calibrated.items()},
        "quantile": calibration.QUANTILE, "k": calibration.K,
        "curve_k": list(calibration.CURVE_K),
        "temporal_heldout_rmse_mm": {
            ds: {m: s.get("heldout_rmse_mm") for m, s in scores_.items()}
            for ds, scores_ in state.temporal_scores.items()}}


def _point_velocities(state: RunState) -> np.ndarray:
    """Every point's mean LOS velocity on the common epochs (mm/yr), all datasets."""
    from .series import linear_rate

    return np.concatenate([linear_rate(ds["time"].values, ds["displacement"].values)
                           for ds in state.datasets.values()])


def _tie_station_xy(state: RunState):
    """``(x, y)`` of the stations the fused products are tied through, or None."""
    g = state.cfg.gnss
    if g is None or state.inputs.gnss is None:
        return None
    if g.tie == "network":
        names = _tie_stations(g)
    else:
        names = [g.final_reference] if g.final_reference else list(g.reference)
    gnss = state.inputs.gnss
    names = [n for n in names if n in gnss["station"].values]
    if not names:
        return None
    sub = gnss.sel(station=names)
    return sub["x"].values, sub["y"].values


def run_products(state: RunState) -> None:
    """Write every product of the run, each carrying the run's metadata.

    The displacement cubes, the velocity maps, the per-cell geometry, support and mask
    rasters, the points with their per-date series and the fused layer, and the MintPy files
    (:func:`insarfusion.products.write_run_products`).
    """
    from . import interop, products

    primary = state.inputs.primary
    ref = interop.run_reference(state.cfg, state.inputs.gnss, state.datasets, primary)
    meta = interop.run_metadata(state.datasets, primary, method=state.cfg.spatial.method,
                                temporal_method=state.temporal_method,
                                reference_station=ref["station"], reference_area=ref["area"],
                                reference_date=state.epochs[0], crs=state.inputs.crs,
                                no_gnss_reference=state.validation.get(
                                    "datum_reference", {}).get("mode"))
    products.write_run_products(state.out, state.products, state.product_std,
                                state.velocity, state.grid, state.datasets, state.inputs.crs,
                                attrs=meta, primary=primary, reference=ref["place"],
                                ref_date=state.epochs[0], calibrated=state.calibrated)
    atmosphere.write_aps(state.out / "atmosphere.nc", state.aps)


def run_validate(state: RunState) -> None:
    """Scores at the GNSS stations (paper Tables 4–7), held-out blocks and epochs, the truth."""
    cfg = state.cfg
    v: dict = {**state.validation,
               "epochs": {"start": str(state.epochs[0]), "end": str(state.epochs[-1]),
                          "count": int(state.epochs.size), "step_days": cfg.time.step_days},
               "cell_size_m": float(state.grid.attrs["cell_size"])}
    if state.inputs.gnss is not None:
        primary = state.inputs.datasets[state.inputs.primary]
        stations = validate.StationValidation(
            state.inputs.gnss, primary, state.epochs, cfg.gnss,
            idw_params=cfg.spatial.estimator_params("idw"), seed=cfg.seed)
        v.update(stations.score(state.datasets, state.products))
        state.station_series, state.gnss_series = stations.series, stations.gnss_series
        before_after = stations.aps_before_after(state.aps)
        if before_after:
            v["aps_before_after"] = before_after
            state.station_series_unfiltered = stations.series_unfiltered
    v["temporal"] = dict(state.temporal_scores)
    v["temporal_method"] = state.temporal_method
    if state.truth is not None:
        v["truth"] = truth_scoring.truth_section(state.products, state.truth, state.velocity,
                                            store=parallel.scratch_file("truth.nc"),
                                            calibrated=state.calibrated)
    v["timings_s"] = state.timings
    state.validation = v


def run_report(state: RunState) -> None:
    """Tables, figures and ``report.html`` (unless asked for none), then the viewer.

    The files that need the validation come last: ``gnss_los.csv`` (the scored stations in
    the product's LOS and datum) and ``viewer.html``.
    """
    if state.report:
        from .report import write_report

        write_report(state, state.out)
    from .interop import write_view_products

    write_view_products(state.out, gnss=state.inputs.gnss,
                        stations=state.validation.get("stations", []),
                        gnss_series=state.gnss_series, epochs=state.epochs,
                        crs=state.inputs.crs)


def _dataset_truth(state: RunState, name: str):
    """The true primary-LOS series of a dataset's points on the common epochs, if known."""
    if state.truth is None or f"{name}_primary" not in state.truth:
        return None
    from .simulate import dataset_truth

    return dataset_truth(state.truth, name)["primary"].rename(epoch="time")


def _load_truth(path):
    from .simulate import load_truth
    try:
        return load_truth(path, lazy=True)
    except FileNotFoundError:
        raise StageError(f"{path}: truth file named in the config does not exist") from None


#: The stages, in the order of the paper's Figure 2.
STAGES = (("load", run_load), ("project", run_project), ("epochs", run_epochs),
          ("temporal", run_temporal), ("atmosphere", run_atmosphere), ("datum", run_datum),
          ("spatial", run_spatial), ("calibrate", run_calibrate), ("products", run_products),
          ("validate", run_validate),
          ("report", run_report))


# --------------------------------------------------------------------------- the run

class _Timer:
    """Log a stage as it starts ("stage 4/10 temporal ...") and its wall time as it ends.

    The time (s) is kept in ``state.timings``.
    """

    def __init__(self, state: RunState, name: str, number: int, total: int):
        self.state, self.name = state, name
        self.label = f"stage {number}/{total} {name}"

    def __enter__(self):
        logger.info("%s ...", self.label)
        self.t0 = _time.perf_counter()
        return self

    def __exit__(self, *exc):
        dt = _time.perf_counter() - self.t0
        self.state.timings[self.name] = round(dt, 2)
        if exc[0] is None:
            logger.info("%s done in %.1f s", self.label, dt)


def run(cfg: Config, out, force: bool = False, report: bool = True, client=None) -> dict:
    """Run the whole pipeline and write every product into ``out`` atomically.

    With a ``dask.distributed`` ``client`` the chunked steps run on its workers
    (:mod:`insarfusion.parallel`); the results are the same.

    The gridded cubes are kept on disk, in a scratch folder of the output being written, and
    the stages after gridding read them block by block (:mod:`insarfusion.cubes`).

    Returns the validation dictionary (also written as ``validation.json``).
    """
    import shutil

    with run_frame(cfg, out, force=force) as tmp:
        state = RunState(cfg=cfg, out=tmp, report=report)
        scratch = tmp / ".cubes"
        t0 = _time.perf_counter()
        try:
            with parallel.execution(client=client, scratch=scratch):
                for number, (name, stage) in enumerate(STAGES, start=1):
                    with _Timer(state, name, number, len(STAGES)):
                        stage(state)
        finally:
            if state.truth is not None:
                state.truth.close()
            state.products.clear()
            state.product_std.clear()
            shutil.rmtree(scratch, ignore_errors=True)
        state.timings["total"] = round(_time.perf_counter() - t0, 2)
        logger.info("run done in %.1f s", state.timings["total"])
        state.validation["timings_s"] = state.timings
        (tmp / "validation.json").write_text(json.dumps(state.validation, indent=2))
    return state.validation
