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

_LOCK_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class ReadModelError(Exception):
    """The read-model file is missing, unreadable or not ours."""


class ReadModelDatabase:
    """A read-model database on some backend (see the module docstring for the guarantees).

    `ReadModelDatabase(path)` opens the SQLite one (a `SQLiteReadModel`), as `Path(...)` gives a `PosixPath`.
    """

    dialect: ClassVar[Dialect]
    errors: ClassVar[tuple[type[Exception], ...]]
    """The driver's exceptions: a storage fault that the caller may report and retry."""
    local_reads: ClassVar[bool] = False
    """Reads touch only a local file (no network): a short one may run where it is asked, e.g. on the event
    loop, with `read(wait=False)`."""
    description: str

    def __new__(cls, *args: Any, **kwargs: Any) -> ReadModelDatabase:
        return super().__new__(SQLiteReadModel if cls is ReadModelDatabase else cls)

    def reader(self) -> Connection:
        """This thread's connection for queries."""
        raise NotImplementedError

    def read(self, *, wait: bool = True) -> AbstractContextManager[Connection]:
        """A consistent snapshot across several queries; with `wait=False`, a read that finds the database
        locked by another connection fails at once (`busy`) instead of waiting for it."""
        raise NotImplementedError

    def busy(self, error: Exception) -> bool:
        """Is `error` a `read(wait=False)` refused because another connection held a lock?"""
        return False

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
    local_reads = True

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
    def read(self, *, wait: bool = True) -> Iterator[Connection]:
        """A consistent snapshot across several queries (a deferred read transaction)."""
        conn = self.reader() if wait else self._prompt_reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def busy(self, error: Exception) -> bool:
        """SQLITE_BUSY or SQLITE_LOCKED (extended codes included), as `read(wait=False)` raises them."""
        return isinstance(error, sqlite3.OperationalError) and error.sqlite_errorcode & 0xFF in _LOCK_CODES

    def _prompt_reader(self) -> Connection:
        """This thread's connection that never waits for a lock (busy_timeout 0)."""
        conn: Connection | None = getattr(self._local, "prompt", None)
        if conn is None:
            raw = self._connect()
            raw.execute("PRAGMA busy_timeout=0")
            conn = self._local.prompt = _wrap(raw)
        return conn

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
