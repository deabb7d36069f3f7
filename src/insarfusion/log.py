"""The package logger. Stages log counts of what they drop or change, never silently."""

from __future__ import annotations

import contextlib
import logging
import sys

logger = logging.getLogger("insarfusion")


def setup_logging(verbose: bool = False, logfile=None) -> None:
    """Send the package's log to stderr (and optionally to ``logfile``)."""
    level = logging.DEBUG if verbose else logging.INFO
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler()
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(console)
    if logfile is not None:
        fh = logging.FileHandler(logfile, mode="w", encoding="utf-8")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(fh)
    logger.propagate = False


@contextlib.contextmanager
def run_log(path):
    """Copy the package's log (INFO and above, with times) into ``path`` while in the block.

    Used by every command that writes an output folder, whoever calls it (the CLI or Python).
    """
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def show_progress(progress=None) -> bool:
    """Whether to draw progress bars: as asked, else only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def progress_bar(iterable, desc: str, total=None, unit: str = "it", progress=None):
    """``iterable`` wrapped in a tqdm bar when :func:`show_progress` says so, else unchanged.

    Loops of a handful of long steps only: without a bar nothing is added to the loop.
    """
    if not show_progress(progress):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)
