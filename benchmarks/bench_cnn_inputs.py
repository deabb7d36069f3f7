"""Peak memory of the CNN's gridded inputs (``CNNFusion._grid_inputs``).

Usage: ``python benchmarks/bench_cnn_inputs.py [POINTS] [SIDE_M]``. Random points of two
datasets over a square of ``SIDE_M`` metres, 113 epochs with 30 % of the values missing,
gridded at 20 m as the CNN grids them. Prints the grid, the size of the arrays returned and
the peak of the memory numpy allocated on the way (``tracemalloc``), MB. The defaults are
the K = 10 case's size (17k points, 237 × 237 cells); ten times the points on a square
3.16 times wider is K = 100's.
"""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np

from insarfusion.cnn import CNNFusion
from insarfusion.estimators import check_point_data


def main():
    """Print the peak memory of gridding and normalising the inputs."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 17000
    side = float(sys.argv[2]) if len(sys.argv) > 2 else 4700.0
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n, 113)).cumsum(axis=1)
    values[rng.random(values.shape) < 0.3] = np.nan
    labels = np.where(rng.random(n) < 0.5, "A", "B")
    x, y, values, _, labels = check_point_data(
        (rng.uniform(0, side, n), rng.uniform(0, side, n)), values, labels)
    estimator = CNNFusion()
    tracemalloc.start()
    normalised, observed, _ = estimator._grid_inputs(x, y, values, labels)
    peak = tracemalloc.get_traced_memory()[1]
    print(f"grid {estimator.grid_.sizes['y']} x {estimator.grid_.sizes['x']}, arrays returned "
          f"{(normalised.nbytes + observed.nbytes) / 1e6:.0f} MB, peak {peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
