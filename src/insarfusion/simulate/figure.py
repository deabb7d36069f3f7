"""The figure of a simulated case: the true LOS velocity and the two sampled datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .formats import CSK_FILE, S1A_FILE, TRUTH_FILE
from .truth import load_truth

_KM = 1000.0


def _overlay(ax, truth, gx, gy, cx, cy):
    """Highway (dashed), landslide outlines (black) and stations (gold: references) on ``ax``."""
    road = truth["land_cover"].values == 2
    slides = truth["landslide"].values
    ax.contour(gx, gy, road.astype(float), levels=[0.5], colors="0.4", linewidths=0.6,
               linestyles="--")
    for k in (1, 2):
        ax.contour(gx, gy, (slides == k).astype(float), levels=[0.5], colors="k",
                   linewidths=1.0)
    sx = (truth["station_x"].values - cx) / _KM
    sy = (truth["station_y"].values - cy) / _KM
    ref = truth["station_role"].values == "reference"
    ax.scatter(sx[~ref], sy[~ref], marker="^", s=60, c="#39c", edgecolors="k", zorder=5)
    ax.scatter(sx[ref], sy[ref], marker="^", s=70, c="gold", edgecolors="k", zorder=5)
    for name, x, y in zip(truth["station"].values, sx, sy, strict=True):
        ax.annotate(str(name), (x, y), xytext=(4, 4), textcoords="offset points",
                    fontsize=7)
    ax.set_aspect("equal")
    ax.set_xlabel("east of scene centre (km)")


def plot_case(case_dir, path) -> Path:
    """Draw the figure of a case folder written by :func:`~insarfusion.simulate.write_case`.

    Three panels: the true LOS velocity (S1A geometry) with landslide outlines and stations,
    and the CSK and S1A points coloured by the velocity in their files.

    Parameters
    ----------
    case_dir : path-like
        The case folder (reads ``truth.nc``, ``csk_psi.csv`` and ``s1a_sbas.csv``).
    path : path-like
        The PNG to write; its folder is created.

    Returns
    -------
    pathlib.Path
        The path of the PNG written. Velocities are mm/yr, positive toward the satellite;
        axes are km from the scene centre.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    case_dir, path = Path(case_dir), Path(path)
    truth = load_truth(case_dir / TRUTH_FILE)
    cx = float(truth["x"].values.mean())
    cy = float(truth["y"].values.mean())
    norm = TwoSlopeNorm(vmin=-30.0, vcenter=0.0, vmax=15.0)
    csk_v = pd.read_csv(case_dir / CSK_FILE, usecols=["velocity"])["velocity"].to_numpy()
    s1a_v = pd.read_csv(case_dir / S1A_FILE, usecols=["mean_velocity"])[
        "mean_velocity"].to_numpy()

    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), sharex=True, sharey=True,
                             constrained_layout=True)
    gx = (truth["x"].values - cx) / _KM
    gy = (truth["y"].values - cy) / _KM
    image = axes[0].pcolormesh(gx, gy, truth["velocity"].values, cmap="RdBu_r", norm=norm,
                               shading="nearest")
    axes[0].set_title("truth: LOS velocity (S1A geometry)")
    panels = ((axes[1], "CSK", csk_v, "CSK PSI (X band)"),
              (axes[2], "S1A", s1a_v, "S1A SBAS (C band)"))
    for ax, name, vel, title in panels:
        ax.scatter((truth[f"{name}_x"].values - cx) / _KM,
                   (truth[f"{name}_y"].values - cy) / _KM,
                   c=vel, s=4, cmap="RdBu_r", norm=norm, linewidths=0)
        ax.set_title(f"{title}: {vel.size} points, file velocity")
    for ax in axes:
        _overlay(ax, truth, gx, gy, cx, cy)
    axes[0].set_ylabel("north of scene centre (km)")
    fig.colorbar(image, ax=axes, shrink=0.85, label="LOS velocity (mm/yr, + toward satellite)")
    fig.suptitle("Simulated Cuenca-like case: landslide outlines (black), highway (dashed), "
                 "GNSS stations (gold: references)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
