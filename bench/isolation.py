"""`bench/hostile.py --isolate`: the server's CPU kept for the server while the bench runs (root only).

The `apart` placement pins the server alone on one CPU, but the machine's other programs (here: the
sandbox's agent, PID 1, at nice -10, and the kernel's DAMON thread) may still run there, and each time one
does while the server's loop wakes, the loop waits for the CPU. The attack wakes the loop ten times as often,
so it meets them more often: a share of the attack's tail is theirs. `kept_for` moves every thread that may
be moved (every process's but the ones named, and no per-CPU kernel thread) off the server's CPUs for the
run and gives each its own CPU mask back afterwards, as `isolcpus` or a cpuset shield would on a machine
set up for latency.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["kept_for"]


def _threads(skip: set[int]) -> Iterator[int]:
    """Every thread of every process on the machine but the processes in `skip`."""
    for process in Path("/proc").iterdir():
        if not process.name.isdigit() or int(process.name) in skip:
            continue
        with contextlib.suppress(OSError):  # a process that has just ended
            for task in (process / "task").iterdir():
                yield int(task.name)


@contextlib.contextmanager
def kept_for(cpus: set[int], skip: set[int]) -> Iterator[int]:
    """Move every other movable thread off `cpus` (processes in `skip` stay as they are) until the block ends,
    then give each its previous CPU mask back; yields how many threads were moved."""
    moved: dict[int, set[int]] = {}
    try:
        for tid in _threads(skip):
            try:
                current = os.sched_getaffinity(tid)
                elsewhere = current - cpus
                if current & cpus and elsewhere:  # on those CPUs, and not only there (per-CPU kernel threads)
                    os.sched_setaffinity(tid, elsewhere)
                    moved[tid] = current
            except OSError:  # gone, or a kernel thread whose CPUs cannot be changed
                continue
        yield len(moved)
    finally:
        for tid, mask in moved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)
