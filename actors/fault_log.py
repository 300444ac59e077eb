"""Logging a storage outage without a traceback every second: the first failure, a reminder a minute, the end."""

from __future__ import annotations

import logging
import sqlite3

from eventsourcing.persistence import PersistenceError

from actors.clock import Clock

__all__ = ["STORAGE_ERRORS", "FaultLog"]

STORAGE_ERRORS = (PersistenceError, sqlite3.Error, OSError)
"""What a write to the store raises while the store is unavailable (full, read-only, unreachable)."""

REMIND_EVERY_S = 60.0


class FaultLog:
    """Tells the log when writing to the store starts failing, while it keeps failing, and when it recovers."""

    def __init__(self, logger: logging.Logger, clock: Clock, remind_every_s: float = REMIND_EVERY_S) -> None:
        self._logger = logger
        self._clock = clock
        self._remind_every_s = remind_every_s
        self._since: float | None = None
        self._failures = 0
        self._reminded = 0.0

    def failed(self, what: str) -> None:
        """A write failed (call from an `except` block): a traceback the first time, then one line a minute."""
        now = self._clock()
        self._failures += 1
        if self._since is None:
            self._since = self._reminded = now
            self._logger.exception("%s failed; retrying until the store accepts writes again", what)
        elif now - self._reminded >= self._remind_every_s:
            self._reminded = now
            self._logger.warning(
                "the store still refuses writes after %.0f s (%d failed attempts); latest: %s",
                now - self._since,
                self._failures,
                what,
            )

    def succeeded(self) -> None:
        """A write succeeded: ends an outage (logged once)."""
        if self._since is not None:
            self._logger.warning(
                "the store accepts writes again after %.0f s (%d failed attempts)",
                self._clock() - self._since,
                self._failures,
            )
            self._since = None
            self._failures = 0
