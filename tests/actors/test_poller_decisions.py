"""The Poller's decisions on a fake clock with a fake call runner: budget, order, checks, refresh, cancel, deadline."""

from __future__ import annotations

import itertools
from bisect import bisect_left
from concurrent.futures import Future
from uuid import UUID

import httpx
import pytest

from actors.budget import Budget
from actors.calls import Call, CallKind
from actors.clock import FakeClock
from actors.flow.errors import error_from_response
from actors.poller_settings import PollerSettings
from actors.timing import CompletionModel
from domain.application import VeoRelay
from domain.requests import GenerationSpec
from domain.values import ErrorReason, Status
from tests.actors.fakes import (
    ACTIVE,
    PENDING,
    FakeRunner,
    Responder,
    Rig,
    accepted,
    describe,
    make_profile,
    make_rig,
    remote,
)

SUBMIT, CHECK, CANCEL = CallKind.SUBMIT, CallKind.CHECK, CallKind.CANCEL


def most_in_any_window(starts: list[float], window: float = 1.0) -> int:
    """The most instants falling in any half-open window [s, s + window)."""
    ordered = sorted(starts)
    return max((bisect_left(ordered, s + window) - i for i, s in enumerate(ordered)), default=0)


def answer_everything(rig: Rig) -> Responder:
    """A responder: submissions are accepted, checks find every job still pending, the rest return None."""

    def respond(call: Call) -> object:
        if call.kind == SUBMIT:
            return accepted(rig.operation(call.job_ids[0]))
        if call.kind == CHECK:
            return [remote(rig.operation(i), PENDING) for i in call.job_ids]
        return None

    return respond


def refresh(rig: Rig, generation_id: UUID) -> Future[None]:
    done: Future[None] = Future()
    rig.poller.refresh(generation_id, done)
    return done


# --- the budget -------------------------------------------------------------------------------------

PACING = 1.05 / 10.0
"""The rig's budget spaces starts (1 + margin) / rate apart."""


def test_tick_never_starts_more_calls_than_the_budget_allows() -> None:
    """Unanswered calls stop at ten in flight; answered at once, no 1-second window holds more than R starts."""
    rig = make_rig()
    rig.queued(40)
    rig.run(1005.0)
    assert len(rig.runner.started) == 10
    assert rig.budget.in_flight == 10
    gaps = [b - a for a, b in itertools.pairwise(rig.runner.start_times)]
    assert min(gaps) >= PACING - 1e-9
    for call in rig.runner.open_calls():
        rig.accept(call)
    rig.run(1010.0, respond=answer_everything(rig))
    assert len(rig.runner.started) > 40
    assert most_in_any_window(rig.runner.start_times) <= 10
    assert rig.runner.most_in_flight == 10


def test_with_every_slot_in_flight_the_poller_asks_for_no_immediate_wake() -> None:
    """Ten calls in flight and more work due: tick asks to be woken by an answer, not at once (no busy loop)."""
    rig = make_rig()
    rig.queued(20)
    rig.run(1005.0)
    assert rig.budget.in_flight == 10
    wake = rig.poller.tick()
    assert wake is None or wake > rig.clock.now


def test_no_burst_after_idle() -> None:
    """After an hour of idleness ten ready jobs still start one pacing interval apart."""
    rig = make_rig()
    rig.clock.advance(3600.0)
    rig.queued(10)
    assert len(rig.tick()) == 1
    assert rig.tick() == []
    rig.run(rig.clock.now + 2.0)
    starts = rig.runner.start_times
    assert len(starts) == 10
    assert min(b - a for a, b in itertools.pairwise(starts)) >= PACING - 1e-9


# --- submissions ------------------------------------------------------------------------------------


def test_submitted_is_recorded_before_the_call_starts() -> None:
    """When the generate call starts, the store already holds `Submitted` for that attempt."""
    seen: list[list[str]] = []
    rig = make_rig(on_start=lambda call: seen.append(rig.events(call.job_ids[0])))
    rig.queued(1)
    rig.tick()
    assert seen == [["Requested", "Submitted"]]


def test_batch_items_are_spaced_by_the_batch_delay() -> None:
    """A batch's items start `delay` apart, in order; a job outside the batch is not held by the spacing."""
    rig = make_rig()
    _, ids, _ = rig.app.request_batch([GenerationSpec(prompt=f"scene {i}", profile_id="p") for i in range(3)])
    rig.poller.enqueue(ids, delay_s=0.7)
    lone = rig.queued(1)
    rig.run(1003.0)
    submits = rig.runner.calls(SUBMIT)
    order = [c.job_ids[0] for c in submits]
    assert order == [ids[0], *lone, ids[1], ids[2]]
    times = {c.job_ids[0]: rig.runner.started_at(c) for c in submits}
    assert [times[i] for i in ids] == pytest.approx([1000.0, 1000.7, 1001.4])
    assert times[lone[0]] < 1000.7


def test_urgent_jobs_are_submitted_before_normal_ones() -> None:
    """Queued jobs go out by priority (urgent, high, normal, low), then in arrival order."""
    rig = make_rig()
    low = rig.queued(1, priority="low")
    normal = rig.queued(2, priority="normal")
    urgent = rig.queued(1, priority="urgent")
    high = rig.queued(1, priority="high")
    rig.run(1002.0)
    assert [c.job_ids[0] for c in rig.runner.calls(SUBMIT)] == [*urgent, *high, *normal, *low]


def test_submissions_take_at_most_half_the_budget_while_checks_are_due() -> None:
    """With status checks due, no 1-second window holds more than R/2 submissions, and checks get the rest."""
    rig = make_rig(PollerSettings(check_batch=1))
    rig.running(20)
    rig.clock.set(1100.0)
    rig.queued(20)
    rig.run(1103.0, respond=answer_everything(rig))
    kinds = [c.kind for c in rig.runner.started]
    assert kinds[:10].count(SUBMIT) == 5
    assert kinds[:10].count(CHECK) == 5
    submit_times = [rig.runner.started_at(c) for c in rig.runner.calls(SUBMIT)]
    assert len(submit_times) >= 10
    assert most_in_any_window(submit_times) <= 5


def test_submissions_use_the_whole_budget_when_no_check_is_due() -> None:
    """Without due checks the share rule does not hold submissions back."""
    rig = make_rig()
    rig.queued(10)
    rig.run(1001.0)
    assert len(rig.runner.calls(SUBMIT)) == 10


def test_an_upscale_is_submitted_with_the_upscale_call_and_its_source_video() -> None:
    """An upscale job sends Flow's upsample request naming the finished video's media generation id."""
    rig = make_rig()
    source = rig.request()
    rig.app.record_submitted(source)
    rig.app.record_started(source, "op-source", None, PENDING)
    rig.app.record_completed(source, "mg-source", "https://flow-content.google/video/source")
    upscale, _ = rig.app.request_upscale(source, resolution="4k")
    rig.poller.enqueue([upscale])
    (submit,) = rig.tick()
    method, (profile, spec, _token) = describe(submit)
    assert (method, profile.name) == ("upscale", "p")
    assert (spec.source_media_id, spec.resolution) == ("mg-source", "4k")


# --- status checks ----------------------------------------------------------------------------------


def test_status_checks_batch_up_to_k_jobs_per_request() -> None:
    """25 due jobs with K = 10 are checked in requests of 10, 10 and 5, each job once."""
    rig = make_rig()
    ids = rig.running(25)
    rig.run(1010.0)
    checks = rig.runner.calls(CHECK)
    assert [len(c.job_ids) for c in checks] == [10, 10, 5]
    assert sorted(i for c in checks for i in c.job_ids) == sorted(ids)
    method, (profile, handles, contract) = describe(checks[0])
    assert (method, profile.name, contract) == ("check_status", "p", "operations")
    assert [h.operation_name for h in handles] == [rig.operation(i) for i in checks[0].job_ids]


def test_each_status_check_names_one_profiles_jobs() -> None:
    """Jobs of two profiles are never mixed in one request (each goes with its own credentials)."""
    rig = make_rig(profiles=[make_profile("p"), make_profile("q")])
    first = rig.running(3, profile_id="p")
    second = rig.running(3, profile_id="q")
    rig.run(1010.0)
    checks = rig.runner.calls(CHECK)
    assert {frozenset(c.job_ids) for c in checks} == {frozenset(first), frozenset(second)}
    assert {c.profile_id for c in checks} == {"p", "q"}


# --- manual refresh ---------------------------------------------------------------------------------


def test_a_manual_refresh_is_checked_before_everything_else() -> None:
    """The refreshed job's check is the next call, ahead of a job due longer and a queued submission."""
    rig = make_rig(PollerSettings(check_batch=1))
    early = rig.running(1)
    rig.clock.advance(5.0)
    later = rig.running(1)
    rig.clock.advance(30.0)
    rig.queued(1)
    done = refresh(rig, later[0])
    calls = rig.tick()
    assert [(c.kind, c.job_ids) for c in calls] == [(CHECK, (later[0],))]
    assert not done.done()
    assert early[0] not in calls[0].job_ids


def test_the_refresh_future_resolves_once_the_check_is_handled() -> None:
    """The future is pending while the check is in flight and resolves after its answer is recorded."""
    rig = make_rig()
    (gid,) = rig.running(1)
    done = refresh(rig, gid)
    (call,) = rig.tick()
    assert call.kind == CHECK
    assert not done.done()
    rig.answer(call, [remote(rig.operation(gid), ACTIVE)])
    assert done.done()
    assert rig.events(gid)[-1] == "Progressed"


def test_a_refresh_within_a_second_of_a_check_is_answered_at_once() -> None:
    """A refresh less than 1 s after the last check's start joins it; from 1 s on it makes a new check."""
    rig = make_rig()
    (gid,) = rig.running(1)
    refresh(rig, gid)
    (call,) = rig.tick()
    sent = rig.runner.started_at(call)
    rig.answer(call, [remote(rig.operation(gid), PENDING)])
    rig.clock.set(sent + 0.9)
    assert refresh(rig, gid).done()
    rig.clock.set(sent + 1.0)
    later = refresh(rig, gid)
    assert not later.done()
    calls = rig.tick()
    assert [(c.kind, c.job_ids) for c in calls] == [(CHECK, (gid,))]


def test_a_refresh_joins_a_check_in_flight() -> None:
    """A refresh while the job's check is in flight sends nothing more and resolves with that check."""
    rig = make_rig()
    (gid,) = rig.running(1)
    call = rig.next_call(CHECK)
    done = refresh(rig, gid)
    assert not done.done()
    rig.clock.advance(0.5)
    assert rig.tick() == []
    rig.answer(call, [remote(rig.operation(gid), PENDING)])
    assert done.done()


# --- cancel -----------------------------------------------------------------------------------------


def test_cancelling_a_queued_job_fails_it_and_never_submits_it() -> None:
    """A queued job is cancelled at once: Failed(cancelled), and no call is ever made for it."""
    rig = make_rig()
    (gid,) = rig.queued(1)
    assert rig.poller.cancel(gid)
    assert rig.generation(gid).error_reason == ErrorReason.CANCELLED
    rig.run(1060.0)
    assert rig.runner.started == []


def test_cancelling_a_running_job_fails_it_and_cancels_on_flow_once() -> None:
    """A running job gets Failed(cancelled), one cancel call naming its operation, and no more checks."""
    rig = make_rig()
    (gid,) = rig.running(1)
    assert rig.poller.cancel(gid)
    assert rig.generation(gid).error_reason == ErrorReason.CANCELLED
    started = rig.run(1300.0)
    assert [c.kind for c in started] == [CANCEL]
    method, (profile, media) = describe(started[0])
    assert (method, profile.name, media) == ("cancel", "p", rig.operation(gid))


def test_cancelling_a_submitting_job_is_decided_when_the_answer_arrives() -> None:
    """Cancel during the submission: the accepted answer records Started, then Failed(cancelled) and a cancel."""
    rig = make_rig()
    (gid,) = rig.queued(1)
    (submit,) = rig.tick()
    assert rig.poller.cancel(gid)
    assert rig.events(gid) == ["Requested", "Submitted"]
    operation = rig.accept(submit)
    assert rig.events(gid) == ["Requested", "Submitted", "Started", "Failed"]
    assert rig.generation(gid).error_reason == ErrorReason.CANCELLED
    started = rig.run(1300.0)
    assert [c.kind for c in started] == [CANCEL]
    assert describe(started[0])[1][1] == operation


def test_a_cancelled_submission_that_flow_refused_is_not_sent_again() -> None:
    """Cancel during the submission, then a 503 (nothing created): Failed(cancelled), never resubmitted."""
    rig = make_rig()
    (gid,) = rig.queued(1)
    (submit,) = rig.tick()
    assert rig.poller.cancel(gid)
    unavailable = error_from_response(httpx.Response(503), what="the request", submission=True, now=0.0)
    rig.answer(submit, unavailable)
    rig.run(1300.0)
    assert rig.runner.calls(SUBMIT) == [submit]
    assert rig.generation(gid).status == Status.CANCELLED
    assert rig.generation(gid).error_reason == ErrorReason.CANCELLED


# --- deadline ---------------------------------------------------------------------------------------


def test_a_running_job_past_its_deadline_fails_as_timeout_and_is_no_longer_checked() -> None:
    """Deadline 60 s from Started: still polled at 59.9 s, Failed(timeout) at 60 s, no check after."""
    rig = make_rig(PollerSettings(deadline_s=60.0))
    (gid,) = rig.queued(1)
    submit = rig.next_call(SUBMIT)
    rig.clock.advance(0.3)
    started_at = rig.clock.now
    rig.accept(submit)
    respond = answer_everything(rig)
    rig.run(started_at + 59.9, respond=respond)
    assert rig.generation(gid).status == Status.PENDING
    assert rig.runner.calls(CHECK)
    rig.run(started_at + 60.0, respond=respond)
    failed = rig.generation(gid)
    assert (failed.status, failed.error_reason) == (Status.FAILED, ErrorReason.TIMEOUT)
    rig.run(started_at + 300.0, respond=respond)
    assert all(rig.runner.started_at(c) < started_at + 60.0 for c in rig.runner.calls(CHECK))


class CreepingClock(FakeClock):
    """A FakeClock that also moves one microsecond forward at every reading, as a real clock does."""

    def __call__(self) -> float:
        return self.advance(1e-6)


def test_due_checks_are_sent_when_more_jobs_are_due_than_one_request_holds() -> None:
    """30 running jobs all due on a moving clock: each budget slot sends a check, and no wake comes early.

    (A fresher clock reading inside the scheduler once made every due check look 'not yet due', which
    stopped all polling and spun the ticker.)"""
    clock = CreepingClock(1000.0)
    settings = PollerSettings()
    rig = Rig(
        app=VeoRelay(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        clock=clock,
        runner=FakeRunner(clock),
        budget=Budget(settings.rate, clock=clock),
        model=CompletionModel(),
        profiles={"p": make_profile()},
        settings=settings,
    )
    rig.running(30)
    rig.clock.advance(600.0)
    wake = rig.poller.tick()
    checks = [c for c in rig.runner.started if c.kind == CallKind.CHECK]
    assert len(checks) == 1
    assert len(checks[0].job_ids) == 10
    assert wake is not None
    assert wake >= rig.budget.next_available() - 1e-6
    rig.clock.set(wake)
    rig.poller.tick()
    assert len([c for c in rig.runner.started if c.kind == CallKind.CHECK]) == 2
