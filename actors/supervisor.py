"""Supervision for the PollerActor (pykka has none): restart after a crash, restore, keep what must survive.

The supervisor owns what outlives one PollerActor: the request budget (its sliding window must not reset
on a restart), the call runner and its result mailbox, the learned completion times and the ticker. A
crashed actor is replaced by a new one whose `on_start` restores every non-terminal job from the history
view; restarts are logged and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from uuid import UUID

import msgspec
import pykka

from actors.budget import Budget
from actors.calls import CallRunner
from actors.clock import Clock
from actors.flow import FlowClient
from actors.gemini import GeminiClient
from actors.poller import Poller, PollerSettings
from actors.poller_actor import PollerActor
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
from actors.profiles import Profile
from actors.queue_status import QueueSnapshot, QueueStatus
from actors.restore import Unfinished
from actors.ticker import Ticker
from actors.timing import CompletionModel
from actors.tokens import TokenBroker
from domain.application import VeoRelay

__all__ = ["PollerSupervisor"]

logger = logging.getLogger(__name__)

ASK_TIMEOUT = 10.0


class PollerSupervisor:
    """Starts the PollerActor, restarts it when it dies, and is the system's handle on it."""

    def __init__(
        self,
        app: VeoRelay,
        client: FlowClient,
        profiles: dict[str, Profile],
        *,
        non_terminal: Callable[[], Sequence[Unfinished]],
        durations: Callable[[], dict[tuple[str, str], list[float]]] = dict,
        settings: PollerSettings | None = None,
        clock: Clock = time.monotonic,
        gate: Callable[[], None] | None = None,
        gemini: GeminiClient | None = None,
    ) -> None:
        self._app = app
        self.profiles = profiles
        self._settings = settings or PollerSettings()
        self._clock = clock
        self.budget = Budget(self._settings.rate, margin=self._settings.budget_margin, clock=clock)
        self._model = CompletionModel()
        self.calls = CallRunner(client, gemini=gemini, workers=self.budget.max_in_flight, gate=gate)
        self._ticker = Ticker(self._tick, clock=clock)
        self.tokens = TokenBroker(clock=clock)
        self.tokens.add_listener(self._providers_changed)
        self.restarts = 0
        self.last_restart_seconds: float | None = None
        """From a crash to the successor's completed restore, for the last restart."""
        self._died_at: float | None = None
        self._published: tuple[QueueSnapshot, int] | None = None
        """The actor's latest `queue_status` snapshot, and how many of the messages told it had been seen."""
        self._told = 0
        """Messages told to the actor (`_tell`), counted under `_tell_lock` in the order they reach its inbox."""
        self._tell_lock = threading.Lock()
        self._non_terminal = non_terminal
        self._durations = durations
        self._ref: pykka.ActorRef[PollerActor] | None = None
        self._lock = threading.Lock()
        self._died = threading.Event()
        self._stopping = threading.Event()
        self._results_flag = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="poller-supervisor", daemon=True)
        self.calls.add_listener(self._results_ready)

    # --- life ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Load learned timings, start the actor (which restores), the ticker and the watchdog."""
        for key, durations in self._durations().items():
            self._model.load(key, durations)
        self._spawn()
        self._ticker.start()
        self._monitor.start()

    def stop(self) -> None:
        """Stop the actor and the threads; calls in flight finish first."""
        self._stopping.set()
        self._died.set()
        ref = self._ref
        if ref is not None and ref.is_alive():
            ref.stop(timeout=10)
        self._ticker.stop()
        self.calls.close(wait=True)
        if self._monitor.is_alive():
            self._monitor.join(timeout=5)

    def _make_poller(self) -> Poller:
        return Poller(
            self._app,
            self.calls,
            self.profiles,
            self.budget,
            self._model,
            clock=self._clock,
            settings=self._settings,
            tokens=self.tokens,
            on_token=self.token_ready,
        )

    def _spawn(self) -> None:
        ref = PollerActor.start(
            self._make_poller,
            self._ticker,
            self._non_terminal,
            self._on_death,
            self._publish,
            self._restored,
            seen=self._told,
        )
        with self._lock:
            self._ref = ref
        self._ticker.taken()

    def _publish(self, snapshot: QueueSnapshot, seen: int) -> None:
        self._published = (snapshot, seen)

    @property
    def last_status(self) -> QueueStatus | None:
        """The `queue_status` of the actor's latest snapshot, without asking it (None before its first)."""
        published = self._published
        return published[0].at(self._clock()) if published is not None else None

    def _restored(self) -> None:
        if self._died_at is not None:
            self.last_restart_seconds = round(self._clock() - self._died_at, 3)
            logger.warning("PollerActor restored %.3f s after the crash", self.last_restart_seconds)
            self._died_at = None

    def _on_death(self, exc: BaseException | None) -> None:
        self._died_at = self._clock()
        self._published = None  # what it saw is gone with it: ask the successor until it publishes
        self._died.set()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._died.wait()
            if self._stopping.is_set():
                return
            self._died.clear()
            self.restarts += 1
            logger.warning("restarting the PollerActor (restart #%d)", self.restarts)
            try:
                self._spawn()
            except Exception:
                logger.exception("restarting the PollerActor failed; trying again in 1 s")
                self._stopping.wait(1.0)
                self._died.set()

    # --- messages -----------------------------------------------------------------------------------

    @property
    def actor(self) -> pykka.ActorRef[PollerActor]:
        """The current PollerActor."""
        with self._lock:
            if self._ref is None:
                raise RuntimeError("the poller is not started")
            return self._ref

    def _tell(self, message: Told) -> bool:
        """Send the actor a message without waiting; False when it is dead (then its successor's restore will
        find the work in the store)."""
        with self._tell_lock:
            try:
                self.actor.tell(Numbered(self._told + 1, message))
            except pykka.ActorDeadError:
                return False
            self._told += 1
        return True

    def _tick(self) -> None:
        self._tell(Tick())

    def _results_ready(self) -> None:
        self._tell(ResultsReady())

    def _providers_changed(self) -> None:
        self._tell(ResultsReady())  # any wake-up re-runs the loop, which retries submissions waiting for a token

    def token_ready(self, generation_id: UUID, token: str | None) -> None:
        """A provider answered (or none could): hand the token to the job (from the server's thread)."""
        self._tell(TokenReady(generation_id, token))

    def enqueue(self, generation_ids: Sequence[UUID], token: str | None = None, delay_s: float | None = None) -> None:
        """Hand newly recorded generations to the poller."""
        self._tell(Enqueue(tuple(generation_ids), token, delay_s))

    def refresh(self, generation_id: UUID) -> Future[None]:
        """A manual refresh; the future resolves once the check's outcome is recorded."""
        done: Future[None] = Future()
        if not self._tell(Refresh(generation_id, done)):
            done.set_result(None)
        return done

    def reserve_call(self, timeout: float = ASK_TIMEOUT) -> bool:
        """Wait (on the caller's thread) until the budget lets one outside call start: a video download from
        the Gemini API host. False when no slot came within `timeout` (the actor is restarting or stopping)."""
        done: Future[None] = Future()
        if not self._tell(Reserve(done)):
            return False
        try:
            done.result(timeout)
        except TimeoutError:
            done.cancel()
            return False
        return True

    def provide_session(self, profile_id: str, session_cookie: str, provider_id: str) -> bool:
        """Hand a provider's fresh session cookie to the poller; True (this node calls Flow, so it takes it)."""
        if not self._tell(ProvideSession(profile_id, session_cookie, provider_id)):
            profile = self.profiles.get(profile_id)  # restarting: the successor reads the profile as it starts
            if profile is not None:
                profile.session_cookie = session_cookie
        return True

    def cancel(self, generation_id: UUID) -> bool:
        """Cancel a job the poller is working on (False: it has no such active job)."""
        cancelled: bool = self.actor.ask(Cancel(generation_id), block=True, timeout=ASK_TIMEOUT)
        return cancelled

    def queue_status(self) -> QueueStatus:
        """`queue_status`, with the restart figures: from the actor's snapshot when it has seen every message
        told it so far (`published_status`), otherwise asked of the actor, behind those messages."""
        status = self.published_status()
        if status is None:
            asked: QueueStatus = self.actor.ask(ReadStatus(), block=True, timeout=ASK_TIMEOUT)
            status = self._with_restarts(asked)
        return status

    def published_status(self) -> QueueStatus | None:
        """`queue_status` from the actor's latest snapshot, if it has seen every message told it so far
        (what a caller enqueued, refreshed or provided before asking is counted); None otherwise. Costs no
        message and never waits: for the server's event loop."""
        published = self._published
        if published is None or published[1] < self._told:
            return None
        return self._with_restarts(published[0].at(self._clock()))

    def _with_restarts(self, status: QueueStatus) -> QueueStatus:
        return msgspec.structs.replace(status, restarts=self.restarts, last_restart_seconds=self.last_restart_seconds)

    def crash(self, message: str = "injected fault") -> None:
        """Fault injection: make the current actor fail as a bug would."""
        self._tell(Crash(message))
