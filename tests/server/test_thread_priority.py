"""`veo serve` runs every thread but its event loop's at SCHED_IDLE (`--background-priority idle`, the default):
a loop woken by a client's frame takes the CPU from background work at once. `normal` leaves them as started."""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from pathlib import Path

import pytest

from server.priority import initializer, lower_this_thread
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
