"""Time ``write_case`` at several scales: ``python benchmarks/bench_simulate.py [scales...]``.

Prints, per scale, the wall time of simulating and writing a case, the points per sensor and
the size of the folder. The acceptance bar is scale 100 in under 2 minutes.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from insarfusion.simulate import load_truth, write_case


def folder_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main(scales=(1.0, 10.0, 100.0)) -> None:
    import insarfusion.simulate.formats  # noqa: F401  (imports are not part of the timing)

    print("| scale | CSK points | S1A points | grid cells | wall time (s) | folder (MB) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for scale in scales:
            out = Path(tmp) / f"case_{scale:g}"
            start = time.perf_counter()
            write_case(out, seed=0, scale=scale)
            elapsed = time.perf_counter() - start
            truth = load_truth(out / "truth.nc")
            print(f"| {scale:g} | {truth.sizes['CSK_point']} | {truth.sizes['S1A_point']} | "
                  f"{truth.sizes['y'] * truth.sizes['x']} | {elapsed:.1f} | "
                  f"{folder_size_mb(out):.0f} |", flush=True)


if __name__ == "__main__":
    main(tuple(float(a) for a in sys.argv[1:]) or (1.0, 10.0, 100.0))
