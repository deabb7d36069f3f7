"""LOS projection of CSK onto S1A on the simulated case: each method against the truth.

For every CSK point, the true velocity in CSK's own LOS times the projection factor is compared
with the true velocity in S1A's LOS (mm/yr): what the projection alone gets wrong, free of noise,
atmosphere and referencing.

Run: ``python benchmarks/bench_projection.py [--seed 0]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from insarfusion.config import load_config
from insarfusion.load import load_inputs
from insarfusion.project import METHODS, project_to_primary
from insarfusion.simulate import dataset_truth, load_truth, write_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "case"
        write_case(case, seed=args.seed)
        cfg = load_config(case / "config.yaml")
        inputs = load_inputs(cfg)
        truth = dataset_truth(load_truth(cfg.truth), "CSK")
        csk, s1a = inputs.datasets["CSK"], inputs.datasets["S1A"]
        own = truth["velocity"].sel(point=csk["point"].values).values
        target = truth["primary_velocity"].sel(point=csk["point"].values).values
        print("| method | velocity RMSE (mm/yr) | mean error (mm/yr) |")
        print("|---|---|---|")
        e = own - target
        print(f"| none (CSK LOS taken as S1A's) | {np.sqrt(np.mean(e**2)):.2f} | {e.mean():+.2f} |")
        for method in METHODS:
            factor = project_to_primary(csk, s1a, method=method)["projection_factor"].values
            e = own * factor - target
            print(f"| {method} | {np.sqrt(np.mean(e**2)):.2f} | {e.mean():+.2f} |")


if __name__ == "__main__":
    main()
