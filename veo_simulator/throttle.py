"""Sliding one-second window over request arrivals: the simulator's own rate enforcement."""

from __future__ import annotations

import logging
from collections import deque

__all__ = ["ArrivalWindow"]

logger = logging.getLogger(__name__)


class ArrivalWindow:
    """Counts arrivals in the last second, ``(t - 1, t]``, and remembers the largest count seen."""

    def __init__(self, rate: float, width: float = 1.0) -> None:
        self.rate = rate
        self._width = width
        self._arrivals: deque[float] = deque()
        self.max_count = 0

    def arrive(self, now: float) -> bool:
        """Record an arrival at ``now``; True when it is within the rate (rate <= 0: no limit)."""
        while self._arrivals and self._arrivals[0] <= now - self._width:
            self._arrivals.popleft()
        self._arrivals.append(now)
        count = len(self._arrivals)
        self.max_count = max(self.max_count, count)
        return self.rate <= 0 or count <= self.rate
