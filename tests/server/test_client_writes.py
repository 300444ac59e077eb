"""The server's per-connection write path: one writer sending in order, deltas coalesced, and drops."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from websockets.protocol import State

from server.client import FULL_FRAME_BYTES, MAX_COALESCED_BYTES, Bundle, Client
from tests.server.fake_connection import FakeConnection, client_on, payloads
from veo_protocol import encode_delta, encode_result

CHANNEL = "generation:status"
FOREVER = 3600.0
"""A coalescing window no test outlives: deltas held by it go only with a reply or a full frame."""


def delta(position: int, size: int = 10) -> bytes:
    """An encoded `delta` frame whose row is padded to about `size` bytes."""
    return encode_delta(CHANNEL, position, b'{"pad":"%s"}' % (b"x" * size))


def bundle(position: int, size: int = 10) -> Bundle:
    return Bundle.of([delta(position, size)])


def positions(frames: list[object]) -> list[object]:
    """Each frame as its delta positions, the request id of a reply, or the close code."""
    shown: list[object] = []
    for frame in frames:
        if isinstance(frame, tuple):
            shown.append(frame)
        else:
            assert isinstance(frame, dict)
            if frame["type"] == "deltas":
                shown.append([d["position"] for d in frame["deltas"]])
            elif frame["type"] == "delta":
                shown.append([frame["position"]])
            else:
                shown.append(frame["id"])
    return shown


def sent(connection: FakeConnection) -> list[object]:
    return positions(payloads(connection.transport.data))


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


async def turns(count: int = 10) -> None:
    """Let the writer run (it is never waiting for time here: the window is FOREVER or the gate is shut)."""
    for _ in range(count):
        await asyncio.sleep(0)


async def first_delta_sent(*, gate: bool = False, **options: Any) -> tuple[FakeConnection, Client]:
    """A client (with `options`) whose delta 1 has been written; with `gate`, its send is still waiting."""
    connection = FakeConnection()
    if gate:
        connection.gate = asyncio.get_running_loop().create_future()
    client = client_on(connection, **options)
    client.push(bundle(1))
    await asyncio.wait_for(connection.sending.wait(), 5.0)
    return connection, client


def test_a_lone_delta_on_an_idle_connection_goes_at_once_and_replies_follow_in_order() -> None:
    """Nothing sent yet: the first delta is its own frame at once, whatever the window; a reply is never held."""

    async def scenario() -> None:
        connection, client = await first_delta_sent(window=FOREVER)
        client.send_now(encode_result("r1", None, 1))
        await client.drained(5.0)
        assert sent(connection) == [[1], "r1"]
        await client.stop()

    run(scenario())


def test_deltas_within_the_window_go_together_in_one_deltas_frame_before_the_next_reply() -> None:
    """Deltas pushed one by one soon after a delta frame wait for the window; a reply takes them along, in order."""

    async def scenario() -> None:
        connection, client = await first_delta_sent(window=FOREVER)
        for position in (2, 3, 4):
            client.push(bundle(position))
            await turns()
        assert sent(connection) == [[1]]
        client.send_now(encode_result("r1", None, 4))
        await client.drained(5.0)
        assert sent(connection) == [[1], [2, 3, 4], "r1"]
        assert connection.sends == 3
        await client.stop()

    run(scenario())


def test_a_full_frame_of_deltas_goes_without_waiting_for_the_window() -> None:
    """Once FULL_FRAME_BYTES of deltas are queued they are sent: the window bounds the count of small frames."""

    async def scenario() -> None:
        connection, client = await first_delta_sent(window=FOREVER)
        client.push(bundle(2))
        client.push(bundle(3, size=FULL_FRAME_BYTES))
        await client.drained(5.0)
        assert sent(connection) == [[1], [2, 3]]
        await client.stop()

    run(scenario())


def test_deltas_and_replies_queued_behind_a_send_in_flight_keep_their_order() -> None:
    """While a send waits for the client to read, deltas pile up; they go as one frame, the reply after them."""

    async def scenario() -> None:
        connection, client = await first_delta_sent(gate=True, window=0.0)
        client.push(bundle(2))
        client.push(bundle(3))
        client.send_now(encode_result("r1", None, 3))
        client.push(bundle(4))
        assert sent(connection) == [[1]]
        connection.open_gate()
        await client.drained(5.0)
        assert sent(connection) == [[1], [2, 3], "r1", [4]]
        await client.stop()

    run(scenario())


def test_a_coalesced_frame_holds_at_most_max_coalesced_bytes_of_deltas_and_loses_none() -> None:
    """A large backlog goes in several `deltas` frames, each under the limit, every position once and in order."""

    async def scenario() -> None:
        connection, client = await first_delta_sent(gate=True, window=0.0)
        for position in range(2, 22):
            client.push(bundle(position, size=50_000))
        connection.open_gate()
        await client.drained(5.0)
        frames = [frame for frame in sent(connection) if isinstance(frame, list)]
        assert [p for frame in frames for p in frame] == list(range(1, 22))
        assert len(frames) < 21 and all(len(frame) > 1 for frame in frames[1:])
        assert max(len(message) for message in connection.messages) <= MAX_COALESCED_BYTES + 1_000
        await client.stop()

    run(scenario())


def test_a_backlog_over_the_limit_closes_the_client_with_1013_and_nothing_more_is_written() -> None:
    """Deltas queued and in flight over `max_bytes` drop the client with 1013; later frames are discarded."""

    async def scenario() -> None:
        connection, client = await first_delta_sent(gate=True, max_bytes=1_500)
        client.push(bundle(2, size=500))
        assert not client.closing  # ~600 bytes in flight and queued
        client.push(bundle(3, size=1_000))
        assert client.closing
        await asyncio.wait_for(connection.transport.wrote.wait(), 5.0)
        client.push(bundle(4))
        client.send_now(encode_result("late", None, 4))
        await turns()
        assert connection.close_codes == [1013]
        assert sent(connection) == [[1], ("close", 1013)]
        await client.stop()

    run(scenario())


def test_a_client_whose_close_cannot_be_delivered_is_aborted() -> None:
    """When the 1013 close fails, the connection is aborted rather than left holding its backlog."""

    async def scenario() -> None:
        connection = FakeConnection()
        connection.close_fails = True
        client = client_on(connection, max_frames=1)
        client.push(Bundle.of([delta(1), delta(2)]))
        assert client.closing
        await asyncio.wait_for(connection.transport.ended.wait(), 5.0)
        assert connection.transport.aborted
        await client.stop()

    run(scenario())


@pytest.mark.parametrize("state", [State.CLOSING, State.CLOSED])
def test_a_connection_that_is_closing_is_never_written_to(state: State) -> None:
    """websockets refuses to send on a closing connection: the writer stops and the client counts as closing."""

    async def scenario() -> None:
        connection = FakeConnection()
        client = client_on(connection)
        connection.state = state
        client.push(bundle(1))
        client.send_now(encode_result("r1", None, 1))
        await client.drained(5.0)
        assert bytes(connection.transport.data) == b""
        assert client.closing
        await client.stop()

    run(scenario())


def test_backlog_counts_the_deltas_in_flight_and_queued_but_not_replies() -> None:
    """`backlog()` is what the limit is checked against: a large reply still being sent is not being behind."""

    async def scenario() -> None:
        connection = FakeConnection()
        connection.gate = asyncio.get_running_loop().create_future()
        client: Client = client_on(connection)
        client.send_now(encode_result("big", "x" * 1_000_000, 1))
        await asyncio.wait_for(connection.sending.wait(), 5.0)
        assert client.backlog() == 0
        first, second = bundle(2), bundle(3)
        client.push(first)
        client.push(second)
        assert client.backlog() == first.size + second.size
        connection.open_gate()
        await client.drained(5.0)
        assert client.backlog() == 0
        await client.stop()

    run(scenario())


def test_a_client_is_writable_once_its_queue_is_sent_and_the_send_has_returned() -> None:
    """`writable` waits for the queued frames to be sent, and websockets' send to return (its buffer drained)."""

    async def scenario() -> None:
        connection, client = await first_delta_sent(gate=True)
        waiting = asyncio.create_task(client.writable(5.0))
        await turns()
        assert not waiting.done()  # written, but send still waits for the client to read
        connection.open_gate()
        assert await asyncio.wait_for(waiting, 5.0) is True
        await client.stop()

    run(scenario())


def test_a_client_dropped_while_waiting_to_be_writable_is_not_writable() -> None:
    """A 1013 drop ends the wait with False, so a replay stops feeding it."""

    async def scenario() -> None:
        _, client = await first_delta_sent(gate=True)
        waiting = asyncio.create_task(client.writable(5.0))
        client.drop(1013)
        assert await asyncio.wait_for(waiting, 5.0) is False
        await client.stop()

    run(scenario())
