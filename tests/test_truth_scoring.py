"""Scores against a known truth: the error split into its common mode and pattern, coverage."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from test_calibration import EPOCHS, epoch_cube

from insarfusion.calibration import CURVE_K
from insarfusion.truth_scoring import truth_coverage, truth_scores


def test_truth_scores_split_common_offset_from_pattern():
    rng = np.random.default_rng(3)
    coords = {"time": EPOCHS[:5].astype("datetime64[ns]"), "y": np.arange(6.0)[::-1],
              "x": np.arange(8.0)}
    truth = xr.DataArray(rng.normal(size=(5, 6, 8)), dims=("time", "y", "x"), coords=coords)
    pattern = rng.normal(size=(5, 6, 8))
    pattern -= pattern.mean(axis=(1, 2), keepdims=True)
    offset = np.array([0.0, 1.0, -2.0, 3.0, 0.5])[:, None, None]
    product = truth + pattern + offset
    product[:, 0, 0] = np.nan  # cells a product leaves empty are left out
    scores = truth_scores(product, truth)
    kept = np.isfinite(product.values)
    err = (product - truth).values
    assert scores["field_rmse_mm"] == pytest.approx(np.sqrt(np.mean(err[kept] ** 2)), abs=1e-3)
    centred = err - np.nanmean(err, axis=(1, 2), keepdims=True)
    assert scores["field_pattern_rmse_mm"] == pytest.approx(
        np.sqrt(np.mean(centred[kept] ** 2)), abs=1e-3)
    assert scores["field_pattern_rmse_mm"] < scores["field_rmse_mm"]
    # a product that differs from the truth by an offset per epoch only has no pattern error
    assert truth_scores(truth + offset, truth)["field_pattern_rmse_mm"] == 0


def test_truth_coverage_of_a_cube():
    truth = epoch_cube(np.zeros(EPOCHS.size))
    product = truth + 1.0
    std = truth + 0.75                                   # 1 mm error: within 2σ, not 1σ
    out = truth_coverage(product, std, truth, np.full((4, 5), 1.0), np.full((4, 5), 2.0))
    assert out["displacement_within_1std"] == 0.0
    assert out["displacement_within_2std"] == 1.0
    assert out["velocity_within_1std"] == 1.0
    assert len(out["displacement_within_k"]) == len(CURVE_K)
