"""The gridded product as an estimator, and the choice of the cell size."""

import logging

import numpy as np
import pytest

from insarfusion.grid import make_grid, points_to_grid, sample
from insarfusion.model_selection import BlockKFold, cross_val_score
from insarfusion.spatial import (
    GriddedInterpolator,
    IDWInterpolator,
    NearestInterpolator,
    choose_cell_size,
    gridded_cv_score,
)


def _field(x, y):
    return 3.0 * np.sin(x / 180.0) + 2.0 * np.cos(y / 130.0)


@pytest.fixture
def points():
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 1000, 250), rng.uniform(0, 800, 250)
    return x, y, _field(x, y) + 0.2 * rng.normal(size=x.size)


def test_gridded_interpolator_keeps_the_gridded_cells_and_fills_the_others(points):
    x, y, z = points
    data = np.column_stack([z, -z])
    model = GriddedInterpolator(50.0).fit((x, y), data)
    g = make_grid(x.min(), x.max(), y.min(), y.max(), cell_size=50.0, pad=1)
    gridded, _ = points_to_grid(g, x, y, data)
    assert model.grid_.dims == ("time", "y", "x")
    np.testing.assert_array_equal(model.grid_["x"].values, g["x"].values)
    has = np.isfinite(gridded)
    np.testing.assert_array_equal(model.grid_.values[has], gridded[has])
    assert np.isfinite(model.grid_.values).all()  # the empty cells filled (IDW)
    np.testing.assert_array_equal(model.predict((x, y)), sample(model.grid_, x, y))
    flat = GriddedInterpolator(50.0, filler=NearestInterpolator()).fit((x, y), z)
    assert flat.grid_.dims == ("y", "x") and flat.predict((x[:4], y[:4])).shape == (4,)


def test_gridded_interpolator_over_a_given_region(points):
    x, y, z = points
    model = GriddedInterpolator(40.0, region=(0.0, 2000.0, 0.0, 1000.0)).fit((x, y), z)
    assert model.grid_["x"].values.max() > 2000.0
    inside, outside = model.predict(([500.0, 1900.0], [400.0, 900.0])), \
        model.predict(([2100.0], [400.0]))
    assert np.isfinite(inside).all() and np.isnan(outside).all()


def test_gridded_cv_score_is_cross_val_score_over_the_full_extent(points):
    x, y, z = points
    region = (x.min(), x.max(), y.min(), y.max())
    scored = cross_val_score(GriddedInterpolator(30.0, region=region), (x, y), z,
                             BlockKFold(80.0, n_splits=5, seed=2))
    assert gridded_cv_score(x, y, z, 30.0, block_size=80.0, seed=2) == scored.rmse
    # blurring a smooth field with large cells costs accuracy
    smooth = _field(x, y)
    assert gridded_cv_score(x, y, smooth, 20.0) < gridded_cv_score(x, y, smooth, 200.0)


def test_choose_cell_size_rule(points, caplog):
    x, y, z = points
    candidates = (20.0, 40.0, 80.0)
    with caplog.at_level(logging.INFO, logger="insarfusion"):
        best, scores = choose_cell_size(x, y, z, candidates=candidates, tolerance=0.0)
    assert f"cell size {best:.2f} m chosen by block cross-validation (RMSE 20 m: " in caplog.text
    assert set(scores) == set(candidates)
    assert scores[best] == min(scores.values())
    assert scores[40.0] == gridded_cv_score(x, y, z, 40.0)
    coarse, _ = choose_cell_size(x, y, z, candidates=candidates, tolerance=10.0)
    assert coarse == 80.0
    idw = choose_cell_size(x, y, z, candidates=candidates, filler=IDWInterpolator(k=8))
    assert idw[1] == scores


def test_choose_cell_size_known_answers(points):
    """Scores of the cell-size scorer before it went through cross_val_score."""
    x, y, z = points
    _, scores = choose_cell_size(x, y, z, candidates=(20.0, 40.0, 80.0), seed=0)
    expected = {20.0: 0.49708056671754186, 40.0: 0.44987336403261263, 80.0: 0.42485325876876895}
    for cell, score in scores.items():
        assert score == pytest.approx(expected[cell], rel=1e-12)
