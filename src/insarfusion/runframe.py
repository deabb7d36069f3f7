"""The frame every command that writes an output folder runs in.

``insarfusion run``, ``decompose`` and ``compare-gnss`` share it: the folder is written
atomically (a failed run leaves no half-written output, :func:`insarfusion.products.atomic_output`),
the log of the run goes to ``run.log`` inside it, the configuration as resolved (every default
filled in) to ``config.resolved.yaml``, and lazy (Dask) work runs on this machine's threads,
since it reads this machine's files.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from .config import Config, dump_config
from .log import run_log


@contextlib.contextmanager
def run_frame(cfg: Config, out, force: bool = False):
    """Stage an output folder for a run of ``cfg`` and yield it.

    Parameters
    ----------
    cfg : Config
        The run's configuration, written resolved into the folder.
    out : path-like
        The output folder; it appears, whole, only when the block ends without error.
    force : bool
        Replace an existing output folder.

    Yields
    ------
    pathlib.Path
        The staging folder to write into.
    """
    import dask

    from .products import atomic_output

    with atomic_output(out, force=force) as tmp, dask.config.set(scheduler="threads"):
        with run_log(Path(tmp) / "run.log"):
            dump_config(cfg, Path(tmp) / "config.resolved.yaml")
            yield Path(tmp)
