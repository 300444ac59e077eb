"""One websocket client's outbound side: its subscriptions, a bounded queue, and the task that writes it.

Frames are encoded once by the hub and shared; the writer coalesces whatever is queued into one `deltas`
frame. A client whose queue overflows is closed with 1013 (it resumes from its last position); if even
the close cannot be delivered, its connection is aborted, so one slow reader never holds up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server.protocol import CLOSE_REASONS, CLOSE_TOO_FAR_BEHIND, encode_deltas

__all__ = ["Client"]

logger = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 20_000
MAX_QUEUED_BYTES = 16 << 20
MAX_COALESCED_BYTES = 256 << 10
SEND_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0


class Client:
    """The server's view of one connection (loop thread only)."""

    def __init__(
        self,
        connection: ServerConnection,
        *,
        max_frames: int = MAX_QUEUED_FRAMES,
        max_bytes: int = MAX_QUEUED_BYTES,
    ) -> None:
        self.connection = connection
        self.channels: set[str] = set()
        self.provider_id: str | None = None
        """Set when this connection registered as a reCAPTCHA token provider."""
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._queue: deque[tuple[bool, list[bytes]]] = deque()
        self._queued_frames = 0
        self._queued_bytes = 0
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        """The client is being dropped."""
        return self._closing

    def start(self) -> None:
        """Start the writer task."""
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.connection.id}")

    def push(self, frames: Sequence[bytes]) -> None:
        """Queue delta frames that travel together (one position's); overflow drops the client with 1013."""
        if self._closing:
            return
        size = sum(len(f) for f in frames)
        if self._queued_frames + len(frames) > self.max_frames or self._queued_bytes + size > self.max_bytes:
            logger.warning("client %s is too far behind; closing it with 1013", self.connection.remote_address)
            self.drop(CLOSE_TOO_FAR_BEHIND)
            return
        self._enqueue(True, list(frames), size)

    def send_now(self, frame: bytes) -> None:
        """Queue a reply (replies are never dropped for being behind; they are small and few)."""
        if not self._closing:
            self._enqueue(False, [frame], len(frame))

    def _enqueue(self, deltas: bool, frames: list[bytes], size: int) -> None:
        self._queue.append((deltas, frames))
        self._queued_frames += len(frames)
        self._queued_bytes += size
        self._idle.clear()
        self._ready.set()

    async def drained(self, timeout: float) -> None:
        """Wait until everything queued so far has been written (at most `timeout` seconds)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

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
        while not self._closing:
            await self._ready.wait()
            self._ready.clear()
            while self._queue and not self._closing:
                frame = self._next_frame()
                try:
                    await asyncio.wait_for(self.connection.send(frame, text=True), SEND_TIMEOUT)
                except TimeoutError:
                    logger.warning("client %s stopped reading; aborting it", self.connection.remote_address)
                    self.drop(CLOSE_TOO_FAR_BEHIND)
                    return
                except ConnectionClosed:
                    self._closing = True
                    return
            if not self._queue:
                self._idle.set()

    def _next_frame(self) -> bytes:
        """The next frame to send: queued deltas coalesced into one `deltas` frame (up to 256 KiB)."""
        deltas, frames = self._take()
        if deltas:
            size = sum(len(f) for f in frames)
            while self._queue and self._queue[0][0] and size < MAX_COALESCED_BYTES:
                more = self._take()[1]
                frames.extend(more)
                size += sum(len(f) for f in more)
        return frames[0] if len(frames) == 1 else encode_deltas(frames)

    def _take(self) -> tuple[bool, list[bytes]]:
        deltas, frames = self._queue.popleft()
        self._queued_frames -= len(frames)
        self._queued_bytes -= sum(len(f) for f in frames)
        return deltas, frames
