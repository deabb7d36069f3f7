"""Benchmark of the APS filter options against the simulator's truth, and its speed.

For each simulated case (``insarfusion.simulate.simulate_case(seed, scale)``) and each dataset
(CSK PSI, S1A SBAS), the displacement as written (truth + atmosphere + orbital ramp + noise +
unwrapping jumps, referenced to the dataset's reference point and first date) is resampled
linearly onto the common 12-day epochs (as the pipeline's temporal stage does) and filtered
with each option. Scores, in the datum-free sense (a per-epoch constant is the GNSS tie's job):

* ``aps_rmse_raw``: RMS over points and epochs of (estimated APS − true nuisance in the
  series), mm, as it is (per-epoch constants included);
* ``aps_rmse``: RMS over points and epochs of (estimated APS − true nuisance in the series),
  after removing each epoch's mean over the points, mm. The true nuisance in the series is
  ``nuisance(point, t) − nuisance(reference, t)``, relative to the first epoch. For ``none``
  this is the RMS of the nuisance itself.
* ``fast_aps_rmse``: the same over the fast points only (|true velocity| > 20 mm/yr): leakage
  of landslide motion into the APS shows up here.
* ``vel_rmse_fast``: RMS velocity error of the fast points, mm/yr, after removing the mean
  velocity error of all points (datum-free); points with an unwrapping jump are left out of
  the velocity scores (their error is not the filter's).
* ``vel_rmse_all``: the same over all points.
* ``seconds``: time of the filter.

Timing at scale 100 (~185k points × 113 epochs): both datasets stacked as one array, and each
dataset on its own (as the pipeline filters them).

With ``--real FOLDER`` (the real examples: ``stamps_maoxian/``, ``egms_ustica/``), also what
each option removes from them and how much it moves their velocities (no truth there).

Run: ``python benchmarks/bench_atmosphere.py [--seeds 0 5] [--scales 1] [--timing-scale 100]
[--explore] [--real ../shared/data/real]``. ``--explore`` also scores a grid of window and
scale values.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from insarfusion.atmosphere import APSFilter
from insarfusion.conventions import as_days
from insarfusion.series import linear_rate
from insarfusion.simulate import simulate_case

FAST_MM_YR = 20.0


def interpolation_matrix(days_from, days_to):
    """Linear interpolation in time as a matrix (n_to, n_from); ends are held."""
    f = as_days(days_from).astype("int64").astype(float)
    t = as_days(days_to).astype("int64").astype(float)
    return np.stack([np.interp(t, f, row) for row in np.eye(f.size)], axis=1)


def dataset_arrays(pts, epochs):
    """Observed, true-nuisance and true-motion series on the common epochs (mm)."""
    w = interpolation_matrix(pts.dates, epochs)
    nuis = pts.nuisance - pts.nuisance[pts.reference][None, :]
    observed = pts.displacement @ w.T
    nuis = nuis @ w.T
    truth = pts.truth_los @ w.T
    return (observed - observed[:, :1], nuis - nuis[:, :1], truth - truth[:, :1],
            pts.jump.any(axis=1))


def datum_free_rms(diff, rows=None):
    diff = diff - diff.mean(axis=0, keepdims=True)
    if rows is not None:
        diff = diff[rows]
    return float(np.sqrt(np.mean(diff**2)))


def score(filt, pts, epochs):
    observed, nuis, truth, jumped = dataset_arrays(pts, epochs)
    t0 = time.perf_counter()
    filt.fit((pts.x, pts.y), epochs, observed)
    seconds = time.perf_counter() - t0
    filtered = observed - filt.aps_
    v_true = linear_rate(epochs, truth)
    fast = (np.abs(v_true) > FAST_MM_YR)
    good = ~jumped

    def vel_rmse(values, rows):
        err = linear_rate(epochs, values) - v_true
        err = err - err[good].mean()
        return float(np.sqrt(np.mean(err[rows] ** 2)))

    return {
        "aps_rmse_raw": float(np.sqrt(np.mean((filt.aps_ - nuis) ** 2))),
        "aps_rmse": datum_free_rms(filt.aps_ - nuis),
        "fast_aps_rmse": datum_free_rms(filt.aps_ - nuis, fast),
        "vel_rmse_fast": vel_rmse(filtered, fast & good),
        "vel_rmse_all": vel_rmse(filtered, good),
        "n_fast": int(fast.sum()),
        "seconds": seconds,
    }


OPTIONS = {
    "none": {"method": "none"},
    "common_mode": {"method": "common_mode"},
    "spatiotemporal": {"method": "spatiotemporal"},
    "st_local_linear": {"method": "spatiotemporal", "temporal": "gaussian"},
    "st_polynomial": {"method": "spatiotemporal", "temporal": "polynomial"},
    "st_ramp": {"method": "spatiotemporal", "ramp": True},
    "st_nonrobust": {"method": "spatiotemporal", "iterations": 0},
    "st_scale200": {"method": "spatiotemporal", "scale_m": 200.0},
}


def explore_options():
    out = {}
    for window in (60.0, 90.0, 150.0):
        for scale in (50.0, 100.0, 150.0):
            for degree in (1, 2):
                out[f"st_w{window:g}_s{scale:g}_d{degree}"] = {
                    "method": "spatiotemporal", "window_days": window, "scale_m": scale,
                    "degree": degree}
    return out


def table(rows):
    keys = ["aps_rmse_raw", "aps_rmse", "fast_aps_rmse", "vel_rmse_fast", "vel_rmse_all", "seconds"]
    lines = ["| seed | scale | dataset | option | " + " | ".join(keys) + " |",
             "|" + "---|" * (4 + len(keys))]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['scale']:g} | {r['dataset']} | {r['option']} | "
                     + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    return "\n".join(lines)


def timing(scale, seed, params):
    """Seconds of each option on both datasets stacked, and per dataset (as the pipeline runs)."""
    case = simulate_case(seed, scale)
    arrays = {k: dataset_arrays(p, case.epochs)[0] for k, p in case.datasets.items()}
    values = np.concatenate(list(arrays.values()))
    x = np.concatenate([p.x for p in case.datasets.values()])
    y = np.concatenate([p.y for p in case.datasets.values()])
    out = {}
    for name, p in params.items():
        t0 = time.perf_counter()
        APSFilter(**p).fit((x, y), case.epochs, values)
        out[name] = time.perf_counter() - t0
        for key, pts in case.datasets.items():
            t0 = time.perf_counter()
            APSFilter(**p).fit((pts.x, pts.y), case.epochs, arrays[key])
            out[f"{name} {key} ({pts.x.size} points)"] = time.perf_counter() - t0
    return values.shape, out


def real_data(folder):
    """What each option removes from the real examples, and how much it moves the velocities."""
    from pathlib import Path

    from insarfusion.atmosphere import remove_atmosphere
    from insarfusion.io.egms import read_egms
    from insarfusion.io.stamps import read_stamps

    folder = Path(folder)
    sets = [(p, read_stamps) for p in sorted((folder / "stamps_maoxian").glob("*.csv"))]
    sets += [(p, read_egms) for p in sorted((folder / "egms_ustica").glob("EGMS_L2b_*.zip"))]
    print("\n| dataset | points × epochs | option | APS RMS (mm) | largest epoch RMS (mm) "
          "| velocity change: median, RMS about it, max (mm/yr) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for path, reader in sets:
        ds = reader(path)
        before = linear_rate(ds["time"].values, ds["displacement"].values)
        for option in ("common_mode", "spatiotemporal"):
            t0 = time.perf_counter()
            out, aps = remove_atmosphere(ds, APSFilter(**OPTIONS[option]))
            seconds = time.perf_counter() - t0
            change = linear_rate(ds["time"].values, out["displacement"].values) - before
            centred = change - np.nanmedian(change)
            per_epoch = np.sqrt(np.mean(aps.values**2, axis=0))
            print(f"| {ds.attrs['name']} | {ds.sizes['point']} × {ds.sizes['time']} | {option} "
                  f"| {np.sqrt(np.mean(aps.values**2)):.2f} | {per_epoch.max():.2f} "
                  f"({str(aps['time'].values[per_epoch.argmax()])[:10]}) | "
                  f"{np.nanmedian(change):+.2f}, {np.sqrt(np.nanmean(centred**2)):.2f}, "
                  f"{np.nanmax(np.abs(centred)):.2f} | {seconds:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 5])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0])
    parser.add_argument("--timing-scale", type=float, default=100.0,
                        help="scale of the timing run (0: none)")
    parser.add_argument("--explore", action="store_true")
    parser.add_argument("--real", default=None,
                        help="folder of the real examples (stamps_maoxian/, egms_ustica/): "
                             "what each option removes there")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    options = dict(OPTIONS)
    if args.explore:
        options.update(explore_options())
    rows = []
    for scale in args.scales:
        for seed in args.seeds:
            case = simulate_case(seed, scale)
            for name, pts in case.datasets.items():
                for option, params in options.items():
                    result = score(APSFilter(**params), pts, case.epochs)
                    rows.append({"seed": seed, "scale": scale, "dataset": name,
                                 "option": option, **result})
    print(table(rows))
    print()
    summary = {}
    for option in options:
        sel = [r for r in rows if r["option"] == option]
        summary[option] = {k: float(np.mean([r[k] for r in sel]))
                           for k in ("aps_rmse_raw", "aps_rmse", "fast_aps_rmse", "vel_rmse_fast",
                                     "vel_rmse_all")}
    print("| option (mean over cases) | aps_rmse_raw | aps_rmse | fast_aps_rmse | vel_rmse_fast "
          "| vel_rmse_all |")
    print("|---|---|---|---|---|---|")
    for option, s in summary.items():
        print(f"| {option} | " + " | ".join(f"{v:.2f}" for v in s.values()) + " |")
    result = {"rows": rows, "summary": summary}
    if args.timing_scale:
        shape, seconds = timing(args.timing_scale, args.seeds[0],
                                {k: OPTIONS[k] for k in ("common_mode", "spatiotemporal")})
        print(f"\ntiming at scale {args.timing_scale:g}: {shape[0]} points x {shape[1]} epochs: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
        result["timing"] = {"scale": args.timing_scale, "shape": list(shape), "seconds": seconds}
    if args.real:
        real_data(args.real)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
