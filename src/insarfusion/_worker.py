"""A worker process of :func:`insarfusion.parallel.map_processes`: one task, then exit.

Run as ``python -m insarfusion._worker FD``. It reads ``(func, item, label, thread_limit)``
pickled from stdin and writes pickled ``("log", record)`` messages and then one
``("result", value)`` or ``("error", exception)`` to the file descriptor ``FD``.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys


class _PipeHandler(logging.Handler):
    """Sends each record, its message formatted and labelled, down the pipe."""

    def __init__(self, stream, label):
        super().__init__(logging.DEBUG)
        self.stream, self.label = stream, label

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            record = logging.makeLogRecord(dict(record.__dict__))
            labelled = not self.label or message.startswith(f"{self.label}:")
            record.msg = message if labelled else f"[{self.label}] {message}"
            record.args, record.exc_info, record.exc_text = None, None, None
            pickle.dump(("log", record), self.stream)
            self.stream.flush()
        except Exception:  # noqa: BLE001 - a lost log line must not stop the task
            self.handleError(record)


def _send_outcome(stream, kind, payload) -> None:
    try:
        data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - an unpicklable outcome still gets reported
        data = pickle.dumps(("error", RuntimeError(f"{kind} could not be sent back: {exc}; "
                                                   f"{payload!r}")))
    stream.write(data)
    stream.flush()


def main() -> None:
    """Serve the one task of this worker."""
    # Ctrl-C reaches the whole process group: the parent stops the run and its workers, and
    # a worker's own KeyboardInterrupt would only print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with os.fdopen(int(sys.argv[1]), "wb") as stream:
        func, item, label, thread_limit = pickle.load(sys.stdin.buffer)
        from . import log, torchutil

        for handler in list(log.logger.handlers):
            log.logger.removeHandler(handler)
        log.logger.addHandler(_PipeHandler(stream, label))
        log.logger.setLevel(logging.DEBUG)
        log.logger.propagate = False
        log.progress_as_log_lines()
        torchutil.set_thread_limit(thread_limit)
        try:
            result = func(item)
        except Exception as exc:  # noqa: BLE001 - the caller raises it
            _send_outcome(stream, "error", exc)
        else:
            _send_outcome(stream, "result", result)


if __name__ == "__main__":
    main()
