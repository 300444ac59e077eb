"""Commands for the poller travel through the store: a node that does not lead writes them, the leader runs them.

`veo_commands` (in the store's PostgreSQL database) holds each command (`Forwarded`: `Enqueue`, `Refresh`,
`Cancel`, typed messages whose tag is the row's `kind`) with the generation ids; inserting one NOTIFYs
`veo_commands`, which the leader LISTENs on. The leader runs it on its PollerActor, marks it done (with
cancel's answer) and NOTIFYs `veo_commands_done`, on which the waiting nodes resolve their futures.
Nothing secret is written: a reCAPTCHA token given with a request made on a follower is not forwarded (the
leader asks the registered token providers).

If the leader dies first, nothing is lost: its successor restores every non-terminal generation from
the store, and runs the commands still marked pending that are younger than `STALE_AFTER_S`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import msgspec
import psycopg
from psycopg.rows import tuple_row

from actors.budget import Budget
from actors.profiles import Profile
from actors.queue_status import QueueStatus
from actors.tokens import TokenBroker
from projections.postgres import create_table
from server.command_service import CommandSink

__all__ = [
    "Cancel",
    "CommandQueue",
    "CommandServer",
    "Enqueue",
    "Forwarded",
    "ForwardingPoller",
    "Pending",
    "PollerHandle",
    "Refresh",
]

logger = logging.getLogger(__name__)

CHANNEL = "veo_commands"
DONE_CHANNEL = "veo_commands_done"
STALE_AFTER_S = 30.0
ANSWER_TIMEOUT_S = 10.0
KEEP_DONE_S = 3600.0
_IDS = msgspec.json.Decoder(tuple[UUID, ...])
_TABLE = (
    "CREATE TABLE IF NOT EXISTS veo_commands (id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, "
    "generation_ids TEXT NOT NULL, delay_ms INTEGER, created TIMESTAMPTZ NOT NULL DEFAULT now(), "
    "done BOOLEAN NOT NULL DEFAULT false, ok BOOLEAN)"
)


class PollerHandle(CommandSink, Protocol):
    """What the server asks of the poller, on the leader (the PollerSupervisor) or on any other node."""

    @property
    def profiles(self) -> dict[str, Profile]: ...

    @property
    def tokens(self) -> TokenBroker: ...

    @property
    def budget(self) -> Budget: ...

    @property
    def restarts(self) -> int: ...

    @property
    def last_status(self) -> QueueStatus | None: ...

    def provide_session(self, profile_id: str, session_cookie: str, provider_id: str) -> bool: ...

    def queue_status(self) -> QueueStatus | dict[str, object]: ...

    def published_status(self) -> QueueStatus | None: ...


class Enqueue(msgspec.Struct, frozen=True, tag="enqueue", tag_field="kind"):
    """Take these generations in (their `Requested` is recorded), submitted `delay_ms` apart."""

    generation_ids: tuple[UUID, ...]
    delay_ms: int | None = None


class Refresh(msgspec.Struct, frozen=True, tag="refresh", tag_field="kind"):
    """Check this generation on Flow now; answered once the check is recorded."""

    generation_id: UUID


class Cancel(msgspec.Struct, frozen=True, tag="cancel", tag_field="kind"):
    """Cancel this generation; answered with whether it was cancelled."""

    generation_id: UUID


Forwarded = Enqueue | Refresh | Cancel
"""A command a node that does not lead writes for the leader's poller."""


@dataclass(frozen=True)
class Pending:
    """A forwarded command not yet done: its id in the table, the command (None: not one this node knows), and
    its age in seconds."""

    command_id: int
    command: Forwarded | None
    age_s: float


class CommandQueue:
    """The `veo_commands` table: write, read pending, finish, and see what is finished."""

    def __init__(self, conninfo: Mapping[str, Any]) -> None:
        self._conninfo = dict(conninfo)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(autocommit=True, row_factory=tuple_row, **self._conninfo)
            create_table(self._conn, _TABLE)
        return self._conn

    def submit(self, command: Forwarded) -> int:
        """Record a command and wake the leader; its id."""
        ids, delay_ms = _columns(command)
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                row = conn.execute(
                    "INSERT INTO veo_commands (kind, generation_ids, delay_ms) VALUES (%s, %s, %s) RETURNING id",
                    (command.__struct_config__.tag, msgspec.json.encode(ids).decode(), delay_ms),
                ).fetchone()
                conn.execute(f"NOTIFY {CHANNEL}")
        assert row is not None
        return int(row[0])

    def pending(self) -> list[Pending]:
        """Every command not yet done, oldest first."""
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    "SELECT id, kind, generation_ids, delay_ms, EXTRACT(EPOCH FROM now() - created) "
                    "FROM veo_commands WHERE NOT done ORDER BY id"
                )
                .fetchall()
            )
        return [_pending(int(i), kind, ids, delay_ms, float(age)) for i, kind, ids, delay_ms, age in rows]

    def finish(self, command_id: int, ok: bool) -> None:
        """Mark a command done with its answer, and wake the nodes waiting for it."""
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                conn.execute("UPDATE veo_commands SET done = true, ok = %s WHERE id = %s", (ok, command_id))
                conn.execute(f"NOTIFY {DONE_CHANNEL}")

    def answers(self, command_ids: Sequence[int]) -> dict[int, bool]:
        """The answers of those of `command_ids` that are done."""
        with self._lock:
            rows = (
                self._connection()
                .execute("SELECT id, ok FROM veo_commands WHERE done AND id = ANY(%s)", (list(command_ids),))
                .fetchall()
            )
        return {int(i): bool(ok) for i, ok in rows}

    def prune(self) -> None:
        """Forget commands done long ago."""
        with self._lock:
            self._connection().execute(
                "DELETE FROM veo_commands WHERE done AND created < now() - make_interval(secs => %s)", (KEEP_DONE_S,)
            )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class ForwardingPoller:
    """The poller as seen from a node that does not lead: commands are written to the store for the leader."""

    def __init__(
        self,
        queue: CommandQueue,
        profiles: dict[str, Profile],
        *,
        rate: float,
        leader_status: Callable[[], dict[str, object]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.profiles = profiles
        self.tokens = TokenBroker(clock=clock)
        self.budget = Budget(rate, clock=clock)
        self.restarts = 0
        self._leader_status = leader_status
        self._waiting: dict[int, Future[bool]] = {}
        self._lock = threading.Lock()

    @property
    def last_status(self) -> QueueStatus | None:
        """The leader's latest published queue status (None before it publishes one)."""
        status = self._leader_status()
        try:
            return msgspec.convert(status, QueueStatus) if status else None
        except msgspec.ValidationError as exc:
            logger.info("the leader's queue status is unreadable here (%s)", exc)
            return None

    def enqueue(self, generation_ids: Sequence[UUID], token: str | None = None, delay_s: float | None = None) -> None:
        """Ask the leader to take these generations in (a token is not forwarded: it is a secret)."""
        delay_ms = round(delay_s * 1000) if delay_s is not None else None
        self.queue.submit(Enqueue(tuple(generation_ids), delay_ms))

    def refresh(self, generation_id: UUID) -> Future[None]:
        """Ask the leader for a status check; the future resolves once it is recorded."""
        answer = self._ask(Refresh(generation_id))
        done: Future[None] = Future()
        answer.add_done_callback(lambda _: done.set_result(None))
        return done

    def cancel(self, generation_id: UUID) -> bool:
        """Ask the leader to cancel; its answer (False also when no leader answered in time)."""
        try:
            return self._ask(Cancel(generation_id)).result(timeout=ANSWER_TIMEOUT_S)
        except TimeoutError:
            logger.warning("no leader answered the cancel of %s in %.0f s", generation_id, ANSWER_TIMEOUT_S)
            return False

    def provide_session(self, profile_id: str, session_cookie: str, provider_id: str) -> bool:
        """False: a session cookie is a secret, so it is not written to the store for the leader."""
        logger.info(
            "session cookie for profile %s from provider %s refused: this node does not lead", profile_id, provider_id
        )
        return False

    def queue_status(self) -> dict[str, object]:
        """The leader's latest published queue status as it published it, marked as seen from here."""
        return {**self._leader_status(), "served_by": "follower"}

    def published_status(self) -> None:
        """None: the leader's status is read from the store (`queue_status`), not at hand."""
        return

    def _ask(self, command: Refresh | Cancel) -> Future[bool]:
        answer: Future[bool] = Future()
        command_id = self.queue.submit(command)
        with self._lock:
            self._waiting[command_id] = answer
        self.answers_may_be_ready()
        return answer

    def answers_may_be_ready(self) -> None:
        """A command was finished somewhere (or the listener reconnected): resolve the answered ones."""
        with self._lock:
            waiting = list(self._waiting)
        if not waiting:
            return
        for command_id, ok in self.queue.answers(waiting).items():
            with self._lock:
                answer = self._waiting.pop(command_id, None)
            if answer is not None:
                answer.set_result(ok)


class CommandServer:
    """On the leader: runs the forwarded commands on the local poller and answers them."""

    def __init__(self, queue: CommandQueue, poller: CommandSink) -> None:
        self.queue = queue
        self.poller = poller
        self._lock = threading.Lock()
        self._running: set[int] = set()

    def run_pending(self) -> None:
        """Run every pending command (stale cancels and refreshes are answered False, not run)."""
        with self._lock:
            pending = [c for c in self.queue.pending() if c.command_id not in self._running]
            self._running.update(c.command_id for c in pending)
        for command in pending:
            try:
                self._run(command)
            except Exception:
                logger.exception("running forwarded command %d (%r) failed", command.command_id, command.command)
                self._finish(command.command_id, ok=False)

    def _run(self, pending: Pending) -> None:
        command_id = pending.command_id
        match pending.command:
            case Enqueue(generation_ids=ids, delay_ms=delay_ms):
                self.poller.enqueue(ids, None, delay_ms / 1000 if delay_ms is not None else None)
                self._finish(command_id, ok=True)
            case Refresh() | Cancel() as command if pending.age_s > STALE_AFTER_S:
                logger.info("forwarded %r (%d) is %.0f s old: not run", command, command_id, pending.age_s)
                self._finish(command_id, ok=False)
            case Cancel(generation_id=generation_id):
                self._finish(command_id, ok=self.poller.cancel(generation_id))
            case Refresh(generation_id=generation_id):
                self.poller.refresh(generation_id).add_done_callback(lambda _: self._finish(command_id, ok=True))
            case None:  # logged where it was read
                self._finish(command_id, ok=False)

    def _finish(self, command_id: int, *, ok: bool) -> None:
        self.queue.finish(command_id, ok)
        with self._lock:
            self._running.discard(command_id)


def _columns(command: Forwarded) -> tuple[tuple[UUID, ...], int | None]:
    """A command's generation ids and delay, as the table's columns hold them (its tag is the `kind`)."""
    match command:
        case Enqueue(generation_ids=ids, delay_ms=delay_ms):
            return ids, delay_ms
        case Refresh(generation_id=generation_id) | Cancel(generation_id=generation_id):
            return (generation_id,), None


def _pending(command_id: int, kind: str, ids: str, delay_ms: int | None, age_s: float) -> Pending:
    """A row of the table as the command it holds."""
    generation_ids = _IDS.decode(ids)
    fields: dict[str, object] = {"kind": kind, "generation_ids": generation_ids, "delay_ms": delay_ms}
    if generation_ids:
        fields["generation_id"] = generation_ids[0]
    try:
        command: Forwarded | None = msgspec.convert(fields, Forwarded)
    except msgspec.ValidationError as exc:
        logger.error("unknown forwarded command %r (%d): %s", kind, command_id, exc)
        command = None
    return Pending(command_id, command, age_s)


def encode_status(status: QueueStatus | None, leader: str) -> str:
    """The leader's queue status as JSON text for the leader row (only its name before its first snapshot)."""
    fields = msgspec.to_builtins(status) if status is not None else {}
    return msgspec.json.encode({**fields, "leader": leader}).decode()


__all__ += ["encode_status"]
