"""Chunked per-point and per-cell work, in this process or on a Dask cluster.

The heavy steps that are independent from chunk to chunk go through :func:`for_each_result`
(or :func:`map_chunks`, which collects the results):

* temporal resampling of the points (:func:`insarfusion.temporal.resample_dataset`, chunks of
  :data:`POINT_CHUNK` series);
* the prediction of the classic interpolators at the grid cells
  (:func:`insarfusion.spatial.grid`, blocks of whole rows of about :data:`CELL_CHUNK` cells);
* the CNN's inference (:class:`insarfusion.cnn.CNNFusion`, bands of one row of tiles with
  their halo, every epoch).

Whole tasks that each need one core for a long time (every dataset's LSTM: trained on one
thread, see :data:`insarfusion.temporal.lstm.LSTM_THREADS`) run side by side in worker
processes of this machine with :func:`map_processes`.

Without a client the chunks run one after the other in this process; with a
``dask.distributed`` client (from :func:`dask_client`) they run on its workers, the fitted
model is sent to every worker once, and each chunk's data goes to its worker directly. Both
paths run the same function on the same chunks, so they give the same numbers.

Gridded results are written to disk block by block as they come back
(:mod:`insarfusion.cubes`), and the later stages read them back lazily, block by block, on
this machine's threads; so the memory of the grid stages is bounded by a block, not by the
grid. What stays in the main process: reading, fitting (training the LSTM and the CNN on
their samples of series and patches, the kriging variogram) and writing.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import ConfigError
from .log import logger

#: Series per chunk of temporal resampling (a multiple of the LSTM's CPU prediction batch, so
#: chunked and whole predictions see the same batches).
POINT_CHUNK = 16_384

#: Grid cells per chunk of spatial prediction.
CELL_CHUNK = 65_536


#: Where the chunked work of the current run goes: (Dask client or None, scratch folder or None).
_EXECUTION = contextvars.ContextVar("insarfusion_execution", default=(None, None))
_SCRATCH_COUNT = itertools.count()


@contextlib.contextmanager
def execution(client=None, scratch=None):
    """Run the chunked work inside the block on ``client`` and keep large cubes in ``scratch``.

    Like ``dask.config.set`` or ``threadpoolctl.threadpool_limits``, it sets how work is done,
    not what is computed: an estimator's ``fit`` and :func:`insarfusion.spatial.grid` ask
    :func:`current_client` and :func:`scratch_file` instead of taking them as arguments, so
    every estimator keeps the same ``fit``/``predict`` signature. The numbers are the same
    with or without either.

    Parameters
    ----------
    client : distributed.Client, optional
        Dask client whose workers run the chunks (see :func:`for_each_result`).
    scratch : path-like, optional
        Folder for cubes written block by block (:mod:`insarfusion.cubes`); in memory when
        not given.
    """
    token = _EXECUTION.set((client, None if scratch is None else Path(scratch)))
    try:
        yield
    finally:
        _EXECUTION.reset(token)


def current_client():
    """The Dask client of the enclosing :func:`execution` block, or None (in process)."""
    return _EXECUTION.get()[0]


def scratch_file(name: str) -> Path | None:
    """A new path for ``name`` in the scratch folder of the enclosing :func:`execution`.

    Each call gives another file (``<stem>.<n><suffix>``), so two fits of one estimator in
    one run (the product and a held-out fold) never write into each other's cubes. None
    outside an :func:`execution` block with a scratch folder.
    """
    scratch = _EXECUTION.get()[1]
    if scratch is None:
        return None
    name = Path(name)
    return scratch / f"{name.stem}.{next(_SCRATCH_COUNT)}{name.suffix}"


def chunk_slices(n: int, size: int) -> list[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)`` (one empty slice if n = 0)."""
    if size < 1:
        raise ValueError(f"chunk size must be positive, got {size}")
    return [slice(start, min(start + size, n)) for start in range(0, n, size)] or [slice(0, 0)]


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                threads_per_worker: int = 1, timeout: str = "20s"):
    """A ``dask.distributed`` client for the run, or None for in-process work.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); the run's chunks go to its
        workers, which need insarfusion installed and the same Python packages.
    workers : int, optional
        Start a local cluster of this many worker processes instead (ignored with
        ``scheduler``).
    threads_per_worker : int
        Threads of each local worker.
    timeout : str
        How long to try to reach ``scheduler``.

    Yields
    ------
    distributed.Client or None
    """
    if scheduler is None and not workers:
        yield None
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ConfigError(f"Dask is not installed ({exc}); pip install 'dask[distributed]'") \
            from exc
    cluster = None
    try:
        if scheduler is not None:
            client = Client(scheduler, timeout=timeout)
        else:
            if workers < 1:
                raise ConfigError(f"--workers must be at least 1, got {workers}")
            cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
    except ConfigError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from exc
    logger.info("Dask: %d workers (%s)", len(client.scheduler_info()["workers"]),
                scheduler or "local cluster")
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def for_each_result(func, chunks, consume, client=None, **shared) -> None:
    """Call ``consume(i, func(chunks[i], **shared))`` for every chunk.

    The chunks run on the client's workers if one is given, else in this process.

    Results are handed over one at a time, as they come (in order without a client, in order
    of completion with one), so a caller that writes each away holds one chunk's result at a
    time. ``shared`` objects (a fitted model, the target dates) are sent to each worker once.
    """
    chunks = list(chunks)
    if client is None or len(chunks) == 0:
        for i, chunk in enumerate(chunks):
            consume(i, func(chunk, **shared))
        return
    from dask.distributed import as_completed

    # a list of one: scatter sends the object itself, not its items
    scattered = {key: client.scatter([value], broadcast=True, hash=False)[0] for key, value in shared.items()}
    # the chunks' data go to the workers directly, not inside the task graph
    futures = client.map(func, client.scatter(chunks, hash=False), pure=False,
                         **scattered)
    index = {future.key: i for i, future in enumerate(futures)}
    for future, result in as_completed(futures, with_results=True):
        i = index[future.key]
        consume(i, result)
        futures[i] = future = result = None  # the cluster lets the result go


def map_chunks(func, chunks, client=None, **shared) -> list:
    """``[func(chunk, **shared) for chunk in chunks]``, on the client's workers if given.

    See :func:`for_each_result`.
    """
    chunks = list(chunks)
    results = [None] * len(chunks)
    for_each_result(func, chunks, results.__setitem__, client, **shared)
    return results


def _run_in_worker(func, label, item, procs):
    """``func(item)`` in a fresh interpreter (:mod:`insarfusion._worker`); its log lines here.

    The task goes to the worker's stdin, pickled; records and the outcome come back, pickled,
    on a pipe of their own, so that whatever the worker prints stays on the terminal.
    """
    from . import torchutil

    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "insarfusion._worker", str(write_fd)],
                                stdin=subprocess.PIPE, pass_fds=(write_fd,))
    finally:
        os.close(write_fd)
    procs.append(proc)
    outcome = None
    with os.fdopen(read_fd, "rb") as messages:
        with proc.stdin:
            pickle.dump((func, item, label, torchutil.thread_limit()), proc.stdin,
                        protocol=pickle.HIGHEST_PROTOCOL)
        while True:
            try:
                kind, payload = pickle.load(messages)
            except EOFError:
                break
            if kind == "log":
                logger.handle(payload)
            else:
                outcome = kind, payload
    code = proc.wait()
    if outcome is None:
        raise RuntimeError(f"the worker process of {label} stopped without a result "
                           f"(exit status {code})")
    kind, payload = outcome
    if kind == "error":
        raise payload
    return payload


def map_processes(func, items, n_processes: int, labels=None) -> list:
    """``[func(item) for item in items]``, up to ``n_processes`` at a time in worker processes.

    For a few long, independent tasks that each keep one core busy (a single-threaded
    training): side by side on a machine's cores they take the time of the longest, not of
    all. Each task runs in a fresh Python interpreter (``python -m insarfusion._worker``:
    nothing of this process is copied and the caller's script is not run again, so no
    ``if __name__ == "__main__"`` guard is needed), so ``func`` must be a module-level
    function (or a :func:`functools.partial` of one) and the items picklable. A worker logs
    through this process's package logger, each line starting with the task's label, and
    shows progress as log lines, never bars that would overwrite each other; it keeps the
    torch thread limit of :func:`insarfusion.torchutil.set_thread_limit`. A task gives the
    same result as in this process: the workers compute the same thing, only elsewhere.

    Parameters
    ----------
    func : callable
        Called with one item.
    items : iterable
    n_processes : int
        Most tasks at once; with 1 (or a single item, or on Windows) the tasks run here, one
        after the other, without worker processes.
    labels : sequence of str, optional
        A name per item for its log lines from a worker (``[name] ...``); default its index.

    Returns
    -------
    list
        The results, in the order of ``items``. An exception in a task is raised here, and
        the other workers are stopped.
    """
    items = list(items)
    n_processes = min(int(n_processes), len(items))
    if n_processes <= 1 or os.name == "nt":
        return [func(item) for item in items]
    labels = [str(i) for i in range(len(items))] if labels is None else list(labels)
    procs = []
    pool = ThreadPoolExecutor(n_processes, thread_name_prefix="insarfusion-worker")
    try:
        futures = [pool.submit(_run_in_worker, func, label, item, procs)
                   for label, item in zip(labels, items, strict=True)]
        return [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.kill()
        raise
    finally:
        pool.shutdown(wait=True)
