"""Self-supervised training of the CNN on patches of the grid.

Patches are drawn once where data exist (centred near a random observed cell of a usable epoch)
and split 80/10/10 into training, validation (early stopping) and test (``test_rmse_mm_``)
sets. A training epoch is one pass over the observed cells, not over every training patch: as
many random training patches as hold about the observed cells of the data
(:func:`patches_per_epoch`, at least :data:`MIN_EPOCH_PATCHES`), so small datasets train
on fewer patches per epoch. Training stops when the validation loss, smoothed over epochs,
has not improved by 0.2 % for ``patience`` epochs. In each training patch square
blocks of observed cells are hidden from the input, in every dataset at once, and the network
predicts them; the loss is the mean squared error on the hidden observed cells (plus, optionally,
a weighted error on the visible ones). Training patches get fresh hidden blocks and a random
rotation and flip every epoch; validation and test patches keep theirs. The loop is the one
shared with the LSTM, :func:`insarfusion.torchutil.train_early_stopping`.
"""

from __future__ import annotations

import numpy as np

from ..log import logger
from ..torchutil import import_torch, optimiser_step, train_early_stopping
from .network import features

#: Fewest training patches in an epoch (where the training set has them): two batches of 32.
MIN_EPOCH_PATCHES = 64

#: Early stopping of the CNN: weight of the past in the smoothed validation loss, and the
#: relative improvement of it that counts as one.
VAL_SMOOTHING = 0.5
VAL_REL_DELTA = 0.002


def random_blocks(rng, n, size, n_blocks, max_block):
    """Boolean (n, size, size) masks of ``n_blocks`` random squares of side 1..max_block."""
    side = rng.integers(1, max_block + 1, size=(n, n_blocks, 1, 1))
    row0 = rng.integers(-max_block + 1, size, size=(n, n_blocks, 1, 1))
    col0 = rng.integers(-max_block + 1, size, size=(n, n_blocks, 1, 1))
    cells = np.arange(size)
    in_rows = (cells[:, None] >= row0) & (cells[:, None] < row0 + side)
    in_cols = (cells[None, :] >= col0) & (cells[None, :] < col0 + side)
    return (in_rows & in_cols).any(axis=1)


def padded(normalised, observed, patch_size):
    """Pad the grid with empty cells so a patch fits and tiles keep a margin of context."""
    p = patch_size
    ny, nx = normalised.shape[-2:]
    margin = p // 4
    extra_y = max(0, p - ny)
    extra_x = max(0, p - nx)
    widths = ((0, 0), (0, 0), (margin + extra_y // 2, margin + extra_y - extra_y // 2),
              (margin + extra_x // 2, margin + extra_x - extra_x // 2))
    return np.pad(normalised, widths), np.pad(observed, widths), widths


def draw_patches(rng, masks, usable_epochs, patch_size, n_patches):
    """(epoch, row0, col0) of ``n_patches`` patches on the padded grid, where data exist.

    Each patch is centred (give or take a quarter of its side) on an observed cell drawn
    at random among those of every usable epoch and dataset, so epochs with more data get
    more patches and no patch falls on padding or empty land only. Patches stay inside the
    padded grid.
    """
    p = patch_size
    _, _, ny, nx = masks.shape
    seen = masks.any(axis=1) & usable_epochs[:, None, None]
    epoch, row, col = np.nonzero(seen)
    if not epoch.size:  # nothing observed: anywhere in the usable epochs
        epochs = np.flatnonzero(usable_epochs)
        return np.stack([rng.choice(epochs, n_patches), rng.integers(0, ny - p + 1, n_patches),
                         rng.integers(0, nx - p + 1, n_patches)], axis=1)
    pick = rng.integers(0, epoch.size, n_patches)
    jitter = rng.integers(-(p // 4), p // 4 + 1, size=(2, n_patches))
    return np.stack([epoch[pick],
                     np.clip(row[pick] - p // 2 + jitter[0], 0, ny - p),
                     np.clip(col[pick] - p // 2 + jitter[1], 0, nx - p)], axis=1)


def patches_per_epoch(masks, starts, usable_epochs, patch_size, floor, ceiling):
    """Training patches per epoch: one pass over the observed cells, within [floor, ceiling].

    An epoch shows the network about as many observed cells as the data hold: the observed
    cells of every usable epoch and dataset divided by the mean number a drawn patch holds.
    """
    p = patch_size
    n_observed = float(masks[usable_epochs].sum())
    per_patch = np.mean([masks[t, :, r:r + p, c:c + p].sum() for t, r, c in starts])
    wanted = int(np.ceil(n_observed / max(per_patch, 1.0)))
    return int(min(max(wanted, floor), ceiling))


class Patches:
    """The padded grid, the patches drawn on it and their split, and their batches.

    Parameters
    ----------
    normalised, observed : ndarray, shape (T, D, ny, nx), float32
        Normalised values (0 where not observed) and observation masks of every dataset.
    context : tuple of ndarray, shape (C, ny, nx)
        Temporal-context values and masks (``C`` may be 0).
    usable_epochs : ndarray of bool, shape (T,)
        Epochs with data, from which patches are drawn.
    patch_size, n_patches, hide_blocks : int
        The estimator's parameters of the same names.
    rng : numpy.random.Generator
        Draws the patches, their split and the blocks hidden in validation and test patches.
    device : torch.device
        Where batches go.
    """

    def __init__(self, normalised, observed, context, usable_epochs, patch_size, n_patches,
                 hide_blocks, rng, device):
        self.patch_size, self.hide_blocks, self.device = patch_size, hide_blocks, device
        self.values, self.masks, widths = padded(normalised, observed, patch_size)
        self.context = tuple(np.pad(c, ((0, 0),) + widths[2:]) for c in context)
        self.starts = draw_patches(rng, self.masks, usable_epochs, patch_size, n_patches)
        order = rng.permutation(n_patches)
        n_val = max(1, int(round(0.1 * n_patches)))
        self.test, self.val, self.train = order[:n_val], order[n_val:2 * n_val], order[2 * n_val:]
        self.max_block = max(1, patch_size // 4)
        self.fixed_hidden = self.hide(rng, n_patches)
        self.per_epoch = patches_per_epoch(self.masks, self.starts[self.train], usable_epochs,
                                           patch_size, min(self.train.size, MIN_EPOCH_PATCHES),
                                           self.train.size)

    def hide(self, rng, n):
        """Hidden-block masks (n, patch, patch) of ``n`` patches."""
        return random_blocks(rng, n, self.patch_size, self.hide_blocks, self.max_block)

    def batch(self, index, hidden, augment=None):
        """Tensors of the patches ``index``: inputs, fill, targets, hidden and visible masks.

        Parameters
        ----------
        index : ndarray of int
            Patches of the batch.
        hidden : ndarray of bool, shape (len(index), patch, patch)
            Cells hidden from the input.
        augment : tuple (int, bool), optional
            Quarter turns and whether to flip.
        """
        torch = import_torch()
        starts, device, p = self.starts[index], self.device, self.patch_size
        rows = starts[:, 1, None] + np.arange(p)
        cols = starts[:, 2, None] + np.arange(p)
        at = (starts[:, 0, None, None, None], np.arange(self.values.shape[1])[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :])
        context_values, context_masks = self.context
        context_at = (np.arange(context_values.shape[0])[None, :, None, None],
                      rows[:, None, :, None], cols[:, None, None, :])
        target = torch.from_numpy(np.concatenate(
            [self.values[at], context_values[context_at]], axis=1)).to(device)
        obs = torch.from_numpy(np.concatenate(
            [self.masks[at], context_masks[context_at]], axis=1)).to(device)
        hide = torch.from_numpy(hidden[:, None].astype(np.float32)).to(device)
        if augment is not None:
            k, flip = augment
            target, obs, hide = (torch.rot90(t, k, dims=(2, 3)) for t in (target, obs, hide))
            if flip:
                target, obs, hide = (torch.flip(t, dims=(3,)) for t in (target, obs, hide))
        visible = obs * (1 - hide)
        n_data = self.values.shape[1]
        inputs, base = features(torch, target * visible, visible, n_data)
        return (inputs, base, target[:, :n_data], (obs * hide)[:, :n_data],
                visible[:, :n_data])


def patch_loss(net, batch, visible_weight):
    """MSE on hidden observed cells (+ weighted MSE on visible ones), and their count."""
    inputs, base, target, hidden_obs, visible = batch
    pred = base + net(inputs)
    sq = (pred - target) ** 2
    hidden_loss = (sq * hidden_obs).sum() / hidden_obs.sum().clamp_min(1.0)
    if visible_weight > 0:
        visible_loss = (sq * visible).sum() / visible.sum().clamp_min(1.0)
        return hidden_loss + visible_weight * visible_loss, hidden_obs.sum()
    return hidden_loss, hidden_obs.sum()


def _evaluate(net, patches, indices, batch_size, visible_weight):
    """Loss (normalised units) over the patches ``indices`` with their fixed hidden blocks."""
    torch = import_torch()
    net.eval()
    total, count = 0.0, 0.0
    with torch.no_grad():
        for b in range(0, indices.size, batch_size):
            chunk = indices[b:b + batch_size]
            loss, n = patch_loss(net, patches.batch(chunk, patches.fixed_hidden[chunk]),
                                 visible_weight)
            total += float(loss) * float(n)
            count += float(n)
    return total / max(count, 1.0)


def _test_rmse(net, patches, scale, batch_size):
    """RMSE (mm) on the hidden observed cells of the test patches (each epoch's scale)."""
    torch = import_torch()
    test_sq, test_n = 0.0, 0.0
    net.eval()
    with torch.no_grad():
        for b in range(0, patches.test.size, batch_size):
            chunk = patches.test[b:b + batch_size]
            inputs, base, target, hidden_obs, _ = patches.batch(chunk,
                                                                patches.fixed_hidden[chunk])
            epoch_scale = torch.from_numpy(scale[patches.starts[chunk, 0]].astype(np.float32))
            epoch_scale = epoch_scale.to(patches.device)[:, None, None, None]
            err = (base + net(inputs) - target) * epoch_scale
            test_sq += float((err ** 2 * hidden_obs).sum())
            test_n += float(hidden_obs.sum())
    return float(np.sqrt(test_sq / test_n)) if test_n else float("nan")


def train_network(net, patches, rng, cnn):
    """Fit ``net`` on the patches with early stopping; the history and the test RMSE (mm).

    Parameters
    ----------
    net : torch.nn.Module
        The network, on ``patches.device``; trained in place (best weights kept).
    patches : Patches
        The patches and their split.
    rng : numpy.random.Generator
        Draws each epoch's order, hidden blocks and augmentations (after ``patches``).
    cnn : CNNFusion
        Whose parameters (``learning_rate``, ``batch_size``, ``epochs``, ``patience``,
        ``max_train_seconds``, ``visible_weight``, ``progress``) and per-epoch ``scale_`` are
        used.

    Returns
    -------
    history : dict
        From :func:`~insarfusion.torchutil.train_early_stopping`.
    test_rmse : float
    """
    torch = import_torch()
    optimiser = torch.optim.Adam(net.parameters(), lr=cnn.learning_rate)

    def run_epoch(out_of_time):
        shuffled = rng.permutation(patches.train)[:patches.per_epoch]
        hidden = patches.hide(rng, shuffled.size)
        running, steps = 0.0, 0
        for b in range(0, shuffled.size, cnn.batch_size):
            if steps and out_of_time():
                break  # budget spent: validate what this epoch has learned, then stop
            chunk = slice(b, b + cnn.batch_size)
            augment = (int(rng.integers(4)), bool(rng.integers(2)))
            loss, _ = patch_loss(net, patches.batch(shuffled[chunk], hidden[chunk], augment),
                                 cnn.visible_weight)
            running += optimiser_step(optimiser, loss)
            steps += 1
        return running / max(steps, 1)

    history = train_early_stopping(
        net, run_epoch, lambda: _evaluate(net, patches, patches.val, cnn.batch_size,
                                          cnn.visible_weight),
        epochs=cnn.epochs, patience=cnn.patience, min_delta=1e-6,
        max_seconds=cnn.max_train_seconds, progress=cnn.progress, desc="CNN training",
        smoothing=VAL_SMOOTHING, rel_delta=VAL_REL_DELTA)
    test_rmse = _test_rmse(net, patches, cnn.scale_, cnn.batch_size)
    best = history["best_epoch"]
    logger.info("CNN fusion: trained %d epochs of %d patches in %.1f s (best %d, validation "
                "loss %.4f, test RMSE %.2f mm)", len(history["train_loss"]), patches.per_epoch,
                history["train_seconds"], best + 1, history["val_loss"][best] if best >= 0 else np.inf, test_rmse)
    return history, test_rmse
