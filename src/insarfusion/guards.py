"""Guards run before expensive steps: refuse work that cannot fit, with a message saying why.

:func:`check_grid_size` compares the memory of the gridded cubes (cells x epochs x datasets)
with the memory available, before anything is gridded. It is called with the extent of the
points (metres, working CRS), the cell size (metres), the number of common epochs and of
datasets.
"""

from __future__ import annotations

import math
import os

from .errors import StageError

#: Bytes per value of a gridded cube (float64).
BYTES_PER_VALUE = 8

#: Cubes held per dataset while gridding and fusing: the dataset's own channel, its mask and
#: the fused products (a deliberately generous count, so that the guard errs on the safe side
#: only for grids far beyond the machine).
CUBES_PER_DATASET = 2

#: Share of the available memory a grid may take.
MEMORY_SHARE = 0.8


def available_memory_bytes() -> int | None:
    """Memory available to this process, bytes; None when it cannot be told.

    Linux's ``MemAvailable``, else the free physical pages.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def grid_bytes(extent, cell_size_m: float, n_epochs: int, n_datasets: int) -> tuple[int, int]:
    """Cells of a grid over ``extent`` and the bytes of its cubes.

    Parameters
    ----------
    extent : tuple of float
        ``(xmin, xmax, ymin, ymax)``, metres in the working CRS.
    cell_size_m : float
        Cell size, metres.
    n_epochs : int
        Common epochs.
    n_datasets : int
        Datasets gridded.

    Returns
    -------
    cells : int
        ``nx * ny``.
    nbytes : int
        ``cells * n_epochs * n_datasets * CUBES_PER_DATASET * BYTES_PER_VALUE``.
    """
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    nx = math.floor((xmax - xmin) / cell_size_m) + 1
    ny = math.floor((ymax - ymin) / cell_size_m) + 1
    cells = nx * ny
    return cells, cells * int(n_epochs) * max(int(n_datasets), 1) * CUBES_PER_DATASET * \
        BYTES_PER_VALUE


def check_grid_size(extent, cell_size_m: float, n_epochs: int, n_datasets: int,
                    available: int | None = None) -> int:
    """Refuse a grid whose cubes cannot fit in memory, before gridding.

    Parameters
    ----------
    extent, cell_size_m, n_epochs, n_datasets
        As in :func:`grid_bytes` (the extent being that of the points).
    available : int, optional
        Bytes available; default :func:`available_memory_bytes`.

    Returns
    -------
    int
        The estimated bytes of the cubes.

    Raises
    ------
    StageError
        Naming the extent (km), the cell size (m), the grid (cells), the epochs and datasets,
        and the estimated and available GB, when the estimate exceeds
        :data:`MEMORY_SHARE` of what is available.
    """
    if not (math.isfinite(cell_size_m) and cell_size_m > 0):
        raise StageError(f"cell size {cell_size_m!r} m is not a positive number")
    bounds = [float(v) for v in extent]
    if not all(math.isfinite(v) for v in bounds):
        raise StageError(f"extent {bounds} of the points is not finite")
    cells, nbytes = grid_bytes(bounds, cell_size_m, n_epochs, n_datasets)
    available = available_memory_bytes() if available is None else available
    if available is not None and nbytes > MEMORY_SHARE * available:
        xmin, xmax, ymin, ymax = bounds
        raise StageError(
            f"the grid does not fit in memory: extent {(xmax - xmin) / 1e3:.1f} x "
            f"{(ymax - ymin) / 1e3:.1f} km at cell size {cell_size_m:g} m is {cells:,} cells; "
            f"x {n_epochs} epochs x {n_datasets} datasets needs about {nbytes / 1e9:.1f} GB, "
            f"{available / 1e9:.1f} GB are available. Use a larger spatial.cell_size_m, "
            "fewer epochs (time.step_days, time.start/end) or check the coordinates")
    return nbytes


def check_run_grid(inputs, spatial_cfg, n_epochs: int, available: int | None = None) -> int:
    """:func:`check_grid_size` for a run: the points' extent, the configured cell size.

    Parameters
    ----------
    inputs : insarfusion.load.Inputs
        The loaded datasets (``x``/``y`` in metres).
    spatial_cfg : insarfusion.config.SpatialConfig
        ``cell_size_m``; with ``"auto"`` the smallest of ``cell_size_candidates_m`` (the
        largest grid that may be chosen).
    n_epochs, available
        As in :func:`check_grid_size`.

    Returns
    -------
    int
        What :func:`check_grid_size` returns; it raises as that does.
    """
    from .load import extent

    cell = spatial_cfg.cell_size_m
    if cell == "auto":
        cell = min(spatial_cfg.cell_size_candidates_m)
    return check_grid_size(extent(inputs), float(cell), n_epochs, len(inputs.datasets),
                           available=available)


def check_holdout_blocks(inputs, validation_cfg) -> int:
    """Refuse more held-out folds than there are spatial blocks holding points.

    The blocks are those of the held-out validation (side ``holdout_block_m``, default an
    eighth of the larger side of the points' extent), counted as
    :func:`insarfusion.estimators.spatial_blocks` forms them.

    Parameters
    ----------
    inputs : insarfusion.load.Inputs
        The loaded datasets (``x``/``y`` in metres).
    validation_cfg : insarfusion.config.ValidationConfig
        ``holdout_folds`` and ``holdout_block_m``.

    Returns
    -------
    int
        The number of blocks holding points (0 when held-out validation is off).

    Raises
    ------
    ConfigError
        Naming the key ``validation.holdout_folds``, the folds, the blocks and their side (m).
    """
    import numpy as np

    from .errors import ConfigError

    folds = validation_cfg.holdout_folds
    if folds < 2:
        return 0
    x = np.concatenate([ds["x"].values for ds in inputs.datasets.values()])
    y = np.concatenate([ds["y"].values for ds in inputs.datasets.values()])
    block = validation_cfg.holdout_block_m or max(np.ptp(x), np.ptp(y)) / 8.0
    if not block > 0:
        raise ConfigError(f"{folds} held-out folds, but all points lie at one place",
                          where="key 'validation.holdout_folds'")
    bx = np.floor((x - x.min()) / block).astype(np.int64)
    by = np.floor((y - y.min()) / block).astype(np.int64)
    blocks = int(np.unique(bx * (by.max() + 1) + by).size)
    if folds > blocks:
        raise ConfigError(f"{folds} held-out folds, but the points fill only {blocks} blocks "
                          f"of {block:.0f} m: use at most {blocks} folds, smaller blocks "
                          "(validation.holdout_block_m) or 0 to turn it off",
                          where="key 'validation.holdout_folds'")
    return blocks


__all__ = ["available_memory_bytes", "check_grid_size", "check_holdout_blocks",
           "check_run_grid", "grid_bytes"]
