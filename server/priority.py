"""The event loop first: the thread that answers clients never waits for the CPU behind background work.

`veo serve`'s event loop reads, answers and writes every client's frames. Everything else (the PollerActor,
its ticker and supervisor, the projection runner, the thread pools, the built-in simulator) is background work
that can wait a millisecond. Linux does not always let a thread that wakes take the CPU from the one running:
EEVDF preempts only for a woken thread that is owed CPU time, and the event loop, the busiest thread of the
process, seldom is. On a server with one CPU the kernel's scheduler trace showed the loop, woken by a client's
frame, waiting 1-5 ms behind a background thread 3 times a second when quiet and 10 times a second under hostile
clients (docs/BENCHMARKS.md, Reliability, session 8), a good part of the slowest 1% of clients' round trips.

With `--background-priority idle` (the default) background threads run at SCHED_IDLE: they have the CPU whenever
the loop does not want it, and a waking loop takes it from them at once. Their share of a CPU the loop keeps busy
is small, so on a machine whose every CPU other programs keep busy too, background work (polling Flow, the read
models) slows down with it; `--background-priority normal` leaves every thread as the OS starts it. Where the
relay has a CPU cgroup of its own (a container, a systemd unit with CPU accounting), other programs compete with
the group as a whole, and SCHED_IDLE orders only the relay's own threads.

Threads take the policy of the thread that creates them: `veo serve` starts the system from a thread of its
default pool (whose threads are lowered as they start), so every thread the system starts, and every thread
those start, is lowered too; the pools whose threads the loop itself creates take `initializer(...)`.

A few threads must not wait behind a busy loop at all: the cluster lease's heartbeat confirms the lease every
0.25 s and the lease lapses after 1 s, and a SCHED_IDLE thread on a CPU the loop keeps busy can wait longer than
that (its share is 3/1024 of the loop's). An unprivileged thread cannot leave SCHED_IDLE, so those threads are
started by `start_at_normal` from a thread that `normal_starter` creates while the caller still has the OS's
policy (`veo serve` opens it on its main thread, before anything is lowered).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["PRIORITIES", "initializer", "lower_this_thread", "normal_starter", "start_at_normal"]

logger = logging.getLogger(__name__)

PRIORITIES = ("idle", "normal")
"""`--background-priority` values: SCHED_IDLE for background threads, or as the OS starts them."""


def lower_this_thread() -> bool:
    """Run the calling thread at SCHED_IDLE; False (nothing changed) where the OS has no such policy or refuses."""
    if not hasattr(os, "SCHED_IDLE"):  # not Linux
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
    except OSError as exc:  # e.g. a seccomp profile that forbids it: the thread runs as started
        logger.debug("background thread left at its priority: %s", exc)
        return False
    return True


def initializer(priority: str) -> Callable[[], object] | None:
    """A thread pool's initializer for `--background-priority` (None: leave its threads as started)."""
    if priority not in PRIORITIES:
        raise ValueError(f"background priority {priority!r}: expected one of {', '.join(PRIORITIES)}")
    return lower_this_thread if priority == "idle" else None


@dataclass
class _Request:
    thread: threading.Thread
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


_starters: list[queue.SimpleQueue[_Request | None]] = []
"""The open `normal_starter`'s requests (at most one is open: `veo serve`'s)."""


@contextmanager
def normal_starter() -> Iterator[None]:
    """While open, `start_at_normal` starts threads from a thread created here, with the caller's policy."""
    requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()

    def serve() -> None:
        while (request := requests.get()) is not None:
            try:
                request.thread.start()
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that asked
                request.error = exc
            request.done.set()

    starter = threading.Thread(target=serve, name="normal-starter", daemon=True)
    starter.start()
    _starters.append(requests)
    try:
        yield
    finally:
        _starters.remove(requests)
        requests.put(None)
        starter.join()


def start_at_normal(thread: threading.Thread) -> None:
    """Start `thread` with the policy of the thread that opened `normal_starter` (the OS's normal one in
    `veo serve`), whatever the caller's; outside one, as `thread.start()` does. Raises what `start` raised."""
    if not _starters:
        thread.start()
        return
    request = _Request(thread)
    _starters[-1].put(request)
    request.done.wait()
    if request.error is not None:
        raise request.error
