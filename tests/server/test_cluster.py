"""A cluster on one PostgreSQL store: one leader at a time, a lease checked before each send, commands
forwarded through the store, and a follower that takes over and restores every non-terminal job."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from actors.flow.errors import Transient
from domain.requests import GenerationSpec
from server.bootstrap import Settings, System
from server.store import locate
from tests.actors.system import all_terminal, statuses, wait_for
from veo_simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.parametrize("backend", ["postgres"])


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def conninfo(tmp_path: Path, store: str) -> dict[str, Any]:
    target = locate(tmp_path, store).postgres
    assert target is not None
    return target.conninfo()


def test_one_lease_holder_at_a_time_and_a_successor_waits_out_the_grace(tmp_path: Path, store: str) -> None:
    """The second node cannot take the lock while the first holds it; after the first lets go it can, but
    must wait until TAKEOVER_GRACE_S after the first one's last heartbeat before its first send."""
    from server.lease import TAKEOVER_GRACE_S, Lease  # noqa: PLC0415 - imports psycopg

    first, second = Lease(conninfo(tmp_path, store), "first"), Lease(conninfo(tmp_path, store), "second")
    try:
        assert first.try_acquire() == 0.0  # a fresh cluster: nobody led before
        assert first.confirm()
        assert second.try_acquire() is None
        first.release()
        wait = second.try_acquire()
        assert wait is not None
        assert TAKEOVER_GRACE_S - 1.0 < wait <= TAKEOVER_GRACE_S
    finally:
        first.release()
        second.release()


def test_a_lease_not_confirmed_within_its_validity_refuses_every_send(tmp_path: Path, store: str) -> None:
    """valid() holds for VALID_FOR_S after the last confirmation; after that the gate raises before sending."""
    from server.cluster import ClusterNode  # noqa: PLC0415
    from server.lease import VALID_FOR_S  # noqa: PLC0415

    clock = FakeClock()
    node = ClusterNode(
        conninfo(tmp_path, store), "n", make_supervisor=lambda gate: pytest.fail("not elected"), profiles={}, rate=10
    )
    node.lease._clock = clock
    try:
        assert node.lease.try_acquire() == 0.0
        assert node.lease.confirm()
        clock.now += VALID_FOR_S - 0.01
        node.gate()  # still valid: the send may start
        clock.now += 0.02
        with pytest.raises(Transient, match="cluster lease"):
            node.gate()
    finally:
        node.lease.release()
        node.queue.close()


class RecordingPoller:
    """A stand-in for the leader's PollerSupervisor that records what it is asked."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[list[UUID], str | None, float | None]] = []
        self.cancelled: list[UUID] = []
        self.refreshed: list[UUID] = []
        self.profiles: dict[str, Any] = {}
        self.restarts = 0
        self.last_status: dict[str, object] = {}

    def enqueue(self, generation_ids: Sequence[UUID], token: str | None = None, delay_s: float | None = None) -> None:
        self.enqueued.append((list(generation_ids), token, delay_s))

    def cancel(self, generation_id: UUID) -> bool:
        self.cancelled.append(generation_id)
        return True

    def refresh(self, generation_id: UUID) -> Future[None]:
        self.refreshed.append(generation_id)
        done: Future[None] = Future()
        done.set_result(None)
        return done

    def queue_status(self) -> dict[str, object]:
        return {}

    def published_status(self) -> dict[str, object] | None:
        return None


def test_forwarded_commands_run_on_the_leader_and_their_answers_come_back(tmp_path: Path, store: str) -> None:
    """enqueue keeps its delay but not the token (a secret); cancel and refresh are answered to the asker."""
    from projections.postgres import StoreListener  # noqa: PLC0415
    from server.forwarding import CHANNEL, DONE_CHANNEL, CommandQueue, CommandServer, ForwardingPoller  # noqa: PLC0415

    info = conninfo(tmp_path, store)
    leader_side, follower_side = CommandQueue(info), CommandQueue(info)
    poller = RecordingPoller()
    server = CommandServer(leader_side, poller)
    forwarder = ForwardingPoller(follower_side, {}, rate=10, leader_status=dict)
    listeners = [
        StoreListener(info, CHANNEL, server.run_pending),
        StoreListener(info, DONE_CHANNEL, forwarder.answers_may_be_ready),
    ]
    for listener in listeners:
        listener.start()
        assert listener.listening.wait(10)
    try:
        ids = [uuid4(), uuid4()]
        forwarder.enqueue(ids, "secret-recaptcha-token", 0.25)
        assert forwarder.cancel(ids[0]) is True
        forwarder.refresh(ids[1]).result(timeout=10)
        assert poller.enqueued == [(ids, None, 0.25)]
        assert (poller.cancelled, poller.refreshed) == ([ids[0]], [ids[1]])
        assert leader_side.pending() == []
    finally:
        for listener in listeners:
            listener.stop()
        leader_side.close()
        follower_side.close()


def test_forwarded_commands_too_old_or_unknown_are_answered_false_and_not_run(tmp_path: Path, store: str) -> None:
    """A cancel or refresh older than STALE_AFTER_S (its asker gave up) and a row naming no command we know are
    answered False; an old enqueue still runs (its jobs are recorded and must not be lost)."""
    import psycopg  # noqa: PLC0415

    from server.forwarding import STALE_AFTER_S, CommandQueue, CommandServer, Enqueue  # noqa: PLC0415

    info = conninfo(tmp_path, store)
    queue, poller = CommandQueue(info), RecordingPoller()
    ids = [uuid4(), uuid4()]
    try:
        queue.submit(Enqueue((ids[0],)))  # creates the table
        rows = [("cancel", ids[1]), ("refresh", ids[1]), ("enqueue", ids[1]), ("rewind", ids[1])]
        with psycopg.connect(autocommit=True, **info) as conn:
            for kind, generation_id in rows:
                conn.execute(
                    "INSERT INTO veo_commands (kind, generation_ids, created) "
                    "VALUES (%s, %s, now() - make_interval(secs => %s))",
                    (kind, f'["{generation_id}"]', STALE_AFTER_S + 5),
                )
        CommandServer(queue, poller).run_pending()
        answers = queue.answers(list(range(1, 6)))
        assert answers == {1: True, 2: False, 3: False, 4: True, 5: False}
        assert poller.enqueued == [([ids[0]], None, None), ([ids[1]], None, None)]
        assert (poller.cancelled, poller.refreshed) == ([], [])
        assert queue.pending() == []
    finally:
        queue.close()


def started(data: Path, store: str, simulator: Simulator, port: int) -> System:
    system = System(Settings(data_dir=data, store=store, flow_url=simulator.url, port=port))
    system.start()
    return system


def test_a_follower_takes_over_within_five_seconds_and_finishes_a_forwarded_batch(tmp_path: Path, store: str) -> None:
    """A batch asked of the follower runs on the leader; when the leader stops mid-batch the follower leads
    within 5 s, restores the rest, and every job completes with no scene sent twice and no burst over R."""
    simulator = Simulator(SimulatorConfig(lo=0.8, hi=1.5, seed=4))
    simulator.start()
    leader: System | None = started(tmp_path / "a", store, simulator, 1)
    follower: System | None = None
    try:
        assert leader is not None
        assert leader.cluster is not None
        assert leader.cluster.ready.wait(10)
        follower = started(tmp_path / "b", store, simulator, 2)
        assert follower.cluster is not None
        assert not follower.cluster.leadership.leading
        _, ids, _ = follower.app.request_batch([GenerationSpec(prompt=f"p{i}") for i in range(10)])
        follower.commands.enqueue(ids, None, 0.1)
        wait_for(lambda: "processing" in statuses(follower, ids), what="the leader to start the batch")
        stopped = time.monotonic()
        leader.stop()
        leader = None
        assert follower.cluster.ready.wait(5.0), "no takeover within 5 s"
        took_over = time.monotonic() - stopped
        wait_for(all_terminal(follower, ids), timeout=30)
        final = statuses(follower, ids)
        audit = simulator.audit()
    finally:
        for system in (follower, leader):
            if system is not None:
                system.stop()
        simulator.stop()
    assert took_over < 5.0
    assert final == ["completed"] * 10
    assert audit["duplicate_scene_ids"] == []
    assert audit["max_in_any_1s_window"] <= 10
