"""Checks made after a chaos run, on the store and read model the relay left behind.

- `integrity`: SQLite's own `PRAGMA integrity_check` of a file ("ok" when sound);
- `matches_rebuild`: the read model (rows, batches, delta journal, analytics, tracking) equals what a
  rebuild from position 0 of the event store makes of it;
- `delivery`: what a client received compared with the delta journal: missing, doubled, out of order;
- `classify_failures`: every failed generation with the message that says who failed it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec

from actors.restore import INTERRUPTED_MESSAGE
from actors.submission_answers import AMBIGUOUS_MESSAGE
from domain.application import VeoRelay
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.rebuild import rebuild
from projections.rows import HistoryRow
from server.store import StoreLocation, locate
from tests.reliability.watcher import Received

__all__ = [
    "Delivery",
    "FailureKinds",
    "StoreCheck",
    "check_store",
    "classify_failures",
    "delivery",
    "integrity",
    "journal",
    "matches_rebuild",
    "read_model_tables",
]

logger = logging.getLogger(__name__)

VIEWS = [HistoryView, AnalyticsView]
AMBIGUOUS_PREFIX = AMBIGUOUS_MESSAGE.split("(", 1)[0]


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of an SQLite file, read-only."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def read_model_tables(db: ReadModelDatabase) -> dict[str, list[Any]]:
    """Every live read-model table and both tracking positions, in a comparable form.

    The delta journal is compared as its deltas: its pages are cut where each run of events was applied.
    """
    conn = db.reader()
    history, analytics = HistoryView(), AnalyticsView()
    rows, batches, journal_table = history.tables
    tables = [rows, batches, *analytics.tables]
    found: dict[str, list[Any]] = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    found[journal_table] = history.deltas_after(conn, 0, 1_000_000_000)
    found["tracking"] = [history.position(conn), analytics.position(conn)]
    return found


def matches_rebuild(app: VeoRelay, db: ReadModelDatabase) -> list[str]:
    """Rebuild the read model from the store; the names of the tables that differ from before (empty: equal)."""
    before = read_model_tables(db)
    rebuild(app, db, VIEWS)
    after = read_model_tables(db)
    return [name for name in before if before[name] != after[name]]


def journal(db: ReadModelDatabase, after: int = 0) -> list[Received]:
    """Every journal delta after `after`, decoded."""
    deltas = HistoryView().deltas_after(db.reader(), after, 100_000_000)
    return [Received(d.position, d.channel, msgspec.json.decode(d.data)) for d in deltas]


@dataclass(frozen=True)
class Delivery:
    """A client's deltas compared with the journal."""

    expected: int
    received: int
    missing: int
    doubled: int
    unexpected: int
    in_order: bool
    same_data: bool

    @property
    def exactly_once(self) -> bool:
        """Every journal delta arrived once, in order, as journalled, and nothing else did."""
        return self.missing == 0 and self.doubled == 0 and self.unexpected == 0 and self.in_order and self.same_data


def delivery(received: Sequence[Received], expected: Sequence[Received]) -> Delivery:
    """Compare what a client received with the journal it should have received."""
    keys = [(r.position, r.channel) for r in received]
    counts = Counter(keys)
    wanted = {(e.position, e.channel): e.data for e in expected}
    got = {(r.position, r.channel): r.data for r in received}
    return Delivery(
        expected=len(expected),
        received=len(received),
        missing=len(wanted.keys() - counts.keys()),
        doubled=sum(n - 1 for n in counts.values() if n > 1),
        unexpected=len(counts.keys() - wanted.keys()),
        in_order=[r.position for r in received] == sorted(r.position for r in received),
        same_data=all(got[k] == data for k, data in wanted.items() if k in got),
    )


@dataclass(frozen=True)
class FailureKinds:
    """Failed generations by who failed them."""

    by_reason: dict[str, int]
    interrupted_at_restore: set[str] = field(default_factory=set)
    """Failed by restore: `Submitted` was the last word when the relay died (ids)."""
    interrupted_by_answer: set[str] = field(default_factory=set)
    """Failed because Flow's answer to the submission was ambiguous (ids)."""


def classify_failures(rows: Sequence[HistoryRow]) -> FailureKinds:
    """Sort failed rows by reason, and interrupted submissions by the message that says who failed them."""
    failed = [row for row in rows if row.status == "failed"]
    interrupted = [row for row in failed if row.error_reason == "interrupted_submission"]
    return FailureKinds(
        by_reason=dict(Counter(str(row.error_reason) for row in failed)),
        interrupted_at_restore={row.id for row in interrupted if row.error_message == INTERRUPTED_MESSAGE},
        interrupted_by_answer={row.id for row in interrupted if (row.error_message or "").startswith(AMBIGUOUS_PREFIX)},
    )


@dataclass(frozen=True)
class StoreCheck:
    """What the files say after a run, read with the relay stopped."""

    rows: list[HistoryRow]
    journal: list[Received]
    events_integrity: str
    views_integrity: str
    rebuild_differs: list[str]
    scene_of: dict[str, str]
    operations: dict[str, str]
    """Generation id -> operation name, for every generation Flow accepted."""


def check_store(data: Path, ids: Sequence[UUID]) -> StoreCheck:
    """Open the stopped relay's store and read model: rows, journal, integrity, and read model vs rebuild."""
    location: StoreLocation = locate(data, None)
    events_ok = integrity(location.events_path)
    views_ok = integrity(location.views_path)
    app = location.open_app()
    db = location.open_read_model()
    try:
        rows = HistoryView().get_many(db.reader(), [str(i) for i in ids])
        deltas = journal(db)
        scene_of = {row.id: row.scene_id or "" for row in rows}
        operations = {row.id: row.operation_name for row in rows if row.operation_name}
        differs = matches_rebuild(app, db)
    finally:
        db.close()
        app.close()
    return StoreCheck(rows, deltas, events_ok, views_ok, differs, scene_of, operations)
