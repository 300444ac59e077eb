"""The read model on PostgreSQL, in the event store's own database; its fast event reader; store wake-ups.

Write transactions take a transaction-level advisory lock first, so writers in every process (each
node of a cluster runs a projection runner) take turns exactly as SQLite's `BEGIN IMMEDIATE` makes
them. The event store's recorder NOTIFYs its channel in every insert transaction (delivered at commit);
`StoreListener` turns those into wake-ups without polling.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from psycopg.rows import tuple_row

from projections.database import ReadModelDatabase, ReadModelError
from projections.dialect import POSTGRES, Connection, Cursor

__all__ = ["READ_MODEL_LOCK", "PostgresReadModel", "StoreListener", "create_table", "select_stored"]

logger = logging.getLogger(__name__)

READ_MODEL_LOCK = 0x7665_6F5F_7669_6577
"""The advisory lock key every read-model writer holds for its transaction ("veo_view")."""
_MAX_CACHED = 4096
_translated: dict[str, str] = {}


def _pg(statement: str) -> str:
    """A view's statement with psycopg's placeholders (views never write a literal `%`)."""
    found = _translated.get(statement)
    if found is None:
        if "%" in statement:
            raise ValueError(f"a read-model statement may not contain '%': {statement}")
        if len(_translated) > _MAX_CACHED:
            _translated.clear()
        found = _translated[statement] = statement.replace("?", "%s")
    return found


def _wrap(raw: psycopg.Connection[Any]) -> Connection:
    def execute(statement: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return raw.execute(_pg(statement), parameters or None)

    def executemany(statement: str, rows: Iterable[Sequence[Any]]) -> None:
        with raw.cursor() as cursor:
            cursor.executemany(_pg(statement), rows)

    return Connection(raw, POSTGRES, execute, executemany)


def create_table(conn: psycopg.Connection[Any], statement: str) -> None:
    """Run a CREATE ... IF NOT EXISTS alone among writers (concurrent ones can clash in the catalog)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (READ_MODEL_LOCK,))
        conn.execute(statement)


class PostgresReadModel(ReadModelDatabase):
    """Connections to the read-model tables: one writer (advisory-locked transactions), a reader per thread."""

    dialect = POSTGRES
    errors = (psycopg.Error,)

    def __init__(self, conninfo: Mapping[str, Any], *, description: str = "PostgreSQL") -> None:
        self._conninfo = dict(conninfo)
        self.description = description
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._all: list[psycopg.Connection[Any]] = []
        self._all_lock = threading.Lock()
        self._writer = _wrap(self._connect())

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            raw: psycopg.Connection[Any] = psycopg.connect(autocommit=True, row_factory=tuple_row, **self._conninfo)
        except psycopg.Error as exc:
            raise ReadModelError(f"cannot open the read model in {self.description}: {exc}") from exc
        with self._all_lock:
            self._all.append(raw)
        return raw

    def reader(self) -> Connection:
        """This thread's connection for queries (autocommit: each statement sees the latest commit)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.raw.closed or conn.raw.broken:
            conn = _wrap(self._connect())
            self._local.conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent snapshot across several queries (a read-only repeatable-read transaction; readers never
        wait for writers here)."""
        conn = self.reader()
        with conn.raw.transaction():
            conn.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, after every other writer's (in any process) has finished."""
        with self._write_lock:
            if self._writer.raw.closed or self._writer.raw.broken:
                self._writer = _wrap(self._connect())
            raw = self._writer.raw
            with raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (READ_MODEL_LOCK,))
                yield self._writer

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


_SELECTS: dict[tuple[str, str], sql.Composed] = {}


def select_stored(recorder: ApplicationRecorder, after: int, limit: int) -> list[tuple[int, str, str, bytes]]:
    """(position, originator id, topic, state) of the next `limit` notifications after `after`, as tuples.

    The same rows as the PostgreSQL recorder's `select_notifications`, without building a dict, a UUID
    and a dataclass per row.
    """
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise TypeError(f"not a PostgreSQL recorder: {type(recorder).__name__}")
    schema, table = recorder.datastore.schema, recorder.events_table_name
    statement = _SELECTS.get((schema, table))
    if statement is None:
        statement = _SELECTS[(schema, table)] = sql.SQL(
            "SELECT notification_id, originator_id::text, topic, state FROM {}.{} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(schema), sql.Identifier(table))
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(statement, (after, limit), prepare=True)
        return cursor.fetchall()


class StoreListener:
    """A thread that LISTENs on the event store's channel and calls `wake()` for each committed insert.

    It also wakes once on every (re)connection, for whatever was committed while it was not listening.
    """

    def __init__(
        self, conninfo: Mapping[str, Any], channel: str, wake: Callable[[], None], *, retry_s: float = 1.0
    ) -> None:
        self._conninfo = dict(conninfo)
        self.channel = channel
        self._wake = wake
        self._retry_s = retry_s
        self._stopping = threading.Event()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)
        self.listening = threading.Event()
        """Set while a LISTEN is in place (tests wait for it before writing from elsewhere)."""

    def start(self) -> None:
        """Start listening."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection (once; later calls do nothing)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        os.write(self._stop_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        os.close(self._stop_r)
        os.close(self._stop_w)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except (psycopg.Error, OSError) as exc:
                self.listening.clear()
                if self._stopping.is_set():
                    return
                logger.warning("listening for store notifications failed (%s); reconnecting in %.1f s", exc, 1.0)
                self._stopping.wait(self._retry_s)

    def _listen(self) -> None:
        with psycopg.connect(autocommit=True, **self._conninfo) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self.listening.set()
            self._wake()
            while not self._stopping.is_set():
                readable, _, _ = select.select([conn.fileno(), self._stop_r], [], [])
                if self._stop_r in readable:
                    return
                if any(True for _ in conn.notifies(timeout=0)):
                    self._wake()
