"""The server's per-connection write path: direct writes of shared frames, the queue behind them, and drops."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from server.client import DIRECT_WRITE_LIMIT, Bundle, Client, text_frame
from tests.server.fake_connection import FakeConnection, client_on, payloads
from veo_protocol import encode_delta, encode_result

CHANNEL = "generation:status"


def delta(position: int, size: int = 10) -> bytes:
    """An encoded `delta` frame whose row is padded to about `size` bytes."""
    return encode_delta(CHANNEL, position, b'{"pad":"%s"}' % (b"x" * size))


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


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 300_000])
def test_text_frame_is_what_websockets_writes_for_a_server_text_frame(size: int) -> None:
    """The pre-framed bytes equal websockets' own serialisation (unmasked, no extensions) at every length boundary."""
    payload = b"a" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


def test_a_client_that_keeps_up_gets_bundles_and_replies_written_at_once_in_order() -> None:
    """With nothing queued and an empty transport, each bundle and reply is written synchronously, no send."""

    async def scenario() -> None:
        connection = FakeConnection()
        client = client_on(connection)
        client.push_bundle(Bundle.of([delta(1)]))
        client.send_now(encode_result("r1", None, 1))
        client.push_bundle(Bundle.of([delta(2), delta(3)]))
        assert positions(payloads(connection.transport.data)) == [[1], "r1", [2, 3]]
        assert connection.sends == 0
        await client.stop()

    run(scenario())


def test_a_reply_waits_behind_a_send_in_flight_and_deltas_wait_behind_the_reply() -> None:
    """Once anything is queued, later frames queue too: the transport sees them in the order they were given."""

    async def scenario() -> None:
        connection = FakeConnection()
        connection.gate = asyncio.get_running_loop().create_future()
        client = client_on(connection)
        connection.transport.buffered = DIRECT_WRITE_LIMIT  # full: the next bundle queues for the writer
        client.push_bundle(Bundle.of([delta(1)]))
        await asyncio.wait_for(connection.sending.wait(), 5.0)  # the writer's send wrote; it waits to drain
        connection.transport.buffered = 0
        client.send_now(encode_result("r1", None, 1))
        client.push_bundle(Bundle.of([delta(2)]))
        assert positions(payloads(connection.transport.data)) == [[1]]
        connection.gate.set_result(None)
        await client.drained(5.0)
        assert positions(payloads(connection.transport.data)) == [[1], "r1", [2]]
        client.push_bundle(Bundle.of([delta(3)]))  # idle again: written at once
        assert positions(payloads(connection.transport.data))[-1] == [3]
        assert connection.sends == 3
        await client.stop()

    run(scenario())


def test_deltas_queued_behind_a_slow_transport_are_coalesced_into_one_deltas_frame() -> None:
    """A client that fell behind gets what piled up in one `deltas` frame, in position order."""

    async def scenario() -> None:
        connection = FakeConnection()
        connection.transport.buffered = DIRECT_WRITE_LIMIT
        client = client_on(connection)
        for position in (1, 2, 3):
            client.push_bundle(Bundle.of([delta(position)]))
        await client.drained(5.0)
        assert positions(payloads(connection.transport.data)) == [[1, 2, 3]]
        await client.stop()

    run(scenario())


def test_a_backlog_over_the_limit_closes_the_client_with_1013_and_nothing_more_is_written() -> None:
    """Transport buffer plus queue over `max_bytes` drops the client with 1013; later frames are discarded."""

    async def scenario() -> None:
        connection = FakeConnection()
        client = client_on(connection, max_bytes=10_000, direct_limit=1_000)
        connection.transport.buffered = 9_000  # over the direct limit and most of the backlog allowance
        client.push_bundle(Bundle.of([delta(1, size=500)]))
        assert not client.closing  # 9,000 + ~560 queued bytes is still within 10,000
        client.push_bundle(Bundle.of([delta(2, size=500)]))
        assert client.closing
        await asyncio.wait_for(connection.transport.wrote.wait(), 5.0)
        connection.transport.buffered = 0
        client.push_bundle(Bundle.of([delta(3)]))
        client.send_now(encode_result("late", None, 3))
        assert connection.close_codes == [1013]
        assert positions(payloads(connection.transport.data)) == [("close", 1013)]
        await client.stop()

    run(scenario())


def test_a_client_whose_close_cannot_be_delivered_is_aborted() -> None:
    """When the 1013 close fails, the connection is aborted rather than left holding its backlog."""

    async def scenario() -> None:
        connection = FakeConnection()
        connection.close_fails = True
        client = client_on(connection, max_frames=1)
        connection.transport.buffered = DIRECT_WRITE_LIMIT
        client.push_bundle(Bundle.of([delta(1), delta(2)]))
        assert client.closing
        await asyncio.wait_for(connection.transport.ended.wait(), 5.0)
        assert connection.transport.aborted
        await client.stop()

    run(scenario())


@pytest.mark.parametrize("state", [State.CLOSING, State.CLOSED])
def test_a_connection_that_is_closing_is_never_written_to(state: State) -> None:
    """Nothing is written directly to a connection websockets is closing; its writer stops at ConnectionClosed."""

    async def scenario() -> None:
        connection = FakeConnection()
        client = client_on(connection)
        connection.protocol.state = state
        client.push_bundle(Bundle.of([delta(1)]))
        client.send_now(encode_result("r1", None, 1))
        await client.drained(5.0)
        assert bytes(connection.transport.data) == b""
        assert client.closing
        await client.stop()

    run(scenario())


def test_a_compressed_connection_never_takes_the_direct_path() -> None:
    """With an extension negotiated the shared bytes would be wrong: every frame goes through websockets' send."""

    async def scenario() -> None:
        connection = FakeConnection()
        connection.protocol.extensions = [object()]
        client = client_on(connection)
        client.push_bundle(Bundle.of([delta(1)]))
        assert connection.sends == 0
        await client.drained(5.0)
        assert connection.sends == 1
        await client.stop()

    run(scenario())


def test_backlog_counts_the_transport_buffer_and_the_queue() -> None:
    """`backlog()` is what the limit is checked against: bytes in the transport plus bytes queued."""

    async def scenario() -> None:
        connection = FakeConnection()
        connection.gate = asyncio.get_running_loop().create_future()
        client: Client = client_on(connection)
        connection.transport.buffered = DIRECT_WRITE_LIMIT
        frame = delta(1)
        client.push([frame])
        assert client.backlog() == DIRECT_WRITE_LIMIT + len(frame)
        connection.gate.set_result(None)
        await client.stop()

    run(scenario())


def test_an_empty_transport_takes_a_frame_larger_than_the_direct_limit() -> None:
    """A large bundle is written at once when nothing is buffered; the next one waits for the writer."""

    async def scenario() -> None:
        connection = FakeConnection()
        client = client_on(connection)
        client.push_bundle(Bundle.of([delta(1, size=DIRECT_WRITE_LIMIT)]))
        connection.transport.buffered = DIRECT_WRITE_LIMIT
        client.push_bundle(Bundle.of([delta(2)]))
        assert (positions(payloads(connection.transport.data)), connection.sends) == ([[1]], 0)
        await client.drained(5.0)
        assert (positions(payloads(connection.transport.data)), connection.sends) == ([[1], [2]], 1)
        await client.stop()

    run(scenario())


def test_a_large_reply_still_in_the_transport_is_not_counted_as_being_behind_on_deltas() -> None:
    """Megabytes of `get_statuses` reply in the transport do not get the client closed; deltas after it count."""

    async def scenario() -> None:
        connection = FakeConnection()
        connection.gate = asyncio.get_running_loop().create_future()
        client = client_on(connection, max_bytes=100_000)
        reply = encode_result("big", "x" * 1_000_000, 1)
        client.send_now(reply)
        connection.transport.buffered = len(reply)
        client.push_bundle(Bundle.of([delta(2, size=40_000)]))
        await asyncio.wait_for(connection.sending.wait(), 5.0)  # the writer sent it (~40 KB after the reply)
        client.push_bundle(Bundle.of([delta(3, size=40_000)]))
        assert not client.closing
        client.push_bundle(Bundle.of([delta(4, size=40_000)]))  # 40 KB sent + 80 KB queued > 100,000
        assert client.closing
        connection.gate.set_result(None)
        await client.stop()

    run(scenario())


class DrainingConnection(FakeConnection):
    """A connection whose transport drains (websockets' `drain`) when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.drains = asyncio.Event()

    async def drain(self) -> None:
        await self.drains.wait()


def test_a_client_is_writable_once_its_queue_is_sent_and_its_transport_has_drained() -> None:
    """`writable` waits for the queued frames to be handed over, then for the transport to drain."""

    async def scenario() -> None:
        connection = DrainingConnection()
        connection.gate = asyncio.get_running_loop().create_future()
        client = client_on(connection)
        connection.transport.buffered = DIRECT_WRITE_LIMIT
        client.push_bundle(Bundle.of([delta(1)]))  # queued: the writer's send waits on the gate
        waiting = asyncio.create_task(client.writable(5.0))
        await asyncio.wait_for(connection.sending.wait(), 5.0)
        connection.gate.set_result(None)
        for _ in range(10):
            await asyncio.sleep(0)
        assert not waiting.done()  # sent, but the transport still holds it
        connection.drains.set()
        assert await asyncio.wait_for(waiting, 5.0) is True
        await client.stop()

    run(scenario())


def test_a_client_dropped_while_waiting_to_be_writable_is_not_writable() -> None:
    """A 1013 drop ends the wait with False, so a replay stops feeding it."""

    async def scenario() -> None:
        connection = DrainingConnection()
        client = client_on(connection)
        waiting = asyncio.create_task(client.writable(5.0))
        await asyncio.sleep(0)
        client.drop(1013)
        connection.drains.set()
        assert await asyncio.wait_for(waiting, 5.0) is False
        await client.stop()

    run(scenario())
