"""End to end at scale: the whole run on simulated cases of growing size, stage by stage.

For every scale ``K`` (default 1, 10, 100: about 1k, 10k and 100k points per sensor) the case
``insarfusion simulate DIR --seed S --scale K`` is written (or reused) and
:func:`insarfusion.pipeline.run` runs on it in a fresh Python process, so that each case's
memory is its own. The script reports, per case:

* **wall time per stage** (the run's own ``timings_s``: load, project, epochs, temporal,
  atmosphere, datum, spatial with each method, rereference, calibrate, products, validate,
  report, total) and the process's wall time including imports;
* **peak memory per stage** (MB of 10^6 bytes): the peak resident set size (RSS, all memory
  the process has in RAM, numpy's and torch's native buffers included) during that stage. Linux keeps the
  process's peak RSS in ``VmHWM`` of ``/proc/self/status``; writing ``5`` to
  ``/proc/self/clear_refs`` resets it to the current RSS. The peak is reset as a stage starts
  and read as it ends, so each figure is the true high-water mark inside the stage (no
  sampling, nothing missed between samples), counted from zero bytes, i.e. it includes what
  earlier stages left in memory (``rss_start_mb`` says how much that was). Within the spatial
  stage the same is done per method. The case's peak is the largest of these. Where the reset
  is not allowed, a thread samples ``VmRSS`` every 5 ms instead (``memory_method`` in the
  JSON says which was used). ``tracemalloc`` is not used: it misses memory allocated outside
  Python's allocator (torch, GDAL) and slows numpy-heavy code down;
* **accuracy against the truth** per product (the run's ``truth`` section: RMSE of the
  displacement cube and of the velocity map over the grid), the held-out-block RMSE and the
  velocity RMSE at the GNSS validation stations;
* **gridding side by side** on the same data as the run's spatial stage (every dataset's
  referenced, resampled points, every common epoch, the run's grid and hull mask):
  :func:`scipy.interpolate.griddata` (linear, all epochs in one call) and PyKrige's
  ``OrdinaryKriging`` (spherical, ``nlags=12``, ``execute("points", ...,
  n_closest_points=16, backend="loop")``, as ``bench_spatial.py``: one epoch timed, variogram
  fit included, times the number of epochs). PyKrige builds the full (n+1)² kriging matrix,
  so it is skipped with the size it would need where ``bench_spatial.PYKRIGE_MAX_BYTES`` is
  exceeded. Time ratios are against the run's own ``spatial_<method>`` times (fit and
  prediction at every masked cell and epoch; kriging's include its standard deviation, as
  PyKrige's do).

Training profiles (``--profile``), applied on top of the case's ``config.yaml``:

``fast``
    temporal ``linear``; spatial ``kriging`` (the product) with ``idw``, ``nearest`` and
    ``linear`` as baselines; no LSTM, no CNN.
``demo``
    the case's methods (LSTM, CNN with every classic baseline) with reduced training
    (:data:`QUICK_TRAINING`: 15 LSTM epochs, 3 CNN epochs; what ``insarfusion demo`` ran
    until it ran the defaults).
``paper``
    the case's configuration as written, the defaults (paper Tables 2 and 3: 86 LSTM
    epochs, 100 CNN epochs, with early stopping); 680 s on two cores at K = 100.

``--cprofile`` runs each case under :mod:`cProfile` instead (times then carry the profiler's
overhead and are not for the table) and writes ``profile_K<K>_<profile>.pstats`` and a text
summary beside the results.

Run: ``python benchmarks/bench_scale.py [--scales 1 10 100] [--profile fast|demo|paper]
[--work DIR] [--out DIR] [--seed 0] [--no-compare] [--cprofile]``.
Writes ``bench_scale_<profile>.json`` and ``bench_scale_<profile>.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROFILES = ("fast", "demo", "paper")

#: The ``demo`` profile's training: the paper's networks with fewer epochs (what
#: ``insarfusion demo`` ran until it could afford the paper's budgets).
QUICK_TRAINING = {"temporal.lstm.epochs": 15, "spatial.cnn.epochs": 3}

# the bars
BAR_SECONDS = 20 * 60
BAR_BYTES = 8e9
BAR_SPEEDUP = 10.0


# --------------------------------------------------------------------------- memory

def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    return int(match.group(1)) if match else 0


def _mb(kib: int) -> float:
    """kB as /proc counts them (KiB) in MB of 10^6 bytes."""
    return round(kib * 1024 / 1e6, 1)


class PeakMeter:
    """Peak RSS of this process over windows of time (see the module notes).

    ``open(label)`` starts a window, ``close()`` ends it and returns its peak RSS and the RSS
    at its start and end (kB).
    """

    def __init__(self):
        self.method = "VmHWM reset (clear_refs)"
        try:
            self._reset()
        except OSError:
            self.method = "VmRSS sampled every 5 ms"
            self._sampled = 0
            self._lock = threading.Lock()
            threading.Thread(target=self._sample, daemon=True).start()
        self._start = None

    def _reset(self):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def _sample(self):
        while True:
            rss = _status_kb("VmRSS")
            with self._lock:
                self._sampled = max(self._sampled, rss)
            time.sleep(0.005)

    def open(self):
        rss = _status_kb("VmRSS")
        if self.method.startswith("VmHWM"):
            self._reset()
        else:
            with self._lock:
                self._sampled = rss
        self._start = rss

    def close(self) -> dict:
        rss = _status_kb("VmRSS")
        if self.method.startswith("VmHWM"):
            peak = _status_kb("VmHWM")
        else:
            with self._lock:
                peak = max(self._sampled, rss)
        return {"peak_mb": _mb(peak), "rss_start_mb": _mb(self._start), "rss_end_mb": _mb(rss)}


# --------------------------------------------------------------------------- one case (child)

def apply_profile(cfg, profile: str):
    """The case's configuration with a training profile applied (in place; returned)."""
    if profile == "fast":
        cfg.temporal.method = "linear"
        cfg.spatial.method = "kriging"
        cfg.spatial.baselines = ["idw", "nearest", "linear"]
    elif profile == "demo":
        from insarfusion.config import apply_overrides

        apply_overrides(cfg, QUICK_TRAINING)
    elif profile != "paper":
        raise SystemExit(f"unknown profile {profile!r}; expected one of {PROFILES}")
    return cfg


def child(case: Path, profile: str, result: Path, run_dir: Path, compare: bool,
          cprofile: Path | None) -> None:
    """Run one case in this process and write its measurements to ``result`` (JSON)."""
    start_wall = time.perf_counter()
    meter = PeakMeter()
    memory: dict = {}
    meter.open()
    from insarfusion import pipeline, spatial
    from insarfusion.config import load_config
    from insarfusion.grid import cell_centres
    from insarfusion.log import setup_logging
    memory["imports"] = meter.close()
    setup_logging(False)

    cfg = apply_profile(load_config(case / "config.yaml"), profile)
    captured: dict = {}
    current = {"stage": None, "method": None}
    spatial_memory: dict = {}

    class MeteredTimer(pipeline._Timer):
        """The run's stage timer, also measuring the stage's peak RSS."""

        def __enter__(self):
            current["stage"], current["method"] = self.name, None
            meter.open()
            return super().__enter__()

        def __exit__(self, *exc):
            out = super().__exit__(*exc)
            if self.name == "spatial":
                # the stage's windows: its set-up, then one per method
                _close_method()
                setup = spatial_memory.pop(None)
                memory["spatial"] = {
                    "peak_mb": max(m["peak_mb"] for m in (setup, *spatial_memory.values())),
                    "rss_start_mb": setup["rss_start_mb"],
                    "rss_end_mb": _mb(_status_kb("VmRSS"))}
                captured["state"] = self.state
            else:
                memory[self.name] = meter.close()
            current["stage"] = None
            return out

    def _close_method():
        spatial_memory[current["method"]] = meter.close()

    make_interpolator = spatial.make_interpolator

    def metered_make_interpolator(method, *args, **kwargs):
        if current["stage"] == "spatial":  # one window per method of the spatial stage
            _close_method()
            current["method"] = method
            meter.open()
        return make_interpolator(method, *args, **kwargs)

    pipeline._Timer = MeteredTimer
    spatial.make_interpolator = metered_make_interpolator
    try:
        if cprofile is not None:
            import cProfile

            profiler = cProfile.Profile()
            validation = profiler.runcall(pipeline.run, cfg, run_dir, force=True)
            profiler.dump_stats(cprofile)
            _profile_summary(cprofile)
        else:
            validation = pipeline.run(cfg, run_dir, force=True)
    finally:
        spatial.make_interpolator = make_interpolator
    wall = time.perf_counter() - start_wall

    state = captured["state"]
    x, y, data, _ = state.all_points()
    mask = spatial.hull_mask(state.grid, x, y, cfg.spatial.mask_buffer_m).values
    cx, cy = cell_centres(state.grid)
    cells = int(mask.sum())
    sizes = {"points": int(x.size), "epochs": int(data.shape[1]),
             "points_per_dataset": {n: int(ds.sizes["point"])
                                    for n, ds in state.datasets.items()},
             "grid": [int(state.grid.sizes["y"]), int(state.grid.sizes["x"])],
             "cells_masked": cells}
    comparison = {}
    if compare:
        meter.open()
        comparison = compare_gridding(x, y, data, cx[mask.ravel()], cy[mask.ravel()],
                                      seed=cfg.seed)
        memory["comparison"] = meter.close()
    out = {
        "case": str(case), "profile": profile, "profiled": cprofile is not None,
        "config": {"temporal": cfg.temporal.method, "spatial": cfg.spatial.method,
                   "baselines": list(cfg.spatial.baselines),
                   "lstm_epochs": cfg.temporal.lstm.epochs, "cnn_epochs": cfg.spatial.cnn.epochs,
                   "holdout_folds": cfg.validation.holdout_folds},
        "sizes": sizes, "wall_s": round(wall, 2), "timings_s": validation["timings_s"],
        "memory_method": meter.method, "memory_mb": memory,
        "spatial_memory_mb": spatial_memory,
        "peak_mb": max(m["peak_mb"] for m in (*memory.values(), *spatial_memory.values())),
        "truth": validation.get("truth", {}),
        "holdout_blocks": {m: v["rmse_mm"] for m, v in validation.get("holdout_blocks",
                                                                       {}).items()},
        # a method retrained on fewer folds (the CNN): the others' RMSE on its folds
        "holdout_same_folds": {m: {"folds_scored": v["folds_scored"], "rmse_mm": v["rmse_mm"],
                                   **v["same_folds_rmse_mm"]}
                               for m, v in validation.get("holdout_blocks", {}).items()
                               if "same_folds_rmse_mm" in v},
        "station_velocity_rmse_mm_yr": {m: v["velocity_rmse_mm_yr"]
                                        for m, v in validation.get("methods", {}).items()},
        "comparison": comparison,
        "threads": _threads(),
    }
    result.write_text(json.dumps(out, indent=2))


def compare_gridding(x, y, data, cx, cy, seed=0) -> dict:
    """griddata and PyKrige on the run's points and masked cells (see the module notes)."""
    import numpy as np
    from scipy.interpolate import griddata

    sys.path.insert(0, str(HERE))
    from bench_spatial import K_KRIGING, PYKRIGE_MAX_BYTES, timed

    out = {}
    _, seconds = timed(lambda: griddata(np.column_stack([x, y]), data, (cx, cy),
                                        method="linear"))
    out["griddata_linear_s"] = round(seconds, 3)
    # PyKrige on the last epoch's finite points
    last = data[:, -1]
    ok = np.isfinite(last)
    matrix_bytes = 4 * 8.0 * (int(ok.sum()) + 1) ** 2
    out["pykrige_points"] = int(ok.sum())
    out["pykrige_matrix_gb"] = round(matrix_bytes / 1e9, 2)
    if matrix_bytes <= PYKRIGE_MAX_BYTES:
        from pykrige.ok import OrdinaryKriging

        def one_epoch():
            model = OrdinaryKriging(x[ok], y[ok], last[ok], variogram_model="spherical",
                                    nlags=12)
            return model.execute("points", cx, cy, n_closest_points=K_KRIGING, backend="loop")

        _, seconds = timed(one_epoch)
        out["pykrige_one_epoch_s"] = round(seconds, 3)
        out["pykrige_all_epochs_s"] = round(seconds * data.shape[1], 1)
    else:
        out["pykrige_note"] = (f"infeasible: the full kriging matrix of {int(ok.sum())} points "
                               f"needs ~{matrix_bytes / 1e9:.0f} GB (4 copies)")
    return out


def _threads() -> dict:
    out = {"cpu_count": os.cpu_count()}
    try:
        out["affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    return out


def _profile_summary(path: Path) -> None:
    import io
    import pstats

    text = io.StringIO()
    stats = pstats.Stats(str(path), stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    path.with_suffix(".txt").write_text(text.getvalue())


# --------------------------------------------------------------------------- driver

def simulate(case: Path, scale: float, seed: int) -> float | None:
    """Write the case unless it is already there; wall time (s) when written."""
    if (case / "config.yaml").is_file() and (case / "truth.nc").is_file():
        return None
    start = time.perf_counter()
    code = ("import sys; from pathlib import Path; from insarfusion.simulate import write_case; "
            "write_case(Path(sys.argv[1]), seed=int(sys.argv[2]), scale=float(sys.argv[3]), "
            "force=True)")
    subprocess.run([sys.executable, "-c", code, str(case), str(seed), str(scale)], check=True)
    return round(time.perf_counter() - start, 1)


def run_case(case: Path, profile: str, work: Path, tag: str, compare: bool,
             cprofile: Path | None, keep: bool) -> dict:
    result = work / f"result_{tag}.json"
    run_dir = work / f"run_{tag}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(case),
           "--profile", profile, "--result", str(result), "--run-dir", str(run_dir)]
    if not compare:
        cmd.append("--no-compare")
    if cprofile is not None:
        cmd += ["--cprofile-to", str(cprofile)]
    load = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise SystemExit(f"case {case} failed (exit {proc.returncode})")
    out = json.loads(result.read_text())
    out["process_wall_s"] = round(time.perf_counter() - start, 2)
    out["load_before"] = [round(v, 2) for v in load]
    out["load_after"] = [round(v, 2) for v in os.getloadavg()]
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return out


STAGE_ORDER = ("load", "project", "epochs", "temporal", "atmosphere", "datum", "spatial",
               "rereference", "calibrate", "products", "validate", "report")


def _ratio(a, b) -> str:
    if a is None or not b:
        return "–"
    r = a / b
    return f"{r:.0f}×" if r >= 100 else f"{r:.1f}×"


def _f(v, fmt="{:.1f}"):
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def markdown(results: dict, meta: dict) -> str:
    scales = list(results)
    lines = [f"Profile `{meta['profile']}`; {meta['machine']}; load average before each case: "
             + ", ".join(f"K={k}: {results[k]['load_before'][0]:.2f}" for k in scales), ""]
    head = "| stage | " + " | ".join(f"K={k} time (s) | K={k} peak RSS (MB)" for k in scales)
    lines += [head + " |", "|---|" + "---:|---:|" * len(scales)]
    first = results[scales[0]]
    methods = [k[len("spatial_"):] for k in first["timings_s"] if k.startswith("spatial_")]
    rows = [("imports", None, "imports")]
    for stage in STAGE_ORDER:
        rows.append((stage, stage, stage))
        if stage == "spatial":
            rows += [(f"  spatial: {m}", f"spatial_{m}", ("spatial", m)) for m in methods]
    for label, tkey, mkey in rows:
        cells = []
        for k in scales:
            r = results[k]
            t = r["timings_s"].get(tkey) if tkey else None
            if isinstance(mkey, tuple):
                mem = r["spatial_memory_mb"].get(mkey[1], {}).get("peak_mb")
            else:
                mem = r["memory_mb"].get(mkey, {}).get("peak_mb")
            cells.append(f"{_f(t, '{:.2f}')} | {_f(mem, '{:.0f}')}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| **total (run)** | " + " | ".join(
        f"**{results[k]['timings_s']['total']:.1f}** | **{results[k]['peak_mb']:.0f}**"
        for k in scales) + " |")
    lines.append("| process (imports, config, run, comparisons) | " + " | ".join(
        f"{results[k]['process_wall_s']:.1f} | " for k in scales) + " |")
    lines += ["", "| K | points (CSK + S1A) | epochs | grid (cells in mask) |", "|---:|---:|---:|---|"]
    for k in scales:
        s = results[k]["sizes"]
        per = " + ".join(str(v) for v in s["points_per_dataset"].values())
        lines.append(f"| {k} | {s['points']} ({per}) | {s['epochs']} | {s['grid'][0]} × "
                     f"{s['grid'][1]} ({s['cells_masked']}) |")
    # accuracy
    lines += ["", "Accuracy against the truth (field RMSE mm / velocity RMSE mm/yr over the "
              "grid), held-out blocks (mm) and velocity RMSE at the GNSS validation stations "
              "(mm/yr):", "",
              "| product | " + " | ".join(f"K={k} truth | K={k} held-out | K={k} stations"
                                         for k in scales) + " |",
              "|---|" + "---:|---:|---:|" * len(scales)]
    names = list(dict.fromkeys(n for k in scales for n in results[k]["truth"]))
    for name in names:
        cells = []
        for k in scales:
            r = results[k]
            t = r["truth"].get(name, {})
            cells.append(f"{_f(t.get('field_rmse_mm'), '{:.2f}')} / "
                         f"{_f(t.get('velocity_rmse_mm_yr'), '{:.2f}')} | "
                         f"{_f(r['holdout_blocks'].get(name), '{:.2f}')} | "
                         f"{_f(r['station_velocity_rmse_mm_yr'].get(name), '{:.2f}')}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for k in scales:
        for name, same in results[k].get("holdout_same_folds", {}).items():
            others = ", ".join(f"{m} {v:.2f}" for m, v in same.items()
                               if m not in ("folds_scored", "rmse_mm"))
            lines.append(f"\nK={k}: {name} held out on {same['folds_scored']} fold(s) only: "
                         f"{same['rmse_mm']:.2f} mm there, against {others} mm on the same "
                         "fold(s).")
    # comparison
    if any(results[k]["comparison"] for k in scales):
        lines += ["", "Gridding on the run's data (all points, all epochs, masked cells); "
                  "time ratios > 1 mean insarfusion is faster:", "",
                  "| K | points | cells | insarfusion (s) | griddata linear (s) | "
                  "PyKrige OK, k=16 (s) | PyKrige / kriging | PyKrige / idw | PyKrige / cnn | "
                  "griddata / linear | griddata / idw |",
                  "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for k in scales:
            r = results[k]
            c, t = r["comparison"], r["timings_s"]
            if not c:
                continue
            ours = ", ".join(f"{m} {t[f'spatial_{m}']:.2f}" for m in methods
                             if f"spatial_{m}" in t)
            pk = c.get("pykrige_all_epochs_s")

            pk_cell = (f"{pk:.0f} ({c['pykrige_one_epoch_s']:.2f} × {r['sizes']['epochs']})"
                       if pk is not None else c.get("pykrige_note", "–"))
            lines.append(
                f"| {k} | {r['sizes']['points']} | {r['sizes']['cells_masked']} | {ours} | "
                f"{c['griddata_linear_s']:.2f} | {pk_cell} | "
                f"{_ratio(pk, t.get('spatial_kriging'))} | {_ratio(pk, t.get('spatial_idw'))} | "
                f"{_ratio(pk, t.get('spatial_cnn'))} | "
                f"{_ratio(c['griddata_linear_s'], t.get('spatial_linear'))} | "
                f"{_ratio(c['griddata_linear_s'], t.get('spatial_idw'))} |")
    lines += ["", *bars(results)]
    return "\n".join(lines) + "\n"


def bars(results: dict) -> list[str]:
    """The issue's bars, checked on the measured cases."""
    out = ["Bars:", ""]
    big = results.get(max(results, key=float))
    k_big = max(results, key=float)
    if big is not None:
        t, m = big["timings_s"]["total"], big["peak_mb"] * 1e6
        out.append(f"* K={k_big} end to end: {t:.0f} s (bar {BAR_SECONDS} s) and peak RSS "
                   f"{m / 1e9:.2f} GB (bar {BAR_BYTES / 1e9:.0f} GB): "
                   f"{'met' if t < BAR_SECONDS and m < BAR_BYTES else 'NOT met'}")
    keys = sorted(results, key=float)
    for a, b in zip(keys, keys[1:], strict=False):
        ra, rb = results[a], results[b]
        pa, pb = ra["sizes"]["points"], rb["sizes"]["points"]
        ta, tb = ra["timings_s"]["total"], rb["timings_s"]["total"]
        exponent = math.log(tb / ta) / math.log(pb / pa)
        out.append(f"* K={a} → {b}: points × {pb / pa:.1f}, time × {tb / ta:.1f} "
                   f"(exponent {exponent:.2f}; at most linear: "
                   f"{'met' if exponent <= 1.0 else 'NOT met'})")
    for k in keys:
        r = results[k]
        pk = r["comparison"].get("pykrige_all_epochs_s")
        fastest = [r["timings_s"].get(f"spatial_{m}") for m in ("idw", "cnn")]
        fastest = [v for v in fastest if v]
        if pk and fastest:
            ratio = pk / min(fastest)
            out.append(f"* K={k}: PyKrige / (fastest of idw, cnn) = {ratio:.0f}× "
                       f"({'met' if ratio >= BAR_SPEEDUP else 'NOT met'}, bar {BAR_SPEEDUP:.0f}×)")
        elif r["comparison"].get("pykrige_note"):
            out.append(f"* K={k}: PyKrige {r['comparison']['pykrige_note']}")
    return out


def machine() -> str:
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) / 2**20
    except OSError:
        pass
    return (f"{os.cpu_count()} CPU cores ({platform.machine()}), {mem:.0f} GB RAM, "
            f"Python {platform.python_version()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100])
    parser.add_argument("--profile", choices=PROFILES, default="fast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "insarfusion_bench_scale",
                        help="cases and run outputs (K=100: ~0.5 GB case, ~3 GB outputs)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder of the JSON and Markdown results (default --work)")
    parser.add_argument("--no-compare", action="store_true",
                        help="leave griddata and PyKrige out")
    parser.add_argument("--cprofile", action="store_true",
                        help="profile each case with cProfile (times not for the table)")
    parser.add_argument("--keep-outputs", action="store_true",
                        help="keep each run's output folder")
    # the child process
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cprofile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.profile, args.result, args.run_dir, not args.no_compare,
              args.cprofile_to)
        return

    work = args.work.resolve()
    out = (args.out or work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    results, simulated = {}, {}
    for scale in args.scales:
        k = f"{scale:g}"
        case = work / f"case_K{k}_seed{args.seed}"
        seconds = simulate(case, scale, args.seed)
        if seconds is not None:
            simulated[k] = seconds
        tag = f"K{k}_{args.profile}"
        cprofile = out / f"profile_{tag}.pstats" if args.cprofile else None
        print(f"K={k}: running the pipeline ({args.profile}) ...", file=sys.stderr, flush=True)
        results[k] = run_case(case, args.profile, work, tag, not args.no_compare, cprofile,
                              args.keep_outputs)
        r = results[k]
        print(f"K={k}: {r['sizes']['points']} points, run {r['timings_s']['total']:.1f} s, "
              f"peak {r['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
    meta = {"profile": args.profile, "machine": machine(), "seed": args.seed,
            "simulate_s": simulated, "date_utc": time.strftime("%Y-%m-%d %H:%M",
                                                               time.gmtime())}
    suffix = f"{args.profile}{'_cprofile' if args.cprofile else ''}"
    (out / f"bench_scale_{suffix}.json").write_text(json.dumps({"meta": meta,
                                                                "cases": results}, indent=2))
    text = markdown(results, meta)
    (out / f"bench_scale_{suffix}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
