"""Hand-written fakes for the Poller's unit tests: a call runner whose mailbox the test fills, and a rig.

No threads, no HTTP, no sleeps: calls are recorded when the poller starts them and finish only when a
test says so; time is a FakeClock the rig moves to the instants the poller asks to be woken at.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import httpx

from actors.budget import Budget
from actors.calls import Call, CallKind, CallResult, CallRunner
from actors.clock import FakeClock
from actors.flow import FlowClient, RemoteStatus, StatusHandle, SubmitResult
from actors.flow.errors import FlowError, error_from_response
from actors.poller import Poller
from actors.poller_settings import PollerSettings
from actors.profiles import ConfiguredContract, Profile
from actors.restore import Unfinished
from actors.timing import CompletionModel
from domain.application import VeoRelay
from domain.generation import Generation
from domain.requests import GenerationSpec

__all__ = [
    "ACTIVE",
    "FAILED",
    "PENDING",
    "SUCCESSFUL",
    "FakeRunner",
    "RecordingClient",
    "Responder",
    "Rig",
    "accepted",
    "answered",
    "describe",
    "envelope",
    "make_profile",
    "make_rig",
    "remote",
    "unfinished",
]

WALL_START = 1_800_000_000.0
"""The rig's wall clock at FakeClock 0 (2027-01-15T08:00:00Z)."""
PENDING = "MEDIA_GENERATION_STATUS_PENDING"
ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"
SUCCESSFUL = "MEDIA_GENERATION_STATUS_SUCCESSFUL"
FAILED = "MEDIA_GENERATION_STATUS_FAILED"


class FakeRunner:
    """CallRunner's interface; a call stays in flight until the test finishes it with a value or an error."""

    def __init__(self, clock: FakeClock, on_start: Callable[[Call], None] | None = None) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self._in_flight: dict[int, Call] = {}
        self._mailbox: dict[int, CallResult] = {}
        self._listeners: list[Callable[[], None]] = []
        self.on_start = on_start
        self.started: list[Call] = []
        self.start_times: list[float] = []
        self.most_in_flight = 0

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever a result arrives."""
        self._listeners.append(listener)

    def start(self, call: Call) -> Call:
        """Record the call as started now and in flight; returns it numbered."""
        numbered = dataclasses.replace(call, call_id=next(self._ids))
        if self.on_start is not None:
            self.on_start(numbered)
        self._in_flight[numbered.call_id] = numbered
        self.started.append(numbered)
        self.start_times.append(self._clock())
        self.most_in_flight = max(self.most_in_flight, len(self._in_flight))
        return numbered

    def pending(self) -> list[CallResult]:
        """Results not yet acknowledged, oldest first."""
        return [self._mailbox[k] for k in sorted(self._mailbox)]

    def ack(self, result: CallResult) -> None:
        """The poller has recorded this result."""
        self._mailbox.pop(result.call.call_id, None)

    def in_flight(self) -> list[Call]:
        """Calls started and not finished."""
        return list(self._in_flight.values())

    def busy_job_ids(self, kind: CallKind) -> set[UUID]:
        """Jobs with a call of `kind` in flight or with an unhandled result."""
        calls = [*self._in_flight.values(), *(r.call for r in self._mailbox.values())]
        return {job_id for call in calls if call.kind == kind for job_id in call.job_ids}

    # --- the test's side ---------------------------------------------------------------------------

    def finish(self, call: Call, value: Any = None, error: BaseException | None = None) -> None:
        """The call answered: put its result in the mailbox."""
        del self._in_flight[call.call_id]
        self._mailbox[call.call_id] = CallResult(call, value=value, error=error)
        for listener in self._listeners:
            listener()

    def calls(self, kind: CallKind | None = None) -> list[Call]:
        """Every call started so far (of one kind)."""
        return [c for c in self.started if kind is None or c.kind == kind]

    def open_calls(self, kind: CallKind | None = None) -> list[Call]:
        """Calls still in flight (of one kind)."""
        return [c for c in self._in_flight.values() if kind is None or c.kind == kind]

    def started_at(self, call: Call) -> float:
        """The clock reading when `call` started."""
        return self.start_times[self.started.index(call)]


class RecordingClient:
    """Stands in for FlowClient inside a call's `perform`: records which method it called, with what."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        def method(*args: Any) -> None:
            self.calls.append((name, args))

        return method


def envelope(code: int, reason: str | None = None, message: str = "m") -> dict[str, Any]:
    """Google's RPC error envelope."""
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}] if reason else []
    return {"error": {"code": code, "message": message, "details": details}}


def answered(status: int, reason: str | None = None, **headers: str) -> FlowError:
    """How the Flow client classifies an HTTP answer to a submission."""
    response = httpx.Response(status, json=envelope(status, reason), headers=headers)
    return error_from_response(response, what="the generate request", submission=True, now=0.0)


def describe(call: Call) -> tuple[str, tuple[Any, ...]]:
    """The FlowClient method a call invokes and its arguments (profile first)."""
    client = RecordingClient()
    call.perform(cast("FlowClient", client))
    ((name, args),) = client.calls
    return name, args


def accepted(operation: str, media: str | None = None, status: str = PENDING) -> SubmitResult:
    """Flow's answer to a submission it accepted."""
    return SubmitResult(operation_name=operation, media_name=media, remote_status=status)


def remote(
    operation: str,
    status: str,
    *,
    url: str | None = None,
    reason: str | None = None,
    message: str | None = None,
    media: str | None = None,
) -> RemoteStatus:
    """One job's state in a status check's answer (terminal for SUCCESSFUL and FAILED)."""
    return RemoteStatus(
        handle=StatusHandle(operation_name=operation, media_name=media),
        status=status,
        terminal=status in (SUCCESSFUL, FAILED),
        successful=status == SUCCESSFUL,
        media_generation_id=f"mg-{operation}" if status == SUCCESSFUL else None,
        video_url=url,
        error_reason=reason,
        error_message=message,
    )


def make_profile(name: str = "p", contract: ConfiguredContract = "auto", *, cookie: bool = True) -> Profile:
    """A profile with fake credentials that submits without reCAPTCHA tokens (the token bridge is tested apart)."""
    profile = Profile(
        name=name,
        project_id=f"proj-{name}",
        bearer_token="ya29.fake-bearer",
        session_cookie="fake-session-cookie" if cookie else None,
        status_contract=contract,
    )
    profile.recaptcha = "off"
    return profile


def unfinished(generation: Generation, started_at: datetime | None = None) -> Unfinished:
    """What the read model hands restore for a generation."""
    return Unfinished(generation.id, started_at)


Responder = Callable[[Call], object]
"""Answers a call at once: an exception instance fails it, anything else is its value."""


@dataclass
class Rig:
    """An in-memory application, a FakeClock, a FakeRunner, a Budget and the Poller under test."""

    app: VeoRelay
    clock: FakeClock
    runner: FakeRunner
    budget: Budget
    model: CompletionModel
    profiles: dict[str, Profile]
    settings: PollerSettings
    wall_offset: float = WALL_START
    """The wall clock reads the FakeClock plus this (a restarted process's clock may start anywhere)."""
    poller: Poller = field(init=False)

    def __post_init__(self) -> None:
        self.poller = self.new_poller()

    def new_poller(self) -> Poller:
        """A fresh Poller sharing the store, runner and budget (what a restarted PollerActor gets)."""
        return Poller(
            self.app,
            cast("CallRunner", self.runner),
            self.profiles,
            self.budget,
            self.model,
            clock=self.clock,
            wall_clock=self.wall,
            settings=self.settings,
        )

    def wall(self) -> float:
        """The wall clock: seconds since the epoch, moving with the FakeClock."""
        return self.wall_offset + self.clock.now

    # --- generations ------------------------------------------------------------------------------

    def request(self, prompt: str = "a fox", *, priority: str = "normal", profile_id: str = "p") -> UUID:
        """Record `Requested` for one generation (not yet given to the poller)."""
        generation_id, _ = self.app.request_generation(
            GenerationSpec(prompt=prompt, priority=priority, profile_id=profile_id)
        )
        return generation_id

    def queued(self, count: int = 1, **options: str) -> list[UUID]:
        """Generations requested and handed to the poller's submission queue."""
        ids = [self.request(f"prompt {i}", **options) for i in range(count)]
        self.poller.enqueue(ids)
        return ids

    def running(self, count: int = 1, **options: str) -> list[UUID]:
        """Generations Flow accepted (Submitted, Started) and the poller tracks from now on."""
        ids = [self.request(f"running {i}", **options) for i in range(count)]
        for generation_id in ids:
            self.app.record_submitted(generation_id)
            self.app.record_started(generation_id, self.operation(generation_id), None, PENDING)
        self.poller.enqueue(ids)
        return ids

    @staticmethod
    def operation(generation_id: UUID) -> str:
        """The operation name `running` and `accept` give a generation."""
        return f"op-{generation_id.hex[:12]}"

    def generation(self, generation_id: UUID) -> Generation:
        """The aggregate as stored."""
        return self.app.get_generation(generation_id)

    def events(self, generation_id: UUID) -> list[str]:
        """The names of the events recorded for a generation, oldest first."""
        return [type(e).__name__ for e in self.app.events.get(generation_id)]

    # --- time and calls ---------------------------------------------------------------------------

    def tick(self) -> list[Call]:
        """Handle results, tick once now; the calls that tick started."""
        before = len(self.runner.started)
        self.poller.handle_results()
        self.poller.tick()
        return self.runner.started[before:]

    def run(self, until: float, *, stop_at: CallKind | None = None, respond: Responder | None = None) -> list[Call]:
        """Tick at every instant the poller asks for up to `until` (or until a call of `stop_at` starts).

        `respond` answers each call as soon as it starts. Ends at `until` (earlier with `stop_at`);
        returns the calls started meanwhile.
        """
        first = len(self.runner.started)
        again = True
        while True:
            before = len(self.runner.started)
            self.poller.handle_results()
            wake = self.poller.tick()
            new = self.runner.started[before:]
            if respond is not None:
                for call in new:
                    self.answer(call, respond(call), handle=False)
            if stop_at is not None and any(c.kind == stop_at for c in new):
                return self.runner.started[first:]
            if wake is not None and wake <= self.clock.now:
                if new or again:  # the poller wants another tick at this instant
                    again = bool(new)
                    continue
                break  # it starts nothing more now: only an answer can unblock it
            if respond is not None and new:
                continue  # answers arrived: handle them at this same instant
            if wake is None or wake > until:
                break
            again = True
            self.clock.set(wake)
        self.clock.set(max(until, self.clock.now))
        return self.runner.started[first:]

    def next_call(self, kind: CallKind, within: float = 120.0) -> Call:
        """Run until the poller starts a call of `kind`; fail the test when none starts `within` seconds."""
        started = self.run(self.clock.now + within, stop_at=kind)
        matching = [c for c in started if c.kind == kind]
        assert matching, f"no {kind} call within {within} s (started: {[c.kind for c in started]})"
        return matching[-1]

    def answer(self, call: Call, value: object = None, *, handle: bool = True) -> None:
        """Finish a call (an exception instance fails it) and, by default, let the poller handle it."""
        if isinstance(value, BaseException):
            self.runner.finish(call, error=value)
        else:
            self.runner.finish(call, value)
        if handle:
            self.poller.handle_results()

    def accept(self, call: Call) -> str:
        """Answer a submission as accepted; returns the operation name."""
        operation = self.operation(call.job_ids[0])
        self.answer(call, accepted(operation))
        return operation


def make_rig(
    settings: PollerSettings | None = None,
    profiles: Sequence[Profile] = (),
    *,
    start: float = 1000.0,
    on_start: Callable[[Call], None] | None = None,
) -> Rig:
    """A poller on an in-memory store with profile `p` (auto contract) unless others are given."""
    clock = FakeClock(start)
    settings = settings or PollerSettings()
    return Rig(
        app=VeoRelay(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        clock=clock,
        runner=FakeRunner(clock, on_start),
        budget=Budget(settings.rate, clock=clock),
        model=CompletionModel(),
        profiles={p.name: p for p in (profiles or [make_profile()])},
        settings=settings,
    )
