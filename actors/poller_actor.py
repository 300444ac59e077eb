"""The PollerActor: a pykka mailbox around the Poller. Everything that calls Flow goes through it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import pykka

from actors.poller import Poller
from actors.poller_messages import (
    Cancel,
    Crash,
    Enqueue,
    Numbered,
    ProvideSession,
    ReadStatus,
    Refresh,
    Reserve,
    ResultsReady,
    Tick,
    TokenReady,
    Told,
)
from actors.queue_status import QueueSnapshot
from actors.restore import Unfinished
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
        """The number of the last told message handled (the successor of a crashed actor starts with the
        supervisor's count: what was told to its predecessor is in the store it restores from)."""
        self.poller: Poller | None = None

    def on_start(self) -> None:
        self.poller = self._make_poller()
        self.poller.restore(self._non_terminal(), datetime.now(UTC))
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

    def on_receive(self, message: Any) -> Any:
        """Told messages run the loop and publish a snapshot; asked ones are answered."""
        match message:
            case Numbered(seen=seen, message=told):
                self._seen = seen
                self._told(told)
                self._work()
                return None
            case Cancel(generation_id=generation_id):
                cancelled = self._p.cancel(generation_id)
                self._work()
                return cancelled
            case ReadStatus():
                return self._p.status()
        raise TypeError(f"the PollerActor takes no {message!r}")

    def _told(self, message: Told) -> None:
        poller = self._p
        match message:
            case Enqueue(generation_ids=ids, token=token, delay_s=delay_s):
                poller.enqueue(ids, token, delay_s)
            case Refresh(generation_id=generation_id, done=done):
                poller.refresh(generation_id, done)
            case Reserve(done=done):
                poller.reserve(done)
            case ProvideSession(profile_id=profile_id, session_cookie=cookie, provider_id=provider_id):
                poller.provide_session(profile_id, cookie, provider_id)
            case TokenReady(generation_id=generation_id, token=token):
                poller.token_ready(generation_id, token)
            case Tick():
                self._ticker.taken()
            case ResultsReady():
                pass
            case Crash(message=text):
                raise RuntimeError(text)

    def _work(self) -> None:
        poller = self._p
        poller.handle_results()
        self._ticker.schedule(poller.tick())
        self._ticker.schedule(poller.retry_results_at())  # an answer could not be recorded (storage fault)
        self._publish(poller.snapshot(), self._seen)
