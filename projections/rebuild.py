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
from projections.events import read_events
from projections.rows import iso_ms
from projections.runner import JOURNAL_KEEP_DELTAS, JOURNAL_KEEP_SECONDS
from projections.tracking import TrackedView

__all__ = ["RebuildReport", "rebuild"]

logger = logging.getLogger(__name__)

ASIDE = "__rebuild"
RETIRED = "__retired"


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    views: tuple[str, ...]
    events: int
    position: int
    seconds: float
    cleanup_seconds: float = 0.0

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
    retired = [cls(suffix=RETIRED) for cls in view_classes]
    live = [cls() for cls in view_classes]
    with db.write() as conn:
        for view in (*aside, *retired):
            view.drop(conn)
        for view in aside:
            view.create(conn)
        for view in live:
            view.create(conn)
    store_max = app.last_position()
    cutoff = iso_ms(wall() - timedelta(seconds=JOURNAL_KEEP_SECONDS))
    old_enough = store_max - JOURNAL_KEEP_DELTAS
    journal_after = 0
    position = 0
    events = 0
    while position < store_max:  # read and apply in turn: a read-ahead thread only fought over the GIL
        items, last = read_events(app, position, page_size)
        if last == position:
            break
        for item in items:
            if item.position <= old_enough and item.at < cutoff:
                journal_after = item.position
        with db.write() as conn:
            for view in aside:
                view.process(conn, items, journal_after, last=last)
        position = last
        events += len(items)
    with db.write() as conn:  # the last catch-up and the swap: one transaction, so readers never see a gap
        while True:
            items, last = read_events(app, position, page_size)
            if last == position:
                break
            for view in aside:
                view.process(conn, items, journal_after, last=last)
            position = last
            events += len(items)
        for mine, theirs, old in zip(aside, live, retired, strict=True):
            if journal_after:
                mine.set_pruned_through(conn, journal_after)
            mine.swap_into(conn, theirs, old)
    seconds = time.perf_counter() - started
    with db.write() as conn:
        for view in retired:
            view.drop(conn)
    cleanup = time.perf_counter() - started - seconds
    names = tuple(view.name for view in live)
    logger.info(
        "rebuilt %s from %d events in %.2f s (+%.2f s dropping the old tables)",
        ", ".join(names),
        events,
        seconds,
        cleanup,
    )
    return RebuildReport(views=names, events=events, position=position, seconds=seconds, cleanup_seconds=cleanup)
