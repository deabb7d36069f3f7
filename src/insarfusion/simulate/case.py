"""A whole simulated case: simulated in memory (:func:`simulate_case`) and written to a folder.

:func:`write_case` simulates the datasets, the stations and the truth from one seed and writes
the input files, ``config.yaml``, ``truth.nc`` and ``README.md`` atomically (into a temporary
sibling folder renamed into place); :func:`case_summary` says what a case holds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import InputError
from ..timegrid import common_epochs
from .formats import write_case_files
from .motion import TruthModel
from .scene import SceneGeometry
from .sensors import SENSORS, simulate_points
from .stations import SimulatedGnss, simulate_gnss
from .truth import truth_dataset


@dataclass
class SimulatedCase:
    """Everything a case folder holds, in memory."""

    seed: int
    scale: float
    scene: SceneGeometry
    model: TruthModel
    datasets: dict
    gnss: SimulatedGnss
    epochs: np.ndarray
    truth: xr.Dataset


def simulate_case(seed: int = 0, scale: float = 1.0) -> SimulatedCase:
    """Simulate the datasets, the stations and the truth (nothing is written).

    Parameters
    ----------
    seed : int
        Seed of the single random generator.
    scale : float
        Area and point-count factor (1: the 1.5 × 1.5 km scene, ~1,000 points per sensor).
    """
    rng = np.random.default_rng(seed)
    scene = SceneGeometry(float(scale))
    model = TruthModel(scene)
    stations_xy = scene.station_xy()
    datasets = {spec.name: simulate_points(rng, spec, scene, model, stations_xy)
                for spec in SENSORS}
    gnss = simulate_gnss(rng, scene, model)
    epochs = common_epochs({k: v.dates for k, v in datasets.items()}, step_days=12)
    truth = truth_dataset(scene, model, datasets, gnss, epochs, seed=seed, scale=scale)
    return SimulatedCase(seed=int(seed), scale=float(scale), scene=scene, model=model,
                         datasets=datasets, gnss=gnss, epochs=epochs, truth=truth)


def write_case(out, seed: int = 0, scale: float = 1.0, force: bool = False) -> str:
    """Simulate a case and write it to the folder ``out``.

    The folder receives ``csk_psi.csv`` (wide CSV), ``s1a_sbas.csv`` (EGMS L2b CSV),
    ``gnss/<station>.tenv3`` (NGL), ``config.yaml``, ``truth.nc`` and ``README.md``. It is
    written into a temporary sibling folder first and renamed into place, so that a failure
    leaves nothing half-written.

    Parameters
    ----------
    out : path-like
        The case folder; must not exist or be empty unless ``force``.
    seed : int
        Random seed; one seed gives byte-identical input files.
    scale : float
        Multiplies the area and the number of points (stations stay 11).
    force : bool
        Replace an existing non-empty folder.

    Returns
    -------
    str
        A short human summary of what was written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError("folder exists and is not empty (use --force to replace it)", out)
    case = simulate_case(seed=seed, scale=scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        written = write_case_files(case, staging)
        os.chmod(staging, 0o755)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, trash / "case")
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return case_summary(case, out, written)


def case_summary(case: SimulatedCase, out, written) -> str:
    """A few lines saying what a case holds."""
    lines = [f"simulated Cuenca-like case (seed {case.seed}, scale {case.scale:g}) in {out}:"]
    for name, ds in case.datasets.items():
        lines.append(f"  {name}: {ds.ids.size} points, {ds.dates.size} acquisitions "
                     f"{ds.dates[0]}..{ds.dates[-1]} ({ds.spec.band} band {ds.spec.technique})")
    g = case.gnss
    lines.append(f"  GNSS: {len(g.names)} stations ({', '.join(g.names)}), weekly "
                 f"{g.dates[0]}..{g.dates[-1]}")
    t = case.truth
    lines.append(f"  truth: {t.sizes['time']} common epochs {case.epochs[0]}..{case.epochs[-1]}"
                 f" on a {t.sizes['y']} x {t.sizes['x']} grid of "
                 f"{t.attrs['cell_size']:g} m")
    lines.append(f"  files: {', '.join(written)}")
    return "\n".join(lines)
