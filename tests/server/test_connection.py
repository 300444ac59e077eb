"""The server's connection: it parses little ahead of its reader, and hands a lone awaited frame straight to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.typing import Data

from server.connection import FEED_BYTES, MeteredConnection, metering_supported


async def _parsed_ahead(frames: int, payload: str) -> tuple[int, list[str]]:
    """Send `frames` text frames at once to a MeteredConnection whose reader waits; how many websockets parsed
    before the reader started, and every message the reader then got."""
    go = asyncio.Event()
    got: list[str] = []
    connections: list[MeteredConnection] = []

    async def handler(connection: ServerConnection) -> None:
        assert isinstance(connection, MeteredConnection)
        connections.append(connection)
        await go.wait()
        while len(got) < frames:
            got.append(str(await connection.recv()))

    async with serve(handler, "127.0.0.1", 0, create_connection=MeteredConnection, max_queue=4) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None) as client:
            for index in range(frames):
                await client.send(f"{index}:{payload}")
            async with asyncio.timeout(10):  # until the server has stopped reading: its frame queue is full
                while not connections or not connections[0].recv_messages.paused:
                    await asyncio.sleep(0.01)
            parsed = len(connections[0].recv_messages.frames)
            go.set()
            async with asyncio.timeout(10):
                while len(got) < frames:
                    await asyncio.sleep(0.01)
    return parsed, got


def test_a_metered_connection_parses_little_past_its_full_frame_queue_and_loses_nothing() -> None:
    """Thousands of small frames sent at once: at most a slice's worth is parsed ahead; all arrive, in order."""
    parsed, got = asyncio.run(_parsed_ahead(3000, "x" * 20))
    assert parsed <= 4 + FEED_BYTES // 20
    assert got == [f"{index}:{'x' * 20}" for index in range(3000)]


def test_a_metered_connection_takes_large_frames_whole() -> None:
    """Frames much larger than a slice are assembled intact."""
    _, got = asyncio.run(_parsed_ahead(8, "y" * 300_000))
    assert got == [f"{index}:{'y' * 300_000}" for index in range(8)]


def test_an_unknown_frame_queue_is_parsed_unmetered_rather_than_broken() -> None:
    """Metering relies on websockets 17's frame queue; without its attributes a connection parses as usual."""
    assert not metering_supported(object())


def test_a_metered_connection_says_whether_frames_wait_beyond_the_one_taken() -> None:
    """Three frames received: after taking the first and the second, more wait; after the third, none."""

    async def scenario() -> list[bool]:
        ready, waiting = asyncio.Event(), []
        connections: list[MeteredConnection] = []

        async def handler(connection: ServerConnection) -> None:
            assert isinstance(connection, MeteredConnection)
            connections.append(connection)
            await ready.wait()
            for _ in range(3):
                await connection.recv()
                waiting.append(connection.frames_waiting())

        async with serve(handler, "127.0.0.1", 0, create_connection=MeteredConnection, max_queue=4) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=None) as client:
                for index in range(3):
                    await client.send(str(index))
                async with asyncio.timeout(10):  # until all three are parsed and queued
                    while not connections or len(connections[0].recv_messages.frames) < 3:
                        await asyncio.sleep(0.01)
                ready.set()
                async with asyncio.timeout(10):
                    while len(waiting) < 3:
                        await asyncio.sleep(0.01)
        return waiting

    assert asyncio.run(scenario()) == [True, True, False]


def _wire(*frames: Frame) -> bytes:
    """Frames as a client sends them (masked), back to back: one chunk for `data_received`."""
    return b"".join(frame.serialize(mask=True) for frame in frames)


Scenario = Callable[[MeteredConnection, "asyncio.Task[Data]"], Awaitable[None]]


async def _reading(scenario: Scenario, *, takes: bool = True) -> list[Data]:
    """Run `scenario` on a server connection whose reader waits in `recv` and whose frame handler takes what it
    is given (or declines it: `takes=False`); what the handler got, in order."""
    handled: list[Data] = []
    failures: list[BaseException] = []
    done = asyncio.Event()

    def handler(message: Data) -> bool:
        handled.append(message)
        return takes

    async def serve_one(connection: ServerConnection) -> None:
        assert isinstance(connection, MeteredConnection)
        connection.frame_handler = handler
        reader = asyncio.create_task(connection.recv())
        await asyncio.sleep(0)  # the reader now waits in recv
        try:
            await scenario(connection, reader)
        except (AssertionError, pytest.fail.Exception) as exc:  # re-raised in the test, not only logged
            failures.append(exc)
        finally:
            done.set()

    async with serve(serve_one, "127.0.0.1", 0, create_connection=MeteredConnection, max_queue=4) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None):
            async with asyncio.timeout(10):
                await done.wait()
    if failures:
        raise failures[0]
    return handled


def test_a_lone_frame_the_reader_waits_for_goes_to_the_frame_handler_at_once() -> None:
    """A text frame reaches the handler as str, a binary one as bytes, inside the callback that received them;
    the reader's recv still waits."""

    async def scenario(connection: MeteredConnection, reader: asyncio.Task[Data]) -> None:
        connection.data_received(_wire(Frame(Opcode.TEXT, "é1".encode())))
        connection.data_received(_wire(Frame(Opcode.BINARY, b"\x00\xff")))
        await asyncio.sleep(0)
        assert not reader.done()
        reader.cancel()

    handled = asyncio.run(_reading(scenario))
    assert handled == ["é1", b"\x00\xff"]


def test_a_frame_the_handler_declines_reaches_recv() -> None:
    """The handler may refuse (the reader must wait, e.g. a flooder's warning): the frame is then recv's."""

    async def scenario(connection: MeteredConnection, reader: asyncio.Task[Data]) -> None:
        connection.data_received(_wire(Frame(Opcode.TEXT, b"declined")))
        assert await reader == "declined"

    handled = asyncio.run(_reading(scenario, takes=False))
    assert handled == ["declined"]


def test_only_the_first_frame_of_a_chunk_is_taken_at_once_and_the_rest_reach_recv_in_order() -> None:
    """Three frames in one chunk: the first is the handler's, the others queue for recv, one per turn as
    before; nothing is handled twice or lost."""
    got: list[Data] = []

    async def scenario(connection: MeteredConnection, reader: asyncio.Task[Data]) -> None:
        chunk = _wire(*(Frame(Opcode.TEXT, str(index).encode()) for index in range(3)))
        connection.data_received(chunk)
        got.append(await reader)
        got.append(await connection.recv())

    handled = asyncio.run(_reading(scenario))
    assert handled == ["0"]
    assert got == ["1", "2"]


def test_a_frame_arriving_while_the_reader_is_busy_waits_for_it() -> None:
    """A reader not in recv (answering, pausing a flooder) gets the frame later through recv, in order."""

    async def scenario(connection: MeteredConnection, reader: asyncio.Task[Data]) -> None:
        reader.cancel()
        await asyncio.sleep(0)
        connection.data_received(_wire(Frame(Opcode.TEXT, b"later")))
        assert len(connection.recv_messages.frames) == 1
        assert await connection.recv() == "later"

    handled = asyncio.run(_reading(scenario))
    assert handled == []


def test_a_fragmented_message_is_assembled_by_recv() -> None:
    """Fragments are never handed over one by one: recv assembles the message as websockets does."""

    async def scenario(connection: MeteredConnection, reader: asyncio.Task[Data]) -> None:
        connection.data_received(_wire(Frame(Opcode.TEXT, b"frag", fin=False)))
        connection.data_received(_wire(Frame(Opcode.CONT, b"ment")))
        assert await reader == "fragment"

    handled = asyncio.run(_reading(scenario))
    assert handled == []


def test_a_text_frame_of_invalid_utf8_still_closes_the_connection_with_1007() -> None:
    """Not the handler's: the reader's recv fails the connection with 1007 (invalid data), as websockets does."""

    async def scenario(connection: MeteredConnection, reader: asyncio.Task[Data]) -> None:
        connection.data_received(_wire(Frame(Opcode.TEXT, b"\xff\xfe")))
        with pytest.raises(ConnectionClosed):
            await reader
        assert connection.protocol.close_sent is not None
        assert connection.protocol.close_sent.code == 1007

    handled = asyncio.run(_reading(scenario))
    assert handled == []
