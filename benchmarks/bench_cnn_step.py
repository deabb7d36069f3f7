"""Time one CNN training step (and one inference batch) in float32 and bfloat16.

Usage: ``python benchmarks/bench_cnn_step.py [THREADS]``. The network is the one of
:mod:`insarfusion.cnn.network` (64 filters, 5×5 kernels) on a batch of 32 patches of
14 channels × 64 × 64 cells, the Maoxian and demo cases' shape. Prints seconds per step.
Then times, interleaved step by step so that the machine's drift falls on both alike, the
merge convolutions as they are (the coarse half convolved before upsampling) against the
former form (the upsampled map and the skip stacked, then merged): training steps and
inference of four 320 × 320 tiles, float32.
"""

from __future__ import annotations

import sys
import time

import torch

from insarfusion.cnn import network
from insarfusion.cnn.network import build_network


def timed_pass(net, x, optimiser=None):
    """Seconds of one forward pass of ``x``; with ``optimiser``, also the backward and update."""
    start = time.perf_counter()
    loss = (net(x) ** 2).mean()
    if optimiser is not None:
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return time.perf_counter() - start


def warm_median(times):
    """Median of ``times`` after the first (warm-up) one."""
    return sorted(times[1:])[(len(times) - 1) // 2]


def step_seconds(dtype=None, train=True, filters=64, reps=3):
    """Median seconds of one training step (or one inference pass) of a batch."""
    net = build_network(torch, 14, filters, 5, 0.1, dtype)
    x = torch.randn(32, 14, 64, 64)
    optimiser = torch.optim.Adam(net.parameters(), 1e-3) if train else None
    net.train(train)
    with torch.inference_mode(not train):
        return warm_median([timed_pass(net, x, optimiser) for _ in range(reps + 1)])


def stacked_merge(torch, merge, coarse, skip):
    """The former merge: ``coarse`` upsampled, stacked with ``skip``, then ``merge``."""
    up = torch.nn.functional.interpolate(coarse, size=skip.shape[-2:], mode="bilinear",
                                         align_corners=False)
    return merge(torch.cat([up, skip], dim=1))


def merge_forms(reps=16):
    """Median seconds of a training step and of an inference batch, per merge form."""
    forms = {"merge before upsampling": network.upsample_merge, "stacked merge": stacked_merge}
    batch, tiles = torch.randn(32, 14, 64, 64), torch.randn(4, 14, 320, 320)
    nets = {name: build_network(torch, 14, 64, 5, 0.1) for name in forms}
    optimisers = {name: torch.optim.Adam(net.parameters(), 1e-3) for name, net in nets.items()}
    times = {name: ([], []) for name in forms}
    try:
        for _ in range(reps + 1):
            for name, net in nets.items():
                network.upsample_merge = forms[name]
                net.train()
                times[name][0].append(timed_pass(net, batch, optimisers[name]))
                net.eval()
                with torch.inference_mode():
                    times[name][1].append(timed_pass(net, tiles))
    finally:
        network.upsample_merge = forms["merge before upsampling"]
    return {name: [warm_median(t) for t in pair] for name, pair in times.items()}


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
    for name, (train, infer) in merge_forms().items():
        print(f"{name:>24}: training step {train:.3f} s, inference {infer:.3f} s", flush=True)


if __name__ == "__main__":
    main()
