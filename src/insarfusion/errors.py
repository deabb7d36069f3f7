"""Errors that reach the user as one line: which file, where in it, and what is wrong."""

from __future__ import annotations

import os


class InsarfusionError(Exception):
    """Base class of the errors the command line reports as one line, without a traceback."""


class InputError(InsarfusionError, ValueError):
    """Bad input data or configuration.

    Parameters
    ----------
    path : str or path-like, optional
        The file that is wrong.
    where : str, optional
        Where in the file: ``"row 12"``, ``"column '20150312'"``, ``"key 'datasets.0.path'"``.
    what : str
        What is wrong, and where useful what was expected.
    """

    def __init__(self, what: str, path=None, where: str | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.where = where
        self.what = what
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The one line: file, place in it, and what is wrong, joined by colons."""
        parts = [p for p in (self.path, self.where) if p]
        text = " ".join(" ".join(str(self.what).split()).splitlines() or [""])
        return ": ".join([*parts, text])

    def __str__(self) -> str:
        return self.message


class ConfigError(InputError):
    """A configuration file that does not validate."""


class StageError(InsarfusionError):
    """A pipeline stage that cannot go on with the data it was given (e.g. no time overlap)."""


class OutputError(InputError):
    """An output folder that cannot be written: occupied, locked, protected, or a full disk."""


class Interrupted(BaseException):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP).

    A :class:`BaseException`, like :class:`KeyboardInterrupt`, so that no ``except Exception``
    on the way swallows it, while every ``finally`` and context manager (the staging folder of
    :func:`insarfusion.products.atomic_output`) still cleans up.

    Parameters
    ----------
    signum : int
        The signal number.
    """

    def __init__(self, signum: int):
        import signal

        self.signum = int(signum)
        self.name = signal.Signals(self.signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, the shell's convention (130 for SIGINT)."""
        return 128 + self.signum
