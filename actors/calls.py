"""Flow and Gemini API calls performed on worker threads, with a result mailbox that outlives any PollerActor.

The PollerActor decides what to send; it never blocks on HTTP. A `CallRunner` performs each call on one
of a few threads sharing one FlowClient (and a GeminiClient for Gemini profiles' calls) and keeps the
outcome in its mailbox until the actor has handled it (`ack`). When the actor crashes, calls still in flight
finish into the same mailbox and its successor handles them, so an accepted operation's name is never lost
with the actor.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from actors.flow import FlowClient
from actors.gemini import GeminiClient
from actors.profiles import GEMINI

__all__ = ["Call", "CallKind", "CallResult", "CallRunner"]

logger = logging.getLogger(__name__)


class CallKind(StrEnum):
    """What a call asks of Flow."""

    SUBMIT = "submit"
    CHECK = "check"
    RESOLVE = "resolve"
    CANCEL = "cancel"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a call kind, not a secret
    CREDITS = "credits"


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to Flow, the labs host or the Gemini API, and the jobs it concerns."""

    kind: CallKind
    job_ids: tuple[UUID, ...]
    profile_id: str
    perform: Callable[[Any], Any] = field(repr=False)
    """Sends the request with the client of `backend` (a FlowClient, or a GeminiClient for `gemini`)."""
    contract: str | None = None
    call_id: int = 0
    backend: str = "flow"


@dataclass(frozen=True, slots=True)
class CallResult:
    """A finished call: its value, or the exception it raised."""

    call: Call
    value: Any = None
    error: BaseException | None = None


class CallRunner:
    """Performs calls on `workers` threads; outcomes wait in the mailbox until acknowledged."""

    def __init__(
        self,
        client: FlowClient,
        *,
        gemini: GeminiClient | None = None,
        workers: int = 10,
        gate: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._gemini = gemini
        self._gate = gate
        """Called on the worker just before each call is sent; raising refuses it (e.g. a lost cluster lease)."""
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flow-call")
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._in_flight: dict[int, Call] = {}
        self._mailbox: dict[int, CallResult] = {}
        self._listeners: list[Callable[[], None]] = []
        self._closed = False

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (from a worker thread) whenever a result arrives."""
        self._listeners.append(listener)

    def start(self, call: Call) -> Call:
        """Perform `call` on a worker thread; returns it with its call id."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the call runner is closed")
            numbered = dataclasses.replace(call, call_id=next(self._ids))
            self._in_flight[numbered.call_id] = numbered
        self._executor.submit(self._perform, numbered)
        return numbered

    def _perform(self, call: Call) -> None:
        try:
            if self._gate is not None:
                self._gate()
            client = self._client if call.backend != GEMINI else self._gemini
            if client is None:
                raise RuntimeError("a Gemini call, but the call runner has no Gemini client")
            result = CallResult(call, value=call.perform(client))
        except Exception as exc:  # noqa: BLE001 - every outcome must reach the mailbox, whatever it is
            result = CallResult(call, error=exc)
        with self._lock:
            self._in_flight.pop(call.call_id, None)
            self._mailbox[call.call_id] = result
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                logger.exception("call listener failed")

    def pending(self) -> list[CallResult]:
        """Results not yet acknowledged, oldest first."""
        with self._lock:
            return [self._mailbox[k] for k in sorted(self._mailbox)]

    def ack(self, result: CallResult) -> None:
        """The actor has handled (recorded) this result."""
        with self._lock:
            self._mailbox.pop(result.call.call_id, None)

    def busy_job_ids(self, kind: CallKind) -> set[UUID]:
        """Jobs with a call of `kind` in flight or with an unhandled result."""
        with self._lock:
            calls = [*self._in_flight.values(), *(r.call for r in self._mailbox.values())]
        return {job_id for call in calls if call.kind == kind for job_id in call.job_ids}

    def close(self, wait: bool = True) -> None:
        """Stop accepting calls; wait for those in flight when `wait`."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=False)
