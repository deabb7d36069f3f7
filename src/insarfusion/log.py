"""The package logger and progress. Stages log counts of what they drop or change, never silently.

Progress on long loops (:func:`progress_bar`, :func:`progress_tracker`) is a tqdm bar when
stderr is a terminal, else a log line every :data:`PROGRESS_LOG_S` seconds with the share
done and the time left, so that logs of batch jobs show how far a run is. While a bar is
drawn, console log lines clear it first and redraw it after (:class:`ConsoleHandler`), so
that a bar and a log line never share a line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time

logger = logging.getLogger("insarfusion")

#: Seconds between two progress lines in the log when stderr is not a terminal.
PROGRESS_LOG_S = 10.0

#: The clock of the progress lines (seconds; replaced in tests).
_clock = time.monotonic

#: Progress as log lines even on a terminal (:func:`progress_as_log_lines`).
_log_lines_only = False


class ConsoleHandler(logging.StreamHandler):
    """A stream handler that clears the progress bars on its stream before each line.

    The bars are redrawn after the line (tqdm's ``external_write_mode``), so a log record
    written while a bar is active gets a line of its own.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record``, around the active progress bars when there are any."""
        std = sys.modules.get("tqdm.std")
        if std is None or not getattr(std.tqdm, "_instances", None):
            super().emit(record)
            return
        with std.tqdm.external_write_mode(file=self.stream):
            super().emit(record)


def setup_logging(verbose: bool = False, logfile=None) -> None:
    """Send the package's log to stderr (and optionally to ``logfile``)."""
    level = logging.DEBUG if verbose else logging.INFO
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    console = ConsoleHandler()
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


def progress_as_log_lines() -> None:
    """Show progress as log lines from now on, never as bars.

    For a worker process, whose bars would overwrite those of the others on the shared
    terminal.
    """
    global _log_lines_only
    _log_lines_only = True


def progress_mode(progress=None) -> str | None:
    """How to show progress: ``"bar"``, ``"log"`` or None (not at all).

    Parameters
    ----------
    progress : bool, optional
        True: a bar; False: nothing; None: a bar when stderr is a terminal, else log lines.
    """
    if progress is None:
        return "bar" if sys.stderr.isatty() and not _log_lines_only else "log"
    if progress and _log_lines_only:
        return "log"
    return "bar" if progress else None


def _duration(seconds: float) -> str:
    """A duration for people: ``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _plural(unit: str) -> str:
    """The units of the package's loops in the plural: ``batch`` -> ``batches``."""
    return {"batch": "batches", "it": "items"}.get(unit, unit if unit.endswith("s") else unit + "s")


class LogProgress:
    """Progress written as log lines: share done, elapsed time and ETA.

    A line at most every :data:`PROGRESS_LOG_S` seconds, and one at the end when the loop
    took that long; a short loop logs nothing. The methods are those of a tqdm bar that the
    package uses (``update``, ``set_postfix``, ``close``, iteration, ``with``).

    Parameters
    ----------
    iterable : iterable, optional
        What to loop over; None to count with :meth:`update`.
    desc : str
        Name of the loop in the log lines.
    total : int, optional
        Number of items; default ``len(iterable)`` where it has one. Without it the lines
        carry no percentage and no ETA.
    unit : str
        Name of one item.
    """

    def __init__(self, iterable=None, desc: str = "", total=None, unit: str = "it"):
        self.iterable = iterable
        self.desc, self.unit = desc, unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total = total
        self.n = 0
        self.postfix = ""
        self.start = self.last = _clock()
        self.logged = False
        self.closed = False

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_postfix(self, **values) -> None:
        """Values shown after the count in the next lines (``name=value``)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done; log a line when :data:`PROGRESS_LOG_S` have passed."""
        self.n += n
        now = _clock()
        finished = self.total is not None and self.n >= self.total  # close() says it
        if now - self.last >= PROGRESS_LOG_S and not finished:
            self.last = now
            self._log(now, final=False)

    def close(self) -> None:
        """Log the last line (when the loop took :data:`PROGRESS_LOG_S` or more)."""
        if self.closed:
            return
        self.closed = True
        now = _clock()
        if self.logged or now - self.start >= PROGRESS_LOG_S:
            self._log(now, final=True)

    def _log(self, now: float, final: bool) -> None:
        elapsed = now - self.start
        units = _plural(self.unit)
        if self.total:
            share = f"{100.0 * self.n / self.total:.0f}% ({self.n}/{self.total} {units})"
        else:
            share = f"{self.n} {units}"
        extra = f", {self.postfix}" if self.postfix else ""
        if final:
            when = f"done in {_duration(elapsed)}"
        elif self.total and self.n:
            left = elapsed / self.n * max(self.total - self.n, 0)
            when = f"{_duration(elapsed)} elapsed, ETA {_duration(left)}"
        else:
            when = f"{_duration(elapsed)} elapsed, ETA unknown"
        logger.info("%s: %s%s, %s", self.desc, share, extra, when)
        self.logged = True


class _NoProgress:
    """Nothing shown: the methods of a bar, doing nothing."""

    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def set_postfix(self, **values) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def progress_tracker(desc: str, total=None, unit: str = "it", progress=None):
    """A progress counter updated by hand: a tqdm bar, log lines or nothing.

    Parameters
    ----------
    desc : str
        Name of the step.
    total : int, optional
        Number of items.
    unit : str
        Name of one item.
    progress : bool, optional
        See :func:`progress_mode`.

    Returns
    -------
    object
        With ``update(n=1)``, ``set_postfix(**values)`` and ``close()``; a context manager.
    """
    mode = progress_mode(progress)
    if mode == "bar":
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=False)
    if mode == "log":
        return LogProgress(None, desc, total=total, unit=unit)
    return _NoProgress()


def progress_bar(iterable, desc: str, total=None, unit: str = "it", progress=None):
    """``iterable`` with progress shown as :func:`progress_mode` says.

    A tqdm bar on a terminal, log lines with the share done and the ETA otherwise (at most
    every :data:`PROGRESS_LOG_S` seconds and at the end), or ``iterable`` unchanged when
    ``progress`` is False. Loops of a handful of long steps only: the cost per item is a
    clock reading.
    """
    mode = progress_mode(progress)
    if mode == "bar":
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)
    if mode == "log":
        return LogProgress(iterable, desc, total=total, unit=unit)
    return iterable
