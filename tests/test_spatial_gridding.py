"""Any fitted spatial estimator on a grid (spatial.grid) and the hull mask."""

import numpy as np
import pytest

from insarfusion.errors import InputError
from insarfusion.grid import make_grid
from insarfusion.spatial import (
    IDWInterpolator,
    KrigingInterpolator,
    NearestInterpolator,
    grid,
    hull_mask,
)


@pytest.fixture
def points():
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 1000, 250), rng.uniform(0, 800, 250)
    z = 3.0 * np.sin(x / 180.0) + 2.0 * np.cos(y / 130.0) + 0.2 * rng.normal(size=x.size)
    return x, y, z


def test_grid_labels_time_masks_and_gives_the_std_of_methods_with_one(points):
    x, y, z = points
    g = make_grid(0, 1000, 0, 800, cell_size=50)
    data = np.column_stack([z, 2 * z])
    model = KrigingInterpolator(k=8).fit((x, y), data)
    mask = hull_mask(g, x, y, buffer_m=0)
    time = np.array(["2020-01-01", "2020-01-13"], dtype="datetime64[ns]")
    cube, std = grid(model, g, time=time, mask=mask)  # kriging: a std by default
    assert cube.dims == ("time", "y", "x")
    assert cube.shape == (2, g.sizes["y"], g.sizes["x"])
    assert np.array_equal(cube["time"].values, time)
    assert np.isnan(cube.values[:, ~mask.values]).all()
    assert np.isfinite(cube.values[:, mask.values]).all()
    assert std.name == "displacement_std" and std.shape == cube.shape
    # one cell checked against a direct prediction
    r, c = 3, 4
    direct, direct_std = model.predict(([g.x.values[c]], [g.y.values[r]]), return_std=True)
    assert np.allclose(cube.values[:, r, c], direct[0])
    assert np.allclose(std.values[:, r, c], direct_std[0])
    values, none = grid(model, g, time=time, mask=mask, return_std=False)
    assert none is None and np.array_equal(values.values, cube.values, equal_nan=True)


def test_grid_of_a_method_without_std_gives_none(points):
    x, y, z = points
    g = make_grid(0, 1000, 0, 800, cell_size=50)
    model = NearestInterpolator().fit((x, y), z)
    for asked in (None, False, True):
        flat, std = grid(model, g, return_std=asked)
        assert flat.dims == ("y", "x") and std is None
    with pytest.raises(InputError, match="mask has"):
        grid(model, g, mask=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="time"):
        grid(model, g, store="cube.nc")


def test_grid_of_an_empty_mask_is_all_nan(points):
    x, y, z = points
    g = make_grid(0, 1000, 0, 800, cell_size=100)
    time = np.datetime64("2020-01-01") + 12 * np.arange(2)
    model = IDWInterpolator().fit((x, y), np.column_stack([z, z]))
    cube, _ = grid(model, g, time=time, mask=np.zeros((g.sizes["y"], g.sizes["x"]), bool))
    assert cube.shape == (2, g.sizes["y"], g.sizes["x"]) and np.isnan(cube.values).all()


class _HereOnly(IDWInterpolator):
    """An estimator whose prediction is not worth sending to workers."""

    parallel_predict = False


def test_grid_predicts_here_for_estimators_without_parallel_predict(points):
    x, y, z = points
    g = make_grid(0, 1000, 0, 800, cell_size=50)
    model = _HereOnly().fit((x, y), z)
    # a client that cannot run anything: it must not be used
    here, _ = grid(model, g, client=object())
    expected, _ = grid(IDWInterpolator().fit((x, y), z), g)
    np.testing.assert_array_equal(here.values, expected.values)


def test_hull_mask():
    g = make_grid(0, 200, 0, 200, cell_size=10)
    x = np.array([50.0, 150.0, 150.0, 50.0])
    y = np.array([50.0, 50.0, 150.0, 150.0])
    inner = hull_mask(g, x, y, buffer_m=0).values
    outer = hull_mask(g, x, y, buffer_m=30).values
    gx, gy = np.meshgrid(g.x.values, g.y.values)
    expected = (gx >= 50) & (gx <= 150) & (gy >= 50) & (gy <= 150)
    assert np.array_equal(inner, expected)
    assert outer.sum() > inner.sum() and (outer | ~inner).all()
