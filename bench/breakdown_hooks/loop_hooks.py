"""Timestamps from inside a process's asyncio loop, for `bench/hostile.py --breakdown` (never used by veo-relay).

`install(out)` wraps, for the rest of the process's life, the epoll selector's `select()` (when it started and
returned, how many sockets were ready, and how long this thread was runnable but not running meanwhile:
`/proc/thread-self/schedstat`), and the socket transports' reads and writes (when, on which transport), for
every connection but the attackers' (their `User-Agent` is `ATTACKER_AGENT`), in the main thread only. Each
`select()` event also carries the run-queue delay since the previous one returned: the loop preempted while it
worked. Events are appended to a list and written as JSON lines to `out` every second and at exit. Linux only
(schedstat).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import threading
import time
from asyncio import selector_events
from collections.abc import Callable
from pathlib import Path
from typing import Any

ATTACKER_AGENT = "veo-bench-attacker"

_sink: list[Callable[[tuple[Any, ...]], None]] = []
"""Once `install` ran: where `note_read` and `note_write` put their events."""


_stat = threading.local()


def _run_delay_ns() -> int:
    """This thread's total time runnable but not running (ns); one `pread` of a file kept open per thread."""
    fd = getattr(_stat, "fd", None)
    if fd is None:
        fd = _stat.fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    return int(os.pread(fd, 128, 0).split()[1])


def _agent(transport: Any) -> str:
    request = getattr(getattr(transport, "_protocol", None), "request", None)  # a websockets server connection
    if request is not None:
        return str(request.headers.get("User-Agent", ""))
    return ""


def install(out: Path) -> None:
    """Start logging this process's loop events to `out` (see the module docstring)."""
    pid = os.getpid()
    events: list[tuple[Any, ...]] = []

    def mine() -> bool:  # the main thread's loop (veo serve's, the bench's probe) in this process, not a child's
        return os.getpid() == pid and threading.current_thread() is threading.main_thread()

    def wanted(transport: Any) -> bool:
        return mine() and _agent(transport) != ATTACKER_AGENT

    select = selectors.EpollSelector.select
    last = [0]

    def timed_select(self: selectors.EpollSelector, timeout: float | None = None) -> Any:
        if not mine():
            return select(self, timeout)
        delay, began = _run_delay_ns(), time.time()
        ready = select(self, timeout)
        returned, after = time.time(), _run_delay_ns()
        working = (delay - last[0]) / 1e6 if last[0] else 0.0
        events.append(("select", began, returned, len(ready), (after - delay) / 1e6, working))
        last[0] = after
        return ready

    transport: Any = getattr(selector_events, "_SelectorSocketTransport")  # noqa: B009 - private to asyncio
    read_ready, write = transport._read_ready__data_received, transport.write

    def timed_read(self: Any) -> None:
        began = time.time()
        read_ready(self)
        if wanted(self):
            events.append(("read", began, id(self)))

    def timed_write(self: Any, data: Any) -> None:
        began = time.time()
        write(self, data)
        if wanted(self):
            events.append(("write", began, time.time(), id(self)))

    setattr(selectors.EpollSelector, "select", timed_select)  # noqa: B010 - a patch, not an attribute
    transport._read_ready__data_received = timed_read
    transport.write = timed_write

    def flush() -> None:
        if os.getpid() != pid:
            return
        batch = events.copy()
        del events[: len(batch)]  # one bytecode: events appended meanwhile stay for the next flush
        with out.open("a") as file:
            file.writelines(json.dumps(event) + "\n" for event in batch)

    def every_second() -> None:
        while True:
            time.sleep(1)
            flush()

    _sink.append(lambda event: events.append(event) if mine() else None)
    atexit.register(flush)
    threading.Thread(target=every_second, name="breakdown-flush", daemon=True).start()


def note_read(at: float, connection: int) -> None:
    """A read (begun at `at`) on a connection the asyncio transports do not carry: the probe's own socket."""
    if _sink:
        _sink[0](("read", at, connection))


def note_write(began: float, connection: int) -> None:
    """A write (begun at `began`, just ended) on such a connection."""
    if _sink:
        _sink[0](("write", began, time.time(), connection))
