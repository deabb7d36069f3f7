"""Time one CNN training step (and one inference batch) in float32 and bfloat16.

Usage: ``python benchmarks/bench_cnn_step.py [THREADS]``. The network is the one of
:mod:`insarfusion.cnn.network` (64 filters, 5×5 kernels) on a batch of 32 patches of
14 channels × 64 × 64 cells, the Maoxian and demo cases' shape. Prints seconds per step.
"""

from __future__ import annotations

import sys
import time

import torch

from insarfusion.cnn.network import build_network


def step_seconds(dtype=None, train=True, filters=64, reps=3):
    """Median seconds of one training step (or one inference pass) of a batch."""
    net = build_network(torch, 14, filters, 5, 0.1, dtype)
    x = torch.randn(32, 14, 64, 64)
    optimiser = torch.optim.Adam(net.parameters(), 1e-3)
    net.train(train)
    times = []
    with torch.inference_mode(not train):
        for _ in range(reps + 1):
            start = time.perf_counter()
            loss = (net(x) ** 2).mean()
            if train:
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            times.append(time.perf_counter() - start)
    return sorted(times[1:])[reps // 2]


def main():
    """Print the step times of every variant."""
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    torch.manual_seed(0)
    variants = {"float32": {}, "bfloat16": {"dtype": torch.bfloat16},
                "32 filters, bfloat16": {"dtype": torch.bfloat16, "filters": 32},
                "inference float32": {"train": False},
                "inference bfloat16": {"train": False, "dtype": torch.bfloat16}}
    for name, kwargs in variants.items():
        print(f"{name:>24}: {step_seconds(**kwargs):.3f} s", flush=True)


if __name__ == "__main__":
    main()
