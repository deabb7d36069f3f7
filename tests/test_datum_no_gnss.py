"""The no-GNSS datum on a synthetic scene with a known landslide and known reference offsets."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import xarray as xr

from insarfusion.conventions import decimal_years
from insarfusion.datum import (
    overlap_offset,
    reference_without_gnss,
    stable_area,
    tie_to_primary,
)
from insarfusion.series import linear_rate

EPOCHS = np.datetime64("2019-01-05", "D") + np.arange(60) * np.timedelta64(12, "D")
YEARS = decimal_years(EPOCHS) - decimal_years(EPOCHS)[0]
SLIDE = (700.0, 700.0, 250.0)   # x, y, radius of the landslide, m
SLIDE_RATE = -20.0               # mm/yr at its centre, LOS


def _truth_rate(x, y):
    """Velocity (mm/yr): zero on stable ground, a cosine-tapered landslide bowl."""
    r = np.hypot(x - SLIDE[0], y - SLIDE[1]) / SLIDE[2]
    return np.where(r < 1, SLIDE_RATE * 0.5 * (1 + np.cos(np.pi * np.minimum(r, 1))), 0.0)


def _dataset(name, n, seed, offset=0.0, slide_gain=1.0, dense=0):
    """Points over 1 km², ``dense`` more in the landslide's centre block; mm, LOS.

    ``offset`` (epoch,) is the dataset's reference error (added to every point);
    ``slide_gain`` scales the landslide as this dataset sees it (another geometry).
    """
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(0, 1000, n), rng.uniform(610, 790, dense)])
    y = np.concatenate([rng.uniform(0, 1000, n), rng.uniform(610, 790, dense)])
    motion = slide_gain * _truth_rate(x, y)[:, None] * YEARS[None, :]
    disp = motion + offset + rng.normal(0, 1.0, (x.size, YEARS.size))
    disp -= disp[:, :1]
    return xr.Dataset(
        {"displacement": (("point", "time"), disp),
         "velocity": ("point", np.polyfit(YEARS, disp.T, 1)[0])},
        coords={"point": np.arange(x.size), "time": EPOCHS, "x": ("point", x),
                "y": ("point", y)}, attrs={"name": name})


def _offset():
    """A reference error with drift, an annual term and per-epoch jitter, zero at first."""
    rng = np.random.default_rng(7)
    off = 6.0 * YEARS + 3.0 * np.sin(2 * np.pi * YEARS) + rng.normal(0, 0.5, YEARS.size)
    return off - off[0]


def test_the_primary_tie_recovers_a_known_offset_despite_a_landslide():
    """B sees the landslide 1.6 times stronger (another LOS): the cells on it disagree, but
    the median over the whole overlap still gives B's reference error."""
    a = _dataset("A", 600, 1)
    b = _dataset("B", 300, 2, offset=_offset(), slide_gain=1.6)
    true = _offset()
    raw, info = overlap_offset(a, b, model="raw")
    assert info["n_cells"] > 100
    median_error = np.sqrt(np.mean((raw.values - true) ** 2))
    assert median_error < 0.4
    # the 11-epoch local line of the lowpass model rounds the annual term's peaks a little
    smooth, _ = overlap_offset(a, b, model="lowpass")
    smooth_true = 6.0 * YEARS + 3.0 * np.sin(2 * np.pi * YEARS)
    assert np.sqrt(np.mean((smooth.values - smooth_true) ** 2)) < 1.2
    assert info["offset_rate_mm_yr"] == pytest.approx(linear_rate(EPOCHS, true), abs=0.3)
    assert info["rms_after_mm"] < 0.6 * info["rms_before_mm"]  # the landslide cells stay
    # a mean over the cells, pulled by the landslide the two see differently, is worse
    assert np.sqrt(np.mean((_mean_offset(a, b) - true) ** 2)) > 2.5 * median_error
    tied, ties = tie_to_primary({"A": a, "B": b}, "A", model="raw")
    assert set(ties) == {"B"} and tied["A"] is not a
    stable = _truth_rate(b["x"].values, b["y"].values) == 0
    residual = tied["B"]["displacement"].values[stable]
    assert np.sqrt(np.mean(residual ** 2)) < 1.6   # the noise: 1 mm, √2 mm after re-zeroing
    np.testing.assert_allclose(tied["A"]["displacement"], a["displacement"])


def _mean_offset(a, b, cell=50.0):
    """The same tie with a mean instead of medians (what the median guards against)."""
    def cells(ds):
        key = (np.floor(ds["x"].values / cell) * 10**7 + np.floor(ds["y"].values / cell))
        return {k: ds["displacement"].values[key == k].mean(0) for k in np.unique(key)}
    ca, cb = cells(a), cells(b)
    common = sorted(set(ca) & set(cb))
    return np.mean([cb[k] - ca[k] for k in common], axis=0)


def test_too_little_overlap_is_an_error_naming_the_option():
    from insarfusion.errors import StageError

    a = _dataset("A", 50, 1)
    b = _dataset("B", 50, 2)
    b = b.assign_coords(x=b["x"] + 5000.0)
    with pytest.raises(StageError, match="no_gnss_reference"):
        overlap_offset(a, b)


def test_stable_area_avoids_the_moving_block_best_overlap_takes(caplog):
    """The densest block of both datasets is the landslide's centre: best_overlap refers
    everything to it (and warns that it moves); stable_area chooses stable ground."""
    data = {"A": _dataset("A", 600, 1, dense=80),
            "B": _dataset("B", 300, 2, offset=_offset(), dense=60)}
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        best, report = reference_without_gnss(data, "A", "best_overlap")
    assert report["mode"] == "best_overlap"
    area = report["area"]
    assert _truth_rate(np.array([area["x"]]), np.array([area["y"]]))[0] < -15
    assert report["motion"]["moving"] and "MOVING REFERENCE" in caplog.text
    assert area["datasets"]["A"]["n_points"] > 60
    assert area["datasets"]["A"]["velocity_mm_yr"] == pytest.approx(-18, abs=3)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        out, report = reference_without_gnss(data, "A", "stable_area")
    area = report["area"]
    assert report["mode"] == "stable_area" and not report["motion"]["moving"]
    assert "MOVING" not in caplog.text
    x0, y0 = area["x"], area["y"]
    corners = np.array([[x0 - 100, y0 - 100], [x0 + 100, y0 + 100], [x0 - 100, y0 + 100],
                        [x0 + 100, y0 - 100]])
    assert (_truth_rate(corners[:, 0], corners[:, 1]) == 0).all()
    assert all(s["n_points"] >= 5 for s in area["datasets"].values())
    assert abs(area["datasets"]["B"]["velocity_mm_yr"]) < 1.0
    # referenced to stable ground, B's landslide keeps its true velocity
    rate = linear_rate(EPOCHS, out["B"]["displacement"].values)
    true = _truth_rate(out["B"]["x"].values, out["B"]["y"].values)
    assert np.sqrt(np.mean((rate - true) ** 2)) < 0.6
    assert out["B"].attrs["datum"].startswith("reference area")


def test_the_stable_area_cost_prefers_still_quiet_blocks():
    frame = {"A": _dataset("A", 600, 1), "B": _dataset("B", 300, 2)}
    x0, y0, radius, info = stable_area(frame, block_m=200.0, min_points=5)
    assert radius == 100.0 and info["n_candidates"] >= 10
    assert _truth_rate(np.array([x0]), np.array([y0]))[0] == 0


def test_a_moving_primary_reference_is_warned_and_recorded(caplog):
    """A's processor referenced it to a point creeping 6 mm/yr toward the satellite: every
    stable block then moves -6 mm/yr relative to it."""
    creep = -6.0 * YEARS
    data = {"A": _dataset("A", 600, 1, offset=creep), "B": _dataset("B", 300, 2)}
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        out, report = reference_without_gnss(data, "A", "primary")
    assert report["mode"] == "primary" and report["ties"]["B"]["n_cells"] > 100
    assert report["motion"]["moving"]
    assert report["motion"]["velocity_mm_yr"] == pytest.approx(-6.0, abs=0.6)
    assert "MOVING REFERENCE" in caplog.text and "the reference of A" in caplog.text
    # B is tied to A's (moving) reference: it carries the same creep
    assert report["ties"]["B"]["offset_rate_mm_yr"] == pytest.approx(6.0, abs=0.6)
    assert out["A"].attrs["datum"] == "primary dataset A's own reference"
    caplog.clear()
    still = {"A": _dataset("A", 600, 1), "B": _dataset("B", 300, 2)}
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        _, report = reference_without_gnss(still, "A", "primary")
    assert not report["motion"]["moving"] and "MOVING" not in caplog.text


def test_a_reference_point_overrides_the_mode():
    from types import SimpleNamespace

    from insarfusion.crs import xy_to_lonlat

    data = {"A": _dataset("A", 300, 1), "B": _dataset("B", 200, 2)}
    crs = "EPSG:32633"
    shifted = {n: ds.assign_coords(x=ds["x"] + 500000.0, y=ds["y"] + 4000000.0)
               for n, ds in data.items()}
    lon, lat = xy_to_lonlat([500200.0], [4000200.0], crs)
    point = SimpleNamespace(lon=float(lon[0]), lat=float(lat[0]), radius_m=80.0)
    out, report = reference_without_gnss(shifted, "A", "primary", reference_point=point,
                                         crs=crs)
    assert report["mode"] == "reference_point"
    assert report["area"]["x"] == pytest.approx(500200.0, abs=0.5)
    assert out["A"].attrs["datum_lat"] == pytest.approx(lat[0], abs=1e-5)
