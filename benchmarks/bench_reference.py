"""The no-GNSS reference options scored by whole runs: held-out blocks and, where known, the truth.

For each configuration (a real example, or a simulated case with ``--drop-gnss``, which runs
it as if it had no GNSS) and each ``datum.no_gnss_reference`` (primary, stable_area,
best_overlap; ``--offset-model`` for the primary tie), the pipeline is run without a report,
with the configuration's own methods unless ``--fast`` sets linear resampling, kriging and the
linear gridding as the only baseline. Printed per run, from ``validation.json``:

* ``heldout``: held-out-block RMSE (mm) and held-out velocity RMSE (mm/yr) of each product
  (5 folds of blocks an eighth of the extent, the run's ``validation`` settings);
* ``truth`` (simulated cases): field, pattern and common-mode RMSE (mm) and velocity RMSE
  (mm/yr) of the fused product;
* ``reference``: the area (or ties) chosen; ``motion_mm_yr``, the velocity of the reference
  area relative to the primary's own reference (for ``primary``: of the most stable block
  relative to it), the limit it is held to and the moving flag.

Run: ``python benchmarks/bench_reference.py CONFIG [CONFIG ...] [--modes ...]
[--offset-model lowpass linear raw] [--drop-gnss] [--fast] [--aps none ...]
[--out /tmp/bench_reference] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from insarfusion.config import load_config
from insarfusion.log import setup_logging
from insarfusion.pipeline import run


def configure(path: Path, mode: str, model: str | None, drop_gnss: bool, fast: bool,
              aps: str | None):
    """The configuration with one no-GNSS reference option."""
    cfg = load_config(path)
    if drop_gnss:
        cfg.gnss = None
    if fast:
        cfg.temporal.method = "linear"
        cfg.spatial.method = "kriging"
        cfg.spatial.baselines = ["linear"]
    cfg.datum.no_gnss_reference = mode
    if model:
        cfg.datum.offset_model = model
    if aps:
        cfg.atmosphere.method = aps
    return cfg


def summary(v: dict) -> dict:
    """Held-out, truth and reference scores of one run's validation."""
    out = {"heldout": {m: [r["rmse_mm"], r.get("velocity_rmse_mm_yr")]
                       for m, r in v.get("holdout_blocks", {}).items()}}
    truth = v.get("truth", {}).get("synergic")
    if truth:
        field, pattern = truth["field_rmse_mm"], truth["field_pattern_rmse_mm"]
        out["truth"] = {"field": field, "pattern": pattern,
                        "common": round(math.sqrt(max(field**2 - pattern**2, 0.0)), 3),
                        "velocity": truth.get("velocity_rmse_mm_yr")}
    ref = v.get("datum_reference", {})
    out["reference"] = {
        "mode": ref.get("mode"),
        "area": {k: ref["area"][k] for k in ("x", "y", "lon", "lat")} if "area" in ref else None,
        "ties": ref.get("ties"),
        "motion_mm_yr": (ref.get("motion") or {}).get("velocity_mm_yr"),
        "limit_mm_yr": (ref.get("motion") or {}).get("limit_mm_yr"),
        "moving": (ref.get("motion") or {}).get("moving")}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--modes", nargs="+", default=["primary", "stable_area",
                                                        "best_overlap"])
    parser.add_argument("--offset-model", nargs="+", default=[None],
                        help="datum.offset_model of the primary tie (default the config's)")
    parser.add_argument("--drop-gnss", action="store_true", help="run without the GNSS")
    parser.add_argument("--fast", action="store_true", help="linear + kriging")
    parser.add_argument("--aps", help="atmosphere.method (default the config's)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_reference"))
    parser.add_argument("--json", type=Path, help="append the rows to this file")
    args = parser.parse_args()
    setup_logging(verbose=False)
    for path in args.configs:
        for mode in args.modes:
            for model in (args.offset_model if mode == "primary" else [None]):
                cfg = configure(path, mode, model, args.drop_gnss, args.fast, args.aps)
                label = f"{path.parent.name}_{mode}_{model or 'default'}"
                t0 = time.perf_counter()
                v = run(cfg, args.out / label, force=True, report=False)
                row = {"case": path.parent.name, "mode": mode,
                       "offset_model": cfg.datum.offset_model, "aps": cfg.atmosphere.method,
                       "seconds": round(time.perf_counter() - t0, 1), **summary(v)}
                print(json.dumps(row), flush=True)
                if args.json:
                    with args.json.open("a") as f:
                        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
