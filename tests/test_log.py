"""Progress shown as log lines off a terminal, and log lines that never share a bar's line."""

import io
import logging

import pytest

from insarfusion import log


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class FakePipe(io.StringIO):
    def isatty(self):
        return False


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(log, "_clock", fake)
    return fake


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.INFO, logger="insarfusion")
    log.logger.propagate = True  # let caplog see the package's records
    yield caplog
    log.logger.propagate = False


def progress_lines(caplog, desc):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(desc)]


def test_progress_mode(monkeypatch):
    monkeypatch.setattr("sys.stderr", FakePipe())
    assert log.progress_mode(None) == "log"
    assert log.progress_mode(True) == "bar"
    assert log.progress_mode(False) is None
    monkeypatch.setattr("sys.stderr", FakeTTY())
    assert log.progress_mode(None) == "bar"


def test_off_a_terminal_lines_with_percent_and_eta_rate_limited(monkeypatch, clock, records):
    monkeypatch.setattr("sys.stderr", FakePipe())
    n, step = 100, 1.0  # 100 items of 1 s each: 100 s in all
    seen = []
    for item in log.progress_bar(range(n), "kriging", unit="batch"):
        seen.append(item)
        clock.now += step
    assert seen == list(range(n))  # every item, in order
    lines = progress_lines(records, "kriging")
    periodic, final = lines[:-1], lines[-1]
    # one line per 10 s, never one per item; the last item's line is the final one
    assert len(periodic) == int(n * step / log.PROGRESS_LOG_S) - 1
    for line in periodic:
        assert "%" in line and "ETA" in line
    # the first line: 10 of 100 done after 10 s, 90 s left
    assert periodic[0] == "kriging: 10% (10/100 batches), 10 s elapsed, ETA 1 min 30 s"
    assert final == "kriging: 100% (100/100 batches), done in 1 min 40 s"


def test_short_loop_logs_nothing(monkeypatch, clock, records):
    monkeypatch.setattr("sys.stderr", FakePipe())
    for _ in log.progress_bar(range(5), "quick"):
        clock.now += 0.5
    assert progress_lines(records, "quick") == []


def test_tracker_by_hand_with_postfix_and_early_stop(monkeypatch, clock, records):
    monkeypatch.setattr("sys.stderr", FakePipe())
    with log.progress_tracker("CNN training", total=100, unit="epoch") as bar:
        for epoch in range(30):  # stops early at 30 of 100
            clock.now += 4.0
            bar.set_postfix(val=f"{epoch:.1f}")
            bar.update()
    lines = progress_lines(records, "CNN training")
    assert len(lines) == 10 + 1  # 120 s: a line every 12 s (the first epoch past 10 s), the end
    assert lines[0].startswith("CNN training: 3% (3/100 epochs), val=2.0, 12 s elapsed, ETA")
    assert lines[-1].startswith("CNN training: 30% (30/100 epochs)")
    assert lines[-1].endswith("done in 2 min 00 s")


def test_progress_false_adds_nothing(monkeypatch, records):
    monkeypatch.setattr("sys.stderr", FakePipe())
    items = [1, 2, 3]
    assert log.progress_bar(items, "x", progress=False) is items
    tracker = log.progress_tracker("x", total=3, progress=False)
    tracker.update()
    tracker.close()
    assert records.records == []


def screen(text):
    """The lines a terminal shows for ``text``: CR returns to column 0, LF ends a line."""
    lines, line, col = [], [], 0
    for ch in text:
        if ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        elif ch == "\r":
            col = 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
    lines.append("".join(line).rstrip())
    return lines


def test_log_record_on_a_terminal_gets_its_own_line(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    handler = log.ConsoleHandler(tty)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    record = logging.LogRecord("insarfusion", logging.INFO, __file__, 1,
                               "a message while the bar runs", None, None)
    bar = log.progress_tracker("LSTM training", total=10, unit="epoch")
    try:
        bar.update(3)
        bar.refresh()
        handler.emit(record)
        bar.update(1)
    finally:
        bar.close()
    shown = screen(tty.getvalue())
    message = [line for line in shown if "a message while the bar runs" in line]
    assert message == ["INFO: a message while the bar runs"]  # no bar text on its line
    assert any("LSTM training" in line for line in tty.getvalue().split("\r"))  # a bar drawn


def test_plain_stream_handler_would_share_the_line(monkeypatch):
    """The check above can fail: a plain handler writes onto the bar's line."""
    tty = FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    handler = logging.StreamHandler(tty)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    record = logging.LogRecord("insarfusion", logging.INFO, __file__, 1, "shared", None, None)
    bar = log.progress_tracker("LSTM training", total=10, unit="epoch")
    try:
        bar.update(3)
        bar.refresh()
        handler.emit(record)
    finally:
        bar.close()
    shown = screen(tty.getvalue())
    assert any("LSTM training" in line and "shared" in line for line in shown)


def test_setup_logging_uses_the_bar_aware_handler():
    log.setup_logging()
    try:
        assert any(type(h) is log.ConsoleHandler for h in log.logger.handlers)
    finally:
        log.setup_logging()


def test_a_worker_shows_progress_as_log_lines_only(monkeypatch):
    from insarfusion import log

    monkeypatch.setattr(log, "_log_lines_only", False)
    monkeypatch.setattr(log.sys.stderr, "isatty", lambda: True, raising=False)
    assert log.progress_mode(None) == "bar"
    log.progress_as_log_lines()
    assert log.progress_mode(None) == "log" and log.progress_mode(True) == "log"
    assert log.progress_mode(False) is None
