"""Benchmark of the spatial interpolators and the CNN: wall time and accuracy of gridding.

Synthetic points (a smooth, growing deformation field plus white noise) over a square of about
2.1 km, gridded at 20.22 m (104 x 104 cells) for every epoch with each method of
:mod:`insarfusion.spatial`, next to PyKrige's ordinary kriging (``n_closest_points``, backend
``loop``, one epoch timed and extrapolated) and :func:`scipy.interpolate.griddata` (linear, all
epochs in one call) on the same data in the same run.

Accuracy: the points of one fold of spatial blocks (:func:`insarfusion.model_selection.spatial_blocks`)
are withheld; the RMSE is taken against the noise-free field at the cell centres inside the
withheld blocks, over all epochs (PyKrige: its one epoch, the last). insarfusion's methods are
scored by :func:`insarfusion.model_selection.cross_val_score`, which fits a fresh copy on the
training points and predicts every cell centre (the gridding's work, timed with the fit).

The CNN (:class:`insarfusion.cnn.CNNFusion`, Table 3 layers) is trained self-supervised on the
same training points for ``--cnn-epochs`` passes (the demo's profile by default: 3) and
predicts every epoch once per blind-spot view, without MC-dropout sampling; its wall time is
training plus inference.

Run: ``python benchmarks/bench_spatial.py [--sizes 1000 10000 100000] [--epochs 115]
[--cnn-epochs 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from scipy.interpolate import griddata

from insarfusion.grid import cell_centres, make_grid
from insarfusion.metrics import rmse
from insarfusion.model_selection import cross_val_score, spatial_blocks
from insarfusion.spatial import (
    IDWInterpolator,
    KrigingInterpolator,
    LinearInterpolator,
    NearestInterpolator,
)

SIDE_M = 2100.0
CELL_M = 20.22
NOISE_MM = 1.5
BLOCK_M = 250.0
K_KRIGING = 16
# PyKrige builds the full (n+1)^2 kriging matrix even for a moving window; a few copies of it
# are alive at once
PYKRIGE_MAX_BYTES = 6e9


def truth(x, y, years):
    """Noise-free LOS displacement (mm) at points (n,) and epochs (n_time,): (n, n_time)."""
    bowl = np.exp(-(((x - 1200.0) / 350.0) ** 2 + ((y - 900.0) / 500.0) ** 2))
    ripple = np.sin(x / 260.0) * np.cos(y / 310.0)
    rate = -25.0 * bowl + 4.0 * ripple  # mm/yr
    seasonal = 3.0 * np.cos(y / 700.0)  # mm
    return (rate[:, None] * years[None, :]
            + seasonal[:, None] * np.sin(2 * np.pi * years)[None, :])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


class TrainThenCells:
    """One split for cross_val_score: fit on the training points, predict every cell centre.

    The coordinates are the training points followed by the cell centres; the data at the
    cells is the noise-free field inside the withheld blocks and NaN elsewhere, so only the
    withheld cells are scored.
    """

    n_splits = 1

    def __init__(self, n_train, n_cells):
        self.n_train, self.n_cells = n_train, n_cells

    def split(self, coordinates):
        yield np.arange(self.n_train), self.n_train + np.arange(self.n_cells)


def run(n_points, n_epochs, seed=0, cnn_epochs=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, SIDE_M, n_points)
    y = rng.uniform(0, SIDE_M, n_points)
    years = np.arange(n_epochs) * 12 / 365.25
    data = truth(x, y, years) + NOISE_MM * rng.normal(size=(n_points, n_epochs))

    g = make_grid(0, SIDE_M - 1e-6, 0, SIDE_M - 1e-6, cell_size=CELL_M)
    cx, cy = cell_centres(g)
    # one fold of blocks withheld; points and cells share the block origin
    folds = spatial_blocks(np.r_[x, cx], np.r_[y, cy], BLOCK_M, n_folds=5, seed=seed)
    train = folds[:n_points] != 0
    held_cells = folds[n_points:] == 0
    true_cells = truth(cx[held_cells], cy[held_cells], years)  # (m, n_time)
    xt, yt, dt = x[train], y[train], data[train]
    # the training points, then every cell centre with the truth inside the withheld blocks
    scored_on = (np.r_[xt, cx], np.r_[yt, cy])
    truth_at_cells = np.full((cx.size, n_epochs), np.nan)
    truth_at_cells[held_cells] = true_cells
    scored_data = np.vstack([dt, truth_at_cells])
    cv = TrainThenCells(xt.size, cx.size)

    rows = []
    methods = {
        "nearest": NearestInterpolator(),
        "idw": IDWInterpolator(k=8),
        "linear": LinearInterpolator(),
        "kriging spherical": KrigingInterpolator(k=K_KRIGING, seed=seed),
        "kriging gaussian": KrigingInterpolator(variogram_model="gaussian", k=K_KRIGING,
                                                seed=seed),
    }
    if cnn_epochs > 0:
        from insarfusion.cnn import CNNFusion

        methods[f"cnn ({cnn_epochs} epochs)"] = CNNFusion(cell_size_m=CELL_M, epochs=cnn_epochs,
                                                          mc_samples=0, seed=seed)
    for name, model in methods.items():
        scored, seconds = timed(lambda model=model: cross_val_score(model, scored_on,
                                                                    scored_data, cv))
        rows.append((f"insarfusion {name}", seconds, scored.rmse, ""))

    flat, seconds = timed(lambda: griddata(np.column_stack([xt, yt]), dt, (cx, cy),
                                           method="linear"))
    rows.append(("scipy griddata linear", seconds, rmse(flat[held_cells] - true_cells), ""))

    n_train = int(train.sum())
    matrix_bytes = 4 * 8.0 * (n_train + 1) ** 2
    if matrix_bytes <= PYKRIGE_MAX_BYTES:
        from pykrige.ok import OrdinaryKriging

        def pykrige_one_epoch():
            ok = OrdinaryKriging(xt, yt, dt[:, -1], variogram_model="spherical", nlags=12)
            z, _ = ok.execute("points", cx, cy, n_closest_points=K_KRIGING, backend="loop")
            return np.asarray(z)

        z, seconds = timed(pykrige_one_epoch)
        rows.append(("PyKrige OK (1 epoch, x n_time)", seconds * n_epochs,
                     rmse(z[held_cells] - true_cells[:, -1]),
                     f"1 epoch {seconds:.2f} s; RMSE at the last epoch"))
    else:
        rows.append(("PyKrige OK", float("nan"), float("nan"),
                     f"infeasible: full kriging matrix ~{matrix_bytes / 1e9:.0f} GB"))
    return rows, g.sizes["y"], g.sizes["x"], n_train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--epochs", type=int, default=115)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cnn-epochs", type=int, default=3, help="0 leaves the CNN out")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"{args.epochs} epochs, cell {CELL_M} m, noise {NOISE_MM} mm")
    print("| points (train) | grid | method | wall time (s) | held-out RMSE (mm) | note |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        rows, ny, nx, n_train = run(n, args.epochs, seed=args.seed, cnn_epochs=args.cnn_epochs)
        for name, seconds, error, note in rows:
            print(f"| {n} ({n_train}) | {ny}x{nx} | {name} | {seconds:.3g} | {error:.3f} | {note} |",
                  flush=True)


if __name__ == "__main__":
    main()
