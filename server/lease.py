"""Cluster leadership on PostgreSQL: at most one node at a time may call Flow (CONTRACT §6).

The lease is a session-level advisory lock held on a dedicated connection; PostgreSQL releases it when
the holder's session ends (a killed process: at once; a lost host or network: when the TCP keepalives
set on the session give up, a few seconds). The holder confirms its session every `CONFIRM_EVERY_S`
by writing a heartbeat, and counts the lease valid for `VALID_FOR_S` after the last confirmation:
every send checks `valid()` first, so a node that can no longer confirm stops sending within that.

A node that takes the lock waits until `TAKEOVER_GRACE_S` after its predecessor's last heartbeat
before it sends: by then the predecessor has stopped (its lease expired) and the budget's one-second
window holds none of its calls, so the handover makes no burst. A fresh cluster starts at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from actors.clock import Clock
from projections.postgres import create_table

__all__ = ["CONFIRM_EVERY_S", "LEASE_KEY", "TAKEOVER_GRACE_S", "VALID_FOR_S", "Leadership", "Lease", "node_name"]

logger = logging.getLogger(__name__)

LEASE_KEY = 0x7665_6F5F_6C65_6164
"""The advisory lock key of the sending right ("veo_lead")."""
VALID_FOR_S = 1.0
CONFIRM_EVERY_S = 0.25
TAKEOVER_GRACE_S = VALID_FOR_S + 1.0
ATTEMPT_EVERY_S = 0.5
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 2, "keepalives_interval": 1, "keepalives_count": 2}
_SERVER_KEEPALIVES = "SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 2"
_TABLE = (
    "CREATE TABLE IF NOT EXISTS veo_leader (id INTEGER PRIMARY KEY CHECK (id = 1), node TEXT NOT NULL, "
    "heartbeat TIMESTAMPTZ NOT NULL, elected TIMESTAMPTZ, status TEXT NOT NULL DEFAULT '{}')"
)


def node_name(port: int | None = None) -> str:
    """This node's name in the leader row: host, process id, and the port it serves on when known."""
    return f"{socket.gethostname()}:{os.getpid()}" + (f":{port}" if port else "")


class Lease:
    """The sending right: the advisory lock, its heartbeat, and the validity every send checks."""

    def __init__(self, conninfo: Mapping[str, Any], node: str, *, clock: Clock = time.monotonic) -> None:
        self._conninfo = {**conninfo, **_KEEPALIVES}
        self.node = node
        self._clock = clock
        self._conn: psycopg.Connection[Any] | None = None
        self._confirmed_at: float | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            conn: psycopg.Connection[Any] = psycopg.connect(autocommit=True, row_factory=tuple_row, **self._conninfo)
            conn.execute(_SERVER_KEEPALIVES)
            create_table(conn, _TABLE)
            self._conn = conn
        return self._conn

    def try_acquire(self) -> float | None:
        """Take the lock if nobody holds it; None if taken, else the seconds to wait before the first send."""
        conn = self._connection()
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEASE_KEY,)).fetchone()
        if row is None or not row[0]:
            return None
        before = conn.execute(
            "SELECT EXTRACT(EPOCH FROM (heartbeat + make_interval(secs => %s) - now())) FROM veo_leader",
            (TAKEOVER_GRACE_S,),
        ).fetchone()
        conn.execute(
            "INSERT INTO veo_leader (id, node, heartbeat) VALUES (1, %s, now()) "
            "ON CONFLICT (id) DO UPDATE SET node = EXCLUDED.node, heartbeat = now(), elected = NULL, status = '{}'",
            (self.node,),
        )
        return max(0.0, float(before[0])) if before is not None and before[0] is not None else 0.0

    def confirm(self, status: str | None = None, *, elected: bool = False) -> bool:
        """Write the heartbeat (and optionally the leader's queue status) on the lock's session; False: lost.
        `elected`: the grace is over and this node starts sending (the row's `elected` instant)."""
        conn = self._conn
        if conn is None:
            return False
        try:
            if elected:
                conn.execute("UPDATE veo_leader SET heartbeat = now(), elected = now() WHERE node = %s", (self.node,))
            elif status is None:
                conn.execute("UPDATE veo_leader SET heartbeat = now() WHERE node = %s", (self.node,))
            else:
                conn.execute(
                    "UPDATE veo_leader SET heartbeat = now(), status = %s WHERE node = %s", (status, self.node)
                )
        except psycopg.Error as exc:
            logger.warning("the cluster lease was lost (%s)", exc)
            self.release()
            return False
        self._confirmed_at = self._clock()
        return True

    def valid(self) -> bool:
        """Whether a send may start now: the lease was confirmed less than VALID_FOR_S ago."""
        confirmed = self._confirmed_at
        return confirmed is not None and self._clock() - confirmed < VALID_FOR_S

    def release(self, *, stepped_down: bool = False) -> None:
        """Give the lease up (closing the session releases the lock). `stepped_down`: this node has stopped
        sending, so a successor need only wait for the budget window (not for this lease to expire)."""
        self._confirmed_at = None
        conn, self._conn = self._conn, None
        if conn is not None and stepped_down:
            try:
                conn.execute(
                    "UPDATE veo_leader SET heartbeat = now() - make_interval(secs => %s) WHERE node = %s",
                    (VALID_FOR_S, self.node),
                )
            except psycopg.Error:
                logger.info("could not record stepping down; a successor waits the full grace")
        if conn is not None:
            try:  # unlock on this session now: a closed socket frees the lock only when the server notices
                conn.execute("SELECT pg_advisory_unlock_all()")
            except psycopg.Error:
                logger.debug("unlocking before close failed; closing frees the lock", exc_info=True)
            try:
                conn.close()
            except psycopg.Error:  # pragma: no cover - closing a broken connection is best effort
                logger.debug("closing the lease connection failed", exc_info=True)


class Leadership:
    """A thread that tries for the lease, keeps it confirmed, and runs the role changes on its own thread."""

    def __init__(
        self,
        lease: Lease,
        *,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        status: Callable[[], str] = lambda: "{}",
        status_every_s: float = 1.0,
    ) -> None:
        self.lease = lease
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._status = status
        self._status_every_s = status_every_s
        self.leading = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._roles = threading.Thread(target=self._run_roles, name="leadership-roles", daemon=True)
        self._changes: list[bool] = []
        self._changed = threading.Condition()
        self.decided = threading.Event()
        """Set once the first try is decided: lost to another leader, or won and the election handled."""

    def start(self) -> None:
        """Start trying for the lease."""
        self._thread.start()
        self._roles.start()

    def stop(self) -> None:
        """Stop; a leader steps down first (its poller stops, then the lock is released)."""
        self._stopping.set()
        self._thread.join(timeout=15)
        with self._changed:
            self._changed.notify_all()
        self._roles.join(timeout=30)
        self.lease.release(stepped_down=not self._roles.is_alive())

    def _run(self) -> None:
        last_status = 0.0
        while not self._stopping.is_set():
            if not self.leading:
                wait = self._attempt()
                if wait is None:
                    self.decided.set()
                else:
                    if self._stopping.wait(wait) or not self.lease.confirm(elected=True):
                        continue
                    self.leading = True
                    logger.warning("this node (%s) now leads the cluster and calls Flow", self.lease.node)
                    self._change(True)
                    continue
                self._stopping.wait(ATTEMPT_EVERY_S)
                continue
            now = time.monotonic()
            status = self._status() if now - last_status >= self._status_every_s else None
            if status is not None:
                last_status = now
            if not self.lease.confirm(status):
                self.leading = False
                logger.warning("this node (%s) lost the cluster lease: it stops calling Flow", self.lease.node)
                self._change(False)
            self._stopping.wait(CONFIRM_EVERY_S)
        if self.leading:
            self.leading = False
            self._change(False)

    def _attempt(self) -> float | None:
        try:
            return self.lease.try_acquire()
        except psycopg.Error as exc:
            logger.warning("cannot try for the cluster lease (%s); trying again", exc)
            self.lease.release()
            return None

    def _change(self, leading: bool) -> None:
        with self._changed:
            self._changes.append(leading)
            self._changed.notify_all()

    def _run_roles(self) -> None:
        while True:
            with self._changed:
                while not self._changes and not self._stopping.is_set():
                    self._changed.wait()
                if not self._changes:
                    return
                leading = self._changes.pop(0)
            try:
                if leading:
                    self._on_elected()
                else:
                    self._on_deposed()
            except Exception:
                logger.exception("changing this node's role (leading=%s) failed", leading)
            finally:
                self.decided.set()
