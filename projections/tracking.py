"""What every read model shares: its tables (optionally built aside under a suffix) and its tracking row.

The tracking row holds the store position the view has applied up to; it is written in the same
transaction as the view's rows, and only ever moves forward, which makes application exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from projections.dialect import Connection, Dialect
from projections.events import ViewEvent

__all__ = ["AlreadyApplied", "TrackedView"]

logger = logging.getLogger(__name__)


class AlreadyApplied(Exception):
    """A run of events at or below the tracked position was offered again."""


class TrackedView:
    """A read model's tables and tracking row; subclasses add their tables, `apply` and queries."""

    name: ClassVar[str]
    base_tables: ClassVar[tuple[str, ...]]
    schema: ClassVar[int] = 1
    """Bumped when the tables change shape or hold something else for the same events: a view found with
    another schema is rebuilt from zero when it is opened (before the relay serves or restores from it)."""
    indexes: ClassVar[tuple[tuple[str, int, str], ...]] = ()
    """(name, index into `tables`, columns) of each index."""

    def __init__(self, suffix: str = "") -> None:
        self.suffix = suffix
        self.tables = tuple(f"{table}{suffix}" for table in self.base_tables)
        self.tracking_table = f"{self.name}_tracking{suffix}"

    # --- subclass hooks -----------------------------------------------------------------------------

    def table_statements(self, dialect: Dialect) -> list[str]:
        """CREATE TABLE statements for this view's tables, with the dialect's column types."""
        raise NotImplementedError

    def index_names(self) -> list[str]:
        """This view's index names (indexes exist on live tables only; a built-aside copy gets them at the swap)."""
        return [f"{self.tables[table]}_{name}" for name, table, _ in self.indexes]

    def create_indexes(self, conn: Connection) -> None:
        """Create the view's indexes if missing."""
        for (_name, table, columns), index in zip(self.indexes, self.index_names(), strict=True):
            conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {self.tables[table]} ({columns})")

    def apply(self, conn: Connection, items: Sequence[ViewEvent], journal_after: int) -> None:
        """Apply events inside the caller's transaction."""
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------------------

    def create(self, conn: Connection) -> None:
        """Create the tables if missing (indexes too, unless built aside); an outdated schema starts afresh."""
        found = self.found_schema(conn)
        if found not in (None, self.schema):
            logger.warning(
                "the %s view was built by another definition (schema %s, now %s): rebuilding it from position 0",
                self.name,
                found,
                self.schema,
            )
            for index in self.index_names():
                conn.execute(f"DROP INDEX IF EXISTS {index}")
            self.drop(conn)
        for statement in self.table_statements(conn.dialect):
            conn.execute(statement)
        integer = conn.dialect.integer
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.tracking_table} (id INTEGER PRIMARY KEY CHECK (id = 1), "
            f"position {integer} NOT NULL, pruned_through {integer} NOT NULL, schema INTEGER NOT NULL)"
        )
        conn.execute(f"INSERT INTO {self.tracking_table} VALUES (1, 0, 0, ?) ON CONFLICT DO NOTHING", (self.schema,))
        if not self.suffix:
            self.create_indexes(conn)

    def found_schema(self, conn: Connection) -> int | None:
        """The schema of the view's existing tables (None: no tables; 0: from before schemas were kept)."""
        if not conn.dialect.table_exists(conn, self.tracking_table):
            return None
        if "schema" not in conn.dialect.columns(conn, self.tracking_table):
            return 0
        row = conn.execute(f"SELECT schema FROM {self.tracking_table}").fetchone()
        return int(row[0]) if row else None

    def position(self, conn: Connection) -> int:
        """The last store position applied (0 before any)."""
        row = conn.execute(f"SELECT position FROM {self.tracking_table}").fetchone()
        return int(row[0]) if row else 0

    def pruned_through(self, conn: Connection) -> int:
        """Deltas at or below this position are no longer journaled (0: nothing pruned)."""
        row = conn.execute(f"SELECT pruned_through FROM {self.tracking_table}").fetchone()
        return int(row[0]) if row else 0

    def set_pruned_through(self, conn: Connection, position: int) -> None:
        """Record that deltas at or below `position` are gone."""
        conn.execute(
            f"UPDATE {self.tracking_table} SET pruned_through = ? WHERE pruned_through < ?", (position, position)
        )

    def process(
        self, conn: Connection, items: Sequence[ViewEvent], journal_after: int = 0, last: int | None = None
    ) -> int:
        """Apply the items above the tracked position and advance it to `last`, in the caller's transaction."""
        current = self.position(conn)
        end = last if last is not None else (items[-1].position if items else current)
        if end <= current:
            return 0
        fresh = [item for item in items if item.position > current]
        if fresh:
            self.apply(conn, fresh, journal_after)
        updated = conn.execute(f"UPDATE {self.tracking_table} SET position = ? WHERE position < ?", (end, end)).rowcount
        if updated != 1:  # pragma: no cover - guarded by the position read above in the same transaction
            raise AlreadyApplied(f"{self.name}: position {end} was already applied")
        return len(fresh)

    def drop(self, conn: Connection) -> None:
        """Drop this view's tables and tracking row table."""
        for table in self.all_tables:
            conn.execute(f"DROP TABLE IF EXISTS {table}")

    def swap_into(self, conn: Connection, live: TrackedView, retired: TrackedView) -> None:
        """Put this built-aside view in `live`'s place, moving the old tables to `retired` (drop them later)."""
        retired.drop(conn)
        for old, new in zip(live.all_tables, retired.all_tables, strict=True):
            conn.dialect.rename_table(conn, old, new)
        for mine, theirs in zip(self.all_tables, live.all_tables, strict=True):
            conn.dialect.rename_table(conn, mine, theirs)
        for index in live.index_names():
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        live.create_indexes(conn)

    @property
    def all_tables(self) -> tuple[str, ...]:
        """The view's tables and its tracking table."""
        return (*self.tables, self.tracking_table)
