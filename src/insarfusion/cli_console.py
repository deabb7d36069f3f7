"""The console of the command line: held log lines and signals turned into a clean stop.

A command's first log lines are held while it may still fail on its input
(:class:`HeldConsole`); SIGINT, SIGTERM and SIGHUP unwind the command
(:func:`signals_interrupt`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time

from .errors import Interrupted
from .log import logger


@contextlib.contextmanager
def signals_interrupt():
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` while in the block.

    Raised in the main thread, it unwinds every context manager, so that the staging folder
    of the output is removed. A second signal during that clean-up is ignored. Outside the
    main thread (an embedding application) nothing is changed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    signals = [getattr(signal, n) for n in names if hasattr(signal, n)]

    def handler(signum, frame):
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {}
    for sig in signals:
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # pragma: no cover - not allowed here
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class HeldConsole(logging.Handler):
    """Holds the console's log lines of the first seconds of a command.

    A command that fails on its input fails within its first seconds (reading the config and
    the data): its held lines are dropped, so that the error is the one line on stderr. Once
    :data:`HOLD_S` seconds have passed since the first line (or :data:`HOLD_RECORDS` lines are
    held), or the command succeeds, the held lines are written in order and later ones go
    straight through.
    ``run.log`` in the output gets every line as it happens, whatever is held here.
    """

    #: Seconds during which console lines are held.
    HOLD_S = 5.0
    #: Lines held at most before they are written anyway.
    HOLD_RECORDS = 200

    def __init__(self, target: logging.Handler):
        super().__init__(target.level)
        self.target = target
        self.setFormatter(target.formatter)
        self.start = time.monotonic()
        self.records: list[logging.LogRecord] | None = []

    @classmethod
    def install(cls) -> HeldConsole:
        """Wrap the package logger's console handlers (set up by the command callback)."""
        holder = cls(logging.NullHandler())
        holder._hooked = False
        return holder

    def hook(self) -> None:
        """Put this handler in place of the package logger's stderr handlers."""
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and \
                    not isinstance(handler, logging.FileHandler):
                logger.removeHandler(handler)
                self.target = handler
                self.setLevel(handler.level)
                self.setFormatter(handler.formatter)
                logger.addHandler(self)
                break

    def emit(self, record: logging.LogRecord) -> None:
        """Hold ``record`` during the first seconds, else pass it to the console."""
        if self.records is not None:
            if not self.records:
                self.start = time.monotonic()
            self.records.append(record)
            if (time.monotonic() - self.start > self.HOLD_S
                    or len(self.records) >= self.HOLD_RECORDS):
                self.flush_held()
            return
        self.target.handle(record)

    def flush_held(self) -> None:
        """Write the held lines and let later ones through."""
        held, self.records = self.records or [], None
        for record in held:
            self.target.handle(record)

    def drop_held(self) -> None:
        """Drop the held lines (the command failed; its one-line error says why)."""
        self.records = None

    def close(self) -> None:
        """Write what is held before the handler goes (the logger is being set up again)."""
        self.flush_held()
        super().close()
