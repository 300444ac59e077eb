"""One websocket client's outbound side: its subscriptions, a direct write path, a bounded queue and its writer.

Server frames are unmasked and uncompressed, so a frame's wire bytes are the same for every client: the hub
frames a page of deltas once and `push_bundle` writes those bytes straight to each transport. That direct
path is taken only while nothing of the client is queued or being sent and its transport holds little, so
it never overtakes or splits an earlier frame (websockets, too, writes each frame whole and synchronously).
Otherwise frames wait in the queue, whose writer task sends them with websockets' backpressure,
coalescing queued deltas into one `deltas` frame. The queue plus what the transport holds (after the last
reply, see `backlog`) is the client's backlog: over its limit the client is closed with 1013 (it resumes
from its last position), and if even the close cannot be delivered, aborted, so one slow reader never
holds up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from veo_protocol import CLOSE_REASONS, CLOSE_TOO_FAR_BEHIND, encode_deltas

__all__ = ["Bundle", "Client", "text_frame"]

logger = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 20_000
MAX_QUEUED_BYTES = 16 << 20
MAX_COALESCED_BYTES = 256 << 10
DIRECT_WRITE_LIMIT = 64 << 10
"""Direct writes stop while the transport holds more than this; later frames queue behind the writer."""
SEND_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0


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


@dataclass(frozen=True, slots=True)
class Bundle:
    """Delta frames that travel as one websocket frame: each `delta` frame, and the framed wire bytes of all."""

    frames: list[bytes]
    wire: bytes

    @classmethod
    def of(cls, frames: list[bytes]) -> Bundle:
        """Bundle `frames` (in position order) into one `delta` or `deltas` frame."""
        return cls(frames, text_frame(frames[0] if len(frames) == 1 else encode_deltas(frames)))


class Client:
    """The server's view of one connection (loop thread only)."""

    def __init__(
        self,
        connection: ServerConnection,
        *,
        max_frames: int = MAX_QUEUED_FRAMES,
        max_bytes: int = MAX_QUEUED_BYTES,
        direct_limit: int = DIRECT_WRITE_LIMIT,
    ) -> None:
        self.connection = connection
        self.channels: set[str] = set()
        self.provider_id: str | None = None
        """Set when this connection registered as a reCAPTCHA token provider."""
        self.subscribing = asyncio.Lock()
        """Held while a `subscribe` is answered and replayed: a second one waits, so no replay runs twice."""
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.direct_limit = direct_limit if not connection.protocol.extensions else -1  # compressed: never direct
        self._queue: deque[tuple[bool, list[bytes]]] = deque()
        self._queued_frames = 0
        self._queued_bytes = 0
        self._sending = False
        self._since_reply: int | None = None  # bytes written after the last reply (None: no reply yet)
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        """The client is being dropped."""
        return self._closing

    def backlog(self) -> int:
        """Bytes of deltas waiting for this client: its queue, and its transport's buffer after the last reply.

        A reply still in the transport (a `get_statuses` reply may be megabytes) is not the client being
        behind on deltas; what the transport holds of deltas written before that reply is bounded anyway,
        since direct writes stop at `direct_limit` and the writer waits for the buffer to drain.
        """
        transport = self.connection.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        if self._since_reply is not None:
            buffered = min(buffered, self._since_reply)
        return self._queued_bytes + buffered

    def start(self) -> None:
        """Start the writer task."""
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.connection.id}")

    def push_bundle(self, bundle: Bundle) -> None:
        """Deliver a framed bundle of deltas: written at once when the client keeps up, else queued."""
        if not self._write_direct(bundle.wire, reply=False):
            self.push(bundle.frames)

    def push(self, frames: Sequence[bytes]) -> None:
        """Queue delta frames that travel together (one position's); overflow drops the client with 1013."""
        if self._closing:
            return
        size = sum(len(f) for f in frames)
        if self._queued_frames + len(frames) > self.max_frames or self.backlog() + size > self.max_bytes:
            logger.warning("client %s is too far behind; closing it with 1013", self.connection.remote_address)
            self.drop(CLOSE_TOO_FAR_BEHIND)
            return
        self._enqueue(True, list(frames), size)

    def send_now(self, frame: bytes) -> None:
        """Send a reply (replies are never dropped for being behind; they are small and few)."""
        if not self._closing and not self._write_direct(text_frame(frame), reply=True):
            self._enqueue(False, [frame], len(frame))

    def _write_direct(self, wire: bytes, *, reply: bool) -> bool:
        """Write framed bytes to the transport if that keeps this client's order; False when they must queue.

        An empty transport takes a frame of any size (websockets' own send would write it whole too).
        """
        if self._closing or self._queue or self._sending:
            return False
        connection = self.connection
        transport = connection.transport
        if (
            connection.protocol.state is not State.OPEN
            or connection.send_in_progress is not None
            or transport is None
            or transport.is_closing()
            or self.direct_limit < 0
        ):
            return False
        buffered = transport.get_write_buffer_size()
        if buffered and buffered + len(wire) > self.direct_limit:
            return False
        transport.write(wire)
        self._written(len(wire), reply)
        return True

    def _written(self, size: int, reply: bool) -> None:
        if reply:
            self._since_reply = 0
        elif self._since_reply is not None:
            self._since_reply += size

    def _enqueue(self, deltas: bool, frames: list[bytes], size: int) -> None:
        self._queue.append((deltas, frames))
        self._queued_frames += len(frames)
        self._queued_bytes += size
        self._idle.clear()
        self._ready.set()

    async def drained(self, timeout: float) -> None:
        """Wait until everything queued so far has been handed to the connection (at most `timeout` seconds)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def writable(self, timeout: float) -> bool:
        """Wait until nothing of this client is queued or being sent and its transport has drained to its low-water
        mark (websockets' flow control); False after `timeout` seconds, or when the client is being dropped."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
                if not self._closing:
                    await self.connection.drain()
        except (TimeoutError, OSError):  # OSError: the connection was lost while its transport held data
            return False
        return not self._closing

    def drop(self, code: int) -> None:
        """Close the connection with `code`, aborting it if the close cannot be delivered."""
        if self._closing:
            return
        self._closing = True
        self._queue.clear()
        self._queued_frames = 0
        self._queued_bytes = 0
        self._idle.set()
        self._ready.set()
        asyncio.get_running_loop().create_task(self._close(code))

    async def _close(self, code: int) -> None:
        try:
            await asyncio.wait_for(self.connection.close(code, CLOSE_REASONS.get(code, "")), CLOSE_TIMEOUT)
        except (TimeoutError, ConnectionClosed):
            pass
        finally:
            if self.connection.transport is not None and not self.connection.transport.is_closing():
                self.connection.transport.abort()

    async def stop(self) -> None:
        """Stop the writer task (the connection is gone)."""
        self._closing = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write_loop(self) -> None:
        try:
            while not self._closing:
                await self._ready.wait()
                self._ready.clear()
                while self._queue and not self._closing:
                    if not await self._send(*self._next_frame()):
                        return
                if not self._queue:
                    self._idle.set()
        finally:
            self._idle.set()  # nothing more will be written: no one should wait for it

    async def _send(self, frame: bytes, reply: bool) -> bool:
        """Send one frame with websockets' backpressure; False when the connection is done for."""
        self._sending = True  # until send returns: wait_for may start it only on a later loop turn
        self._written(len(frame) + 10, reply)  # send writes the frame (and its header) before it waits
        try:
            await asyncio.wait_for(self.connection.send(frame, text=True), SEND_TIMEOUT)
        except TimeoutError:
            logger.warning("client %s stopped reading; aborting it", self.connection.remote_address)
            self.drop(CLOSE_TOO_FAR_BEHIND)
            return False
        except ConnectionClosed:
            self._closing = True
            return False
        finally:
            self._sending = False
        return True

    def _next_frame(self) -> tuple[bytes, bool]:
        """The next frame to send and whether it is a reply: queued deltas coalesce into one `deltas` frame."""
        deltas, frames = self._take()
        if deltas:
            size = sum(len(f) for f in frames)
            while self._queue and self._queue[0][0] and size < MAX_COALESCED_BYTES:
                more = self._take()[1]
                frames.extend(more)
                size += sum(len(f) for f in more)
        return (frames[0] if len(frames) == 1 else encode_deltas(frames)), not deltas

    def _take(self) -> tuple[bool, list[bytes]]:
        deltas, frames = self._queue.popleft()
        self._queued_frames -= len(frames)
        self._queued_bytes -= sum(len(f) for f in frames)
        return deltas, frames
