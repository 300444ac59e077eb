"""`veo serve` runs every thread but its event loop's at SCHED_IDLE (`--background-priority idle`, the default):
a loop woken by a client's frame takes the CPU from background work at once. `normal` leaves them as started.
A cluster node's lease heartbeat keeps the OS's policy: a busy loop must not make it miss the lease."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

from server.lease import Leadership
from server.priority import initializer, lower_this_thread, normal_starter, start_at_normal
from tests.server.relay_process import running_relay, veo

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is a Linux policy")

SOME_THREADS = 8
"""At least: the default pool's first thread, the PollerActor, its ticker and supervisor, a Flow call, the
projection runner, the simulator and its persister."""


def _policies(pid: int) -> dict[int, int]:
    """Each thread of process `pid` (by thread id) and its scheduling policy."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(ProcessLookupError, FileNotFoundError):  # a thread that has just ended
            found[int(task.name)] = os.sched_getscheduler(int(task.name))
    return found


def _threads_after_work(data: Path, args: tuple[str, ...] = ()) -> tuple[int, dict[int, int]]:
    """Run `veo serve`, have it submit, poll, finish and list a generation, and take its threads' policies."""
    with running_relay(data, args=args) as relay:
        submitted = veo("submit", "a lighthouse at dusk", "--wait", data=data)
        assert submitted.code == 0, submitted.err
        listed = veo("history", data=data)
        assert listed.code == 0 and "completed" in listed.out, listed.err
        return relay.process.pid, _policies(relay.process.pid)


def test_every_thread_but_the_event_loops_is_idle_by_default(tmp_path: Path) -> None:
    pid, policies = _threads_after_work(tmp_path)
    assert policies.pop(pid) == os.SCHED_OTHER  # the main thread runs the event loop
    assert len(policies) >= SOME_THREADS
    not_idle = sorted(tid for tid, policy in policies.items() if policy != os.SCHED_IDLE)
    assert not not_idle, f"threads {not_idle} of {sorted(policies)} are not at SCHED_IDLE"


def test_normal_leaves_every_thread_as_started(tmp_path: Path) -> None:
    _, policies = _threads_after_work(tmp_path, ("--background-priority", "normal"))
    assert len(policies) >= SOME_THREADS
    assert set(policies.values()) == {os.SCHED_OTHER}


def test_an_unknown_priority_is_refused_naming_the_choices(tmp_path: Path) -> None:
    refused = veo("serve", "--port", "0", "--background-priority", "high", data=tmp_path)
    assert refused.code == 2
    assert "--background-priority" in refused.err and "'idle'" in refused.err and "'normal'" in refused.err
    with pytest.raises(ValueError, match="background priority 'high': expected one of idle, normal"):
        initializer("high")


def test_a_lowered_thread_is_idle_and_its_creator_is_not() -> None:
    seen: list[int] = []

    def lowered() -> None:
        assert lower_this_thread()
        seen.append(os.sched_getscheduler(0))
        child = threading.Thread(target=lambda: seen.append(os.sched_getscheduler(0)))  # inherits the policy
        child.start()
        child.join()

    thread = threading.Thread(target=lowered)
    thread.start()
    thread.join()
    assert seen == [os.SCHED_IDLE, os.SCHED_IDLE]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    assert initializer("idle") is lower_this_thread
    assert initializer("normal") is None


def _policy_of_a_thread_started(start: Callable[[threading.Thread], None]) -> int:
    """From a thread lowered to SCHED_IDLE, start a thread with `start`; the policy that thread runs at."""
    seen: list[int] = []

    def lowered() -> None:
        assert lower_this_thread()
        child = threading.Thread(target=lambda: seen.append(os.sched_getscheduler(0)))
        start(child)
        child.join()

    thread = threading.Thread(target=lowered)
    thread.start()
    thread.join()
    return seen[0]


def test_a_thread_started_at_normal_from_a_lowered_one_has_the_openers_policy() -> None:
    with normal_starter():
        assert _policy_of_a_thread_started(start_at_normal) == os.SCHED_OTHER
        assert _policy_of_a_thread_started(threading.Thread.start) == os.SCHED_IDLE
    assert _policy_of_a_thread_started(start_at_normal) == os.SCHED_IDLE  # closed: a plain start


def test_start_at_normal_raises_what_start_raised_and_the_starter_goes_on() -> None:
    with normal_starter():
        once = threading.Thread(target=lambda: None)
        start_at_normal(once)
        once.join()
        with pytest.raises(RuntimeError, match="threads can only be started once"):
            start_at_normal(once)
        assert _policy_of_a_thread_started(start_at_normal) == os.SCHED_OTHER


class _LostLease:
    """A lease another node always holds."""

    node = "test-node"

    def try_acquire(self) -> float | None:
        return None

    def release(self, *, stepped_down: bool = False) -> None:
        pass


def test_the_lease_heartbeat_keeps_the_normal_policy_and_role_changes_are_background() -> None:
    leadership = Leadership(_LostLease(), on_elected=lambda: None, on_deposed=lambda: None)  # type: ignore[arg-type]
    policies: dict[str, int] = {}

    def lowered() -> None:  # as system.start runs in veo serve: on a lowered worker
        assert lower_this_thread()
        leadership.start()
        for name, thread in (("heartbeat", leadership._thread), ("roles", leadership._roles)):
            assert thread.native_id is not None
            policies[name] = os.sched_getscheduler(thread.native_id)

    with normal_starter():
        starter = threading.Thread(target=lowered)
        starter.start()
        starter.join()
        assert leadership.decided.wait(5)
        leadership.stop()
    assert policies == {"heartbeat": os.SCHED_OTHER, "roles": os.SCHED_IDLE}


def test_a_cluster_node_keeps_only_its_loop_and_lease_heartbeat_at_the_normal_policy(
    tmp_path: Path, postgres_url: str
) -> None:
    with running_relay(tmp_path, args=("--store", postgres_url)) as relay:
        policies = _policies(relay.process.pid)
    assert policies.pop(relay.process.pid) == os.SCHED_OTHER
    assert len(policies) >= SOME_THREADS
    normal = [tid for tid, policy in policies.items() if policy != os.SCHED_IDLE]
    assert len(normal) == 2, (
        f"{normal} of {sorted(policies)} are not at SCHED_IDLE: expected the lease's heartbeat and its starter"
    )
