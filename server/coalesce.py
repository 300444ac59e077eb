"""Coalescing: callers of one read that arrive together share one call, and no answer predates its caller."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Coalesced", "retrieved"]

T = TypeVar("T")


class Coalesced(Generic[T]):
    """Wraps an async read so that concurrent callers share calls of it.

    A caller joins the next call that begins after it arrived: the one about to begin when none is running,
    otherwise the one that begins as soon as the running call ends (every caller waiting meanwhile shares
    it). So however many callers arrive, at most one call runs and one waits, and every answer was read
    after its caller asked (a caller never gets an answer that may predate its own earlier writes).

    For reads that cost more than their answer is worth repeating: `queue_status` asks the PollerActor,
    and a thousand dashboards (or one flooder) asking at once would otherwise put a thousand messages in
    the actor's inbox ahead of its real work. A call's exception reaches every caller that shared it; a
    caller that is cancelled leaves the call running for the others.
    """

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._running: asyncio.Future[T] | None = None
        self._next: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        """The answer of a call that started after this one was made."""
        answer = self._next
        if answer is None:
            answer = self._next = asyncio.get_running_loop().create_future()
            if self._running is None:
                self._start()
        return await asyncio.shield(answer)

    def _start(self) -> None:
        answer = self._next
        assert answer is not None
        self._running = answer
        answer.add_done_callback(retrieved)  # every caller may have been cancelled: nobody else would look
        task = asyncio.ensure_future(self._call(answer))
        task.add_done_callback(lambda done: self._finished(done, answer))

    async def _call(self, answer: asyncio.Future[T]) -> T:
        """The read; callers that arrived before it begins share it, later ones wait for the next."""
        if self._next is answer:
            self._next = None
        return await self._read()

    def _finished(self, task: asyncio.Future[T], answer: asyncio.Future[T]) -> None:
        self._running = None
        if task.cancelled():
            answer.cancel()
        elif (error := task.exception()) is not None:
            answer.set_exception(error)
        else:
            answer.set_result(task.result())
        if self._next is not None:
            self._start()


def retrieved(future: asyncio.Future[T]) -> None:
    """A done-callback that looks at a shared future's outcome, so a failure nobody awaited anymore is not
    reported as "never retrieved" (its awaiters, if any, still get it)."""
    if not future.cancelled():
        future.exception()
