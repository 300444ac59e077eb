"""The server's websocket connection: it parses what it receives a slice at a time, and hands a lone frame the
reader waits for straight to the reader.

Pausing a flooder (`server.flood`) only helps if little is parsed ahead of the read loop. asyncio hands a
connection up to 256 KiB per read and websockets parses every frame in it at once, a flooder's thousands of
small frames in one callback that holds up every other client for milliseconds (the tail of their round
trips). A `MeteredConnection` feeds websockets its received data a slice at a time and holds the rest,
unparsed, while the connection's queue of parsed frames is full, so no more than a slice of frames is parsed
ahead.

A frame that arrives alone while the reader waits for it is handed to the reader's `frame_handler` at once,
in the callback that received it, instead of through websockets' frame queue and a wake-up of the reader's
task on the next turn of the loop: a well-behaved client's request is then answered in the turn its bytes
arrive, not one turn later behind whatever else that turn runs (under attack, other clients' frames).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event
from websockets.typing import Data

__all__ = ["FEED_BYTES", "MeteredConnection", "metering_supported"]

logger = logging.getLogger(__name__)


FEED_BYTES = 1024
"""Received bytes handed to websockets' parser at a time (about 20 frames of a small request)."""


def metering_supported(assembler: object) -> bool:
    """Whether websockets' frame queue has what metering relies on (websockets 17: `frames`, `paused`, `resume`).

    These are not public API: on a release without them connections parse as websockets does, and the flood
    control still holds; only a flooder's parse-ahead is no longer bounded (logged once).
    """
    frames = getattr(assembler, "frames", None)
    supported = (
        hasattr(frames, "__len__") and hasattr(assembler, "paused") and callable(getattr(assembler, "resume", None))
    )
    if not supported:
        _warn_unmetered()
    return supported


@functools.cache
def _warn_unmetered() -> None:
    """Said once per process."""
    logger.warning("this websockets release's frame queue is unknown: received data is parsed unmetered")


class MeteredConnection(ServerConnection):
    """A server connection that parses what it receives a slice at a time, never far past a full frame queue.

    While websockets' queue of parsed frames is over its high-water mark (the transport is then paused), the
    rest of a received chunk is held unparsed; it is fed once the reader has taken frames from the queue
    (the queue's resume), and the transport resumes reading only when nothing is held.
    """

    _held = b""
    _feeding = False
    _metered = False
    _alone = False

    frame_handler: Callable[[Data], bool] | None = None
    """Set by the reader while it serves the connection: takes a message at once (see `process_event`); returns
    False when it cannot (the message then waits in the frame queue for the reader's `recv`, as any other)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Set up as websockets does, then route the frame queue's resume through the held data."""
        super().connection_made(transport)
        self._metered = metering_supported(self.recv_messages)
        if self._metered:
            self.recv_messages.resume = self._resume

    def data_received(self, data: bytes) -> None:
        """Parse `data` a slice at a time until the frame queue is full; hold the rest."""
        if not self._metered:  # a websockets release whose frame queue we do not know: parse as it does
            super().data_received(data)
            return
        if self._held:  # only before a pause takes effect: keep the order
            self._held += data
            return
        self._alone = True
        try:
            self._feed(data)
        finally:
            self._alone = False

    def process_event(self, event: Event) -> None:
        """Hand the first frame of a received chunk to `frame_handler` if the reader waits for exactly it: a
        whole text or binary message, the frame queue empty, the reader in `recv`. The rest queue as usual (a
        chunk of many frames is read one frame per turn, as before)."""
        if self._alone and isinstance(event, Frame):
            self._alone = False
            if self._handled(event):
                return
        super().process_event(event)

    def _handled(self, frame: Frame) -> bool:
        handler = self.frame_handler
        if (
            handler is None
            or not frame.fin
            or frame.opcode not in (Opcode.TEXT, Opcode.BINARY)
            or len(self.recv_messages.frames) > 0
            or not self.recv_messages.get_in_progress
        ):
            return False
        if frame.opcode is Opcode.BINARY:
            return handler(bytes(frame.data))
        try:
            message = bytes(frame.data).decode()
        except UnicodeDecodeError:  # the reader's recv fails the connection with 1007, as websockets does
            return False
        return handler(message)

    def frames_waiting(self) -> bool:
        """Are frames already received beyond the one just taken (parsed and queued, or held)? True if unknown."""
        return not self._metered or len(self.recv_messages.frames) > 0 or bool(self._held)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget what was held: the connection is gone."""
        self._held = b""
        super().connection_lost(exc)

    def _feed(self, data: bytes) -> None:
        """Slices of FEED_BYTES while they complete frames; a slice that completes none doubles the next one,
        so a large frame is fed in a few slices, not a thousand."""
        feed, frames = super().data_received, self.recv_messages.frames
        start, step = 0, FEED_BYTES
        while start < len(data):
            if self.recv_messages.paused:
                self._held = data[start:]
                return
            queued = len(frames)
            feed(data[start : start + step])
            start += step
            step = FEED_BYTES if len(frames) != queued else step * 2

    def _resume(self) -> None:
        """The reader has room again: feed what is held (soon, not inside its `recv`), then read the socket."""
        if not self._feeding:
            self._feeding = True
            self.loop.call_soon(self._feed_held)

    def _feed_held(self) -> None:
        self._feeding = False
        held, self._held = self._held, b""
        if held and self.transport.is_closing():
            return
        if held:
            self._feed(held)
        if not self.recv_messages.paused and not self._held:
            self.transport.resume_reading()
