"""A timer thread that wakes the PollerActor at the instant it asked for, with ticks coalesced.

pykka inboxes are unbounded, so the ticker never queues a second tick before the actor has taken the
first (`taken`), and only ever keeps the earliest requested instant.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from actors.clock import Clock

__all__ = ["Ticker"]

logger = logging.getLogger(__name__)


class Ticker:
    """Calls `send()` once the earliest scheduled instant is reached, unless a tick is still pending."""

    def __init__(self, send: Callable[[], None], *, clock: Clock = time.monotonic) -> None:
        self._send = send
        self._clock = clock
        self._cond = threading.Condition()
        self._at: float | None = None
        self._pending = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="poller-ticker", daemon=True)

    def start(self) -> None:
        """Start the timer thread."""
        self._thread.start()

    def schedule(self, at: float | None) -> None:
        """Wake the actor at `at` (monotonic seconds; None: no timed wake needed)."""
        with self._cond:
            if at is None or not math.isfinite(at):
                return
            if self._at is None or at < self._at:
                self._at = at
                self._cond.notify()

    def taken(self) -> None:
        """The actor is handling a tick: the next one may be sent."""
        with self._cond:
            self._pending = False
            self._cond.notify()

    def stop(self) -> None:
        """Stop the thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (self._at is None or self._pending or self._at > self._clock()):
                    timeout = None if self._at is None or self._pending else max(0.0, self._at - self._clock())
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                self._at = None
                self._pending = True
            try:
                self._send()
            except Exception:
                logger.exception("sending a tick failed")
                with self._cond:
                    self._pending = False
