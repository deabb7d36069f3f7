"""The CNN product's error against the truth as a function of its training epochs.

The CNN's validation loss (hidden observed cells) keeps falling for tens of epochs; this
measures whether the product follows. On a simulated case (``insarfusion simulate DIR``) the
run's stages up to the datum run once (the configured LSTM included); then, for each seed and
each number of epochs, the CNN is trained for exactly that many epochs (no early stop) on
the same inputs and the fused product is scored against the truth the way the run scores it
(``truth_scoring.truth_section``: field, pattern and common-mode RMSE, mm). Kriging and linear
gridding on the same inputs are the reference rows.

Run: ``python benchmarks/bench_cnn_epochs.py CONFIG [--epochs 3 10 30] [--seeds 0 1]
[--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from insarfusion import parallel, pipeline, truth_scoring
from insarfusion.config import load_config

#: The stages the CNN's inputs come from.
INPUT_STAGES = 6


def _scores(state, methods) -> dict:
    """Fuse with ``methods`` (the first the product) and score each against the truth."""
    cfg = state.cfg.spatial
    cfg.method, cfg.baselines = methods[0], list(methods[1:])
    state.products, state.product_std, state._velocities = {}, {}, {}
    pipeline.run_spatial(state)
    scored = truth_scoring.truth_section(state.products, state.truth, state.velocity)
    scored[methods[0]] = scored.pop("synergic")  # the run names its product "synergic"
    keys = ("field_rmse_mm", "field_pattern_rmse_mm", "field_common_mode_rmse_mm",
            "velocity_rmse_mm_yr")
    return {m: {k: round(s[k], 3) for k in keys if k in s} for m, s in scored.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 10, 30])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()

    cfg = load_config(args.config)
    if cfg.truth is None:
        parser.error(f"{args.config} names no truth: use a simulated case")
    rows = []
    with parallel.execution(scratch=Path(tempfile.mkdtemp(prefix="bench_cnn_epochs_"))):
        state = pipeline.RunState(cfg=cfg)
        for _, stage in pipeline.STAGES[:INPUT_STAGES]:
            stage(state)
        for seed in args.seeds:
            state.cfg.seed = seed
            reference = _scores(state, ("kriging", "linear"))
            for name, scores in reference.items():
                rows.append({"seed": seed, "method": name, **scores})
                print(rows[-1], flush=True)
            for epochs in args.epochs:
                cnn = state.cfg.spatial.cnn
                cnn.epochs, cnn.patience = epochs, epochs + 1
                tic = time.perf_counter()
                scores = _scores(state, ("cnn",))["cnn"]
                rows.append({"seed": seed, "method": "cnn", "epochs": epochs,
                             "seconds": round(time.perf_counter() - tic, 1), **scores})
                print(rows[-1], flush=True)
        state.truth.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
