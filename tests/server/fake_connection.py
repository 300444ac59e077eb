"""A hand-written stand-in for a websockets ServerConnection: records what reaches its transport, frame by frame."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, cast

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosedError
from websockets.protocol import State

from server.client import Client

__all__ = ["FakeConnection", "FakeProtocol", "FakeTransport", "client_on", "payloads", "text_frame"]


def text_frame(payload: bytes) -> bytes:
    """The wire bytes of a final, unmasked, uncompressed text frame (what a server sends) carrying `payload`."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        header = b"\x81\x7f" + size.to_bytes(8, "big")
    return header + payload


class FakeTransport:
    """Keeps every write; `buffered` stands for what its write buffer holds."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.buffered = 0
        self.closing = False
        self.aborted = False
        self.wrote = asyncio.Event()
        self.ended = asyncio.Event()

    def write(self, data: bytes) -> None:
        assert not self.closing, "written to after closing"
        self.data += data
        self.wrote.set()

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.aborted = self.closing = True
        self.ended.set()


class FakeProtocol:
    """The part of websockets' protocol object that `broadcast` uses: the state and `send_text`."""

    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.pending: list[bytes] = []

    @property
    def state(self) -> State:
        return self.connection.state

    def send_text(self, data: bytes) -> None:
        self.pending.append(data)


class FakeConnection:
    """`send` writes the whole frame at once, as websockets does, then waits while `gate` is unresolved (as
    websockets' waits for its write buffer to drain); websockets' `broadcast` writes through `protocol` and
    `send_data` without waiting."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.remote_address = ("127.0.0.1", 40000)
        self.logger = logging.getLogger(__name__)
        self.transport = FakeTransport()
        self.protocol = FakeProtocol(self)
        self.send_in_progress: asyncio.Future[None] | None = None
        self.broadcasts = 0
        self.state = State.OPEN
        self.gate: asyncio.Future[None] | None = None
        self.sends = 0
        self.messages: list[bytes] = []
        self.sending = asyncio.Event()
        self.close_codes: list[int] = []
        self.close_fails = False

    async def send(self, message: bytes, *, text: bool) -> None:
        assert text
        if self.state is not State.OPEN:
            raise ConnectionClosedError(None, None)
        self.sends += 1
        self.messages.append(message)
        self.transport.write(text_frame(message))
        self.sending.set()
        if self.gate is not None:
            await self.gate

    def send_data(self) -> None:
        for message in self.protocol.pending:
            self.broadcasts += 1
            self.messages.append(message)
            self.transport.write(text_frame(message))
        self.protocol.pending.clear()

    def open_gate(self) -> None:
        """Let the send in progress, and every later one, return."""
        assert self.gate is not None
        self.gate.set_result(None)

    async def close(self, code: int, reason: str) -> None:
        self.close_codes.append(code)
        self.state = State.CLOSING
        if self.close_fails:
            raise ConnectionClosedError(None, None)
        self.transport.write(b"\x88\x02" + code.to_bytes(2, "big"))
        self.transport.closing = True


def client_on(connection: FakeConnection, **options: Any) -> Client:
    """A started Client writing to `connection` (call inside a running loop)."""
    client = Client(cast(ServerConnection, connection), **options)
    client.start()
    return client


def payloads(data: bytes | bytearray) -> list[object]:
    """The decoded JSON of each unmasked server frame in `data` (close frames as ("close", code))."""
    frames: list[object] = []
    offset = 0
    while offset < len(data):
        opcode, size, header = data[offset] & 0x0F, data[offset + 1] & 0x7F, 2
        if size == 126:
            size, header = int.from_bytes(data[offset + 2 : offset + 4], "big"), 4
        elif size == 127:
            size, header = int.from_bytes(data[offset + 2 : offset + 10], "big"), 10
        body = bytes(data[offset + header : offset + header + size])
        frames.append(("close", int.from_bytes(body[:2], "big")) if opcode == 0x8 else msgspec.json.decode(body))
        offset += header + size
    return frames
