"""The common time grid every dataset is resampled onto (paper §4.2.3).

The paper synchronises the datasets "to a uniform 12-day cycle (mirroring the S1A acquisition
frequency) with the same start and end date (obtained by the intersection of S1A and CSK
acquisition time)". :func:`common_epochs` builds that grid: it starts at the latest first date
of the datasets, ends at or before the earliest last date, and steps ``step_days`` from the
start. Every series put on these epochs is relative to the first of them (see
:mod:`insarfusion.datum`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .conventions import as_days
from .errors import StageError
from .log import logger


def _named_spans(times) -> list[tuple[str, np.datetime64, np.datetime64]]:
    """(name, first date, last date) of each entry of ``times``."""
    if isinstance(times, Mapping):
        items = list(times.items())
    else:
        if not isinstance(times, Iterable) or isinstance(times, str):
            raise TypeError("times must be an iterable of date arrays or datasets")
        items = [(None, entry) for entry in times]
    spans = []
    for index, (key, entry) in enumerate(items):
        name = key
        if hasattr(entry, "coords") and "time" in entry.coords:
            if name is None:
                name = entry.attrs.get("name") or entry.attrs.get("source") or None
            dates = entry["time"].values
        else:
            dates = entry
        days = as_days(np.asarray(dates).ravel())
        days = days[~np.isnat(days)]
        name = str(name) if name else f"dataset {index}"
        if days.size == 0:
            raise StageError(f"{name} has no dates to build the common time grid from")
        spans.append((name, days.min(), days.max()))
    if not spans:
        raise StageError("no dataset to build the common time grid from")
    return spans


def common_epochs(times, step_days: int = 12, start=None, end=None) -> np.ndarray:
    """Common epochs of several datasets: their shared time span sampled every ``step_days``.

    Parameters
    ----------
    times : iterable or mapping
        Date arrays (anything :func:`insarfusion.conventions.as_days` reads) or datasets with a
        ``time`` coordinate; a mapping ``{name: dates or dataset}`` names them in messages.
    step_days : int
        Spacing of the epochs, days (default 12, the Sentinel-1 repeat cycle).
    start, end : date-like, optional
        Override the first / last epoch. By default ``start`` is the latest first date of the
        datasets and ``end`` the earliest last date. The grid is anchored at ``start`` and its
        last epoch is the last one not after ``end``. An override outside a dataset's span
        means extrapolating that dataset; this is logged as a warning.

    Returns
    -------
    numpy.ndarray of datetime64[D]
        The epochs, strictly increasing, spaced exactly ``step_days``.

    Raises
    ------
    StageError
        When the spans do not overlap (the two spans that exclude each other are named) or
        fewer than two epochs fit between ``start`` and ``end``.
    """
    step = int(step_days)
    if step <= 0:
        raise ValueError(f"step_days must be positive, got {step_days!r}")
    spans = _named_spans(times)
    late_name, late_first, late_last = max(spans, key=lambda s: s[1])
    early_name, early_first, early_last = min(spans, key=lambda s: s[2])
    if late_first > early_last:
        raise StageError(
            f"the datasets do not overlap in time: {late_name} spans {late_first}..{late_last} "
            f"and {early_name} spans {early_first}..{early_last}")

    first = late_first if start is None else as_days([start])[0]
    last = early_last if end is None else as_days([end])[0]
    for label, date in (("start", start), ("end", end)):
        if date is None:
            continue
        day = first if label == "start" else last
        outside = [name for name, lo, hi in spans if day < lo or day > hi]
        if outside:
            logger.warning("time grid %s %s lies outside the span of %d dataset(s) (%s): "
                           "their series will be extrapolated", label, day, len(outside),
                           ", ".join(outside))
    epochs = np.arange(first, last + np.timedelta64(1, "D"), np.timedelta64(step, "D"))
    if epochs.size < 2:
        spans_text = "; ".join(f"{name} {lo}..{hi}" for name, lo, hi in spans)
        raise StageError(f"fewer than 2 epochs of {step} days fit between {first} and {last} "
                         f"(spans: {spans_text})")
    logger.info("common time grid: %d epochs every %d days, %s..%s", epochs.size, step,
                epochs[0], epochs[-1])
    return epochs.astype("datetime64[D]")
