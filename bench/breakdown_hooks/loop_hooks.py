"""Timestamps from inside a process's asyncio loop, for `bench/hostile.py --breakdown` (never used by veo-relay).

`install(out)` wraps, for the rest of the process's life, the epoll selector's `select()` (when it started and
returned, how many sockets were ready, and how long this thread was runnable but not running meanwhile:
`/proc/thread-self/schedstat`), and the socket transports' reads and writes (when, on which transport), for
every connection but the attackers' (their `User-Agent` is `ATTACKER_AGENT`), in the main thread only. Each
`select()` event also carries the run-queue delay since the previous one returned: the loop preempted while it
worked. Every loop callback that ran 0.5 ms or longer is logged too: when, its wall-clock and thread CPU
time (wall well over CPU: it waited, for the GIL or its CPU), and what it was; and every garbage collection
of 0.2 ms or more on any thread (its generation, and whether on the loop's thread). Events are appended to a list
and written as JSON lines to `out` every second and at exit. Linux only (schedstat).
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import os
import selectors
import threading
import time
from asyncio import events as events_module
from asyncio import selector_events
from collections.abc import Callable
from pathlib import Path
from typing import Any

ATTACKER_AGENT = "veo-bench-attacker"

SLOW_CALLBACK_S = 0.0005
"""Callbacks of the loop that ran at least this long are logged, with what they were."""
SLOW_GC_S = 0.0002
"""Garbage collections that took at least this long are logged (generation, and whether on the loop's thread)."""
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


def _describe(handle: Any) -> str:
    """What a loop callback was: a task's coroutine, else the callback's qualified name."""
    callback = handle._callback
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {owner.get_coro().__qualname__}"  # type: ignore[union-attr]
    return str(getattr(callback, "__qualname__", repr(callback)))


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

    handle_run = events_module.Handle._run

    def timed_run(self: events_module.Handle) -> None:
        if not mine():
            handle_run(self)
            return
        began, cpu = time.perf_counter(), time.thread_time()
        handle_run(self)
        wall = time.perf_counter() - began
        if wall >= SLOW_CALLBACK_S:
            used = time.thread_time() - cpu
            events.append(("callback", time.time() - wall, wall * 1000, used * 1000, _describe(self)))

    collecting: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[:] = [time.perf_counter(), time.time()]
        elif collecting:
            took = time.perf_counter() - collecting[0]
            if took >= SLOW_GC_S:
                events.append(("gc", collecting[1], took * 1000, info["generation"], mine()))

    gc.callbacks.append(on_gc)
    setattr(selectors.EpollSelector, "select", timed_select)  # noqa: B010 - a patch, not an attribute
    events_module.Handle._run = timed_run  # type: ignore[method-assign]
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
