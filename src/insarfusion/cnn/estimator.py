"""The CNN fusion estimator (see :mod:`insarfusion.cnn` for the method)."""

from __future__ import annotations

import time as _time
import warnings

import numpy as np

from ..errors import InputError
from ..estimators import SpatialInterpolator, check_coordinates, check_point_data
from ..grid import DEFAULT_CELL_SIZE, make_grid, points_to_grid, sample
from ..log import logger
from ..parallel import current_client, scratch_file
from ..torchutil import compute_dtype, import_torch, resolve_device, seeded, threads
from .inference import fuse
from .network import FILL_SIGMAS, build_network
from .training import Patches, train_network


class CNNFusion(SpatialInterpolator):
    """Fuse point datasets on a grid with a self-supervised CNN (Khalili et al. 2024, Table 3).

    Parameters
    ----------
    cell_size_m : float
        Grid cell size, metres (Table 3: 20.22 m).
    conv_layers : int
        Number of 5×5 encoder convolutions; only 3 (Table 3) is implemented.
    filters : int
        Filters per convolution (Table 3: 64).
    kernel_size : int
        Side of the encoder kernels, cells (Table 3: 5).
    dropout : float
        Dropout rate after every convolution; also used for MC-dropout at inference.
    learning_rate : float
        Adam learning rate (the paper gives none for the CNN). 3e-3 trains in fewer epochs
        than 1e-3, with a lower error against the truth on the simulated demo case
        (``benchmarks/README.md``).
    batch_size : int
        Patches per optimisation step (Table 3: 32).
    epochs : int
        Maximum passes over the training patches (Table 3: 100).
    patience : int
        Early stopping: passes without improvement of the validation loss.
    patch_size : int
        Side of the training patches, cells (multiple of 4); half of it is the context
        margin of inference tiles.
    tile_size : int
        Side of the kept core of inference tiles, cells; larger tiles waste less on margins.
    n_patches : int
        Patches drawn (random epoch and place), split 80/10/10 into train/validation/test.
    hide_blocks : int
        Random squares hidden per training patch (side 1 to ``patch_size // 4`` cells).
    visible_weight : float
        Weight of the error on visible observed cells in the loss (hidden cells weigh 1).
    blind_spot : bool
        Predict observed cells from their neighbours only (four interleaved views), see the
        module notes. If False, one view with all cells visible; then give ``visible_weight``
        a positive value, or the network is never trained on cells it can see.
    temporal_context : bool
        Add per dataset the mean over epochs of its normalised values (and its mask) as input
        channels: a low-noise picture of the deformation pattern (hidden where the epoch's
        cells are hidden).
    mc_samples : int
        Stochastic passes (dropout on) at inference; the product is their mean and
        ``fused_std_`` their standard deviation. With ``blind_spot`` the passes cycle through
        the four views, at least twice (observed cells are sampled only by the views hiding
        them, so by ``mc_samples / 4`` passes). ``0`` (default) or ``1``: one deterministic
        pass per view, no uncertainty (``fused_std_`` is NaN), half the inference time of
        2–8 samples. The MC std measures the network's variability, not its error (on the
        simulated demo 8 % of cells lay within it of the truth), and a run's product std is
        calibrated on held-out data either way (:mod:`insarfusion.calibration`); the
        deterministic mean scored as well as the MC mean (``benchmarks/README.md``).
    max_train_seconds : float or None
        Training stops after this wall-clock time (then the run depends on the machine's
        speed; leave it unreached for bit-reproducible runs).
    seed : int
        Seeds patch drawing, hidden blocks, initial weights and dropout.
    device : {"auto", "cpu", "cuda"} or str
        ``"auto"``: CUDA when available, else CPU.
    precision : {"auto", "bf16", "fp32"}
        What the network computes its activations in (weights and losses stay float32):
        ``"auto"`` is bfloat16 where the device computes it natively, about three times
        faster on such CPUs at no measured loss of accuracy
        (:func:`insarfusion.torchutil.compute_dtype`).
    pad : int
        Cells added around the points' extent when building the grid.
    progress : bool, optional
        Progress: a tqdm bar (True), none (False), or None: a bar when stderr is a terminal,
        else a log line with the share done and the ETA every few seconds.
    n_threads : int, optional
        Torch CPU threads during training and inference in this process (restored
        afterwards); default: :func:`insarfusion.torchutil.default_threads`.

    Attributes
    ----------
    grid_ : xarray.Dataset
        The grid (:func:`~insarfusion.grid.make_grid`).
    fused_ : xarray.DataArray
        Fused field, mm, dims (time, y, x), or (y, x) when ``data`` was 1-D.
    fused_std_ : xarray.DataArray
        MC-dropout standard deviation of the fused field, mm, same dims (NaN if not sampled).
    history_ : dict
        ``train_loss`` and ``val_loss``: per epoch run (normalised units); ``best_epoch``:
        the 0-based epoch whose weights were kept; ``train_seconds``, ``predict_seconds``.
    best_epoch_ : int
        ``history_["best_epoch"]``.
    test_rmse_mm_ : float
        RMSE on the hidden observed cells of the test patches, mm.
    network_ : torch.nn.Module
        The trained network.
    datasets_ : list of str
        The dataset (group) of each input channel pair.
    center_, scale_ : ndarray, shape (n_time,)
        Per-epoch centre and scale of the normalisation, mm.
    """

    provides_std = True
    parallel_predict = False
    learned = True

    def __init__(self, cell_size_m=DEFAULT_CELL_SIZE, conv_layers=3, filters=64, kernel_size=5,
                 dropout=0.1, learning_rate=3e-3, batch_size=32, epochs=100, patience=10,
                 patch_size=64, tile_size=256, n_patches=320, hide_blocks=12, visible_weight=0.0,
                 blind_spot=True, temporal_context=True, mc_samples=0, max_train_seconds=None,
                 seed=0, device="auto", precision="auto", pad=2, progress=None, n_threads=None):
        self.cell_size_m = cell_size_m
        self.conv_layers = conv_layers
        self.filters = filters
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.patch_size = patch_size
        self.tile_size = tile_size
        self.n_patches = n_patches
        self.hide_blocks = hide_blocks
        self.visible_weight = visible_weight
        self.blind_spot = blind_spot
        self.temporal_context = temporal_context
        self.mc_samples = mc_samples
        self.max_train_seconds = max_train_seconds
        self.seed = seed
        self.device = device
        self.precision = precision
        self.pad = pad
        self.progress = progress
        self.n_threads = n_threads

    def _check_params(self):
        if self.conv_layers != 3:
            raise InputError(f"CNNFusion implements 3 convolutional layers, got {self.conv_layers}")
        if self.patch_size < 8 or self.patch_size % 4:
            raise InputError(f"patch_size must be a multiple of 4 and at least 8, got {self.patch_size}")
        if self.kernel_size % 2 == 0:
            raise InputError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.tile_size < 1:
            raise InputError(f"tile_size must be positive, got {self.tile_size}")
        if not self.blind_spot and self.visible_weight <= 0:
            logger.warning("CNN fusion: blind_spot=False with visible_weight=0 leaves visible "
                           "cells untrained")
        if self.n_patches < 10:
            raise InputError(f"n_patches must be at least 10 (80/10/10 split), got {self.n_patches}")

    def _grid_inputs(self, x, y, values, labels):
        """Grid every dataset; set ``grid_``, ``datasets_``, ``center_``, ``scale_``.

        Returns
        -------
        normalised, observed : ndarray, shape (T, D, ny, nx), float32
            Normalised values (0 where not observed) and observation masks.
        empty_epochs : ndarray of bool, shape (T,)
        """
        self.grid_ = make_grid(x.min(), x.max(), y.min(), y.max(), cell_size=self.cell_size_m,
                               pad=self.pad)
        self.datasets_ = sorted({str(g) for g in labels})
        label_str = labels.astype(str)
        # filled and normalised one dataset at a time: at 185k points on a 742 × 742 × 113
        # grid each (T, ny, nx) float64 array is 0.5 GB, and whole-stack temporaries add up
        gridded = np.empty((values.shape[1], len(self.datasets_), self.grid_.sizes["y"],
                            self.grid_.sizes["x"]))
        for d, name in enumerate(self.datasets_):
            at = label_str == name
            gridded[:, d] = points_to_grid(self.grid_, x[at], y[at], values[at])[0]
        observed = np.isfinite(gridded)
        self.center_, self.scale_ = _epoch_scaling(gridded)
        normalised = np.empty(gridded.shape, dtype=np.float32)
        for d in range(gridded.shape[1]):
            dataset = gridded[:, d]
            dataset -= self.center_[:, None, None]
            dataset /= self.scale_[:, None, None]
            normalised[:, d] = np.where(observed[:, d], dataset, 0.0)
        del gridded
        empty_epochs = ~observed.any(axis=(1, 2, 3))
        self._context = (_temporal_context(normalised, observed) if self.temporal_context
                         else _no_context(normalised))
        if empty_epochs.any():
            logger.warning("CNN fusion: %d of %d epochs have no data; their fused field is NaN",
                           int(empty_epochs.sum()), empty_epochs.size)
        logger.info("CNN fusion: %d datasets (%s) on a %d x %d grid, %d epochs",
                    len(self.datasets_), ", ".join(self.datasets_), self.grid_.sizes["y"],
                    self.grid_.sizes["x"], empty_epochs.size)
        return normalised, observed.astype(np.float32), empty_epochs

    def fit(self, coordinates, data, groups=None):
        """Grid every dataset, train the network, and fuse every epoch on the whole grid.

        The inference runs in bands of rows on the Dask client of the enclosing
        :func:`insarfusion.parallel.execution` (in this process without one) and, for several
        epochs, is written to its scratch folder (``cnn_fused.nc`` and ``cnn_fused_std.nc``;
        ``fused_`` and ``fused_std_`` are then lazy views of them), else kept in memory.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)`` of the points, metres, each (n,).
        data : array_like, shape (n,) or (n, n_time)
            Displacement, mm; NaN where a point has no value at an epoch.
        groups : array_like, shape (n,), optional
            Dataset label of each point; one pair of input channels per label.

        Returns
        -------
        self
        """
        self._check_params()
        x, y, values, single, labels = check_point_data(coordinates, data, groups)
        if not np.isfinite(values).any():
            raise InputError("data contain no finite value")
        normalised, observed, empty_epochs = self._grid_inputs(x, y, values, labels)
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.seed)
        with seeded(self.seed, device), threads(self.n_threads):
            n_channels = len(self.datasets_) + len(self._context[0])
            net = build_network(import_torch(), 2 * n_channels + 2 * len(FILL_SIGMAS),
                                self.filters, self.kernel_size, self.dropout,
                                compute_dtype(self.precision, device)).to(device)
            patches = Patches(normalised, observed, self._context, ~empty_epochs,
                              self.patch_size, self.n_patches, self.hide_blocks, rng, device)
            self.history_, self.test_rmse_mm_ = train_network(net, patches, rng, self)
        del patches
        self.best_epoch_ = self.history_["best_epoch"]
        start = _time.perf_counter()
        with threads(self.n_threads):
            mean, std = fuse(net, self, normalised, observed, empty_epochs, device,
                             client=current_client(),
                             store=None if single else scratch_file("cnn_fused.nc"))
        self.history_["predict_seconds"] = _time.perf_counter() - start
        logger.info("CNN fusion: inference on %d epochs took %.1f s", empty_epochs.size,
                    self.history_["predict_seconds"])
        self.network_ = net
        if single:
            mean, std = (field.isel(time=0, drop=True) for field in (mean, std))
        self.fused_ = mean
        self.fused_std_ = std
        return self

    def predict(self, coordinates, return_std=False):
        """Sample the fused field (and its std) bilinearly at points.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)``, metres, each (m,). Points beyond the outermost cell centres take the
            edge value.
        return_std : bool
            Also return the MC-dropout std sampled the same way (NaN where not sampled).

        Returns
        -------
        values : ndarray, shape (m,) or (m, n_time)
            Displacement, mm.
        std : ndarray, same shape
            Only with ``return_std``.
        """
        self._check_fitted("fused_")
        x, y = check_coordinates(coordinates)
        values = sample(self.fused_, x, y, outside="edge")
        if not return_std:
            return values
        return values, sample(self.fused_std_, x, y, outside="edge")


def _no_context(normalised):
    empty = np.zeros((0,) + normalised.shape[2:], dtype=np.float32)
    return empty, empty


def _temporal_context(normalised, observed):
    """Per-dataset mean over epochs of the normalised values and where it exists.

    Averaging many epochs lowers the noise of the deformation pattern; the network sees it
    beside each epoch's own values. Hidden cells are hidden here too, so nothing of a
    hidden cell reaches the input.
    """
    count = observed.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, normalised.sum(axis=0) / count, 0.0)
    return mean.astype(np.float32), (count > 0).astype(np.float32)


#: Epochs at a time in :func:`_epoch_scaling` (its temporaries are a block's size).
_SCALING_BLOCK = 8


def _epoch_scaling(gridded):
    """Per-epoch centre (median) and scale (RMS deviation from it) of observed cells, mm."""
    flat = gridded.reshape(gridded.shape[0], -1)
    center = np.empty(flat.shape[0])
    scale = np.empty(flat.shape[0])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for start in range(0, flat.shape[0], _SCALING_BLOCK):
            block = slice(start, start + _SCALING_BLOCK)
            center[block] = np.nanmedian(flat[block], axis=1)
            scale[block] = np.sqrt(np.nanmean((flat[block] - center[block, None]) ** 2, axis=1))
    center = np.nan_to_num(center)
    scale = np.nan_to_num(scale)
    floor = max(0.1 * float(scale.max()), 1e-3)
    return center, np.maximum(scale, floor)
