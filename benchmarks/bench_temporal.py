"""Benchmark of the temporal resamplers: speed at 100k points and held-out accuracy.

Synthetic landslide series (trend + seasonal term + a smooth mid-series acceleration + 1–2 mm
noise) on 57 irregular acquisition dates with per-point gaps, resampled onto the 12-day grid
spanning them. Each method is scored by ``model_selection.cross_val_score`` with an
``EpochHoldout`` (a share of the interior acquisition dates hidden from every series, the same
for every method): fitted on the rest and scored on the hidden observations (held-out RMSE),
timed; the fitted resampler then predicts the 12-day grid (timed) and is scored against the
noise-free truth there.

Run: ``python benchmarks/bench_temporal.py [--n-series 100000] [--threads 2]``.

With ``--case CONFIG`` it times instead the temporal stage of a case (load, projection and
common epochs first, untimed), with 15 LSTM epochs (``bench_scale.QUICK_TRAINING``) unless
``--full`` (the configuration's) and the
``--set KEY=VALUE`` settings: wall and CPU seconds, torch's threads, the load average and
each dataset's held-out (and truth) scores, for the timings under load in
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from insarfusion.metrics import rmse
from insarfusion.model_selection import EpochHoldout, cross_val_score
from insarfusion.temporal import LinearResampler, LSTMResampler, PchipResampler, rezero_series
from insarfusion.torchutil import import_torch

torch = import_torch()  # sets OMP_WAIT_POLICY before torch's OpenMP runtime starts

START = np.datetime64("2015-03-12")


def acquisition_days(n_epochs, span_days, rng):
    """Irregular revisit intervals (4–48 days, X-band-like) scaled to fill ``span_days``."""
    intervals = rng.choice([4, 8, 8, 16, 16, 16, 24, 32, 48], size=n_epochs - 1).astype(float)
    days = np.r_[0, np.cumsum(intervals)]
    return np.unique(np.round(days * span_days / days[-1]).astype(int))


def landslide_series(days, n_series, rng):
    """Noise-free and noisy LOS displacement (mm) of ``n_series`` points."""
    years = days / 365.25
    rate = np.where(rng.random((n_series, 1)) < 0.7, rng.normal(-3, 2, (n_series, 1)),
                    rng.uniform(-40, -5, (n_series, 1)))
    amplitude = rng.uniform(0, 5, (n_series, 1))
    phase = rng.uniform(0, 2 * np.pi, (n_series, 1))
    onset = rng.uniform(0.35, 0.65, (n_series, 1)) * years[-1]
    extra_rate = np.where(rng.random((n_series, 1)) < 0.4, rng.uniform(-30, -5, (n_series, 1)), 0)
    ramp_years = 0.15
    acceleration = extra_rate * ramp_years * np.logaddexp(0, (years - onset) / ramp_years)
    clean = rate * years + amplitude * np.sin(2 * np.pi * years + phase) + acceleration
    clean -= clean[:, :1]
    noise = rng.uniform(1, 2, (n_series, 1)) * rng.standard_normal(clean.shape)
    return clean, clean + noise


def gap_patterns(n_time, n_patterns, rng):
    """A few gap patterns (snow seasons, lost stretches), as real stacks have."""
    patterns = np.ones((n_patterns, n_time), dtype=bool)
    for pattern in patterns[1:]:
        for _ in range(rng.integers(1, 4)):
            start = rng.integers(1, n_time - 6)
            pattern[start:start + rng.integers(1, 6)] = False
    return patterns


def time_case(config, full=False, overrides=()):
    """Wall and CPU seconds of the temporal stage of the case ``config``, and its scores.

    ``overrides``: ``KEY=VALUE`` strings (YAML values) set in the configuration after the
    quick budgets, e.g. ``temporal.lstm.bidirectional=false``.
    """
    import resource

    import yaml
    from bench_scale import QUICK_TRAINING

    from insarfusion import pipeline
    from insarfusion.config import apply_overrides, load_config

    cfg = load_config(config)
    if not full:
        cfg = apply_overrides(cfg, {k: v for k, v in QUICK_TRAINING.items()
                                    if k.startswith("temporal.")})
    cfg = apply_overrides(cfg, {k: yaml.safe_load(v) for k, v in
                                (item.split("=", 1) for item in overrides)})
    state = pipeline.RunState(cfg)
    for stage in (pipeline.run_load, pipeline.run_project, pipeline.run_epochs):
        stage(state)
    load = os.getloadavg()[0]
    cpu0, tic = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    pipeline.run_temporal(state)
    wall, cpu1 = time.perf_counter() - tic, resource.getrusage(resource.RUSAGE_SELF)
    result = {"temporal_wall_s": round(wall, 2),
              "temporal_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime
                                      - cpu0.ru_utime - cpu0.ru_stime, 2),
              "torch_threads": torch.get_num_threads(),
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
              "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
              "scores": {name: {m: {k: round(float(v), 3) for k, v in sc.items()}
                                for m, sc in by_method.items()}
                         for name, by_method in state.temporal_scores.items()}}
    print(json.dumps(result))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-series", type=int, default=100_000)
    parser.add_argument("--n-epochs", type=int, default=57)
    parser.add_argument("--span-days", type=int, default=1368)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lstm-epochs", type=int, default=86)
    parser.add_argument("--holdout-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--case", default=None, help="time the temporal stage of this case")
    parser.add_argument("--full", action="store_true", help="--case with the full budgets")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="--case: a configuration value, e.g. temporal.lstm.epochs=20")
    args = parser.parse_args()
    if args.case:
        time_case(args.case, args.full, args.set)
        return
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    days = acquisition_days(args.n_epochs, args.span_days, rng)
    time_obs = START + days.astype("timedelta64[D]")
    grid_days = np.arange(0, days[-1] + 1, 12)
    grid = START + grid_days.astype("timedelta64[D]")
    clean, noisy = landslide_series(days, args.n_series, rng)
    patterns = gap_patterns(days.size, 12, rng)
    noisy[~patterns[rng.integers(0, len(patterns), args.n_series)]] = np.nan
    truth_grid = rezero_series(np.stack([np.interp(grid_days, days, c) for c in clean[:2000]]))

    cv = EpochHoldout(fraction=args.holdout_fraction, seed=args.seed)
    _, hidden = next(cv.split(time_obs))
    print(f"{args.n_series} series x {days.size} epochs ({np.isnan(noisy).mean():.1%} missing) "
          f"-> {grid.size} epochs of 12 days; {hidden.size} epochs held out; "
          f"torch threads {torch.get_num_threads()}; {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")

    resamplers = {
        "linear": LinearResampler(),
        "pchip": PchipResampler(),
        "lstm": LSTMResampler(epochs=args.lstm_epochs, n_threads=args.threads, seed=args.seed,
                              progress=False),
    }
    results = {}
    for name, estimator in resamplers.items():
        tic = time.perf_counter()
        scored = cross_val_score(estimator, time_obs, noisy, cv)
        fit_s = time.perf_counter() - tic
        resampler = scored.fitted[0]
        tic = time.perf_counter()
        on_grid = resampler.predict(grid)
        predict_s = time.perf_counter() - tic
        results[name] = {
            "fit_heldout_s": round(fit_s, 2),
            "predict_grid_s": round(predict_s, 2),
            "series_per_s": round(args.n_series / predict_s),
            "heldout_rmse_mm": round(scored.rmse, 3),
            "n_heldout": scored.n_predicted,
            "truth_rmse_mm": round(rmse(rezero_series(on_grid[:2000]) - truth_grid), 3),
        }
        if name == "lstm":
            results[name].update(epochs_run=len(resampler.history_["train_loss"]),
                                 best_epoch=resampler.best_epoch_,
                                 test_rmse_mm=round(resampler.test_rmse_mm_, 3))
        if name == "pchip":
            results[name]["gap_patterns"] = resampler.n_patterns_
        print(name, results[name], flush=True)

    # PCHIP's worst case: every series with its own gap pattern
    n_unique = min(10_000, args.n_series)
    unique_gaps = noisy[:n_unique].copy()
    unique_gaps[rng.random(unique_gaps.shape) < 0.1] = np.nan
    tic = time.perf_counter()
    worst = PchipResampler().fit(time_obs, unique_gaps)
    worst.predict(grid)
    results["pchip_unique_patterns"] = {"n_series": n_unique, "gap_patterns": worst.n_patterns_,
                                        "fit_predict_s": round(time.perf_counter() - tic, 2)}
    print("pchip, unique gap patterns", results["pchip_unique_patterns"])
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
