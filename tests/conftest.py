"""Shared test fixtures: the real data folder and a CLI runner that captures one-line errors."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
if not REAL.exists():  # CI clones beside ../shared; allow an override
    REAL = Path(os.environ.get("INSARFUSION_REAL_DATA", REAL))


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL.exists():
        pytest.skip(f"real data folder not found at {REAL}")
    return REAL


@pytest.fixture
def cli(capsys):
    """Run the command line in-process; returns (exit_code, stdout, stderr)."""
    from insarfusion.cli import main

    def _run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def log_records():
    """Log records of the package logger during the test, whatever a CLI run did to its
    propagation."""
    pkg = logging.getLogger("insarfusion")
    handler, old = _Collect(), pkg.level
    pkg.addHandler(handler)
    pkg.setLevel(logging.DEBUG)
    yield handler.records
    pkg.removeHandler(handler)
    pkg.setLevel(old)


@pytest.fixture(autouse=True)
def _restore_package_logger():
    """The command line sets up its own handlers on the package logger; undo that after each
    test so later tests (and caplog) see the logger as it was."""
    pkg = logging.getLogger("insarfusion")
    saved = (list(pkg.handlers), pkg.level, pkg.propagate)
    yield
    pkg.handlers[:] = saved[0]
    pkg.setLevel(saved[1])
    pkg.propagate = saved[2]


@pytest.fixture
def torch_one_thread():
    """Torch on one CPU thread during a test (the learned estimators' tests on a busy machine)."""
    from insarfusion.torchutil import threads

    with threads(1):
        yield
