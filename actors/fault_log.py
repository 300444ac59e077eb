"""Logging a storage outage without a traceback every second: the first failure, a reminder a minute, the end."""

from __future__ import annotations

import logging

from actors.clock import Clock

__all__ = ["FaultLog"]

REMIND_EVERY_S = 60.0


class FaultLog:
    """Tells the log when writing to the store starts failing, while it keeps failing, and when it recovers."""

    def __init__(self, logger: logging.Logger, clock: Clock, remind_every_s: float = REMIND_EVERY_S) -> None:
        self.logger = logger
        self.clock = clock
        self.remind_every_s = remind_every_s
        self.since: float | None = None
        self.failures = 0
        self._reminded = 0.0

    @property
    def failing(self) -> bool:
        """The last write failed and none has succeeded since."""
        return self.since is not None

    def failed(self, what: str) -> None:
        """A write failed (call from an `except` block): a traceback the first time, then one line a minute."""
        now = self.clock()
        self.failures += 1
        if self.since is None:
            self.since = self._reminded = now
            self.logger.exception("%s failed; retrying until the store accepts writes again", what)
        elif now - self._reminded >= self.remind_every_s:
            self._reminded = now
            self.logger.warning(
                "the store still refuses writes after %.0f s (%d failed attempts); latest: %s",
                now - self.since,
                self.failures,
                what,
            )

    def succeeded(self) -> None:
        """A write succeeded: ends an outage (logged once)."""
        if self.since is not None:
            self.logger.warning(
                "the store accepts writes again after %.0f s (%d failed attempts)",
                self.clock() - self.since,
                self.failures,
            )
            self.since = None
            self.failures = 0
