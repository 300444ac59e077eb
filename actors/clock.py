"""The injected clock: monotonic seconds, real or fake."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Clock", "FakeClock", "monotonic"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""A zero-argument callable returning monotonic seconds."""

monotonic: Clock = time.monotonic
"""The real clock."""


class FakeClock:
    """A clock that moves only when a test advances it."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"

    @property
    def now(self) -> float:
        """The current reading."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never backwards) and return the new reading."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back ({seconds} s)")
        self._now += seconds
        return self._now

    def set(self, instant: float) -> float:
        """Move forward to `instant` (never backwards) and return it."""
        if instant < self._now:
            raise ValueError(f"a monotonic clock cannot go back from {self._now} to {instant}")
        self._now = instant
        return self._now
