"""CNN spatial fusion of several point datasets onto one grid (paper §4.2.3, Table 3).

:class:`CNNFusion` follows the :class:`~insarfusion.estimators.SpatialInterpolator` protocol.
Each dataset's points are resampled onto the grid for every epoch (bilinear weights,
:func:`~insarfusion.grid.points_to_grid`); a fully convolutional network reads, per dataset, the
resampled value and its observation mask, plus a multi-scale normalised-convolution fill of
all datasets together, and returns one fused field per epoch.

Training is self-supervised. In each training patch (random epoch, random place) square blocks
of observed cells are hidden from the input, in every dataset at once, and the network predicts
them; the loss is the mean squared error on the hidden observed cells (plus, optionally, a
weighted error on the visible ones). Patches are split 80/10/10 into training, validation (early
stopping) and test (``test_rmse_``) sets.

Deviations from the paper's Table 3, and why
--------------------------------------------
* Table 3's three 5×5 convolutions of 64 filters with max pooling and a fully connected layer
  return one value, not a field. Here the three 5×5/64 convolutions form the encoder of a small
  U-shaped network (2×2 max pooling after the first and second), and the decoder upsamples
  bilinearly and merges each skip connection with a 1×1 convolution, so that any grid size gives
  a full-resolution field and inference can be tiled.
* The network predicts a residual over a fixed (not learned) fill: normalised convolution of
  the visible cells with Gaussians of 1, 3 and 8 cells, blended from coarse to fine by their
  local data weight. The fill is also given as input channels. The output layer starts at
  zero, so the untrained network returns the fill and training only adds what lowers the
  error on hidden cells (from random output weights, a 3-epoch training on the demo case
  ended 1.2 mm worse against the truth).
* Blind-spot inference (``blind_spot=True``): the network is only trained to predict cells it
  cannot see, so at inference the observed cells are hidden in four interleaved views
  (2×2-cell checkerboard of four colours) and each cell keeps the prediction of the views in
  which it was hidden. Noise of single cells is then not copied into the product.

Values are normalised per epoch (median and RMS deviation of the observed cells, the scale
floored at 10 % of the largest epoch's) so that one network serves every epoch.
"""

from __future__ import annotations

import contextlib
import time as _time
from pathlib import Path

import numpy as np

from .errors import InputError
from .estimators import SpatialInterpolator
from .grid import DEFAULT_CELL_SIZE, make_grid, points_to_grid
from .log import logger

#: Gaussian widths (cells) of the normalised-convolution fill, fine to coarse.
FILL_SIGMAS = (1.0, 3.0, 8.0)

#: Relative data weight at which a finer fill scale takes over half of the coarser one.
_FILL_CONFIDENCE = 0.05

#: Memory (bytes) the network's activations may take in one inference forward pass; the
#: tiles per pass are set from it, so inference memory does not grow with the batch size.
INFERENCE_BYTES = 512 * 2**20

#: Side (cells) of the checkerboard blocks hidden in turn by blind-spot inference.
_VIEW_BLOCK = 2
_N_VIEWS = 4


def _gaussian_kernel(torch, sigma, device):
    radius = int(np.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum(), radius


def _smooth(torch, images, sigma):
    """Separable Gaussian blur of (B, C, H, W) images, zero outside (no data there)."""
    fn = torch.nn.functional
    kernel, radius = _gaussian_kernel(torch, sigma, images.device)
    b, c, h, w = images.shape
    flat = images.reshape(b * c, 1, h, w)
    flat = fn.conv2d(flat, kernel.view(1, 1, 1, -1), padding=(0, radius))
    flat = fn.conv2d(flat, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return flat.reshape(b, c, h, w)


def _features(torch, values, masks, n_data):
    """Input channels and the fill the network's output is added to.

    Parameters
    ----------
    values, masks : torch.Tensor, shape (B, C, H, W)
        Normalised values (0 where not visible) and visibility masks (0/1): the first
        ``n_data`` channels are the datasets at the epoch, any further ones context channels.
    n_data : int
        Number of dataset channels; only these make the fill.

    Returns
    -------
    inputs : torch.Tensor, shape (B, 2 C + 2 len(FILL_SIGMAS), H, W)
        Values, masks, then per scale the fill and its relative data weight.
    base : torch.Tensor, shape (B, 1, H, W)
        The coarse-to-fine blended fill (normalised units).
    """
    weight = masks[:, :n_data].sum(dim=1, keepdim=True)
    total = (values[:, :n_data] * masks[:, :n_data]).sum(dim=1, keepdim=True)
    stacked = torch.cat([total, weight], dim=1)
    channels = [values, masks]
    base = None
    for sigma in FILL_SIGMAS[::-1]:  # coarse first; finer scales override where data are close
        smooth = _smooth(torch, stacked, sigma)
        conf = smooth[:, 1:2]
        fill = smooth[:, 0:1] / conf.clamp_min(1e-6)
        fill = torch.where(conf > 1e-6, fill, torch.zeros_like(fill))
        if base is None:
            base = fill
        else:
            alpha = conf / (conf + _FILL_CONFIDENCE)
            base = alpha * fill + (1 - alpha) * base
        channels += [fill, conf.clamp_max(1.0)]
    return torch.cat(channels, dim=1), base


def _torch_device(torch, device):
    """``device`` as a torch device; ``"auto"`` is the GPU where there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _build_network(torch, in_channels, filters, kernel_size, dropout):
    """The U-shaped network: three kernel×kernel convolutions, two max poolings, skips."""
    nn = torch.nn
    fn = torch.nn.functional
    pad = kernel_size // 2

    class FusionNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = nn.Conv2d(in_channels, filters, kernel_size, padding=pad)
            self.enc2 = nn.Conv2d(filters, filters, kernel_size, padding=pad)
            self.enc3 = nn.Conv2d(filters, filters, kernel_size, padding=pad)
            self.merge2 = nn.Conv2d(2 * filters, filters, 1)
            self.merge1 = nn.Conv2d(2 * filters, filters, 1)
            self.head = nn.Conv2d(filters, 1, 1)
            # the untrained network returns the fill unchanged; training adds what helps
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            e1 = self.drop(fn.relu(self.enc1(x)))
            e2 = self.drop(fn.relu(self.enc2(fn.max_pool2d(e1, 2))))
            e3 = self.drop(fn.relu(self.enc3(fn.max_pool2d(e2, 2))))
            up3 = fn.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False)
            d2 = self.drop(fn.relu(self.merge2(torch.cat([up3, e2], dim=1))))
            up2 = fn.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False)
            d1 = self.drop(fn.relu(self.merge1(torch.cat([up2, e1], dim=1))))
            return self.head(d1)

    return FusionNet()


def _random_blocks(rng, n, size, n_blocks, max_block):
    """Boolean (n, size, size) masks of ``n_blocks`` random squares of side 1..max_block."""
    side = rng.integers(1, max_block + 1, size=(n, n_blocks, 1, 1))
    row0 = rng.integers(-max_block + 1, size, size=(n, n_blocks, 1, 1))
    col0 = rng.integers(-max_block + 1, size, size=(n, n_blocks, 1, 1))
    cells = np.arange(size)
    in_rows = (cells[:, None] >= row0) & (cells[:, None] < row0 + side)
    in_cols = (cells[None, :] >= col0) & (cells[None, :] < col0 + side)
    return (in_rows & in_cols).any(axis=1)


def _view_colours(ny, nx):
    """Checkerboard colour (0..3) of each cell for blind-spot inference."""
    rows = (np.arange(ny) // _VIEW_BLOCK) % 2
    cols = (np.arange(nx) // _VIEW_BLOCK) % 2
    return rows[:, None] * 2 + cols[None, :]


class CNNFusion(SpatialInterpolator):
    """Fuse point datasets on a grid with a self-supervised CNN (Khalili et al. 2024, Table 3).

    Parameters
    ----------
    cell_size : float
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
        Adam learning rate.
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
        them, so by ``mc_samples / 4`` passes). ``0`` or ``1``: one deterministic pass per
        view, no uncertainty (``fused_std_`` is NaN).
    max_train_seconds : float or None
        Training stops after this wall-clock time (then the run depends on the machine's
        speed; leave it unreached for bit-reproducible runs).
    seed : int
        Seeds patch drawing, hidden blocks, initial weights and dropout.
    device : {"auto", "cpu", "cuda"} or str
        ``"auto"``: CUDA when available, else CPU.
    pad : int
        Cells added around the points' extent when building the grid.
    progress : bool
        Show progress bars (tqdm).

    Attributes
    ----------
    grid_ : xarray.Dataset
        The grid (:func:`~insarfusion.grid.make_grid`).
    fused_ : xarray.DataArray
        Fused field, mm, dims (time, y, x), or (y, x) when ``data`` was 1-D.
    fused_std_ : xarray.DataArray
        MC-dropout standard deviation of the fused field, mm, same dims (NaN if not sampled).
    history_ : dict
        ``train_loss`` and ``val_loss`` per epoch (normalised units), ``train_seconds``,
        ``predict_seconds``, ``best_epoch``.
    test_rmse_ : float
        RMSE on the hidden observed cells of the test patches, mm.
    datasets_ : list of str
        The dataset (group) of each input channel pair.
    """

    def __init__(self, cell_size=DEFAULT_CELL_SIZE, conv_layers=3, filters=64, kernel_size=5,
                 dropout=0.1, learning_rate=1e-3, batch_size=32, epochs=100, patience=10,
                 patch_size=64, tile_size=256, n_patches=320, hide_blocks=12, visible_weight=0.0,
                 blind_spot=True, temporal_context=True, mc_samples=8, max_train_seconds=None,
                 seed=0, device="auto", pad=2, progress=False):
        self.cell_size = cell_size
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
        self.pad = pad
        self.progress = progress

    # ------------------------------------------------------------------ input preparation
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

    @staticmethod
    def _check_inputs(coordinates, data, groups):
        try:
            x, y = (np.asarray(c, dtype=float).ravel() for c in coordinates)
        except (TypeError, ValueError) as exc:
            raise InputError(f"coordinates must be (x, y) arrays in metres: {exc}") from exc
        values = np.asarray(data, dtype=float)
        single = values.ndim == 1
        values = values[:, None] if single else values
        if values.ndim != 2 or values.shape[0] != x.size or y.size != x.size:
            raise InputError(f"data must have shape ({x.size},) or ({x.size}, n_time), "
                             f"got {np.shape(data)} with {x.size} x and {y.size} y")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise InputError("coordinates contain NaN or infinite values")
        labels = (np.zeros(x.size, dtype=object) if groups is None
                  else np.asarray(groups, dtype=object).ravel())
        if labels.size != x.size:
            raise InputError(f"groups must have {x.size} labels, got {labels.size}")
        return x, y, values, single, labels

    # ------------------------------------------------------------------------ fitting
    def fit(self, coordinates, data, groups=None, client=None, store=None):
        """Grid every dataset, train the network, and fuse every epoch on the whole grid.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)`` of the points, metres, each (n,).
        data : array_like, shape (n,) or (n, n_time)
            Displacement, mm; NaN where a point has no value at an epoch.
        groups : array_like, shape (n,), optional
            Dataset label of each point; one pair of input channels per label.
        client : distributed.Client, optional
            Run the inference's bands on this Dask client's workers (same result).
        store : path-like, optional
            Write the fused field (``n_time > 1``) to this NetCDF file band by band, its std
            beside it, and keep ``fused_`` / ``fused_std_`` as lazy views of them
            (:mod:`insarfusion.cubes`).

        Returns
        -------
        self
        """
        import torch

        self._check_params()
        x, y, values, single, labels = self._check_inputs(coordinates, data, groups)
        if not np.isfinite(values).any():
            raise InputError("data contain no finite value")
        self.grid_ = make_grid(x.min(), x.max(), y.min(), y.max(), cell_size=self.cell_size,
                               pad=self.pad)
        self.datasets_ = sorted({str(g) for g in labels})
        label_str = labels.astype(str)
        gridded = np.stack([points_to_grid(self.grid_, x[label_str == name], y[label_str == name],
                                           values[label_str == name])[0]
                            for name in self.datasets_], axis=1)  # (T, D, ny, nx)
        observed = np.isfinite(gridded)
        n_time = gridded.shape[0]
        self.center_, self.scale_ = self._epoch_scaling(gridded)
        normalised = np.where(observed, (gridded - self.center_[:, None, None, None])
                              / self.scale_[:, None, None, None], 0.0).astype(np.float32)
        del gridded
        empty_epochs = ~observed.any(axis=(1, 2, 3))
        self._context = self._temporal_context(normalised, observed)
        if empty_epochs.any():
            logger.warning("CNN fusion: %d of %d epochs have no data; their fused field is NaN",
                           int(empty_epochs.sum()), n_time)
        logger.info("CNN fusion: %d datasets (%s) on a %d x %d grid, %d epochs",
                    len(self.datasets_), ", ".join(self.datasets_), self.grid_.sizes["y"],
                    self.grid_.sizes["x"], n_time)

        device = _torch_device(torch, self.device)
        forked = [device.index or 0] if device.type == "cuda" else []
        observed = observed.astype(np.float32)
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(self.seed)
            n_channels = len(self.datasets_) + len(self._context[0])
            net = _build_network(torch, 2 * n_channels + 2 * len(FILL_SIGMAS),
                                 self.filters, self.kernel_size, self.dropout).to(device)
            self._train(torch, net, normalised, observed, ~empty_epochs, device)
        start = _time.perf_counter()
        mean, std = self._fuse(net, normalised, observed, empty_epochs, device, client=client,
                               store=None if single else store)
        self.history_["predict_seconds"] = _time.perf_counter() - start
        logger.info("CNN fusion: inference on %d epochs took %.1f s", n_time,
                    self.history_["predict_seconds"])
        self.network_ = net
        if single:
            mean, std = (field.isel(time=0, drop=True) for field in (mean, std))
        self.fused_ = mean
        self.fused_std_ = std
        return self

    def _temporal_context(self, normalised, observed):
        """Per-dataset mean over epochs of the normalised values and where it exists.

        Averaging many epochs lowers the noise of the deformation pattern; the network sees it
        beside each epoch's own values. Hidden cells are hidden here too, so nothing of a
        hidden cell reaches the input.
        """
        if not self.temporal_context:
            empty = np.zeros((0,) + normalised.shape[2:], dtype=np.float32)
            return empty, empty
        count = observed.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, normalised.sum(axis=0) / count, 0.0)
        return mean.astype(np.float32), (count > 0).astype(np.float32)

    @staticmethod
    def _epoch_scaling(gridded):
        """Per-epoch centre (median) and scale (RMS deviation from it) of observed cells, mm."""
        flat = gridded.reshape(gridded.shape[0], -1)
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            center = np.nanmedian(flat, axis=1)
            scale = np.sqrt(np.nanmean((flat - center[:, None]) ** 2, axis=1))
        center = np.nan_to_num(center)
        scale = np.nan_to_num(scale)
        floor = max(0.1 * float(scale.max()), 1e-3)
        return center, np.maximum(scale, floor)

    def _draw_patches(self, rng, usable_epochs, shape):
        """(epoch, row0, col0) of ``n_patches`` patches on the padded grid, all inside it."""
        epochs = np.flatnonzero(usable_epochs)
        ny, nx = shape
        p = self.patch_size
        return np.stack([rng.choice(epochs, self.n_patches),
                         rng.integers(0, ny - p + 1, self.n_patches),
                         rng.integers(0, nx - p + 1, self.n_patches)], axis=1)

    def _padded(self, normalised, observed):
        """Pad the grid with empty cells so a patch fits and tiles keep a margin of context."""
        p = self.patch_size
        ny, nx = normalised.shape[-2:]
        margin = p // 4
        extra_y = max(0, p - ny)
        extra_x = max(0, p - nx)
        widths = ((0, 0), (0, 0), (margin + extra_y // 2, margin + extra_y - extra_y // 2),
                  (margin + extra_x // 2, margin + extra_x - extra_x // 2))
        return np.pad(normalised, widths), np.pad(observed, widths), widths

    def _patch_batch(self, torch, values, masks, context, starts, hidden, device, augment=None):
        """Tensors of a batch: visible inputs, fill, targets, target masks of hidden/visible."""
        p = self.patch_size
        rows = starts[:, 1, None] + np.arange(p)
        cols = starts[:, 2, None] + np.arange(p)
        index = (starts[:, 0, None, None, None], np.arange(values.shape[1])[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :])
        context_values, context_masks = context
        context_index = (np.arange(context_values.shape[0])[None, :, None, None],
                         rows[:, None, :, None], cols[:, None, None, :])
        target = torch.from_numpy(np.concatenate(
            [values[index], context_values[context_index]], axis=1)).to(device)
        obs = torch.from_numpy(np.concatenate(
            [masks[index], context_masks[context_index]], axis=1)).to(device)
        hide = torch.from_numpy(hidden[:, None].astype(np.float32)).to(device)
        if augment is not None:
            k, flip = augment
            target, obs, hide = (torch.rot90(t, k, dims=(2, 3)) for t in (target, obs, hide))
            if flip:
                target, obs, hide = (torch.flip(t, dims=(3,)) for t in (target, obs, hide))
        visible = obs * (1 - hide)
        n_data = values.shape[1]
        inputs, base = _features(torch, target * visible, visible, n_data)
        return (inputs, base, target[:, :n_data], (obs * hide)[:, :n_data],
                visible[:, :n_data])

    def _loss(self, net, batch):
        """MSE on hidden observed cells (+ weighted MSE on visible ones), and their count."""
        inputs, base, target, hidden_obs, visible = batch
        pred = base + net(inputs)
        sq = (pred - target) ** 2
        hidden_loss = (sq * hidden_obs).sum() / hidden_obs.sum().clamp_min(1.0)
        if self.visible_weight > 0:
            visible_loss = (sq * visible).sum() / visible.sum().clamp_min(1.0)
            return hidden_loss + self.visible_weight * visible_loss, hidden_obs.sum()
        return hidden_loss, hidden_obs.sum()

    def _train(self, torch, net, normalised, observed, usable_epochs, device):
        """Fit the network on seeded patches with early stopping; sets history_, test_rmse_."""
        rng = np.random.default_rng(self.seed)
        values, masks, widths = self._padded(normalised, observed)
        context = tuple(np.pad(c, ((0, 0),) + widths[2:]) for c in self._context)
        starts = self._draw_patches(rng, usable_epochs, values.shape[-2:])
        order = rng.permutation(self.n_patches)
        n_val = max(1, int(round(0.1 * self.n_patches)))
        test_idx, val_idx, train_idx = (order[:n_val], order[n_val:2 * n_val],
                                        order[2 * n_val:])
        max_block = max(1, self.patch_size // 4)
        fixed_hidden = _random_blocks(rng, self.n_patches, self.patch_size, self.hide_blocks,
                                      max_block)
        optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate)

        def evaluate(indices):
            net.eval()
            total, count = 0.0, 0.0
            with torch.no_grad():
                for b in range(0, indices.size, self.batch_size):
                    chunk = indices[b:b + self.batch_size]
                    batch = self._patch_batch(torch, values, masks, context, starts[chunk],
                                              fixed_hidden[chunk], device)
                    loss, n = self._loss(net, batch)
                    total += float(loss) * float(n)
                    count += float(n)
            return total / max(count, 1.0)

        history = {"train_loss": [], "val_loss": []}
        best_loss, best_state, best_epoch, waited = np.inf, None, -1, 0
        start = _time.perf_counter()
        epochs = range(self.epochs)
        if self.progress:
            from tqdm.auto import tqdm
            epochs = tqdm(epochs, desc="CNN training", unit="epoch")
        for epoch in epochs:
            net.train()
            shuffled = rng.permutation(train_idx)
            hidden = _random_blocks(rng, shuffled.size, self.patch_size, self.hide_blocks,
                                    max_block)
            running, steps = 0.0, 0
            for b in range(0, shuffled.size, self.batch_size):
                if (self.max_train_seconds is not None and steps
                        and _time.perf_counter() - start > self.max_train_seconds):
                    break  # budget spent: validate what this epoch has learned, then stop
                chunk = slice(b, b + self.batch_size)
                augment = (int(rng.integers(4)), bool(rng.integers(2)))
                batch = self._patch_batch(torch, values, masks, context, starts[shuffled[chunk]],
                                          hidden[chunk], device, augment)
                loss, _ = self._loss(net, batch)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                running += float(loss.detach())
                steps += 1
            history["train_loss"].append(running / max(steps, 1))
            val_loss = evaluate(val_idx)
            history["val_loss"].append(val_loss)
            if val_loss < best_loss - 1e-6:
                best_loss, best_epoch, waited = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
            elapsed = _time.perf_counter() - start
            if waited >= self.patience:
                logger.info("CNN fusion: early stop after epoch %d", epoch + 1)
                break
            if self.max_train_seconds is not None and elapsed > self.max_train_seconds:
                logger.warning("CNN fusion: training budget of %.0f s reached after epoch %d",
                               self.max_train_seconds, epoch + 1)
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        history["train_seconds"] = _time.perf_counter() - start
        history["best_epoch"] = best_epoch
        # test loss is in normalised units; convert with each test patch's epoch scale
        test_sq, test_n = 0.0, 0.0
        net.eval()
        with torch.no_grad():
            for b in range(0, test_idx.size, self.batch_size):
                chunk = test_idx[b:b + self.batch_size]
                inputs, base, target, hidden_obs, _ = self._patch_batch(
                    torch, values, masks, context, starts[chunk], fixed_hidden[chunk], device)
                scale = torch.from_numpy(self.scale_[starts[chunk, 0]].astype(np.float32))
                err = (base + net(inputs) - target) * scale.to(device)[:, None, None, None]
                test_sq += float((err ** 2 * hidden_obs).sum())
                test_n += float(hidden_obs.sum())
        self.test_rmse_ = float(np.sqrt(test_sq / test_n)) if test_n else float("nan")
        self.history_ = history
        logger.info("CNN fusion: trained %d epochs in %.1f s (best %d, validation loss %.4f, "
                    "test RMSE %.2f mm)", len(history["train_loss"]), history["train_seconds"],
                    best_epoch + 1, best_loss, self.test_rmse_)

    # ---------------------------------------------------------------------- inference
    def _fuse(self, net, normalised, observed, empty_epochs, device, client=None, store=None):
        """The fused mean and MC-dropout std (mm) on the grid, one band of rows at a time.

        A band is one row of inference tiles (``tile_size`` rows). Its input is the band with a
        halo of ``patch_size // 2`` rows (the tiles' context margin) plus the reach of the
        widest fill Gaussian, so every kept cell sees what it would see on the whole grid.
        Bands run in this process or on a Dask client's workers (the network's weights are
        sent once) and are written away as they come, to ``store`` (``<stem>_std.nc`` beside
        it) when given; each band seeds its own dropout, so the result does not depend on where
        or in which order the bands run.

        Returns
        -------
        mean, std : xarray.DataArray, dims (time, y, x)
            mm; Dask-backed with ``store``.
        """
        from . import cubes
        from .parallel import for_each_result

        n_time, _, ny, nx = normalised.shape
        halo = self.patch_size // 2 + int(np.ceil(3 * max(FILL_SIGMAS)))
        colours = _view_colours(ny, nx)
        bands = [slice(r0, min(r0 + self.tile_size, ny)) for r0 in range(0, ny, self.tile_size)]
        windows = [slice(max(band.start - halo, 0), min(band.stop + halo, ny)) for band in bands]
        chunks = [{"index": k, "values": normalised[..., w, :], "masks": observed[..., w, :],
                   "context": tuple(c[..., w, :] for c in self._context),
                   "colours": colours[w], "core": slice(band.start - w.start,
                                                        band.stop - w.start)}
                  for k, (band, w) in enumerate(zip(bands, windows, strict=True))]
        spec = {"network": (net.enc1.in_channels, self.filters, self.kernel_size, self.dropout,
                            {k: v.detach().cpu() for k, v in net.state_dict().items()}),
                "tile_size": self.tile_size, "margin": self.patch_size // 2,
                "batch_size": self.batch_size, "mc_samples": self.mc_samples,
                "blind_spot": self.blind_spot, "seed": self.seed,
                "device": str(device) if client is None else self.device,
                "center": self.center_, "scale": self.scale_, "empty": empty_epochs}
        paths = ((None, None) if store is None else
                 (Path(store), Path(store).with_name(f"{Path(store).stem}_std.nc")))
        sinks = [cubes.new_cube(path, np.arange(n_time), self.grid_["y"].values,
                                self.grid_["x"].values, name=name,
                                attrs={"units": "mm", "long_name": long_name},
                                rows=self.tile_size)
                 for path, name, long_name in zip(
                     paths, ("fused", "fused_std"),
                     ("fused displacement", "fused displacement MC-dropout std"), strict=True)]
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(bands), desc="CNN inference", unit="band")

        def consume(k, result):
            for sink, field in zip(sinks, result, strict=True):
                sink.write(bands[k], field)
            if bar is not None:
                bar.update()

        try:
            for_each_result(_infer_band, chunks, consume, client, spec=spec)
        except BaseException:
            for sink in sinks:
                sink.__exit__(RuntimeError, None, None)
            raise
        finally:
            if bar is not None:
                bar.close()
        return [sink.close() for sink in sinks]

    # ---------------------------------------------------------------------- prediction
    def grid(self):
        """The fused field on the whole grid, mm (DataArray (time, y, x) or (y, x))."""
        self._check_fitted("fused_")
        return self.fused_

    def predict(self, coordinates):
        """Sample the fused field bilinearly at points.

        Parameters
        ----------
        coordinates : tuple of array_like
            ``(x, y)``, metres, each (m,). Points beyond the outermost cell centres take the
            edge value.

        Returns
        -------
        ndarray, shape (m,) or (m, n_time)
            Displacement, mm.
        """
        self._check_fitted("fused_")
        x, y = (np.asarray(c, dtype=float).ravel() for c in coordinates)
        gx = self.grid_["x"].values
        gy = self.grid_["y"].values
        cell = float(self.grid_.attrs["cell_size"])
        fc = np.clip((x - gx[0]) / cell, 0, gx.size - 1)
        fr = np.clip((gy[0] - y) / cell, 0, gy.size - 1)
        c0 = np.minimum(np.floor(fc).astype(np.int64), max(gx.size - 2, 0))
        r0 = np.minimum(np.floor(fr).astype(np.int64), max(gy.size - 2, 0))
        c1 = np.minimum(c0 + 1, gx.size - 1)
        r1 = np.minimum(r0 + 1, gy.size - 1)
        # only the rows the points need are read (fused_ may be a lazy view of a file)
        first = int(r0.min()) if r0.size else 0
        field = np.asarray(self.fused_.isel(y=slice(first, int(r1.max(initial=first)) + 1))
                           .values, dtype=float)
        field = field[None] if field.ndim == 2 else field
        tc = (fc - c0)[:, None]
        tr = (fr - r0)[:, None]
        r0, r1 = r0 - first, r1 - first
        top = field[:, r0, c0].T * (1 - tc) + field[:, r0, c1].T * tc
        bottom = field[:, r1, c0].T * (1 - tc) + field[:, r1, c1].T * tc
        out = top * (1 - tr) + bottom * tr
        return out[:, 0] if self.fused_.ndim == 2 else out


def _infer_band(band, spec):
    """Fused mean and std (mm) of one band of rows, shape (T, rows, nx) each.

    ``band`` holds the band's window (the band and its halo): normalised values and masks
    (T, D, rows, nx), the temporal context, the blind-spot colours and ``core``, the band's
    rows within the window. ``spec`` holds the network (constructor arguments and weights)
    and the inference settings. Runs wherever it is sent (a Dask worker included); the
    dropout is seeded from the run's seed and the band's index.
    """
    import torch

    in_channels, filters, kernel_size, dropout, weights = spec["network"]
    device = _torch_device(torch, spec["device"])
    net = _build_network(torch, in_channels, filters, kernel_size, dropout).to(device)
    net.load_state_dict(weights)
    values, masks = band["values"], band["masks"]
    n_time, n_data, _, nx = values.shape
    core = band["core"]
    colours = band["colours"]
    n_views = _N_VIEWS if spec["blind_spot"] else 1
    stochastic = spec["mc_samples"] > 1
    # every cell needs two stochastic samples at least for a standard deviation
    n_passes = (n_views * max(2 if n_views > 1 else spec["mc_samples"],
                              -(-spec["mc_samples"] // n_views))
                if stochastic else n_views)
    rows = core.stop - core.start
    mean = np.zeros((n_time, rows, nx))
    sq = np.zeros((n_time, rows, nx))
    count = np.zeros((n_time, rows, nx))
    context_values = torch.from_numpy(band["context"][0]).to(device)
    context_masks = torch.from_numpy(band["context"][1]).to(device)
    # epochs per chunk: bound the window's feature stack to about 64 M floats
    per_epoch = values.shape[2] * nx * (2 * (n_data + len(context_values))
                                        + 2 * len(FILL_SIGMAS) + 2)
    chunk = max(1, min(n_time, 64_000_000 // per_epoch))
    # tiles per forward pass: bound the network's activations (about eight live maps of
    # `filters` channels over a tile and its margins) to INFERENCE_BYTES
    side = min(spec["tile_size"] + 2 * spec["margin"], max(values.shape[2], nx))
    per_tile = 8 * filters * side ** 2 * 4
    batch = int(max(1, min(spec["batch_size"], INFERENCE_BYTES // per_tile)))
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked), torch.no_grad():
        torch.manual_seed(int(spec["seed"]) * 100_003 + int(band["index"]))
        net.train(stochastic)  # dropout on for MC sampling
        for k in range(n_passes):
            view = k % n_views
            hide = (colours == view) if n_views > 1 else np.zeros(colours.shape, dtype=bool)
            hide_t = torch.from_numpy(hide.astype(np.float32)).to(device)
            for t0 in range(0, n_time, chunk):
                vals = torch.from_numpy(values[t0:t0 + chunk]).to(device)
                obs = torch.from_numpy(masks[t0:t0 + chunk]).to(device)
                n_chunk = vals.shape[0]
                vals = torch.cat([vals, context_values.expand(n_chunk, -1, -1, -1)], dim=1)
                obs = torch.cat([obs, context_masks.expand(n_chunk, -1, -1, -1)], dim=1)
                visible = obs * (1 - hide_t)
                inputs, base = _features(torch, vals * visible, visible, n_data)
                # the network runs on the band's rows only; the halo gives their context
                pred = base[:, 0, core] + _tiled(torch, net, inputs, spec["tile_size"],
                                                 spec["margin"], batch, rows=core)
                pred = pred.cpu().numpy().astype(float)
                obs_any = masks[t0:t0 + chunk, :, core].any(axis=1)
                # observed cells count only when hidden; unobserved cells in every view
                use = (~obs_any) | hide[core]
                mean[t0:t0 + chunk] += np.where(use, pred, 0.0)
                sq[t0:t0 + chunk] += np.where(use, pred ** 2, 0.0)
                count[t0:t0 + chunk] += use
    with np.errstate(invalid="ignore", divide="ignore"):
        mean /= count
        var = sq / count - mean ** 2
        std = np.sqrt(np.clip(var, 0, None) * count / (count - 1))
    if not stochastic:
        std[:] = np.nan
    mean = mean * spec["scale"][:, None, None] + spec["center"][:, None, None]
    std = std * spec["scale"][:, None, None]
    mean[spec["empty"]] = np.nan
    std[spec["empty"]] = np.nan
    return mean, std


def _tiled(torch, net, inputs, tile_size, margin, batch_size, rows=None):
    """Network output over the rows ``rows`` (default all) of a grid, in overlapping tiles.

    Each tile is a ``tile_size`` core plus a ``margin`` of cells on each side, taken from the
    rows around ``rows`` where the grid has them; only the core is kept, so every kept cell saw
    at least the margin of context.

    Returns
    -------
    torch.Tensor, shape (B, len(rows), W)
    """
    _, _, h, w = inputs.shape
    rows = slice(0, h) if rows is None else rows
    out = torch.empty((inputs.shape[0], rows.stop - rows.start, w), device=inputs.device)
    for r0 in range(rows.start, rows.stop, tile_size):
        for c0 in range(0, w, tile_size):
            r1, c1 = min(r0 + tile_size, rows.stop), min(c0 + tile_size, w)
            a0, b0 = max(r0 - margin, 0), max(c0 - margin, 0)
            a1, b1 = min(r1 + margin, h), min(c1 + margin, w)
            tile = inputs[:, :, a0:a1, b0:b1]
            # pooling twice needs sides divisible by 4: pad with empty cells
            pad_h, pad_w = (-tile.shape[2]) % 4, (-tile.shape[3]) % 4
            if pad_h or pad_w:
                tile = torch.nn.functional.pad(tile, (0, pad_w, 0, pad_h))
            for s in range(0, tile.shape[0], batch_size):
                res = net(tile[s:s + batch_size])[:, 0]
                out[s:s + batch_size, r0 - rows.start:r1 - rows.start, c0:c1] = \
                    res[:, r0 - a0:r1 - a0, c0 - b0:c1 - b0]
    return out


@contextlib.contextmanager
def _quiet_nan_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
