"""Keeps read models up to date with the event store, woken by every save instead of sleeping in a loop.

The SQLite recorder has no `subscribe()`, so the application calls `wake(position)` after each save; the
runner thread then reads the new notifications in pages and applies each page to every view in one
transaction. A slow fallback poll (default 1 s) only matters for writers in other processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from domain.application import VeoRelay
from projections.database import ReadModelDatabase
from projections.events import read_events
from projections.history import HistoryView
from projections.rows import iso_ms
from projections.tracking import TrackedView

__all__ = ["ProjectionRunner", "read_events"]

logger = logging.getLogger(__name__)

JOURNAL_KEEP_DELTAS = 1_000_000
JOURNAL_KEEP_SECONDS = 24 * 3600


class ProjectionRunner:
    """A thread that applies new events to the views and then tells its listeners the new position."""

    def __init__(
        self,
        app: VeoRelay,
        db: ReadModelDatabase,
        views: Sequence[TrackedView],
        *,
        page_size: int = 1000,
        fallback_poll: float = 1.0,
        prune_every: float = 600.0,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.db = db
        self.views = list(views)
        self.page_size = page_size
        self.fallback_poll = fallback_poll
        self.prune_every = prune_every
        self.wall = wall
        self.errors = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._advanced = threading.Condition()
        self._position = 0
        self._listeners: list[Callable[[int], None]] = []
        self._thread: threading.Thread | None = None
        self._last_prune = time.monotonic()
        with db.write() as conn:
            for view in self.views:
                view.create(conn)
            self._position = min(view.position(conn) for view in self.views)

    # --- control ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Catch up in the background from now on, and follow every save."""
        self.app.add_listener(self.wake)
        self._thread = threading.Thread(target=self._run, name="projection-runner", daemon=True)
        self._thread.start()
        self.wake()

    def stop(self) -> None:
        """Stop following (returns once the thread has finished its current page)."""
        self._stopping.set()
        self._wake.set()
        self.app.remove_listener(self.wake)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self, position: int | None = None) -> None:
        """Something was saved: apply it soon."""
        self._wake.set()

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(position)` after each committed page."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[int], None]) -> None:
        """Stop calling `listener`."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def position(self) -> int:
        """The lowest position every view has applied."""
        return self._position

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every view has applied `position` (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        with self._advanced:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._advanced.wait(remaining)
        return True

    # --- work ---------------------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply everything recorded so far, page by page; returns the number of events read.

        Each page is read and applied inside the write transaction, which is exclusive among every writer
        of the read model, so runners in several processes (cluster nodes on one PostgreSQL database)
        take turns instead of decoding the same page each. A runner that finds its views moved on by
        another still tells its listeners: every node's hub follows the shared journal.
        """
        total = 0
        while True:
            with self.db.write() as conn:
                low = min(view.position(conn) for view in self.views)
                items, last = read_events(self.app, low, self.page_size)
                if last != low:
                    for view in self.views:
                        view.process(conn, items, last=last)
                    position = min(view.position(conn) for view in self.views)
                else:
                    position = low
            total += len(items)
            if position > self._position:
                self._advance(position)
            if last == low:
                return total

    def _advance(self, position: int) -> None:
        with self._advanced:
            self._position = position
            self._advanced.notify_all()
        for listener in list(self._listeners):
            try:
                listener(position)
            except Exception:
                logger.exception("projection listener %r failed", listener)

    def _run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            self._wake.wait(self.fallback_poll)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.catch_up()
                self._maybe_prune()
                backoff = 0.1
            except Exception:
                self.errors += 1
                logger.exception("projection failed; retrying in %.1f s", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                self._wake.set()

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < self.prune_every:
            return
        self._last_prune = time.monotonic()
        older_than = iso_ms(self.wall() - timedelta(seconds=JOURNAL_KEEP_SECONDS))
        for view in self.views:
            if isinstance(view, HistoryView):
                with self.db.write() as conn:
                    deleted = view.prune_journal(conn, older_than, JOURNAL_KEEP_DELTAS)
                if deleted:
                    logger.info("pruned %d journal deltas", deleted)
