"""Per-connection flood control: a token bucket, and the policy that serves, warns, pauses or closes a client.

A client within its rate is served. A message that finds the bucket empty is dropped with one
`rate_limited` warning (carrying its id), and the server then stops reading that connection for a pause:
its further frames wait in the socket buffers, TCP backpressure stalls the sender, and a flooder costs the
server next to nothing instead of a parsed frame and an error reply per excess message. A client that is
still over its rate after `warnings_before_close` warnings in a row is closed with 1008. The warnings are
forgiven once the client has been quiet long enough for its bucket to fill up again.
"""

from __future__ import annotations

import logging
import time
from enum import Enum

from actors.clock import Clock

__all__ = ["FloodGuard", "TokenBucket", "Verdict"]

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
