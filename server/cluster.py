"""A node of a cluster on one PostgreSQL store: it always serves and follows; it calls Flow only while it leads.

The node that holds the lease (server/lease.py) runs the PollerActor: on election it restores every
non-terminal generation from the store and runs the commands other nodes forwarded (server/forwarding.py);
every Flow call first checks the lease. Beside its poller it runs a companion (the VideoKeeper), started
after the poller on election and stopped before it on losing the lease. The other nodes forward enqueue,
refresh and cancel through the store. When the leader dies, another node takes the lease within
`ATTEMPT_EVERY_S + TAKEOVER_GRACE_S` plus its restore.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from actors.flow.errors import Transient
from actors.profiles import Profile
from actors.supervisor import PollerSupervisor
from projections.postgres import StoreListener
from server.forwarding import (
    CHANNEL,
    DONE_CHANNEL,
    CommandQueue,
    CommandServer,
    ForwardingPoller,
    PollerHandle,
    encode_status,
)
from server.lease import Leadership, Lease

__all__ = ["ClusterNode", "NotLeading"]

logger = logging.getLogger(__name__)


class NotLeading(RuntimeError):
    """This node does not hold the cluster lease, so it has no PollerActor."""


class ClusterNode:
    """Leadership, forwarding and the poller's life on one node."""

    def __init__(
        self,
        conninfo: Mapping[str, Any],
        node: str,
        *,
        make_supervisor: Callable[[Callable[[], None]], PollerSupervisor],
        profiles: dict[str, Profile],
        rate: float,
        can_lead: bool = True,
        companion: Callable[[PollerSupervisor], Callable[[], None]] | None = None,
    ) -> None:
        self._conninfo = dict(conninfo)
        self.node = node
        self.can_lead = can_lead
        self._make_supervisor = make_supervisor
        self._companion = companion
        self._stop_companion: Callable[[], None] | None = None
        self.queue = CommandQueue(conninfo)
        self.forwarder = ForwardingPoller(self.queue, profiles, rate=rate, leader_status=self.leader_status)
        self.lease = Lease(conninfo, node)
        self.leadership = Leadership(
            self.lease, on_elected=self._elected, on_deposed=self._deposed, status=self._status
        )
        self._supervisor: PollerSupervisor | None = None
        self._commands: StoreListener | None = None
        self._answers = StoreListener(conninfo, DONE_CHANNEL, self.forwarder.answers_may_be_ready)
        self._lock = threading.Lock()
        self.elections = 0
        self.ready = threading.Event()
        """Set once this node's poller has restored after an election (tests and benches wait on it)."""

    # --- life ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for answers to forwarded commands; try for the lease (unless this node may not lead)."""
        self._answers.start()
        if self.can_lead:
            self.leadership.start()

    def wait_decided(self, timeout: float) -> bool:
        """Wait until this node knows whether it leads (a won election's restore included)."""
        return not self.can_lead or self.leadership.decided.wait(timeout)

    def stop(self) -> None:
        """Step down (if leading) and stop listening."""
        if self.can_lead:
            self.leadership.stop()
        self._answers.stop()
        self.queue.close()

    # --- what the server uses -----------------------------------------------------------------------

    @property
    def handle(self) -> PollerHandle:
        """The local PollerSupervisor while leading, else the forwarder."""
        supervisor = self._supervisor
        return supervisor if supervisor is not None else self.forwarder

    @property
    def supervisor(self) -> PollerSupervisor:
        """The local PollerSupervisor (NotLeading on a node that does not lead)."""
        supervisor = self._supervisor
        if supervisor is None:
            raise NotLeading(f"{self.node} does not lead the cluster: it has no PollerActor")
        return supervisor

    def gate(self) -> None:
        """Checked before every Flow call: refuse it (nothing is sent) unless the lease is valid."""
        if not self.lease.valid():
            raise Transient("This node no longer holds the cluster lease; the call was not sent.")

    def leader_status(self) -> dict[str, object]:
        """The queue status the leader last published (empty when no node leads)."""
        try:
            with psycopg.connect(row_factory=tuple_row, **self._conninfo) as conn:
                row = conn.execute("SELECT status FROM veo_leader").fetchone()
        except psycopg.Error as exc:
            logger.info("cannot read the leader's status (%s)", exc)
            return {}
        status: dict[str, object] = json.loads(row[0]) if row else {}
        return status

    # --- role changes (on the leadership's role thread) ---------------------------------------------

    def _elected(self) -> None:
        started = time.monotonic()
        supervisor = self._make_supervisor(self.gate)
        supervisor.start()  # restores every non-terminal generation
        server = CommandServer(self.queue, supervisor)
        self._commands = StoreListener(self._conninfo, CHANNEL, server.run_pending)
        self._commands.start()  # runs what was forwarded while no node led
        with self._lock:
            self._supervisor = supervisor
            self.elections += 1
        self.ready.set()
        logger.warning("leader %s restored its poller in %.2f s", self.node, time.monotonic() - started)
        if self._companion is not None:
            self._stop_companion = self._companion(supervisor)

    def _deposed(self) -> None:
        self.ready.clear()
        stop_companion, self._stop_companion = self._stop_companion, None
        if stop_companion is not None:
            stop_companion()
        with self._lock:
            supervisor, self._supervisor = self._supervisor, None
        if self._commands is not None:
            self._commands.stop()
            self._commands = None
        if supervisor is not None:
            supervisor.stop()

    def _status(self) -> str:
        supervisor = self._supervisor
        return encode_status(supervisor.last_status, self.node) if supervisor is not None else "{}"
