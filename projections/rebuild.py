"""Rebuilding read models from position 0: built aside under a suffix, then swapped in atomically.

The live views keep serving (and the live runner keeps applying) while the copy is built. The last
catch-up and the swap happen in one write transaction, so readers see either the old tables or the new
ones, and positions stay valid because they are the store's, not the view's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.application import VeoRelay
from projections.database import ReadModelDatabase
from projections.runner import JOURNAL_KEEP_DELTAS, JOURNAL_KEEP_SECONDS, read_events
from projections.tracking import TrackedView

__all__ = ["RebuildReport", "rebuild"]

logger = logging.getLogger(__name__)

ASIDE = "__rebuild"


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    views: tuple[str, ...]
    events: int
    position: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Throughput of the whole rebuild."""
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def rebuild(
    app: VeoRelay,
    db: ReadModelDatabase,
    view_classes: Sequence[type[TrackedView]],
    *,
    page_size: int = 5000,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RebuildReport:
    """Rebuild the given views from the whole event store and swap them in."""
    started = time.perf_counter()
    aside = [cls(suffix=ASIDE) for cls in view_classes]
    live = [cls() for cls in view_classes]
    with db.write() as conn:
        for view in aside:
            view.drop(conn)
            view.create(conn)
        for view in live:
            view.create(conn)
    store_max = app.last_position()
    cutoff = wall() - timedelta(seconds=JOURNAL_KEEP_SECONDS)
    old_enough = store_max - JOURNAL_KEEP_DELTAS
    journal_after = 0
    position = 0
    events = 0
    done = False
    while not done:
        items = read_events(app, position, page_size)
        done = len(items) < page_size
        if items:
            for item_position, event in items:
                if item_position <= old_enough and event.timestamp < cutoff:
                    journal_after = item_position
            with db.write() as conn:
                for view in aside:
                    view.process(conn, items, journal_after)
            position = items[-1][0]
            events += len(items)
    with db.write() as conn:
        while items := read_events(app, position, page_size):
            for view in aside:
                view.process(conn, items, journal_after)
            position = items[-1][0]
            events += len(items)
        for mine, theirs in zip(aside, live, strict=True):
            if journal_after:
                mine.set_pruned_through(conn, journal_after)
            mine.swap_into(conn, theirs)
    seconds = time.perf_counter() - started
    names = tuple(view.name for view in live)
    logger.info("rebuilt %s from %d events in %.2f s", ", ".join(names), events, seconds)
    return RebuildReport(views=names, events=events, position=position, seconds=seconds)
