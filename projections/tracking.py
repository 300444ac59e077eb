"""What every read model shares: its tables (optionally built aside under a suffix) and its tracking row.

The tracking row holds the store position the view has applied up to; it is written in the same
transaction as the view's rows, and only ever moves forward, which makes application exactly-once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = ["AlreadyApplied", "TrackedView"]


class AlreadyApplied(Exception):
    """A run of events at or below the tracked position was offered again."""


class TrackedView:
    """A read model's tables and tracking row; subclasses add their tables, `apply` and queries."""

    name: ClassVar[str]
    base_tables: ClassVar[tuple[str, ...]]

    def __init__(self, suffix: str = "") -> None:
        self.suffix = suffix
        self.tables = tuple(f"{table}{suffix}" for table in self.base_tables)
        self.tracking_table = f"{self.name}_tracking{suffix}"

    # --- subclass hooks -----------------------------------------------------------------------------

    def table_statements(self) -> list[str]:
        """CREATE TABLE statements for this view's tables."""
        raise NotImplementedError

    def index_statements(self) -> list[str]:
        """CREATE INDEX statements (made on live tables only, after a swap)."""
        return []

    def apply(self, conn: sqlite3.Connection, items: Sequence[tuple[int, Any]], journal_after: int) -> None:
        """Apply events inside the caller's transaction."""
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------------------

    def create(self, conn: sqlite3.Connection) -> None:
        """Create the tables if missing (indexes too, unless built aside)."""
        for statement in self.table_statements():
            conn.execute(statement)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.tracking_table} "
            "(id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL, pruned_through INTEGER NOT NULL)"
        )
        conn.execute(f"INSERT OR IGNORE INTO {self.tracking_table} VALUES (1, 0, 0)")
        if not self.suffix:
            for statement in self.index_statements():
                conn.execute(statement)

    def position(self, conn: sqlite3.Connection) -> int:
        """The last store position applied (0 before any)."""
        row = conn.execute(f"SELECT position FROM {self.tracking_table}").fetchone()
        return int(row[0]) if row else 0

    def pruned_through(self, conn: sqlite3.Connection) -> int:
        """Deltas at or below this position are no longer journaled (0: nothing pruned)."""
        row = conn.execute(f"SELECT pruned_through FROM {self.tracking_table}").fetchone()
        return int(row[0]) if row else 0

    def set_pruned_through(self, conn: sqlite3.Connection, position: int) -> None:
        """Record that deltas at or below `position` are gone."""
        conn.execute(f"UPDATE {self.tracking_table} SET pruned_through = MAX(pruned_through, ?)", (position,))

    def process(self, conn: sqlite3.Connection, items: Sequence[tuple[int, Any]], journal_after: int = 0) -> int:
        """Apply the items above the tracked position and advance it, in the caller's transaction."""
        current = self.position(conn)
        fresh = [item for item in items if item[0] > current]
        if not fresh:
            return 0
        self.apply(conn, fresh, journal_after)
        updated = conn.execute(
            f"UPDATE {self.tracking_table} SET position = ? WHERE position < ?", (fresh[-1][0], fresh[-1][0])
        ).rowcount
        if updated != 1:  # pragma: no cover - guarded by the position read above in the same transaction
            raise AlreadyApplied(f"{self.name}: position {fresh[-1][0]} was already applied")
        return len(fresh)

    def drop(self, conn: sqlite3.Connection) -> None:
        """Drop this view's tables and tracking row table."""
        for table in (*self.tables, self.tracking_table):
            conn.execute(f"DROP TABLE IF EXISTS {table}")

    def swap_into(self, conn: sqlite3.Connection, live: TrackedView) -> None:
        """Replace `live`'s tables with this (built-aside) view's, inside the caller's transaction."""
        live.drop(conn)
        for mine, theirs in zip((*self.tables, self.tracking_table), (*live.tables, live.tracking_table), strict=True):
            conn.execute(f"ALTER TABLE {mine} RENAME TO {theirs}")
        for statement in live.index_statements():
            conn.execute(statement)
