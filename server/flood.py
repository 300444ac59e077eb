"""Per-connection flood control: a token bucket, and the policy that serves, warns, pauses or closes a client.

A client within its rate is served. A message that finds the bucket empty is dropped with one
`rate_limited` warning (carrying its id), and the server then stops reading that connection for a pause:
its further frames wait in the socket buffers, TCP backpressure stalls the sender, and a flooder costs the
server next to nothing instead of a parsed frame and an error reply per excess message. A client that is
still over its rate after `warnings_before_close` warnings in a row is closed with 1008. The warnings are
forgiven once the client has been quiet long enough for its bucket to fill up again.

Pausing helps because little is received ahead of the read loop: websockets stops reading the socket once
a few messages wait for it (`max_queue`).

Requests read are answered concurrently, up to 16 per connection; once the server as a whole is busy
(`may_start`), each connection has one in progress at a time, so a flooder's requests do not queue ahead of
everyone else's in the thread pool that answers them.
"""

from __future__ import annotations

import time
from enum import Enum

from actors.clock import Clock

__all__ = [
    "BUSY_REQUESTS",
    "MAX_CONCURRENT_REQUESTS",
    "FloodGuard",
    "TokenBucket",
    "Verdict",
    "may_start",
]


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
