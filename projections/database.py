"""The read-model database: what every backend offers the views, and the SQLite one (one file, WAL).

A backend gives each thread a reader connection (autocommit: each statement sees the latest commit),
consistent snapshots for several queries (`read`), and write transactions (`write`) of which only one
runs at a time, for every process sharing the database: a view's position and rows change together.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar

from projections.dialect import SQLITE, Connection, Dialect

__all__ = ["Connection", "ReadModelDatabase", "ReadModelError", "SQLiteReadModel"]

logger = logging.getLogger(__name__)


class ReadModelError(Exception):
    """The read-model file is missing, unreadable or not ours."""


class ReadModelDatabase:
    """A read-model database on some backend (see the module docstring for the guarantees).

    `ReadModelDatabase(path)` opens the SQLite one (a `SQLiteReadModel`), as `Path(...)` gives a `PosixPath`.
    """

    dialect: ClassVar[Dialect]
    errors: ClassVar[tuple[type[Exception], ...]]
    """The driver's exceptions: a storage fault that the caller may report and retry."""
    description: str

    def __new__(cls, *args: Any, **kwargs: Any) -> ReadModelDatabase:
        return super().__new__(SQLiteReadModel if cls is ReadModelDatabase else cls)

    def reader(self) -> Connection:
        """This thread's connection for queries."""
        raise NotImplementedError

    def read(self) -> AbstractContextManager[Connection]:
        """A consistent snapshot across several queries."""
        raise NotImplementedError

    def write(self) -> AbstractContextManager[Connection]:
        """One write transaction, alone among all writers of this database; rolled back on any error."""
        raise NotImplementedError

    def close(self) -> None:
        """Close every connection this object opened."""
        raise NotImplementedError


class SQLiteReadModel(ReadModelDatabase):
    """The SQLite read model: one file, one writer connection behind a lock, a reader connection per thread."""

    dialect = SQLITE
    errors = (sqlite3.Error,)

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = str(path)
        self.description = f"SQLite file {self.path}"
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer_raw = self._connect()
        self._writer_raw.execute("PRAGMA page_size=16384")  # wide journal rows: fewer, larger pages (new files only)
        self._writer_raw.execute("PRAGMA journal_mode=WAL")
        self._writer = _wrap(self._writer_raw)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise ReadModelError(f"cannot open the read model {self.path}: {exc}") from exc
        with self._all_lock:
            self._all.append(conn)
        return conn

    def reader(self) -> Connection:
        """This thread's connection for queries (autocommit: each statement sees the latest commit)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _wrap(self._connect())
            self._local.conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent snapshot across several queries (a deferred read transaction)."""
        conn = self.reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on any error)."""
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing is best effort
                logger.warning("closing a read-model connection failed", exc_info=True)


def _wrap(raw: sqlite3.Connection) -> Connection:
    return Connection(raw, SQLITE, raw.execute, raw.executemany)
