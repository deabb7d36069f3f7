"""The package logger. Stages log counts of what they drop or change, never silently."""

from __future__ import annotations

import logging

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
