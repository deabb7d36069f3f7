"""GNSS screening on the simulator's stations: injected outliers found, good epochs lost.

``insarfusion.simulate.simulate_case(seed)`` gives 11 stations with weekly positions, white
noise (1.5 mm horizontal, 4 mm vertical), gaps and two outliers per station (15–30 mm in a
random 3-D direction). Each case is screened with the defaults; the table counts the injected
outliers removed, the good epochs removed with them, and the steps found (there are none).
Then, on the same stations, one epoch of one station gets a 1 km spike and another station a
20 mm east step, and the velocity RMSE of the stations against their true ENU rates is
computed on the raw, spiked and screened series.

Run: ``python benchmarks/bench_gnss_screening.py [--seeds 0 5]``.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from insarfusion.dataset import gnss_dataset
from insarfusion.gnss_screening import screen_gnss
from insarfusion.series import linear_rate
from insarfusion.simulate import CRS, simulate_case


def stations(g, enu):
    return gnss_dataset(enu[0], enu[1], enu[2], g.dates, stations=g.names, x=g.x, y=g.y,
                        crs=CRS)


def velocity_rmse(ds, g):
    """RMS over stations and components of the velocity error (mm/yr) against the truth."""
    errors = [linear_rate(g.dates, ds[c].values) - linear_rate(g.dates, g.truth_enu[k])
              for k, c in enumerate(("east", "north", "up"))]
    return float(np.sqrt(np.nanmean(np.square(errors))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 5])
    args = parser.parse_args()
    logging.getLogger("insarfusion").setLevel(logging.ERROR)
    print("| seed | epochs | injected outliers | removed of them | good epochs removed | steps "
          "found | vel. RMSE raw | with spike+step | screened (mm/yr) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        g = simulate_case(seed, 1).gnss
        observed = g.observed_enu
        _, report = screen_gnss(stations(g, observed))
        removed = report.removed.values
        valid = np.isfinite(observed).all(axis=0)
        spiked = observed.copy()
        spiked[2, 2, 100] += 1.0e6                 # a 1 km spike at the third station
        spiked[0, 4, 120:] += 20.0                 # a 20 mm east step at the fifth
        screened, rep2 = screen_gnss(stations(g, spiked))
        n_steps = int((rep2.flags["kind"] == "step").sum())
        print(f"| {seed} | {int(valid.sum())} | {int(g.outlier.sum())} | "
              f"{int((removed & g.outlier).sum())} | {int((removed & ~g.outlier).sum())} | "
              f"{int((report.flags['kind'] == 'step').sum())} (then {n_steps} with the step) | "
              f"{velocity_rmse(stations(g, observed), g):.2f} | "
              f"{velocity_rmse(stations(g, spiked), g):.2f} | "
              f"{velocity_rmse(screened, g):.2f} |")


if __name__ == "__main__":
    main()
