"""A Gemini API key's per-minute quota of `predictLongRunning` calls (CONTRACT §6: on top of the global budget).

At most `limit` submissions start in any sliding `WINDOW` (the API's minute and a margin). The limit is the
profile's `rpm` when configured and never goes above it; without one there is no limit until the API answers
429, and from then on the limit is learned: one fewer than the submissions of the window the 429 ended (at
least one), relaxing by one after `RELAX_AFTER` accepted submissions without a 429 (up to the configured `rpm`,
if any). A 429 also holds the key's submissions until the API's retry delay, or until the oldest submission of
the window leaves it.
"""

from __future__ import annotations

import logging
import math
from collections import deque

from actors.clock import Clock

__all__ = ["MARGIN", "RELAX_AFTER", "WINDOW", "MinuteQuota"]

logger = logging.getLogger(__name__)

MARGIN = 1.0
"""Seconds added to the minute: a call reaches the API a varying few milliseconds after it starts (more on a
loaded machine), so two starts exactly a minute apart may arrive less than a minute apart, in one minute of the
API's count, and the second is refused."""
WINDOW = 60.0 + MARGIN
"""The span in which a key makes at most its `rpm` submissions: the API's minute and the margin."""
RELAX_AFTER = 20
"""Accepted submissions, none refused with 429, before a learned limit rises by one."""


class MinuteQuota:
    """Submissions of one key in the last window, against a configured or learned per-minute limit."""

    def __init__(self, configured: int | None, *, clock: Clock) -> None:
        self._clock = clock
        self.configured = configured
        self.limit = configured
        """The effective per-minute limit (None: none known yet)."""
        self._starts: deque[float] = deque()
        self._held_until = -math.inf
        self._accepted = 0

    def ready_at(self) -> float:
        """When the next submission may start within the quota."""
        self._forget()
        ready = self._held_until
        if self.limit is not None and len(self._starts) >= self.limit:
            ready = max(ready, self._starts[-self.limit] + WINDOW)
        return ready

    def used(self) -> int:
        """Submissions in the last window."""
        self._forget()
        return len(self._starts)

    def started(self) -> None:
        """A submission of this key is about to be sent."""
        self._starts.append(self._clock())

    def accepted(self) -> None:
        """The API accepted a submission: after enough of them, a learned limit rises by one."""
        self._accepted += 1
        if self._accepted < RELAX_AFTER or self.limit is None:
            return
        self._accepted = 0
        if self.configured is None or self.limit < self.configured:
            self.limit += 1

    def refused(self, retry_after: float | None) -> float:
        """429: tighten the limit below what this minute held, hold until the retry delay (or until the oldest
        submission of the minute leaves it). Returns the end of the hold."""
        now = self._clock()
        self._forget()
        self._accepted = 0
        learned = max(1, len(self._starts) - 1)
        self.limit = learned if self.limit is None else max(1, min(self.limit, learned))
        until = now + retry_after if retry_after is not None else (self._starts[0] + WINDOW if self._starts else now)
        self._held_until = max(self._held_until, until)
        logger.warning("Gemini key over its per-minute quota: now at most %d a minute", self.limit)
        return self._held_until

    def _forget(self) -> None:
        horizon = self._clock() - WINDOW
        while self._starts and self._starts[0] <= horizon:
            self._starts.popleft()
