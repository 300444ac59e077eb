"""The PollerActor: a pykka mailbox around the Poller. Everything that calls Flow goes through it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from types import TracebackType
from uuid import UUID

import pykka

from actors.poller import Poller
from actors.queue_status import QueueSnapshot
from actors.restore import RestoreReport, Unfinished, restore
from actors.ticker import Ticker

__all__ = ["PollerActor"]

logger = logging.getLogger(__name__)


class PollerActor(pykka.ThreadingActor):
    """Serialises every decision about Flow calls; its state is rebuilt by `restore` on start."""

    use_daemon_thread = True

    def __init__(
        self,
        make_poller: Callable[[], Poller],
        ticker: Ticker,
        non_terminal: Callable[[], Sequence[Unfinished]],
        on_death: Callable[[BaseException | None], None],
        publish: Callable[[QueueSnapshot, int], None] = lambda _snapshot, _seen: None,
        restored: Callable[[], None] = lambda: None,
        seen: int = 0,
    ) -> None:
        super().__init__()
        self._make_poller = make_poller
        self._ticker = ticker
        self._non_terminal = non_terminal
        self._on_death = on_death
        self._publish = publish
        self._restored = restored
        self._seen = seen
        """The number of the last `told` message handled (the successor of a crashed actor starts with the
        supervisor's count: what was told to its predecessor is in the store it restores from)."""
        self.poller: Poller | None = None
        self.restored: RestoreReport | None = None

    def on_start(self) -> None:
        self.poller = self._make_poller()
        self.restored = restore(self.poller, self._non_terminal(), datetime.now(UTC))
        self._restored()
        self._work()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        logger.error("PollerActor crashed: %r", exception_value)
        self._on_death(exception_value)

    @property
    def _p(self) -> Poller:
        if self.poller is None:  # pragma: no cover - on_start always runs first
            raise RuntimeError("the poller is not started")
        return self.poller

    # --- messages -----------------------------------------------------------------------------------

    def told(self, seen: int, method: str, *args: object) -> None:
        """The supervisor's `seen`-th message: call `method`; the snapshot published after it says it was seen."""
        self._seen = seen
        getattr(self, method)(*args)

    def enqueue(self, generation_ids: Sequence[UUID], token: str | None = None, delay_s: float | None = None) -> None:
        """New generations were recorded: queue them for submission."""
        self._p.enqueue(generation_ids, token, delay_s)
        self._work()

    def refresh(self, generation_id: UUID, done: Future[None]) -> None:
        """A manual refresh at top priority; `done` resolves once the check is recorded."""
        self._p.refresh(generation_id, done)
        self._work()

    def cancel(self, generation_id: UUID) -> bool:
        """Cancel a job; False when the poller has no active job with that id."""
        cancelled = self._p.cancel(generation_id)
        self._work()
        return cancelled

    def provide_session(self, profile_id: str, session_cookie: str, provider_id: str) -> None:
        """A token provider's fresh session cookie for its profile."""
        self._p.provide_session(profile_id, session_cookie, provider_id)
        self._work()

    def queue_status(self) -> dict[str, object]:
        """`queue_status` data."""
        return self._p.status()

    def tick(self) -> None:
        """The ticker's wake-up."""
        self._ticker.taken()
        self._work()

    def results_ready(self) -> None:
        """A Flow call finished."""
        self._work()

    def token_ready(self, generation_id: UUID, token: str | None) -> None:
        """A reCAPTCHA token arrived for a job (None: no provider could answer)."""
        self._p.token_ready(generation_id, token)
        self._work()

    def crash(self, message: str) -> None:
        """Fault injection for tests and chaos runs: fail as a bug would."""
        raise RuntimeError(message)

    def _work(self) -> None:
        poller = self._p
        poller.handle_results()
        self._ticker.schedule(poller.tick())
        if poller.runner.pending():  # an answer could not be recorded (storage fault): try again soon
            self._ticker.schedule(poller.clock() + 1.0)
        self._publish(poller.snapshot(), self._seen)
