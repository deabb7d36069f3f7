"""The shared torch helpers and the one early-stopping trainer of the LSTM and the CNN."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from insarfusion import torchutil  # noqa: E402
from insarfusion.torchutil import (  # noqa: E402
    compute_dtype,
    default_threads,
    import_torch,
    resolve_device,
    seeded,
    threads,
    train_early_stopping,
)


def test_import_and_devices():
    assert import_torch() is torch
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def _first_import(env):
    """Torch's settings after insarfusion imports it first, in a fresh interpreter."""
    code = ("import json, os; from insarfusion.torchutil import import_torch; t = import_torch(); "
            "print(json.dumps([os.environ.get('OMP_WAIT_POLICY'), t.get_num_threads(), "
            "t.get_num_interop_threads()]))")
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_first_import_sets_threads_and_passive_waiting():
    assert 1 <= default_threads() <= min(len(os.sched_getaffinity(0)), 4)
    policy, n_threads, interop = _first_import({})
    assert policy == "PASSIVE" and interop == 1
    assert 1 <= n_threads <= min(len(os.sched_getaffinity(0)), 4)
    # what the user set wins
    assert _first_import({"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1"}) == ["ACTIVE", 1, 1]


def test_threads_are_restored():
    before = torch.get_num_threads()
    with threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threads(None):
        assert 1 <= torch.get_num_threads() <= 4
    assert torch.get_num_threads() == before


def test_busy_machine_gives_fewer_threads(monkeypatch):
    monkeypatch.setattr(torchutil, "available_cores", lambda: 4)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))  # this process alone
    assert torchutil.idle_cores() == 4
    monkeypatch.setattr(os, "getloadavg", lambda: (3.2, 1.0, 1.0))  # two other busy threads
    assert torchutil.idle_cores() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 1.0, 1.0))  # overloaded: still one
    assert torchutil.idle_cores() == 1
    # the default does not follow the load (reproducible products); --threads auto does
    assert default_threads() == 4
    try:
        torchutil.set_thread_limit("auto")
        assert default_threads() == 1 and torchutil.capped_threads(1) == 1
    finally:
        torchutil.set_thread_limit(None)
    # a container's few cores on a big busy host: what is idle on the host, up to its own
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "getloadavg", lambda: (40.0, 1.0, 1.0))
    assert torchutil.idle_cores() == 4


def test_thread_limit_caps_every_estimator():
    before = torch.get_num_threads()
    try:
        torchutil.set_thread_limit(1)
        assert default_threads() == 1 and torchutil.capped_threads(3) == 1
        with threads(3):
            assert torch.get_num_threads() == 1
    finally:
        torchutil.set_thread_limit(None)
        torch.set_num_threads(before)
    assert torchutil._thread_limit is None and torchutil.capped_threads(3) == 3


def test_seeded_draws_repeat_and_leave_the_global_generator_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7, torch.device("cpu")):
        first = torch.rand(4)
    with seeded(7):
        second = torch.rand(4)
    assert torch.equal(first, second)
    assert torch.equal(torch.rand(3), expected_next)


class Scripted:
    """A one-weight network whose weight records the epoch, and scripted validation losses."""

    def __init__(self, val_losses):
        self.net = torch.nn.Linear(1, 1, bias=False)
        self.val_losses = list(val_losses)
        self.epoch = -1
        self.modes = []

    def run_epoch(self, out_of_time):
        self.modes.append(self.net.training)
        self.epoch += 1
        with torch.no_grad():
            self.net.weight.fill_(self.epoch)
        return 10.0 + self.epoch

    def validate(self):
        self.modes.append(self.net.training)
        return self.val_losses[self.epoch]


def test_trainer_keeps_best_weights_and_stops_early():
    s = Scripted([5.0, 3.0, 4.0, 3.5, 1.0])
    history = train_early_stopping(s.net, s.run_epoch, s.validate, epochs=5, patience=2,
                                   progress=False)
    assert set(history) == {"train_loss", "val_loss", "best_epoch", "train_seconds"}
    assert history["train_loss"] == [10.0, 11.0, 12.0, 13.0]  # stopped after 2 without gain
    assert history["val_loss"] == [5.0, 3.0, 4.0, 3.5]
    assert history["best_epoch"] == 1
    assert s.net.weight.item() == 1.0  # the weights of the best epoch
    assert not s.net.training
    assert s.modes == [True, False] * 4  # trains in training mode, validates in eval mode
    assert history["train_seconds"] >= 0


def test_trainer_min_delta():
    losses = [5.0, 5.0 - 1e-7, 5.0 - 2e-7, 4.0]
    s = Scripted(losses)
    strict = train_early_stopping(s.net, s.run_epoch, s.validate, epochs=4, patience=2)
    assert strict["best_epoch"] == 3 and len(strict["val_loss"]) == 4
    s = Scripted(losses)
    tolerant = train_early_stopping(s.net, s.run_epoch, s.validate, epochs=4, patience=2,
                                    min_delta=1e-6)
    assert tolerant["best_epoch"] == 0 and len(tolerant["val_loss"]) == 3


def test_trainer_budget():
    s = Scripted([3.0, 2.0, 1.0])
    seen = []

    def run_epoch(out_of_time):
        seen.append(out_of_time())
        return s.run_epoch(out_of_time)

    history = train_early_stopping(s.net, run_epoch, s.validate, epochs=3, patience=5,
                                   max_seconds=0.0)
    assert len(history["val_loss"]) == 1 and history["best_epoch"] == 0
    assert len(seen) == 1 and isinstance(seen[0], bool)
    unlimited = Scripted([3.0, 2.0, 1.0])
    history = train_early_stopping(unlimited.net, unlimited.run_epoch, unlimited.validate,
                                   epochs=3, patience=5)
    assert len(history["val_loss"]) == 3 and history["best_epoch"] == 2


def test_trainer_without_improvement_keeps_the_weights():
    s = Scripted([float("nan")] * 3)
    history = train_early_stopping(s.net, s.run_epoch, s.validate, epochs=3, patience=2)
    assert history["best_epoch"] == -1 and len(history["val_loss"]) == 2
    assert s.net.weight.item() == 1.0


def test_trainer_smoothed_stopping():
    # a lucky low value (epoch 3) does not reset the patience of the smoothed loss
    losses = [5.0, 4.0, 3.99, 2.0, 3.99, 3.99, 3.99, 1.0]
    s = Scripted(losses)
    raw = train_early_stopping(s.net, s.run_epoch, s.validate, epochs=8, patience=3)
    assert len(raw["val_loss"]) == 7 and raw["best_epoch"] == 3
    s = Scripted(losses)
    smooth = train_early_stopping(s.net, s.run_epoch, s.validate, epochs=8, patience=3,
                                  smoothing=0.5, rel_delta=0.01)
    # smoothed: 5, 4.5, 4.245, 3.12, 3.56, 3.77, 3.88: best at epoch 3, stop after epoch 6
    assert len(smooth["val_loss"]) == 7 and smooth["best_epoch"] == 3
    s = Scripted([5.0, 4.0, 3.0, 2.0])
    steady = train_early_stopping(s.net, s.run_epoch, s.validate, epochs=4, patience=1,
                                  smoothing=0.5, rel_delta=0.01)
    assert len(steady["val_loss"]) == 4 and steady["best_epoch"] == 3


def test_compute_dtype_choices():
    torch = import_torch()
    cpu = torch.device("cpu")
    assert compute_dtype("fp32", cpu) is None
    assert compute_dtype("bf16", cpu) is torch.bfloat16
    assert compute_dtype("auto", cpu) in (None, torch.bfloat16)
    with pytest.raises(ValueError, match="precision"):
        compute_dtype("fp16", cpu)


def test_cnn_precisions_agree_closely(torch_one_thread):
    """bfloat16 activations change the fused field by far less than the data's noise."""
    from insarfusion.cnn import CNNFusion

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 600, 300), rng.uniform(0, 600, 300)
    data = np.sin(x / 150)[:, None] * np.arange(4)[None, :] + rng.normal(0, 0.5, (300, 4))
    fields = []
    for precision in ("fp32", "bf16"):
        cnn = CNNFusion(cell_size_m=30, epochs=2, n_patches=20, patch_size=16, tile_size=32,
                        mc_samples=0, precision=precision, seed=1, device="cpu")
        fields.append(cnn.fit((x, y), data).fused_.values)
    assert np.nanmax(np.abs(fields[0] - fields[1])) < 0.1
