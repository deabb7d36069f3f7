"""Chunked work in process and on a two-worker Dask cluster gives the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from test_temporal import dates, small_dataset

from insarfusion import parallel
from insarfusion.errors import ConfigError
from insarfusion.grid import make_grid
from insarfusion.parallel import chunk_slices, dask_client, map_chunks
from insarfusion.spatial import IDWInterpolator, KrigingInterpolator, grid
from insarfusion.temporal import LinearResampler, LSTMResampler, resample_dataset


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2) as c:
        yield c


def test_chunk_slices_cover_everything_once():
    for n, size in ((0, 4), (1, 4), (8, 4), (9, 4), (10, 3)):
        covered = np.concatenate([np.arange(n)[s] for s in chunk_slices(n, size)])
        np.testing.assert_array_equal(covered, np.arange(n))
        assert all(s.stop - s.start <= size for s in chunk_slices(n, size))
    with pytest.raises(ValueError):
        chunk_slices(3, 0)


def test_map_chunks_in_process_keeps_order():
    assert map_chunks(lambda c, k: c * k, [1, 2, 3], k=10) == [10, 20, 30]
    assert map_chunks(lambda c: c, []) == []


def test_no_options_no_cluster():
    with dask_client() as c:
        assert c is None


def test_unreachable_scheduler_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        with dask_client("tcp://127.0.0.1:9", timeout="1s"):
            pass


def test_temporal_resampling_on_workers_equals_in_process(client, monkeypatch):
    monkeypatch.setattr(parallel, "POINT_CHUNK", 7)  # several chunks from a small dataset
    import insarfusion.temporal as temporal

    monkeypatch.setattr(temporal, "POINT_CHUNK", 7)
    ds, _, _ = small_dataset(n_point=30)
    epochs = dates(np.arange(12, 589, 12))
    for make in (LinearResampler,
                 lambda: LSTMResampler(layers=1, units=4, epochs=2, batch_size=8,
                                       max_train_series=20, progress=False, n_threads=1)):
        fitted = make().fit(ds["time"].values, ds["displacement"].values)
        local = resample_dataset(ds, epochs, fitted, refit=False)
        remote = resample_dataset(ds, epochs, fitted, refit=False, client=client)
        np.testing.assert_array_equal(local["displacement"].values,
                                      remote["displacement"].values)


def test_gridding_on_workers_equals_in_process(client, monkeypatch, tmp_path):
    import insarfusion.cubes as cubes

    monkeypatch.setattr(cubes, "CELL_CHUNK", 50)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 400, 300), rng.uniform(0, 400, 300)
    data = np.sin(x / 90)[:, None] * np.arange(4) + 0.1 * rng.normal(size=(300, 4))
    g = make_grid(0, 400, 0, 400, cell_size=20.0)
    for model in (IDWInterpolator(k=6), KrigingInterpolator(k=8)):  # without and with a std
        model.fit((x, y), data)
        local = [a for a in grid(model, g) if a is not None]
        remote = [a for a in grid(model, g, client=client) if a is not None]
        assert len(local) == len(remote) == (2 if model.provides_std else 1)
        for a, b in zip(local, remote, strict=True):
            assert a.dims[-2:] == ("y", "x")
            np.testing.assert_array_equal(a.values, b.values)
        # written to disk block by block as the workers' blocks come back, in any order
        days = np.datetime64("2020-01-01") + 12 * np.arange(4)
        on_disk = grid(model, g, time=days, client=client,
                       store=tmp_path / f"{type(model).__name__}.nc")
        for a, b in zip(local, [b for b in on_disk if b is not None], strict=True):
            assert b.chunks is not None
            np.testing.assert_array_equal(a.values.astype("float32"), b.values)


class _Records(__import__("logging").Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_map_processes_keeps_order_and_raises_the_tasks_error():
    import math

    assert parallel.map_processes(math.sqrt, [4.0, 9.0, 16.0], 2) == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="math domain error"):
        parallel.map_processes(math.sqrt, [4.0, -9.0], 2)


def test_map_processes_raises_one_line_errors_as_they_are(tmp_path):
    from insarfusion.config import load_config
    from insarfusion.errors import InputError

    missing = tmp_path / "missing.yaml"
    with pytest.raises(InputError) as here:
        load_config(missing)
    with pytest.raises(InputError) as there:
        parallel.map_processes(load_config, [missing, tmp_path / "other.yaml"], 2)
    assert type(there.value) is type(here.value)
    assert str(there.value) == str(here.value)


def test_map_processes_logs_here_with_each_tasks_label():
    from insarfusion.log import logger

    records = _Records()
    logger.addHandler(records)
    try:
        parallel.map_processes(logger.warning, ["from one", "b: names itself"], 2,
                               labels=["a", "b"])
        parallel.map_processes(logger.warning, ["in process"], 2, labels=["c"])
    finally:
        logger.removeHandler(records)
    assert sorted(records.messages) == ["[a] from one", "b: names itself", "in process"]
