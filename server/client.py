"""One websocket client's outbound side: its subscriptions, a bounded queue, and the writer that sends it.

Every frame reaches the connection through websockets' `send`, from one writer task per client, in the order it was
queued, except deltas for a client that is `caught_up`, which the hub writes with websockets' `broadcast`. Deltas
that pile up while a frame is being sent, or within `COALESCE_WINDOW` of the last delta frame, go out together as
one `deltas` frame (CONTRACT §3): however fast deltas come, a client gets a bounded number of frames a second, each
of at most `MAX_COALESCED_BYTES` of deltas, and a lone delta on an idle connection goes at once. Replies are never
held by the window. The deltas queued or being sent are the client's backlog: over its limit the client is closed
with 1013 (it resumes from its last position), and if even the close cannot be delivered, aborted, so one slow
reader never holds up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server.access import ConnectionAccess
from veo_protocol import CLOSE_REASONS, CLOSE_TOO_FAR_BEHIND, encode_deltas

__all__ = ["CAUGHT_UP_BUFFER_BYTES", "COALESCE_WINDOW", "FULL_FRAME_BYTES", "MAX_COALESCED_BYTES", "Bundle", "Client"]

logger = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 20_000
MAX_QUEUED_BYTES = 16 << 20
MAX_COALESCED_BYTES = 256 << 10
"""Deltas gathered into one frame at most (one position's deltas are never split): well under the 1 MiB frame."""
COALESCE_WINDOW = 0.02
"""Seconds a delta frame waits after the previous one: at most 50 delta frames a second per client, a delay well
within the quarter second a delta may take to arrive."""
FULL_FRAME_BYTES = 64 << 10
"""Deltas queued from which a frame goes without waiting for the window: its cost is its bytes, not its count."""
CAUGHT_UP_BUFFER_BYTES = 64 << 10
"""A client with less than this in its transport's write buffer (and nothing queued or being sent) reads fast enough
to be written to directly by a broadcast."""
SEND_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Bundle:
    """Delta frames (whole positions, in order) that travel together, and their message encoded once."""

    frames: list[bytes]
    message: bytes
    """One `delta` message, or a `deltas` message holding every frame: shared by every client it is pushed to."""
    size: int

    @classmethod
    def of(cls, frames: list[bytes]) -> Bundle:
        """Bundle `frames` (in position order) into one `delta` or `deltas` message."""
        message = frames[0] if len(frames) == 1 else encode_deltas(frames)
        return cls(frames, message, sum(len(f) for f in frames))


class Client:
    """The server's view of one connection (loop thread only)."""

    def __init__(
        self,
        connection: ServerConnection,
        *,
        max_frames: int = MAX_QUEUED_FRAMES,
        max_bytes: int = MAX_QUEUED_BYTES,
        window: float = COALESCE_WINDOW,
    ) -> None:
        self.connection = connection
        self.channels: set[str] = set()
        self.provider_id: str | None = None
        """Set when this connection registered as a reCAPTCHA token provider."""
        self.access = ConnectionAccess()
        """Which token this connection holds (the server sets it from the upgrade; until then it holds none)."""
        self.subscribing = asyncio.Lock()
        """Held while a `subscribe` is answered and replayed: a second one waits, so no replay runs twice."""
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.window = window
        self._queue: deque[Bundle | bytes] = deque()  # a Bundle of deltas, or a reply's bytes
        self._queued_frames = 0
        self._queued_bytes = 0  # of deltas
        self._replies = 0
        self._in_flight = 0  # bytes of deltas handed to a send that has not returned
        self._last_deltas = float("-inf")  # loop time the last delta frame was sent
        self._ready = asyncio.Event()
        """Something is queued (or the client is being dropped)."""
        self._flush = asyncio.Event()
        """What is queued may not wait for the window: a reply, a full frame, or the drop."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        """The client is being dropped."""
        return self._closing

    def backlog(self) -> int:
        """Bytes of deltas waiting for this client: queued, or in a send waiting for the client to read."""
        return self._queued_bytes + self._in_flight

    def caught_up(self) -> bool:
        """Nothing queued, nothing being sent and little in the write buffer: a message written to the connection
        now (by websockets' `broadcast`) comes after everything sent before, and keeps its order with what follows."""
        if self._closing or not self._idle.is_set():
            return False
        transport = self.connection.transport
        return transport is not None and transport.get_write_buffer_size() < CAUGHT_UP_BUFFER_BYTES

    def start(self) -> None:
        """Start the writer task."""
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.connection.id}")

    def push(self, bundle: Bundle) -> None:
        """Queue deltas; a backlog over the limits drops the client with 1013."""
        if self._closing:
            return
        if self._queued_frames + len(bundle.frames) > self.max_frames or self.backlog() + bundle.size > self.max_bytes:
            logger.warning("client %s is too far behind; closing it with 1013", self.connection.remote_address)
            self.drop(CLOSE_TOO_FAR_BEHIND)
            return
        self._queue.append(bundle)
        self._queued_frames += len(bundle.frames)
        self._queued_bytes += bundle.size
        self._queued()
        if self._queued_bytes >= FULL_FRAME_BYTES:
            self._flush.set()

    def send_now(self, frame: bytes) -> None:
        """Send a reply after what is queued, without waiting for the window (replies are never dropped for being
        behind; they are few)."""
        if self._closing:
            return
        self._queue.append(frame)
        self._replies += 1
        self._queued()
        self._flush.set()

    def _queued(self) -> None:
        self._idle.clear()
        self._ready.set()

    async def drained(self, timeout: float) -> None:
        """Wait until everything queued so far has been sent (at most `timeout` seconds)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()

    async def writable(self, timeout: float) -> bool:
        """Wait until everything queued has been sent, which websockets' `send` returns from only once the
        connection's write buffer is under its limit; False after `timeout` seconds, or when being dropped."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return not self._closing

    def drop(self, code: int) -> None:
        """Close the connection with `code`, aborting it if the close cannot be delivered."""
        if self._closing:
            return
        self._closing = True
        self._queue.clear()
        self._queued_frames = self._queued_bytes = self._replies = 0
        self._idle.set()
        self._ready.set()
        self._flush.set()
        asyncio.get_running_loop().create_task(self._close(code))

    async def _close(self, code: int) -> None:
        try:
            await asyncio.wait_for(self.connection.close(code, CLOSE_REASONS.get(code, "")), CLOSE_TIMEOUT)
        except (TimeoutError, ConnectionClosed):
            pass
        finally:  # a client that does not read cannot take the close frame either: end the TCP connection
            transport = self.connection.transport
            if transport is not None and not transport.is_closing():
                transport.abort()

    async def stop(self) -> None:
        """Stop the writer task (the connection is gone)."""
        self._closing = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                if not self._queue:
                    self._idle.set()
                    self._ready.clear()
                    await self._ready.wait()
                    continue
                hold = self._last_deltas + self.window - loop.time()
                if hold > 0 and not self._flush.is_set():
                    with contextlib.suppress(TimeoutError):  # deltas pushed meanwhile join this frame
                        async with asyncio.timeout(hold):
                            await self._flush.wait()
                    continue
                message, deltas = self._next_frame()
                if not await self._send(message, deltas):
                    return
                if deltas:
                    self._last_deltas = loop.time()
        finally:
            self._idle.set()  # nothing more will be written: no one should wait for it

    def _next_frame(self) -> tuple[bytes, int]:
        """The next message to send, and the bytes of deltas it holds (0 for a reply): queued deltas up to the next
        reply coalesce into one `deltas` message of at most MAX_COALESCED_BYTES (or one bundle, if larger)."""
        head = self._queue.popleft()
        if isinstance(head, bytes):
            self._replies -= 1
            message, size = head, 0
        else:
            taken, size = [head], head.size
            while self._queue and isinstance(nxt := self._queue[0], Bundle) and size + nxt.size <= MAX_COALESCED_BYTES:
                self._queue.popleft()
                taken.append(nxt)
                size += nxt.size
            self._queued_frames -= sum(len(b.frames) for b in taken)
            self._queued_bytes -= size
            message = head.message if len(taken) == 1 else encode_deltas([f for b in taken for f in b.frames])
        if not self._replies and self._queued_bytes < FULL_FRAME_BYTES:
            self._flush.clear()
        return message, size

    async def _send(self, message: bytes, deltas: int) -> bool:
        """Send one message with websockets' backpressure; False when the connection is done for."""
        self._in_flight = deltas
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self.connection.send(message, text=True)
        except TimeoutError:
            logger.warning("client %s stopped reading; aborting it", self.connection.remote_address)
            self.drop(CLOSE_TOO_FAR_BEHIND)
            return False
        except ConnectionClosed:
            self._closing = True
            return False
        finally:
            self._in_flight = 0
        return True
