"""Coalesced reads: concurrent callers share calls, and no caller gets an answer read before it asked."""

from __future__ import annotations

import asyncio

import pytest

from server.coalesce import Coalesced


class Reads:
    """A read whose calls the test finishes by hand, one at a time."""

    def __init__(self) -> None:
        self.calls: list[asyncio.Future[int]] = []

    async def read(self) -> int:
        call: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.calls.append(call)
        return await call


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_callers_arriving_together_share_one_call() -> None:
    """Ten callers with no call running: one call, and all ten get its answer."""

    async def scenario() -> None:
        reads = Reads()
        coalesced = Coalesced(reads.read)
        waiters = [asyncio.ensure_future(coalesced()) for _ in range(10)]
        await settle()
        assert len(reads.calls) == 1
        reads.calls[0].set_result(7)
        assert await asyncio.gather(*waiters) == [7] * 10

    asyncio.run(scenario())


def test_a_caller_arriving_during_a_call_gets_the_next_call_not_the_running_one() -> None:
    """Callers arriving while a call runs share one new call that starts when it ends: never an older answer."""

    async def scenario() -> None:
        reads = Reads()
        coalesced = Coalesced(reads.read)
        first = asyncio.ensure_future(coalesced())
        await settle()
        later = [asyncio.ensure_future(coalesced()) for _ in range(5)]
        await settle()
        assert len(reads.calls) == 1  # the next call waits for the running one
        reads.calls[0].set_result(1)
        assert await first == 1
        await settle()
        assert len(reads.calls) == 2
        assert not any(waiter.done() for waiter in later)
        reads.calls[1].set_result(2)
        assert await asyncio.gather(*later) == [2] * 5
        assert len(reads.calls) == 2

    asyncio.run(scenario())


def test_an_error_reaches_every_caller_of_that_call_and_the_next_call_is_fresh() -> None:
    """A failed call fails its callers only; a caller after it gets a new call."""

    async def scenario() -> None:
        reads = Reads()
        coalesced = Coalesced(reads.read)
        waiters = [asyncio.ensure_future(coalesced()) for _ in range(3)]
        await settle()
        reads.calls[0].set_exception(RuntimeError("actor gone"))
        for waiter in waiters:
            with pytest.raises(RuntimeError, match="actor gone"):
                await waiter
        again = asyncio.ensure_future(coalesced())
        await settle()
        reads.calls[1].set_result(5)
        assert await again == 5

    asyncio.run(scenario())


def test_a_cancelled_caller_leaves_the_call_to_the_others() -> None:
    """Cancelling one caller does not cancel the shared call; a call everyone left still ends quietly."""

    async def scenario() -> None:
        reads = Reads()
        coalesced = Coalesced(reads.read)
        leaving, staying = asyncio.ensure_future(coalesced()), asyncio.ensure_future(coalesced())
        await settle()
        leaving.cancel()
        await settle()
        assert not reads.calls[0].cancelled()
        reads.calls[0].set_result(3)
        assert await staying == 3
        alone = asyncio.ensure_future(coalesced())
        await settle()
        alone.cancel()
        await settle()
        reads.calls[1].set_exception(RuntimeError("nobody listens"))  # retrieved: no "never retrieved" warning
        await settle()

    asyncio.run(scenario())
