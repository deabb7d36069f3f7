import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from scipy.interpolate import RegularGridInterpolator

from insarfusion.errors import StageError
from insarfusion.grid import (
    cell_centres,
    cell_index,
    grid_transform,
    make_grid,
    points_to_grid,
    sample,
)


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
    cx, cy = cell_centres(g)
    assert cx.size == g.sizes["x"] * g.sizes["y"]
    assert (cx[g.sizes["x"] + 2], cy[g.sizes["x"] + 2]) == (g.x.values[2], g.y.values[1])


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


# --- sample: bilinear samples of a gridded field at points ------------------------------

def _field(nt=3, seed=0, cell=20.0):
    """A random (time, y, x) field on a north-up grid, with NaN cells."""
    rng = np.random.default_rng(seed)
    g = make_grid(0, 300, 0, 200, cell_size=cell)
    values = rng.normal(size=(nt, g.sizes["y"], g.sizes["x"]))
    values[:, 3, 4] = np.nan
    values[1, 6, 7:9] = np.nan
    return xr.DataArray(values, dims=("time", "y", "x"), name="displacement",
                        coords={"time": np.datetime64("2020-01-01") + 12 * np.arange(nt),
                                "y": g["y"].values, "x": g["x"].values})


def _points(n=400, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(-40, 340, n), rng.uniform(-40, 240, n)  # some beyond the centres


def _rgi(field, x, y):
    """scipy's RegularGridInterpolator, NaN outside: the cell-size scoring's former sampler."""
    cube = np.moveaxis(field.values[:, ::-1, :], 0, -1)  # (y ascending, x, time)
    return RegularGridInterpolator((field["y"].values[::-1], field["x"].values), cube,
                                   bounds_error=False, fill_value=np.nan)(np.column_stack([y, x]))


def test_sample_equals_regular_grid_interpolator_and_nan_outside():
    field = _field()
    x, y = _points()
    got = sample(field, x, y)
    assert got.shape == (x.size, 3)
    np.testing.assert_array_equal(got, _rgi(field, x, y))  # same numbers, same NaN
    beyond = (x < field.x.values.min()) | (x > field.x.values.max()) | \
        (y < field.y.values.min()) | (y > field.y.values.max())
    assert beyond.any() and np.isnan(got[beyond]).all()
    assert np.isnan(got[~beyond]).any()  # next to the NaN cells


def test_sample_of_a_map_is_one_dimensional_and_any_dim_order_works():
    field = _field()
    x, y = _points(50)
    flat = sample(field.isel(time=1), x, y)
    assert flat.shape == (50,)
    np.testing.assert_array_equal(flat, sample(field, x, y)[:, 1])
    np.testing.assert_array_equal(sample(field.transpose("x", "time", "y"), x, y),
                                  sample(field, x, y))
    ascending = field.isel(y=slice(None, None, -1))  # y increasing works the same
    np.testing.assert_allclose(sample(ascending, x, y), sample(field, x, y), rtol=0,
                               atol=1e-12)


def test_sample_nearest_fallback_equals_xarray_interp_then_nearest_cell():
    field = _field()
    x, y = _points()
    xs, ys = xr.DataArray(x, dims="point"), xr.DataArray(y, dims="point")
    linear = field.interp(x=xs, y=ys).transpose("point", "time").values
    nearest = field.sel(x=xs, y=ys, method="nearest").transpose("point", "time").values
    expected = np.where(np.isfinite(linear), linear, nearest)
    got = sample(field, x, y, fallback="nearest")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.isfinite(got[(x < 0) & np.isfinite(expected).all(axis=1)]).all()  # edge cells


def test_sample_edge_clamps_to_the_outermost_cells():
    field = _field()
    x, y = _points()
    gx, gy = field["x"].values, field["y"].values
    clamped = _rgi(field, np.clip(x, gx.min(), gx.max()), np.clip(y, gy.min(), gy.max()))
    got = sample(field, x, y, outside="edge")
    np.testing.assert_allclose(got, clamped, rtol=0, atol=1e-12)
    assert np.array_equal(np.isnan(got), np.isnan(clamped))


def test_sample_on_a_cell_centre_takes_that_cell_whatever_its_neighbours():
    field = _field()
    gx, gy = field["x"].values, field["y"].values
    # cell (3, 5) is beside the NaN cell (3, 4); (2, 4) above it; the last centre of each axis
    x = np.array([gx[5], gx[4], gx[-1], gx[5] + 5.0])
    y = np.array([gy[3], gy[2], gy[-1], gy[3]])
    got = sample(field, x, y)
    np.testing.assert_array_equal(got[:3], field.values[:, [3, 2, -1], [5, 4, -1]].T)
    assert np.isfinite(got[3]).all()  # between (3, 5) and (3, 6): both finite
    assert np.isnan(sample(field, [gx[4] + 5.0], [gy[3]])).all()  # half on the NaN cell


def test_sample_nan_coordinates_and_bad_options():
    field = _field()
    assert np.isnan(sample(field, [np.nan], [100.0], fallback="nearest")).all()
    with pytest.raises(ValueError, match="outside"):
        sample(field, [0.0], [0.0], outside="clip")
    with pytest.raises(ValueError, match="fallback"):
        sample(field, [0.0], [0.0], fallback="linear")


def test_sample_cell_outside_and_skipped_nan_cells():
    field = _field()
    x, y = _points()
    gx, gy = field["x"].values, field["y"].values
    half = 10.0
    inside = (x >= gx.min() - half) & (x <= gx.max() + half) & \
        (y >= gy.min() - half) & (y <= gy.max() + half)
    # "cell": clamped within the outer half cells, NaN beyond them
    got = sample(field, x, y, outside="cell")
    edge = sample(field, x, y, outside="edge")
    np.testing.assert_array_equal(got[inside], edge[inside])
    assert (~inside).any() and np.isnan(got[~inside]).all()
    # "skip": where every neighbour is finite the value is the plain bilinear one ...
    plain = sample(field, x, y)
    skip = sample(field, x, y, nan="skip")
    finite = np.isfinite(plain)
    np.testing.assert_allclose(skip[finite], plain[finite], rtol=0, atol=1e-12)
    # ... and an empty neighbour is left out, the others re-weighted
    value = sample(field, [gx[4] + 5.0], [gy[3]], nan="skip")
    np.testing.assert_allclose(value[0], field.values[:, 3, 5], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="nan"):
        sample(field, [0.0], [0.0], nan="zero")


class _Reads:
    """An array that records the rows read from it (a stand-in for a file)."""

    def __init__(self, values):
        self.values, self.rows = values, set()
        self.shape, self.dtype, self.ndim = values.shape, values.dtype, values.ndim

    def __getitem__(self, key):
        self.rows.update(np.arange(self.shape[1])[key[1]].tolist())
        return self.values[key]


def test_sample_of_a_lazy_field_reads_only_the_rows_around_the_points(tmp_path):
    import dask.array as da

    from insarfusion import cubes

    field = _field()
    x, y = _points()
    on_disk = cubes.store(field, tmp_path / "f.nc")
    np.testing.assert_allclose(sample(on_disk, x, y), _rgi(field, x, y).astype("float32"),
                               rtol=1e-6, atol=1e-6)
    reads = _Reads(field.values)
    lazy = field.copy(data=da.from_array(reads, chunks=(3, 1, field.sizes["x"])))
    near = (y > field.y.values[5]) & (y < field.y.values[3])  # between rows 3 and 5
    got = sample(lazy, x[near], y[near])
    np.testing.assert_array_equal(got, _rgi(field, x[near], y[near]))
    assert reads.rows == {3, 4, 5}
