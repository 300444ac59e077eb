"""Per-connection flood control: a token bucket, and the policy that serves, warns, pauses or closes a client.

A client within its rate is served. A message that finds the bucket empty is dropped with one
`rate_limited` warning (carrying its id), and the server then stops reading that connection for a pause:
its further frames wait in the socket buffers, TCP backpressure stalls the sender, and a flooder costs the
server next to nothing instead of a parsed frame and an error reply per excess message. A client that is
still over its rate after `warnings_before_close` warnings in a row is closed with 1008. The warnings are
forgiven once the client has been quiet long enough for its bucket to fill up again.

Pausing only helps if little is parsed ahead of the read loop. asyncio hands a connection up to 256 KiB per
read and websockets parses every frame in it at once, a flooder's thousands of small frames in one
callback that holds up every other client for milliseconds (the tail of their round trips). A
`MeteredConnection` feeds websockets its received data a slice at a time and holds the rest, unparsed,
while the connection's queue of parsed frames is full, so no more than a slice of frames is parsed ahead.

Requests read are answered concurrently, up to 16 per connection; once the server as a whole is busy
(`may_start`), each connection has one in progress at a time, so a flooder's requests do not queue ahead of
everyone else's in the thread pool that answers them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from enum import Enum

from websockets.asyncio.server import ServerConnection

from actors.clock import Clock

__all__ = [
    "BUSY_REQUESTS",
    "FEED_BYTES",
    "MAX_CONCURRENT_REQUESTS",
    "FloodGuard",
    "MeteredConnection",
    "TokenBucket",
    "Verdict",
    "may_start",
    "metering_supported",
]

logger = logging.getLogger(__name__)


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; it starts full."""

    def __init__(self, rate: float, burst: float, *, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.stamp = clock()

    def level(self) -> float:
        """The tokens held now."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return self.tokens

    def take(self) -> bool:
        """One token for one message; False (nothing taken) when the client is over its rate."""
        if self.level() < 1.0:
            return False
        self.tokens -= 1.0
        return True


class Verdict(Enum):
    """What to do with a message just read."""

    SERVE = "serve"
    """Within the rate: answer it."""
    WARN = "warn"
    """Over the rate: drop it with a `rate_limited` warning, then stop reading for `FloodGuard.pause` seconds."""
    CLOSE = "close"
    """Over the rate after `warnings_before_close` warnings in a row: close the connection with 1008."""


class FloodGuard:
    """One connection's flood control: a verdict for each message read (see the module docstring)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        warnings_before_close: int,
        pause: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.bucket = TokenBucket(rate, burst, clock=clock)
        self.warnings_before_close = warnings_before_close
        self.pause = pause
        """Seconds to stop reading the connection after a warning."""
        self.warnings = 0
        """Warnings given since the client was last quiet long enough to refill its bucket."""

    def admit(self) -> Verdict:
        """The verdict on one more message from this client."""
        if self.bucket.level() >= self.bucket.burst:
            self.warnings = 0
        if self.bucket.take():
            return Verdict.SERVE
        if self.warnings >= self.warnings_before_close:
            return Verdict.CLOSE
        self.warnings += 1
        return Verdict.WARN


MAX_CONCURRENT_REQUESTS = 16
"""Requests of one connection answered at once; the next frame is read when one of them is done."""
BUSY_REQUESTS = 4
"""Requests in progress over all connections from which each connection has only one at a time."""


def may_start(own: int, in_progress: int) -> bool:
    """Whether a connection with `own` requests in progress may start another, `in_progress` being the server's.

    Up to MAX_CONCURRENT_REQUESTS of its own while the server is quiet; one at a time once BUSY_REQUESTS are in
    progress: a client with many in flight (a flood, a burst) then waits for its own answers instead of queueing
    its requests ahead of everyone else's in the thread pool, and a client with none in progress is next.
    """
    if own >= MAX_CONCURRENT_REQUESTS:
        return False
    return own == 0 or in_progress < BUSY_REQUESTS


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
        self._feed(data)

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
