"""Deltas for in-process scripts: the history view's journal read after a position, woken by each commit.

The journal is the same one the websocket server follows (`HistoryView.deltas_after`), so a script sees
exactly what a subscribed client sees, in position order, gap-free from its starting position.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from domain.values import Channel
from projections.database import ReadModelDatabase
from projections.history import Delta, HistoryView
from projections.rows import BatchRow, HistoryRow

__all__ = ["CommitSignal", "DeltaStream", "RowDelta"]

logger = logging.getLogger(__name__)

PAGE = 1000


@dataclass(frozen=True, slots=True)
class RowDelta:
    """One row change: the store position of the event, the channel, and the row after it."""

    position: int
    channel: str
    row: HistoryRow | BatchRow

    @classmethod
    def of(cls, delta: Delta) -> RowDelta:
        """Decode a journal delta."""
        kind: type[HistoryRow | BatchRow] = BatchRow if delta.channel == Channel.BATCH_PROGRESS else HistoryRow
        return cls(delta.position, delta.channel, msgspec.json.decode(delta.data, type=kind))


class CommitSignal:
    """Counts the projection's commits so waiters never miss one (a projection runner listener)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._commits = 0
        self._closed = False

    def __call__(self, position: int) -> None:
        """The projection committed up to `position`."""
        with self._condition:
            self._commits += 1
            self._condition.notify_all()

    @property
    def commits(self) -> int:
        """How many commits so far."""
        with self._condition:
            return self._commits

    @property
    def closed(self) -> bool:
        """The relay stopped: no more commits will come."""
        return self._closed

    def close(self) -> None:
        """Wake every waiter for good."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def wait_after(self, seen: int, timeout: float | None) -> bool:
        """Block until a commit after the `seen`-th (True), the timeout (False) or close (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: self._commits > seen or self._closed, timeout) and not self._closed


class DeltaStream:
    """Deltas after a position, blocking until there are more; iterate it, or `get(timeout)`."""

    def __init__(
        self, history: HistoryView, db: ReadModelDatabase, signal: CommitSignal, after: int, *, resumed: bool
    ) -> None:
        self.position = after
        """The position of the last delta handed out (the starting position before any)."""
        self.resumed = resumed
        """False when the asked position was older than the journal keeps: the stream started live instead."""
        self._history = history
        self._db = db
        self._signal = signal
        self._buffer: deque[Delta] = deque()

    def __iter__(self) -> Iterator[RowDelta]:
        return self

    def __next__(self) -> RowDelta:
        delta = self.get()
        if delta is None:
            raise StopIteration
        return delta

    def get(self, timeout: float | None = None) -> RowDelta | None:
        """The next delta; None when `timeout` seconds pass first or the relay stops."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._buffer:
            seen = self._signal.commits
            self._fill()
            if self._buffer:
                break
            if self._signal.closed:
                return None
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self._signal.wait_after(seen, remaining)
        delta = self._buffer.popleft()
        self.position = delta.position
        return RowDelta.of(delta)

    def _fill(self) -> None:
        if self._signal.closed:
            return
        tail = self._buffer[-1].position if self._buffer else self.position
        self._buffer.extend(self._history.deltas_after(self._db.reader(), tail, PAGE))
