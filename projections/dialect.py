"""The SQL the read models write once and run on SQLite or PostgreSQL, and where the two differ.

Views write their SQL with `?` placeholders and these column types; a dialect supplies what cannot be
written once: type names, the upsert that replaces a whole row, table and column lookups, and a table
rename that carries its primary-key index along (PostgreSQL names indexes schema-wide).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

__all__ = ["POSTGRES", "SQLITE", "Column", "Connection", "Cursor", "Dialect"]


class Cursor(Protocol):
    """What the views use of a cursor (sqlite3's and psycopg's both fit)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Execute(Protocol):
    """`execute(sql, parameters)` with `?` placeholders."""

    def __call__(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...


Column = tuple[str, str]
"""A column's name and kind: `text`, `integer`, `real` or `blob` (the dialect names the type)."""


class Dialect:
    """SQLite's SQL; PostgreSQL overrides what differs."""

    name = "sqlite"
    integer = "INTEGER"
    real = "REAL"
    blob = "BLOB"

    @property
    def types(self) -> dict[str, str]:
        """Column kind -> this dialect's type."""
        return {"text": "TEXT", "integer": self.integer, "real": self.real, "blob": self.blob}

    def upsert(self, table: str, columns: Sequence[str], key: str) -> str:
        """An insert that replaces the row with the same `key` (every column given)."""
        marks = ", ".join("?" * len(columns))
        return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    def upsert_rows(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[Column],
        key: str,
        rows: Sequence[Sequence[Any]],
        keep: Sequence[str] = (),
    ) -> None:
        """Insert `rows` (distinct keys), replacing existing rows with the same key but for the `keep` columns."""
        if not rows:
            return
        names = [name for name, _ in columns]
        if not keep:
            conn.executemany(self.upsert(table, names, key), rows)
            return
        marks = ", ".join("?" * len(names))
        updates = ", ".join(f"{c} = excluded.{c}" for c in names if c != key and c not in keep)
        statement = (
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {updates}"
        )
        conn.executemany(statement, rows)

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition `column` is one of `values`, and its parameters."""
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    def table_exists(self, conn: Connection, table: str) -> bool:
        """Whether `table` exists."""
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        return found is not None

    def columns(self, conn: Connection, table: str) -> set[str]:
        """The column names of an existing table."""
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}

    def rename_table(self, conn: Connection, old: str, new: str) -> None:
        """Rename a table (its indexes follow it)."""
        conn.execute(f"ALTER TABLE {old} RENAME TO {new}")


class PostgresDialect(Dialect):
    """PostgreSQL: 64-bit integers, BYTEA, ON CONFLICT upserts, catalog lookups in the current schema."""

    name = "postgres"
    integer = "BIGINT"
    real = "DOUBLE PRECISION"
    blob = "BYTEA"

    def upsert(self, table: str, columns: Sequence[str], key: str) -> str:
        marks = ", ".join("?" * len(columns))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {updates}"
        )

    def upsert_rows(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[Column],
        key: str,
        rows: Sequence[Sequence[Any]],
        keep: Sequence[str] = (),
    ) -> None:
        """One statement for all rows: each column is sent as one array and unnested (no per-row round trip)."""
        if not rows:
            return
        names = [name for name, _ in columns]
        arrays = ", ".join(f"%b::{self.types[kind]}[]" for _, kind in columns)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c != key and c not in keep)
        statement = (
            f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
        )
        with conn.raw.cursor() as cursor:  # binary parameters: arrays are sent without text escaping
            cursor.execute(statement, [list(values) for values in zip(*rows, strict=True)])

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]

    def table_exists(self, conn: Connection, table: str) -> bool:
        found = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        ).fetchone()
        return found is not None

    def columns(self, conn: Connection, table: str) -> set[str]:
        cursor = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ?",
            (table,),
        )
        return {row[0] for row in cursor}

    def rename_table(self, conn: Connection, old: str, new: str) -> None:
        """Rename a table and its primary-key index, whose name would otherwise clash with a later copy's."""
        conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
        conn.execute(f"ALTER INDEX IF EXISTS {old}_pkey RENAME TO {new}_pkey")


SQLITE = Dialect()
POSTGRES = PostgresDialect()


class Connection:
    """One connection as the views use it: `execute`/`executemany` with `?` placeholders, and its dialect.

    For SQLite, `execute` is the driver's own bound method, so the views pay nothing for the indirection.
    """

    __slots__ = ("dialect", "execute", "executemany", "raw")

    def __init__(
        self,
        raw: Any,
        dialect: Dialect,
        execute: Execute,
        executemany: Callable[[str, Iterable[Sequence[Any]]], object],
    ) -> None:
        self.raw = raw
        self.dialect = dialect
        self.execute = execute
        self.executemany = executemany
