"""The CNN's inference: the fused mean and MC-dropout std on the whole grid, band by band.

A band is one row of inference tiles; it runs in this process or on a Dask worker
(:func:`insarfusion.parallel.for_each_result`) and is written away as it comes
(:mod:`insarfusion.cubes`). Within a band the network runs on overlapping tiles
(:func:`_tiled`), and with blind-spot inference on four interleaved views of the observed cells
(:func:`view_colours`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import cubes
from ..log import progress_tracker
from ..parallel import for_each_result
from ..torchutil import (
    compute_dtype,
    default_threads,
    import_torch,
    resolve_device,
    seeded,
    threads,
)
from .network import FILL_SIGMAS, build_network, features

#: Memory (bytes) the network's activations may take in one inference forward pass; the
#: tiles per pass are set from it, so inference memory does not grow with the batch size.
INFERENCE_BYTES = 512 * 2**20

#: Side (cells) of the checkerboard blocks hidden in turn by blind-spot inference.
_VIEW_BLOCK = 2
_N_VIEWS = 4


def view_colours(ny, nx):
    """Checkerboard colour (0..3) of each cell for blind-spot inference."""
    rows = (np.arange(ny) // _VIEW_BLOCK) % 2
    cols = (np.arange(nx) // _VIEW_BLOCK) % 2
    return rows[:, None] * 2 + cols[None, :]


def _bands(cnn, normalised, observed):
    """The bands of rows and their windows (the band and its halo) as chunks of work."""
    n_time, _, ny, nx = normalised.shape
    halo = cnn.patch_size // 2 + int(np.ceil(3 * max(FILL_SIGMAS)))
    colours = view_colours(ny, nx)
    bands = [slice(r0, min(r0 + cnn.tile_size, ny)) for r0 in range(0, ny, cnn.tile_size)]
    windows = [slice(max(band.start - halo, 0), min(band.stop + halo, ny)) for band in bands]
    chunks = [{"index": k, "values": normalised[..., w, :], "masks": observed[..., w, :],
               "context": tuple(c[..., w, :] for c in cnn._context),
               "colours": colours[w], "core": slice(band.start - w.start, band.stop - w.start)}
              for k, (band, w) in enumerate(zip(bands, windows, strict=True))]
    return bands, chunks


def _sinks(cnn, n_time, store):
    """Where the mean and the std go: in memory, or ``store`` and ``<stem>_std.nc``."""
    paths = ((None, None) if store is None else
             (Path(store), Path(store).with_name(f"{Path(store).stem}_std.nc")))
    return [cubes.new_cube(path, np.arange(n_time), cnn.grid_["y"].values,
                           cnn.grid_["x"].values, name=name,
                           attrs={"units": "mm", "long_name": long_name}, rows=cnn.tile_size)
            for path, name, long_name in zip(
                paths, ("fused", "fused_std"),
                ("fused displacement", "fused displacement MC-dropout std"), strict=True)]


def fuse(net, cnn, normalised, observed, empty_epochs, device, client=None, store=None):
    """The fused mean and MC-dropout std (mm) on the grid, one band of rows at a time.

    A band is one row of inference tiles (``tile_size`` rows). Its input is the band with a
    halo of ``patch_size // 2`` rows (the tiles' context margin) plus the reach of the
    widest fill Gaussian, so every kept cell sees what it would see on the whole grid.
    Bands run in this process or on a Dask client's workers (the network's weights are
    sent once) and are written away as they come, to ``store`` (``<stem>_std.nc`` beside
    it) when given; each band seeds its own dropout, so the result does not depend on where
    or in which order the bands run.

    Parameters
    ----------
    net : torch.nn.Module
        The trained network.
    cnn : CNNFusion
        The estimator being fitted: its parameters, ``grid_``, ``center_``, ``scale_`` and
        temporal context.
    normalised, observed : ndarray, shape (T, D, ny, nx), float32
        Normalised values and observation masks on the grid.
    empty_epochs : ndarray of bool, shape (T,)
        Epochs without data (NaN fields).
    device : torch.device
        Device of the bands run in this process.
    client : distributed.Client, optional
        Dask client for the bands.
    store : path-like, optional
        NetCDF file of the mean.

    Returns
    -------
    mean, std : xarray.DataArray, dims (time, y, x)
        mm; Dask-backed with ``store``.
    """
    bands, chunks = _bands(cnn, normalised, observed)
    spec = {"network": (net.enc1.in_channels, cnn.filters, cnn.kernel_size, cnn.dropout,
                        {k: v.detach().cpu() for k, v in net.state_dict().items()}),
            "tile_size": cnn.tile_size, "margin": cnn.patch_size // 2,
            "batch_size": cnn.batch_size, "mc_samples": cnn.mc_samples,
            "blind_spot": cnn.blind_spot, "seed": cnn.seed,
            "device": str(device) if client is None else cnn.device,
            "precision": cnn.precision,
            "center": cnn.center_, "scale": cnn.scale_, "empty": empty_epochs,
            "n_threads": cnn.n_threads or default_threads()}
    sinks = _sinks(cnn, normalised.shape[0], store)
    bar = progress_tracker("CNN inference", total=len(bands), unit="band",
                           progress=cnn.progress)

    def consume(k, result):
        for sink, field in zip(sinks, result, strict=True):
            sink.write(bands[k], field)
        bar.update()

    try:
        for_each_result(_infer_band, chunks, consume, client, spec=spec)
    except BaseException:
        for sink in sinks:
            sink.__exit__(RuntimeError, None, None)
        raise
    finally:
        bar.close()
    return [sink.close() for sink in sinks]


def _plan(spec, values, n_context, n_views):
    """Passes over the views, epochs per chunk and tiles per forward pass of a band."""
    n_time, n_data, rows, nx = values.shape
    # every cell needs two stochastic samples at least for a standard deviation
    n_passes = (n_views * max(2 if n_views > 1 else spec["mc_samples"],
                              -(-spec["mc_samples"] // n_views))
                if spec["mc_samples"] > 1 else n_views)
    # epochs per chunk: bound the window's feature stack to about 64 M floats
    per_epoch = rows * nx * (2 * (n_data + n_context) + 2 * len(FILL_SIGMAS) + 2)
    chunk = max(1, min(n_time, 64_000_000 // per_epoch))
    # tiles per forward pass: bound the network's activations (about eight live maps of
    # `filters` channels over a tile and its margins) to INFERENCE_BYTES
    side = min(spec["tile_size"] + 2 * spec["margin"], max(rows, nx))
    per_tile = 8 * spec["network"][1] * side ** 2 * 4
    batch = int(max(1, min(spec["batch_size"], INFERENCE_BYTES // per_tile)))
    return n_passes, chunk, batch


def _moments(mean, sq, count, stochastic, spec):
    """Mean and std (mm) of the passes from their sums (normalised units)."""
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


def _infer_band(band, spec):
    """Fused mean and std (mm) of one band of rows, shape (T, rows, nx) each.

    ``band`` holds the band's window (the band and its halo): normalised values and masks
    (T, D, rows, nx), the temporal context, the blind-spot colours and ``core``, the band's
    rows within the window. ``spec`` holds the network (constructor arguments and weights)
    and the inference settings. Runs wherever it is sent (a Dask worker included); the
    dropout is seeded from the run's seed and the band's index.
    """
    torch = import_torch()
    in_channels, filters, kernel_size, dropout, weights = spec["network"]
    device = resolve_device(spec["device"])
    net = build_network(torch, in_channels, filters, kernel_size, dropout,
                        compute_dtype(spec["precision"], device)).to(device)
    net.load_state_dict(weights)
    values, masks = band["values"], band["masks"]
    n_time, n_data, _, nx = values.shape
    core, colours = band["core"], band["colours"]
    n_views = _N_VIEWS if spec["blind_spot"] else 1
    stochastic = spec["mc_samples"] > 1
    n_passes, chunk, batch = _plan(spec, values, len(band["context"][0]), n_views)
    rows = core.stop - core.start
    mean = np.zeros((n_time, rows, nx))
    sq = np.zeros((n_time, rows, nx))
    count = np.zeros((n_time, rows, nx))
    context_values = torch.from_numpy(band["context"][0]).to(device)
    context_masks = torch.from_numpy(band["context"][1]).to(device)
    with (seeded(int(spec["seed"]) * 100_003 + int(band["index"]), device),
          threads(spec["n_threads"]), torch.inference_mode()):
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
                inputs, base = features(torch, vals * visible, visible, n_data)
                # the network runs on the band's rows only; the halo gives their context
                pred = base[:, 0, core] + _tiled(torch, net, inputs, spec["tile_size"],
                                                 spec["margin"], batch, rows=core)
                pred = pred.cpu().numpy().astype(float)
                obs_any = masks[t0:t0 + chunk, :, core].any(axis=1)
                # blind spot: observed cells count only when hidden, unobserved cells in every
                # view; without it every cell in its one view
                use = (~obs_any) | hide[core] | (n_views == 1)
                mean[t0:t0 + chunk] += np.where(use, pred, 0.0)
                sq[t0:t0 + chunk] += np.where(use, pred ** 2, 0.0)
                count[t0:t0 + chunk] += use
    return _moments(mean, sq, count, stochastic, spec)


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

