"""Injected storage faults: the event store's or the read model's writes fail while a fault is on.

Tests may run as root, where `chmod` does not stop writes, so a full disk or a read-only file is
simulated where the write happens: inside the write transaction, with the error SQLite itself raises,
so the transaction is rolled back exactly as it would be.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from domain.application import VeoRelay
from projections.database import Connection, ReadModelDatabase

__all__ = ["DISK_FULL", "READ_ONLY", "WriterFault", "break_event_store", "break_read_model", "on_first"]

logger = logging.getLogger(__name__)

DISK_FULL = "database or disk is full"
READ_ONLY = "attempt to write a readonly database"


class WriterFault:
    """A switch: while on, each write raises `sqlite3.OperationalError(message)`."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.raised = 0
        self._on = threading.Event()

    def on(self) -> None:
        """Writes fail from now on."""
        self._on.set()

    def off(self) -> None:
        """Writes succeed again."""
        self._on.clear()

    @property
    def is_on(self) -> bool:
        """Writes fail now."""
        return self._on.is_set()

    def check(self) -> None:
        """Raise when the fault is on."""
        if self._on.is_set():
            self.raised += 1
            raise sqlite3.OperationalError(self.message)


def break_event_store(monkeypatch: pytest.MonkeyPatch, app: VeoRelay, message: str = DISK_FULL) -> WriterFault:
    """Make the event store's inserts fail (inside their transaction) while the returned fault is on."""
    fault = WriterFault(message)
    recorder: Any = app.recorder
    insert = recorder._insert_events

    def failing_insert(cursor: Any, stored_events: Any, **kwargs: Any) -> Any:
        fault.check()
        return insert(cursor, stored_events, **kwargs)

    monkeypatch.setattr(recorder, "_insert_events", failing_insert)
    return fault


def on_first(monkeypatch: pytest.MonkeyPatch, app: VeoRelay, recording: str, fault: WriterFault) -> None:
    """Switch `fault` on right after `app.<recording>` (e.g. "record_submitted") first records its event.

    A fault switched on from the test's thread lands at a moment the test cannot choose: before the
    batch reached Flow, or after its last answer was recorded, when nothing is left to fail. Switched on
    as the poller records a job's progress, it is certain to meet that job's later answers and events.
    """
    record = getattr(app, recording)
    first = threading.Event()

    def record_then_fail(*args: Any) -> Any:
        result = record(*args)
        if not first.is_set():
            first.set()
            fault.on()
        return result

    monkeypatch.setattr(app, recording, record_then_fail)


def break_read_model(monkeypatch: pytest.MonkeyPatch, db: ReadModelDatabase, message: str = READ_ONLY) -> WriterFault:
    """Make every read-model write transaction fail (after BEGIN, so it is rolled back) while the fault is on."""
    fault = WriterFault(message)
    write = db.write

    @contextmanager
    def failing_write() -> Iterator[Connection]:
        manager: AbstractContextManager[Connection] = write()
        with manager as conn:
            fault.check()
            yield conn

    monkeypatch.setattr(db, "write", failing_write)
    return fault
