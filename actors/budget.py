"""The request budget: a pacing clock plus a sliding-window log of call starts (CONTRACT.md section 6)."""

from __future__ import annotations

import logging
import math
from collections import deque

from actors.clock import Clock

__all__ = ["Budget"]

logger = logging.getLogger(__name__)


class Budget:
    """Decides when the next call to Flow may start.

    Three limits hold at once:
    - window: no more than `rate` starts in any sliding window of `1 + margin` seconds (so fewer than
      `rate` in any 1-second window as Flow sees arrivals, even with a little network jitter);
    - pacing: consecutive starts at least `(1 + margin) / rate` seconds apart, so there is no burst
      after an idle spell;
    - concurrency: at most `max_in_flight` calls outstanding (`try_acquire` until `release`).
    A pause (Flow throttled us, Retry-After) stops all starts until it ends. Not thread-safe: one owner.
    """

    def __init__(self, rate: float = 10.0, *, max_in_flight: int = 10, margin: float = 0.05, clock: Clock) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        if not 0.0 <= margin < 1.0 or not math.isfinite(margin):
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        self._clock = clock
        self._margin = margin
        self._window = 1.0 + margin
        self._max_in_flight = max_in_flight
        self._starts: deque[float] = deque()
        self._last_start = -math.inf
        self._paused_until = -math.inf
        self._in_flight = 0
        self._rate = rate
        self._limit = 1
        self._interval = 0.0
        self.set_rate(rate)

    def __repr__(self) -> str:
        return f"Budget(rate={self._rate}, in_flight={self._in_flight}/{self._max_in_flight}, margin={self._margin})"

    @property
    def rate(self) -> float:
        """Call starts allowed per second."""
        return self._rate

    @property
    def max_in_flight(self) -> int:
        """Calls allowed outstanding at once."""
        return self._max_in_flight

    @property
    def in_flight(self) -> int:
        """Calls started and not yet released."""
        return self._in_flight

    @property
    def paused_until(self) -> float:
        """The clock instant before which nothing starts (-inf when never paused)."""
        return self._paused_until

    def set_rate(self, rate: float) -> None:
        """Change the rate; starts already logged keep counting against the window."""
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a positive number, got {rate}")
        self._rate = rate
        self._limit = max(1, math.floor(rate))
        self._interval = self._window / rate

    def next_available(self) -> float:
        """The earliest clock instant at which a start may be allowed (pause, pacing, window; not in-flight)."""
        now = self._clock()
        self._forget(now)
        earliest = max(self._paused_until, self._last_start + self._interval)
        if len(self._starts) >= self._limit:
            earliest = max(earliest, self._starts[-self._limit] + self._window)
        return earliest

    def can_acquire(self) -> bool:
        """Whether `try_acquire` would succeed now (it records nothing)."""
        return self._in_flight < self._max_in_flight and self.next_available() <= self._clock()

    def try_acquire(self) -> bool:
        """Record a call start now and return True when every limit allows it; else False."""
        if not self.can_acquire():
            return False
        now = self._clock()
        self._starts.append(now)
        self._last_start = now
        self._in_flight += 1
        return True

    def release(self) -> None:
        """A call started with `try_acquire` has finished (answered, failed or timed out)."""
        if self._in_flight == 0:
            logger.warning("budget released with no call in flight; ignored")
            return
        self._in_flight -= 1

    def pause_until(self, instant: float) -> None:
        """Start nothing before `instant` (Flow throttled us); an existing longer pause is kept."""
        if instant > self._paused_until:
            logger.info("budget paused for %.3f s", instant - self._clock())
            self._paused_until = instant

    def requests_last_second(self) -> int:
        """Calls started in the last second."""
        now = self._clock()
        return sum(1 for start in self.recent_starts() if start + 1.0 > now)

    def recent_starts(self) -> tuple[float, ...]:
        """The instants of the calls started within the window ending now (a little over a second)."""
        self._forget(self._clock())
        return tuple(self._starts)

    def _forget(self, now: float) -> None:
        """Drop starts that no longer fall inside the window ending now."""
        while self._starts and self._starts[0] + self._window <= now:
            self._starts.popleft()
