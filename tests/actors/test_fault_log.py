"""A storage outage is logged once with its traceback, then reminded once a minute, and its end once."""

from __future__ import annotations

import logging

import pytest

from actors.fault_log import FaultLog

LOG = logging.getLogger("tests.fault_log")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(log: FaultLog, what: str) -> None:
    try:
        raise OSError("disk full")
    except OSError:
        log.failed(what)


def test_an_outage_logs_one_traceback_then_a_reminder_a_minute_then_its_end(caplog: pytest.LogCaptureFixture) -> None:
    """Failing every second for 150 s: one traceback, two reminders, one recovery line naming the duration."""
    clock = FakeClock()
    log = FaultLog(LOG, clock, remind_every_s=60.0)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        for _ in range(150):
            fail(log, "recording Submitted")
            clock.now += 1.0
        log.succeeded()
        log.succeeded()
    records = [r for r in caplog.records if r.name == LOG.name]
    assert [r.exc_info is not None for r in records] == [True, False, False, False]
    assert "still refuses writes after 60 s (61 failed attempts)" in records[1].getMessage()
    assert "still refuses writes after 120 s (121 failed attempts)" in records[2].getMessage()
    assert records[3].getMessage() == "the store accepts writes again after 150 s (150 failed attempts)"


def test_a_second_outage_gets_its_own_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """After a recovery, the next failure is news again."""
    clock = FakeClock()
    log = FaultLog(LOG, clock)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        fail(log, "first")
        log.succeeded()
        clock.now += 5.0
        fail(log, "second")
    tracebacks = [r.getMessage() for r in caplog.records if r.name == LOG.name and r.exc_info]
    assert tracebacks == [
        "first failed; retrying until the store accepts writes again",
        "second failed; retrying until the store accepts writes again",
    ]
