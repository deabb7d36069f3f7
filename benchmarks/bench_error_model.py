"""The error model's options scored by whole runs against the simulator's truth.

For each simulated case folder (``insarfusion simulate DIR --seed S [--scale K]``) and each
combination of APS option (``atmosphere.method``: none, common_mode, spatiotemporal) and GNSS
tie (``gnss.tie``: station, network), the case's configuration is run with fast methods
(``temporal.method: linear``, ``spatial.method: kriging``, the linear gridding as the only
baseline, no held-out blocks, no report) unless ``--full`` keeps the configured LSTM and CNN.

The network tie (offset only; ``--plane`` adds the plane) uses ``--network`` stations as
references (default the case's own, M21; the fused product through M21 and M01); the station
tie keeps the case's own (M21, then M01 alone for the fused product).

Scores of the synergic product (and of the linear baseline), from each run's
``validation.json``:

* ``field``: truth field RMSE, mm; ``pattern``: the same after removing each epoch's mean
  error; ``common``: ``sqrt(field² − pattern²)``, the per-epoch common-mode part, mm;
* ``vel``: truth velocity RMSE, mm/yr;
* ``sta_ts``: mean time-series RMSE at the scored GNSS stations, mm, over the stations every
  option scores (those that are never a reference) — ``sta_ts_all`` over the run's own set;
* ``sta_vel``: station velocity RMSE over the same common stations, mm/yr;
* ``seconds``: the run's wall time.

Run: ``python benchmarks/bench_error_model.py CASE [CASE ...] [--out /tmp/bench_err]
[--aps none common_mode spatiotemporal] [--tie station network] [--full] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from insarfusion.config import load_config
from insarfusion.log import setup_logging
from insarfusion.pipeline import run

NETWORK = ["M21"]


def configure(case: Path, aps: str, tie: str, full: bool, network: list[str],
              plane: bool = False, offset_model: str | None = None):
    """The case's configuration with one option of each."""
    cfg = load_config(case / "config.yaml")
    if not full:
        cfg.temporal.method = "linear"
        cfg.spatial.method = "kriging"
        cfg.spatial.baselines = ["linear"]
        cfg.validation.holdout_folds = 0
    cfg.atmosphere.method = aps
    cfg.gnss.tie = tie
    cfg.gnss.network_plane = plane
    if offset_model:
        cfg.gnss.offset_model = offset_model
    if tie == "network":
        cfg.gnss.reference = list(network)
    return cfg


def _station_scores(v: dict, method: str, common: list[str]) -> dict:
    rows = v["methods"][method]["stations"]
    ts = [rows[s]["timeseries_rmse_mm"] for s in common if s in rows]
    vel = [rows[s]["velocity_mm_yr"] - v["gnss"][s]["velocity_mm_yr"] for s in common
           if s in rows]
    return {"sta_ts": round(float(np.mean(ts)), 3),
            "sta_vel": round(float(np.sqrt(np.mean(np.square(vel)))), 3),
            "sta_ts_all": v["methods"][method]["timeseries_rmse_mm_mean"]}


def scores(v: dict, method: str, common: list[str]) -> dict:
    """The scores of one product in a run's validation."""
    t = v["truth"][method]
    field, pattern = t["field_rmse_mm"], t["field_pattern_rmse_mm"]
    return {"field": field, "pattern": pattern,
            "common": round(math.sqrt(max(field**2 - pattern**2, 0.0)), 3),
            "vel": t["velocity_rmse_mm_yr"], **_station_scores(v, method, common)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_error_model"))
    parser.add_argument("--aps", nargs="+", default=["none", "common_mode", "spatiotemporal"])
    parser.add_argument("--tie", nargs="+", default=["station", "network"])
    parser.add_argument("--network", nargs="+", default=NETWORK)
    parser.add_argument("--plane", action="store_true", help="network: offset and plane")
    parser.add_argument("--offset-model", help="gnss.offset_model (default the case's)")
    parser.add_argument("--full", action="store_true", help="the configured LSTM and CNN")
    parser.add_argument("--json", type=Path, help="append the rows to this file")
    args = parser.parse_args()
    setup_logging(verbose=False)
    rows = []
    for case in args.cases:
        base = load_config(case / "config.yaml").gnss
        never_ref = [s for s in ["M09", "M10", "M15", "M17", "M22", "M23", "M18", "M19", "M20"]
                     if s not in args.network and s not in base.reference
                     and s != base.final_reference]
        for aps in args.aps:
            for tie in args.tie:
                cfg = configure(case, aps, tie, args.full, args.network, args.plane,
                                args.offset_model)
                label = tie if tie == "station" else (
                    f"network({'+'.join(args.network)}{', plane' if args.plane else ''})")
                if args.offset_model:
                    label += f" [{args.offset_model}]"
                safe = "".join(c if c.isalnum() else "_" for c in label)
                out = args.out / f"{case.name}_{aps}_{safe}{'_full' if args.full else ''}"
                t0 = time.perf_counter()
                v = run(cfg, out, force=True, report=False)
                row = {"case": case.name, "aps": aps, "tie": label, "full": args.full,
                       "seconds": round(time.perf_counter() - t0, 1),
                       "synergic": scores(v, "synergic", never_ref)}
                if "linear" in v["truth"]:
                    row["linear"] = scores(v, "linear", never_ref)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.json:
                    with args.json.open("a") as f:
                        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
