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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

__all__ = ["PRIORITIES", "initializer", "lower_this_thread"]

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
