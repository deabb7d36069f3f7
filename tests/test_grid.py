import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from insarfusion.errors import StageError
from insarfusion.grid import cell_index, grid_transform, make_grid, points_to_grid


def test_grid_is_aligned_on_cell_multiples():
    a = make_grid(100.0, 300.0, 1000.0, 1200.0, cell_size=20.0)
    b = make_grid(150.0, 500.0, 900.0, 1100.0, cell_size=20.0)
    assert np.allclose(a.x.values[:3], [110, 130, 150])
    assert a.y.values[0] > a.y.values[-1]  # north up
    common = np.intersect1d(a.x.values, b.x.values)
    assert common.size > 0 and np.allclose(np.diff(common), 20.0)


def test_transform_maps_centres():
    g = make_grid(0, 100, 0, 60, cell_size=20)
    t = grid_transform(g)
    xc, yc = t @ (0.5, 0.5)
    assert (xc, yc) == pytest.approx((g.x.values[0], g.y.values[0]))
    r, c = cell_index(g, g.x.values[2], g.y.values[1])
    assert (int(r), int(c)) == (1, 2)


def test_point_on_centre_gives_its_value():
    g = make_grid(0, 100, 0, 100, cell_size=10)
    gx, gy = g.x.values[3], g.y.values[4]
    out, count = points_to_grid(g, [gx], [gy], [7.0])
    assert out[4, 3] == pytest.approx(7.0)
    assert count[4, 3] == 1
    assert np.isnan(out[0, 0])


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(-50, 50), st.floats(-5, 5),
       st.floats(-5, 5))
def test_linear_field_is_reproduced(fx, fy, a, b, c):
    """Bilinear weights reproduce a plane exactly at cells surrounded by points."""
    g = make_grid(0, 200, 0, 200, cell_size=20)
    xs, ys = np.meshgrid(np.arange(5, 200, 7.0) + fx, np.arange(3, 200, 6.0) + fy)
    x, y = xs.ravel(), ys.ravel()
    vals = a + b * x / 100 + c * y / 100
    out, _ = points_to_grid(g, x, y, vals)
    gx, gy = np.meshgrid(g.x.values, g.y.values)
    inner = (gx > 30) & (gx < 170) & (gy > 30) & (gy < 170)
    # the weighted mean of a plane is the plane at the weighted centroid; with dense,
    # regular points that centroid is within a few metres of the cell centre
    assert np.allclose(out[inner], (a + b * gx / 100 + c * gy / 100)[inner], atol=0.05 * (abs(b) + abs(c)) + 1e-9)


def test_many_epochs_and_nan():
    g = make_grid(0, 40, 0, 40, cell_size=20)
    x = np.array([10.0, 30.0])
    y = np.array([30.0, 30.0])
    vals = np.array([[1.0, np.nan], [3.0, 5.0]])
    out, count = points_to_grid(g, x, y, vals)
    assert out.shape == (2, g.sizes["y"], g.sizes["x"])
    r, c = cell_index(g, 10.0, 30.0)
    assert out[0, r, c] == pytest.approx(1.0)
    assert np.isnan(out[1, r, c])


def test_bad_cell_size():
    with pytest.raises(StageError):
        make_grid(0, 1, 0, 1, cell_size=0)
