"""Atomic output: files and whole output folders written in staging and renamed into place.

Nothing is ever half-written: each file is written in a temporary folder beside its target and
renamed into place (:func:`atomic_file`), and :func:`atomic_output` does the same for a whole
output folder, one run at a time (:func:`output_lock`), with the marker :data:`OUTPUT_MARKER`
that lets ``--force`` replace only an earlier run's output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from ..errors import InputError, OutputError
from ..log import logger


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path):
    """Yield a temporary path for ``path``, moved into place only when the block succeeds.

    The temporary file has the same name, in a hidden folder beside ``path``; it is removed
    when the block fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        tmp = staging / path.name
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


#: The former private name of :func:`atomic_file`.
_atomic_file = atomic_file


#: Name of the marker file in every output folder: ``--force`` replaces only such folders.
OUTPUT_MARKER = ".insarfusion-output"

#: ``errno`` values of a full disk or an exceeded quota.
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

#: Free bytes under which a failure while writing is reported as a full disk.
_NEARLY_FULL_BYTES = 16 * 2**20


def check_output_target(out_dir, force=False, protect=()) -> Path:
    """Check, before any work, that an output folder may be written.

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    force : bool
        Replace an existing, non-empty folder, if an earlier insarfusion run wrote it (it holds
        :data:`OUTPUT_MARKER`).
    protect : iterable of path-like
        Paths the run reads (its config, its inputs): the output folder may not be one of them
        nor hold one of them, with or without ``force``.

    Returns
    -------
    pathlib.Path
        The absolute output folder.

    Raises
    ------
    OutputError
        Naming the folder and why it may not be written.
    """
    out = Path(out_dir).absolute()
    real = out.resolve()
    for item in protect:
        if item is None:
            continue
        p = Path(item).absolute().resolve()
        if p == real or real in p.parents:
            raise OutputError(f"output folder holds the run's own input {str(p)!r}; choose "
                              "another --out (nothing was replaced)", out)
    if out.exists() and not out.is_dir():
        raise OutputError("output path exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise OutputError("output folder exists and is not empty (use --force to replace "
                              "it)", out)
        if not (out / OUTPUT_MARKER).is_file():
            raise OutputError(f"output folder exists and was not written by insarfusion (no "
                              f"{OUTPUT_MARKER} marker); --force replaces only an earlier "
                              "run's output: choose another --out or remove it yourself", out)
    return out


@contextlib.contextmanager
def output_lock(out: Path):
    """Hold the lock of an output folder: one run at a time may write it.

    The lock is ``.NAME.lock`` beside the folder, locked with ``flock`` (released by the
    system if the process dies) and removed when the block ends.

    Parameters
    ----------
    out : pathlib.Path
        The absolute output folder.

    Raises
    ------
    OutputError
        When another run holds the lock, naming its process id.
    """
    lock = out.parent / f".{out.name}.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: an exclusive create instead
        fcntl = None
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
        except FileExistsError:  # pragma: no cover - not POSIX
            fd = None
        try:
            if fd is None:
                raise BlockingIOError
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(lock)
            if fd is not None:
                os.close(fd)
            raise OutputError(f"another insarfusion run{holder} is writing this output folder; "
                              "wait for it to end or choose another --out", out) from None
        try:  # the file may have been removed by the run that held it: lock the new one
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _lock_holder(lock: Path) -> str:
    """`` (process N)`` from a lock file, or nothing."""
    try:
        pid = lock.read_text().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def remove_stale_staging(out: Path) -> list[Path]:
    """Remove the staging folders a killed run left beside ``out``; call it holding the lock.

    These are ``.NAME.XXXXXXXX.partial`` (a run's unfinished output) and
    ``.NAME.replaced-XXXXXXXX`` (an old output being replaced); each removal is logged.

    Parameters
    ----------
    out : pathlib.Path
        The absolute output folder.

    Returns
    -------
    list of pathlib.Path
        The folders removed.
    """
    name = re.escape(out.name)
    pattern = re.compile(rf"^\.{name}\.(?:[a-z0-9_]{{8}}\.partial|replaced-[0-9a-f]{{8}})$")
    removed = []
    if not out.parent.is_dir():
        return removed
    for entry in out.parent.iterdir():
        if pattern.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            logger.warning("removed %s, left by an earlier run into %s that was killed", entry,
                           out)
            removed.append(entry)
    return removed


def _disk_full(exc: BaseException, staging: Path) -> bool:
    """Whether a failure while writing is (most likely) a full disk."""
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return True
    if not isinstance(exc, Exception) or isinstance(exc, InputError):
        return False
    try:
        return shutil.disk_usage(staging).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def atomic_output(out_dir, force=False, *, protect=()):
    """Write a whole output folder atomically, one run at a time.

    Yields a temporary folder beside ``out_dir`` holding the marker :data:`OUTPUT_MARKER`;
    when the block ends without error it becomes ``out_dir``; when the block fails (or a
    signal stops the run) it is deleted and ``out_dir`` is left as it was. While the block
    runs, a lock (:func:`output_lock`) refuses a second run into the same folder; staging
    folders left by a killed run are removed first (:func:`remove_stale_staging`).

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    force : bool
        Replace an existing, non-empty ``out_dir`` that an earlier run wrote (one holding
        :data:`OUTPUT_MARKER`).
    protect : iterable of path-like, optional
        The run's config and inputs: ``out_dir`` may not be nor hold one of them.

    Raises
    ------
    OutputError
        If ``out_dir`` exists, is not an empty folder and ``force`` is false; if it was not
        written by insarfusion; if it holds a protected path; if another run is writing it;
        or if the disk fills while writing (naming the folder; nothing is left behind).
    """
    out = check_output_target(out_dir, force, protect)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output's parent folder ({exc.strerror})",
                          out) from None
    with output_lock(out):
        check_output_target(out, force, protect)  # again, now that no other run can write
        remove_stale_staging(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial",
                                        dir=out.parent))
        try:
            (staging / OUTPUT_MARKER).write_text(
                f"written by insarfusion {_version()}; --force may replace this folder\n",
                encoding="utf-8")
            yield staging
            os.chmod(staging, 0o777 & ~_umask())
            _move_into_place(staging, out)
        except BaseException as exc:
            full = _disk_full(exc, staging)
            shutil.rmtree(staging, ignore_errors=True)
            if full:
                where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
                raise OutputError(f"no space left on the device while writing the output"
                                  f"{where}; nothing was kept", out) from None
            raise
    logger.debug("products written to %s", out)


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename the finished staging folder to ``out``, retiring an old ``out`` first."""
    if out.exists() or out.is_symlink():
        retired = out.parent / f".{out.name}.replaced-{uuid.uuid4().hex[:8]}"
        os.replace(out, retired)
        os.replace(staging, out)
        if retired.is_dir() and not retired.is_symlink():
            shutil.rmtree(retired, ignore_errors=True)
        else:
            retired.unlink(missing_ok=True)
    else:
        os.replace(staging, out)


def _version() -> str:
    from .. import __version__

    return str(__version__)
