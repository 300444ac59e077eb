"""The hostile bench's well-behaved client: a websocket connection that also learns when each reply arrived.

A round trip as the probe's code sees it ends when the probe's thread has run and read the reply. On this
machine the probe shares its CPU with the attackers (`apart` placement), so that end also carries what their
process and the kernel work of their traffic (which on loopback runs on the sender's CPU) take from the
probe's CPU; on separate machines none of that would touch a client. The kernel stamps each packet as it
arrives at the probe's socket (`SO_TIMESTAMPNS`); on loopback that happens inside the server's send, so
"until arrival" is how long the request waited for the server (and the loopback), without the probe's CPU.

Built on websockets' Sans-I/O protocol, because its asyncio client reads with `recv`, which drops the
timestamps (they come as ancillary data of `recvmsg`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from typing import Any

from breakdown_hooks.loop_hooks import note_read, note_write
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

__all__ = ["StampedConnection"]

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESPEC = struct.Struct("qq")
READ_BYTES = 1 << 16


class StampedConnection:
    """One authenticated websocket connection; `call` answers with the reply and its arrival (Unix time)."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self._sock = sock
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        self._arrived = 0.0
        self._calls = 0

    @classmethod
    async def open(cls, ws_url: str, token: str) -> StampedConnection:
        """Connect, ask the kernel for receive timestamps, and complete the opening handshake."""
        uri = parse_uri(ws_url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        await asyncio.get_running_loop().sock_connect(sock, (uri.host, uri.port))
        protocol = ClientProtocol(uri, max_size=None)
        request = protocol.connect()
        request.headers["Authorization"] = f"Bearer {token}"
        protocol.send_request(request)
        connection = cls(sock, protocol)
        await connection._flush()
        while True:
            for event in await connection._events():
                if isinstance(event, Response):
                    if protocol.handshake_exc is not None:
                        sock.close()
                        raise protocol.handshake_exc
                    return connection

    async def call(self, message: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """Send `message` (its `id` is filled in) and wait for its result or error: (the reply, the Unix time
        the kernel received the packet that completed it)."""
        self._calls += 1
        ident = f"p{self._calls}"
        self._protocol.send_text(json.dumps({**message, "id": ident}).encode())
        began = time.time()
        await self._flush()
        note_write(began, id(self))
        while True:
            for event in await self._events():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    reply = json.loads(bytes(event.data))
                    if reply.get("id") == ident and reply.get("type") in ("result", "error"):
                        return reply, self._arrived
                elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                    raise ConnectionError(f"the server closed the probe's connection ({self._protocol.close_exc})")

    async def close(self) -> None:
        """Close the socket (the bench needs no closing handshake)."""
        self._sock.close()

    async def _events(self) -> list[Any]:
        """Read once (waiting until something arrives); the events it completed."""
        while True:
            began = time.time()
            try:
                data, ancillary, _, _ = self._sock.recvmsg(READ_BYTES, socket.CMSG_SPACE(TIMESPEC.size))
                note_read(began, id(self))
                break
            except BlockingIOError:
                await self._readable()
        if not data:
            raise ConnectionError("the server closed the probe's connection")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                seconds, nanoseconds = TIMESPEC.unpack(payload[: TIMESPEC.size])
                self._arrived = seconds + nanoseconds / 1e9
        self._protocol.receive_data(data)
        await self._flush()  # pongs, if the server pinged
        return self._protocol.events_received()

    async def _readable(self) -> None:
        """Wait until the socket has something to read."""
        ready = self._loop.create_future()
        fd = self._sock.fileno()
        self._loop.add_reader(fd, _resolve, ready)
        try:
            await ready
        finally:
            self._loop.remove_reader(fd)

    async def _flush(self) -> None:
        """Send what the protocol has for the server."""
        for chunk in self._protocol.data_to_send():
            if chunk:
                await self._loop.sock_sendall(self._sock, chunk)


def _resolve(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
