"""CNN fusion (insarfusion.cnn): tiny grids, tiny networks, few epochs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from insarfusion import parallel  # noqa: E402
from insarfusion.cnn import CNNFusion  # noqa: E402
from insarfusion.errors import InputError  # noqa: E402
from insarfusion.estimators import NotFittedError  # noqa: E402
from insarfusion.model_selection import spatial_blocks  # noqa: E402

CELL = 20.0
TINY = dict(cell_size_m=CELL, filters=8, patch_size=16, n_patches=40, epochs=3, batch_size=8,
            mc_samples=8, max_train_seconds=None, device="cpu", progress=False)


def interleaved_points(side_cells=24, n_time=4, noise=0.0, seed=0):
    """Two lattices offset by half a step (datasets "A" and "B") sampling a tilted plane."""
    rng = np.random.default_rng(seed)
    step = 1.5 * CELL
    gx, gy = np.meshgrid(np.arange(0, side_cells * CELL, step), np.arange(0, side_cells * CELL, step))
    xa, ya = gx.ravel(), gy.ravel()
    xb, yb = xa + step / 2, ya + step / 2
    x = np.concatenate([xa, xb])
    y = np.concatenate([ya, yb])
    groups = np.array(["A"] * xa.size + ["B"] * xb.size)
    clean = plane(x, y, n_time)
    return x, y, clean + noise * rng.standard_normal(clean.shape), clean, groups


def plane(x, y, n_time):
    amplitude = np.arange(1, n_time + 1)[None, :]
    return amplitude * (0.01 * np.asarray(x)[:, None] - 0.005 * np.asarray(y)[:, None])


def test_fused_shapes_and_coordinates():
    x, y, data, _, groups = interleaved_points()
    model = CNNFusion(**TINY).fit((x, y), data, groups)
    ny, nx = model.grid_.sizes["y"], model.grid_.sizes["x"]
    assert model.fused_.dims == ("time", "y", "x")
    assert model.fused_.shape == (4, ny, nx) == model.fused_std_.shape
    np.testing.assert_array_equal(model.fused_["x"].values, model.grid_["x"].values)
    np.testing.assert_array_equal(model.fused_["y"].values, model.grid_["y"].values)
    assert np.all(np.diff(model.fused_["x"].values) > 0)
    assert np.all(np.diff(model.fused_["y"].values) < 0)
    assert model.grid_["x"].values.min() < x.min() and model.grid_["x"].values.max() > x.max()
    assert np.isfinite(model.fused_.values).all()
    assert (model.fused_std_.values >= 0).all()
    assert model.datasets_ == ["A", "B"]
    assert len(model.history_["train_loss"]) == len(model.history_["val_loss"]) <= 3
    assert np.isfinite(model.test_rmse_mm_)
    assert model.best_epoch_ == model.history_["best_epoch"]


def test_without_blind_spot_every_cell_has_a_value():
    """One view with every cell visible fills the observed cells too, not only the others."""
    x, y, data, _, groups = interleaved_points()
    params = {**TINY, "mc_samples": 0, "visible_weight": 0.5, "blind_spot": False}
    model = CNNFusion(**params).fit((x, y), data, groups)
    assert np.isfinite(model.fused_.values).all()
    assert np.isnan(model.fused_std_.values).all()


def test_single_epoch_gives_2d_field_and_1d_prediction():
    x, y, data, _, groups = interleaved_points(n_time=1)
    model = CNNFusion(**TINY).fit((x, y), data[:, 0], groups)
    assert model.fused_.dims == ("y", "x")
    assert model.predict((x[:5], y[:5])).shape == (5,)


def test_constant_field_is_reproduced():
    x, y, _, _, groups = interleaved_points(n_time=3)
    data = np.broadcast_to(np.array([-4.0, 0.0, 7.5]), (x.size, 3)).copy()
    model = CNNFusion(**TINY).fit((x, y), data, groups)
    np.testing.assert_allclose(model.fused_.values, np.broadcast_to(
        np.array([-4.0, 0.0, 7.5])[:, None, None], model.fused_.shape), atol=0.05)


def test_plane_reconstructed_at_held_out_blocks_below_noise():
    noise = 1.0
    x, y, data, clean, groups = interleaved_points(side_cells=32, n_time=4, noise=noise)
    held = spatial_blocks(x, y, block_size=5 * CELL, n_folds=6, seed=1) == 0
    params = dict(TINY, epochs=4, n_patches=60)
    model = CNNFusion(**params).fit((x[~held], y[~held]), data[~held], groups[~held])
    error = model.predict((x[held], y[held])) - clean[held]
    rmse = float(np.sqrt(np.mean(error ** 2)))
    assert rmse < 0.8 * noise


def test_same_seed_same_field_other_seed_differs():
    x, y, data, _, groups = interleaved_points(noise=0.5)
    first = CNNFusion(**TINY, seed=3).fit((x, y), data, groups)
    second = CNNFusion(**TINY, seed=3).fit((x, y), data, groups)
    other = CNNFusion(**TINY, seed=4).fit((x, y), data, groups)
    np.testing.assert_array_equal(first.fused_.values, second.fused_.values)
    np.testing.assert_array_equal(first.fused_std_.values, second.fused_std_.values)
    assert first.history_["train_loss"] == second.history_["train_loss"]
    assert not np.array_equal(first.fused_.values, other.fused_.values)


def test_tiles_leave_no_seams():
    x, y, data, _, groups = interleaved_points(side_cells=40, n_time=2, noise=0.5)
    params = dict(TINY, mc_samples=1)  # deterministic passes: tiling is the only difference
    whole = CNNFusion(**params, tile_size=1000).fit((x, y), data, groups).fused_.values
    tiled = CNNFusion(**params, tile_size=8).fit((x, y), data, groups).fused_.values
    assert tiled.shape[-1] > 3 * 8  # several tiles across
    field_range = np.ptp(whole)
    assert np.max(np.abs(tiled - whole)) < 0.01 * field_range
    # a seam is a kink: curvature across a tile boundary is not larger than elsewhere
    curvature = np.abs(np.diff(tiled, n=2, axis=-1))  # entry k centres on column k + 1
    across = np.zeros(curvature.shape[-1], dtype=bool)
    across[6::8] = across[7::8] = True  # centred on the last/first column of a tile
    assert curvature[..., across].mean() < 1.5 * curvature[..., ~across].mean()


def test_predict_at_cell_centres_equals_fused():
    x, y, data, _, groups = interleaved_points()
    model = CNNFusion(**TINY).fit((x, y), data, groups)
    assert CNNFusion.provides_std and not CNNFusion.parallel_predict
    gx, gy = np.meshgrid(model.grid_["x"].values, model.grid_["y"].values)
    values, std = model.predict((gx.ravel(), gy.ravel()), return_std=True)
    # cells of 20 m: the centres are exact in binary, so the samples are the cells themselves
    np.testing.assert_array_equal(values, model.fused_.values.reshape(4, -1).T)
    np.testing.assert_array_equal(std, model.fused_std_.values.reshape(4, -1).T)
    np.testing.assert_array_equal(model.predict((gx.ravel(), gy.ravel())), values)
    # halfway between two centres: the mean of the two
    mid = model.predict(([gx[3, 3] + CELL / 2], [gy[3, 3]]))
    np.testing.assert_allclose(mid[0], model.fused_.values[:, 3, 3:5].mean(axis=1), atol=1e-9)


@pytest.mark.parametrize("groups", ["one", None])
def test_single_dataset(groups):
    x, y, data, clean, _ = interleaved_points()
    labels = np.full(x.size, "S1A") if groups == "one" else None
    model = CNNFusion(**TINY).fit((x, y), data, labels)
    assert len(model.datasets_) == 1
    assert np.isfinite(model.fused_.values).all()
    assert np.sqrt(np.mean((model.predict((x, y)) - clean) ** 2)) < 0.5 * np.std(clean)


def test_nan_values_and_empty_epoch():
    x, y, data, clean, groups = interleaved_points(n_time=4)
    rng = np.random.default_rng(0)
    data[rng.random(data.shape) < 0.3] = np.nan
    data[:, 2] = np.nan
    model = CNNFusion(**TINY).fit((x, y), data, groups)
    fused = model.fused_.values
    assert np.isnan(fused[2]).all()
    assert np.isfinite(fused[[0, 1, 3]]).all()
    prediction = model.predict((x, y))
    assert np.isnan(prediction[:, 2]).all()
    assert np.isfinite(prediction[:, [0, 1, 3]]).all()


def test_bad_inputs_are_rejected():
    x, y, data, _, groups = interleaved_points()
    with pytest.raises(InputError):
        CNNFusion(**TINY).fit((x, y[:-1]), data, groups)
    with pytest.raises(InputError):
        CNNFusion(**TINY).fit((x, y), np.full(data.shape, np.nan), groups)
    with pytest.raises(InputError):
        CNNFusion(**TINY).fit((x, y), data, groups[:-1])
    with pytest.raises(InputError):
        CNNFusion(**dict(TINY, patch_size=18)).fit((x, y), data, groups)
    with pytest.raises(NotFittedError):
        CNNFusion().predict((x, y))


def test_inference_in_bands_on_disk_equals_in_memory(tmp_path):
    x, y, data, _, groups = interleaved_points(n_time=3, noise=0.5)
    params = dict(TINY, tile_size=8)                       # several bands of rows
    in_memory = CNNFusion(**params).fit((x, y), data, groups)
    with parallel.execution(scratch=tmp_path):
        on_disk = CNNFusion(**params).fit((x, y), data, groups)
    assert on_disk.fused_.chunks is not None               # a lazy view of the file
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) == 2 and written[0].startswith("cnn_fused.")          # mean and std
    assert written[1].endswith("_std.nc")
    for a, b in ((in_memory.fused_, on_disk.fused_), (in_memory.fused_std_, on_disk.fused_std_)):
        np.testing.assert_array_equal(a.values.astype("float32"), b.values)
    np.testing.assert_allclose(on_disk.predict((x, y)), in_memory.predict((x, y)), atol=1e-4)


def test_inference_runs_on_the_client_of_the_execution(monkeypatch):
    from insarfusion.cnn import inference

    seen = []
    in_process = inference.for_each_result

    def spy(func, chunks, consume, client=None, **shared):
        seen.append(client)
        return in_process(func, chunks, consume, None, **shared)

    monkeypatch.setattr(inference, "for_each_result", spy)
    x, y, data, _, groups = interleaved_points(n_time=2)
    client = object()  # stands for a Dask client; the spy runs the bands here
    with parallel.execution(client=client):
        CNNFusion(**dict(TINY, epochs=1)).fit((x, y), data, groups)
    CNNFusion(**dict(TINY, epochs=1)).fit((x, y), data, groups)
    assert seen == [client, None]


def test_patches_are_drawn_where_data_exist_and_an_epoch_scales_with_them():
    from insarfusion.cnn.training import draw_patches, patches_per_epoch

    masks = np.zeros((3, 2, 40, 40), dtype=np.float32)
    masks[1, 0, 30:34, 30:34] = 1  # data only in epoch 1, one corner
    usable = np.array([True, True, False])
    starts = draw_patches(np.random.default_rng(0), masks, usable, 8, 50)
    assert (starts[:, 0] == 1).all()
    assert ((starts[:, 1:] >= 30 - 4 - 2) & (starts[:, 1:] <= 40 - 8)).all()
    # one pass over 16 observed cells, each patch holding most of them: the floor
    assert patches_per_epoch(masks, starts, usable, 8, 5, 40) == 5
    masks[0, :] = 1  # every cell of epoch 0 in both datasets: 3,200 cells, 128 per patch
    starts = np.array([[0, 0, 0]] * 4)
    assert patches_per_epoch(masks, starts, usable, 8, 5, 20) == 20  # the ceiling
    assert patches_per_epoch(masks, starts, usable, 8, 5, 1000) == int(np.ceil(3216 / 128))


def test_cpu_dropout_rate_scale_and_layout():
    """The CPU dropout drops the share asked for, keeps the mean and the channels-last layout."""
    from insarfusion.cnn.network import relu_dropout_cpu

    torch.manual_seed(0)
    x = torch.ones(4, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    y = relu_dropout_cpu(torch, x, 0.1)
    dropped = float((y == 0).float().mean())
    assert abs(dropped - 0.1) < 0.01
    assert abs(float(y.mean()) - 1.0) < 0.02
    values = torch.unique(y).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / 0.9)
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    assert torch.equal(relu_dropout_cpu(torch, x, 0.1), y)       # from torch's seeded generator


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cpu_relu_dropout_is_relu_then_dropout(dtype):
    """One product with a mask gives ReLU's values and gradient, then the mask and the scale."""
    from insarfusion.cnn.network import dropout_keep, relu_dropout_cpu

    x = torch.randn(2, 6, 8, 8, dtype=getattr(torch, dtype)).requires_grad_()
    torch.manual_seed(3)
    fused = relu_dropout_cpu(torch, x, 0.2)
    (grad_fused,) = torch.autograd.grad((fused * torch.arange(fused.numel()).view_as(fused)).sum(), x)
    torch.manual_seed(3)
    keep = dropout_keep(torch, x, 0.2)
    plain = torch.relu(x) * keep * (1.0 / 0.8)
    (grad_plain,) = torch.autograd.grad((plain * torch.arange(plain.numel()).view_as(plain)).sum(), x)
    assert fused.dtype == x.dtype
    assert torch.equal(fused, plain)
    assert torch.equal(grad_fused, grad_plain)


@pytest.mark.parametrize("coarse_shape", [(4, 5), (7, 9)])
def test_merge_before_upsampling_is_merge_of_the_stack(coarse_shape):
    """The coarse half of a 1×1 merge convolved before bilinear upsampling: the same values
    and gradients, to rounding, as the merge of the upsampled map stacked with the skip."""
    from insarfusion.cnn.network import upsample_merge

    fn = torch.nn.functional
    torch.manual_seed(0)
    merge = torch.nn.Conv2d(12, 5, 1)
    coarse = torch.randn(2, 6, *coarse_shape, requires_grad=True)
    skip = torch.randn(2, 6, 2 * coarse_shape[0] + 1, 2 * coarse_shape[1], requires_grad=True)
    fast = upsample_merge(torch, merge, coarse, skip)
    up = fn.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
    plain = merge(torch.cat([up, skip], dim=1))
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(plain)
    grads_fast = torch.autograd.grad((fast * weights).sum(), (coarse, skip, merge.weight))
    grads_plain = torch.autograd.grad((plain * weights).sum(), (coarse, skip, merge.weight))
    for a, b in zip(grads_fast, grads_plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_epoch_scaling_in_blocks_equals_the_whole_stack():
    """Per-epoch median and RMS deviation, computed in blocks of epochs, are those of the
    whole stack to the last bit (an epoch count that is no multiple of the block)."""
    from insarfusion.cnn.estimator import _SCALING_BLOCK, _epoch_scaling

    rng = np.random.default_rng(4)
    gridded = rng.normal(3.0, 2.0, size=(2 * _SCALING_BLOCK + 3, 2, 5, 6))
    gridded[rng.random(gridded.shape) < 0.4] = np.nan
    center, scale = _epoch_scaling(gridded)
    flat = gridded.reshape(gridded.shape[0], -1)
    whole_center = np.nanmedian(flat, axis=1)
    whole_scale = np.sqrt(np.nanmean((flat - whole_center[:, None]) ** 2, axis=1))
    floor = max(0.1 * float(whole_scale.max()), 1e-3)
    assert np.array_equal(center, whole_center)
    assert np.array_equal(scale, np.maximum(whole_scale, floor))
