"""Cubes on disk: written block by block, read back lazily and exactly (float32)."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from insarfusion import cubes


def _cube(nt=5, ny=7, nx=4, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(nt, ny, nx))
    values[:, 2, 1] = np.nan
    return xr.DataArray(values, dims=("time", "y", "x"), name="displacement",
                        coords={"time": np.datetime64("2020-01-01") + 12 * np.arange(nt),
                                "y": 1000.0 - 20 * np.arange(ny), "x": 20.0 * np.arange(nx)},
                        attrs={"units": "mm"})


@given(ny=st.integers(1, 40), nx=st.integers(1, 40), cells=st.integers(1, 500))
@settings(max_examples=60, deadline=None)
def test_row_blocks_cover_the_rows_once_in_whole_rows(ny, nx, cells):
    blocks = cubes.row_blocks(ny, nx, cells)
    rows = np.concatenate([np.arange(ny)[b] for b in blocks])
    np.testing.assert_array_equal(rows, np.arange(ny))
    assert all((b.stop - b.start) * nx <= max(cells, nx) for b in blocks)


def test_store_round_trip_is_lazy_and_exact_in_float32(tmp_path):
    cube = _cube()
    on_disk = cubes.store(cube, tmp_path / "c.nc")
    assert on_disk.chunks is not None                      # Dask-backed, read in blocks
    assert on_disk.dims == ("time", "y", "x")
    np.testing.assert_array_equal(on_disk.values, cube.values.astype("float32"))
    np.testing.assert_array_equal(on_disk["time"].values, cube["time"].values)
    np.testing.assert_array_equal(on_disk["y"].values, cube["y"].values)
    assert on_disk.attrs["units"] == "mm"


def test_writer_leaves_unwritten_rows_nan_and_checks_block_shapes(tmp_path):
    cube = _cube()
    with cubes.CubeWriter(tmp_path / "c.nc", cube["time"], cube["y"], cube["x"], rows=3) as w:
        w.write(slice(3, 6), cube.values[:, 3:6])
        with pytest.raises(ValueError, match="expected"):
            w.write(slice(0, 3), cube.values[:, 0:2])
        out = w.close()
    assert out.chunks[1] == (3, 3, 1)
    assert np.isnan(out.values[:, :3]).all() and np.isnan(out.values[:, 6:]).all()
    np.testing.assert_array_equal(out.values[:, 3:6], cube.values[:, 3:6].astype("float32"))


def test_failed_writer_removes_its_file(tmp_path):
    cube = _cube()
    with pytest.raises(RuntimeError):
        with cubes.CubeWriter(tmp_path / "c.nc", cube["time"], cube["y"], cube["x"]):
            raise RuntimeError("prediction failed")
    assert not (tmp_path / "c.nc").exists()


def test_blocks_cells_and_with_data(tmp_path):
    cube = _cube()
    on_disk = cubes.store(cube, tmp_path / "c.nc")
    whole = np.concatenate([b for _, b in cubes.blocks(on_disk)], axis=1)
    np.testing.assert_array_equal(whole, cube.values.astype("float32"))
    picked = cubes.cells(on_disk, [0, 6, 2], [3, 0, 1])
    np.testing.assert_array_equal(picked[:2], cube.values[:, [0, 6], [3, 0]].T
                                  .astype("float32"))
    assert np.isnan(picked[2]).all()
    has = cubes.with_data(on_disk)
    assert has.shape == (7, 4) and not has[2, 1] and has.sum() == 27


def test_regrid_equals_xarray_interp_block_by_block(tmp_path, monkeypatch):
    monkeypatch.setattr(cubes, "CELL_CHUNK", 8)            # blocks of two rows
    field = _cube(nt=6, ny=9, nx=5)
    field.values[:, 4, 2] = np.nan
    time = field["time"].values[[1, 3, 4]] + np.timedelta64(2, "D")   # nearest epochs
    y = np.linspace(995.0, 845.0, 7)
    x = np.linspace(3.0, 77.0, 4)
    expected = field.sel(time=time, method="nearest").interp(x=x, y=y)
    in_memory = cubes.regrid(field, time, y, x)
    np.testing.assert_allclose(in_memory.values, expected.values, equal_nan=True)
    on_disk = cubes.regrid(cubes.store(field, tmp_path / "f.nc"), time, y, x,
                           store=tmp_path / "r.nc")
    assert on_disk.chunks is not None
    np.testing.assert_allclose(on_disk.values, expected.values, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(on_disk["time"].values, time)


def test_regrid_onto_shared_cell_centres_copies_the_cells():
    field = _cube(nt=3, ny=9, nx=6)
    field.values[:, 4, 2] = np.nan
    # the target's cells are the field's (and one more row and column, beyond it: NaN)
    y = np.r_[field["y"].values, field["y"].values[-1] - 20.0]
    x = np.r_[field["x"].values, field["x"].values[-1] + 20.0]
    out = cubes.regrid(field, field["time"].values, y, x)
    np.testing.assert_array_equal(out.values[:, :-1, :-1], field.values)  # NaN where it was
    assert np.isnan(out.values[:, -1]).all() and np.isnan(out.values[:, :, -1]).all()
