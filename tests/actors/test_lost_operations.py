"""The lost-operation rule on a fake clock: a job whose operation Flow no longer knows fails with
`operation_lost` (a 404 naming it, or absence from answers that report other jobs), not at its deadline."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from uuid import UUID

import httpx
import pytest

from actors.calls import Call, CallKind
from actors.flow import FlowError, Transient
from actors.flow.errors import NotFound, error_from_response
from actors.poller_settings import PollerSettings
from domain.values import ErrorReason, Status
from tests.actors.fakes import PENDING, Rig, describe, make_rig, remote

CHECK, CANCEL = CallKind.CHECK, CallKind.CANCEL
LOST_AFTER = 100.0


def not_found(count: int = 1) -> FlowError:
    """How the Flow client classifies Flow's 404 to a status check (flow-api.md §2.2)."""
    body = {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
    response = httpx.Response(404, json=body)
    return error_from_response(response, what=f"the status check of {count} job(s)", submission=False, now=0.0)


def check_until(rig: Rig, until: float, respond: Callable[[Call], object]) -> list[tuple[float, Call]]:
    """Answer every status check started before `until` with `respond(call)`; (instant, call) of each."""
    seen: list[tuple[float, Call]] = []
    while rig.clock.now < until:
        checks = [c for c in rig.run(until, stop_at=CHECK) if c.kind == CHECK]
        for call in checks:
            seen.append((rig.clock.now, call))
            rig.answer(call, respond(call))
    return seen


def reporting(rig: Rig, *known: UUID) -> Callable[[Call], object]:
    """A responder reporting the known jobs asked about as pending and leaving every other one out."""
    return lambda call: [remote(rig.operation(i), PENDING) for i in call.job_ids if i in known]


def lost_rig() -> Rig:
    return make_rig(PollerSettings(lost_after_s=LOST_AFTER))


def assert_lost(rig: Rig, generation_id: UUID) -> None:
    done = rig.generation(generation_id)
    assert (done.status, done.error_reason) == (Status.FAILED, ErrorReason.OPERATION_LOST)
    assert done.error_message is not None
    assert "no longer knows" in done.error_message
    assert f"veo retry {generation_id}" in done.error_message


# --- 404 ----------------------------------------------------------------------------------------------


def test_the_client_classifies_a_404_to_a_status_check_as_not_found() -> None:
    """Flow's 404 NOT_FOUND is NotFound, not a refused contract (that is a 400)."""
    assert type(not_found()) is NotFound


def test_a_404_to_a_check_of_one_job_fails_it_as_lost_at_once() -> None:
    """The check named only this operation: Flow does not know it, so the job fails now and is not checked again."""
    rig = lost_rig()
    (gid,) = rig.running(1)
    check = rig.next_call(CHECK)
    assert check.job_ids == (gid,)
    rig.answer(check, not_found())
    assert_lost(rig, gid)
    assert "404" in (rig.generation(gid).error_message or "")
    assert check_until(rig, rig.clock.now + 3600.0, lambda call: []) == []


def test_a_404_to_a_batch_checks_each_job_alone_and_fails_only_the_unknown_one() -> None:
    """A 404 to a check of several does not say which one Flow lost: each is checked alone, at once, and only
    the one whose own check answers 404 fails; the other stays running and is batched again."""
    rig = lost_rig()
    known, lost = rig.running(2)
    batch = rig.next_call(CHECK)
    assert set(batch.job_ids) == {known, lost}
    answered_at = rig.clock.now
    rig.answer(batch, not_found(2))
    assert rig.generation(known).status == rig.generation(lost).status == Status.PENDING

    def respond(call: Call) -> object:
        return not_found() if call.job_ids == (lost,) else [remote(rig.operation(known), PENDING)]

    first, second = check_until(rig, rig.clock.now + 1.0, respond)[:2]
    assert {first[1].job_ids, second[1].job_ids} == {(known,), (lost,)}
    assert second[0] - answered_at < 1.0  # no error backoff
    assert_lost(rig, lost)
    assert rig.generation(known).status == Status.PENDING
    later = check_until(rig, rig.clock.now + 600.0, reporting(rig, known))
    assert later
    assert all(call.job_ids == (known,) for _, call in later)


def test_a_batch_404_alone_check_that_reports_the_job_makes_it_batchable_again() -> None:
    """A job whose own check shows Flow knows it goes back into batches with the others."""
    rig = lost_rig()
    first, second = rig.running(2)
    rig.answer(rig.next_call(CHECK), not_found(2))
    check_until(rig, rig.clock.now + 1.0, reporting(rig, first, second))
    batches = check_until(rig, rig.clock.now + 600.0, reporting(rig, first, second))
    assert any(set(call.job_ids) == {first, second} for _, call in batches)
    assert rig.generation(first).status == rig.generation(second).status == Status.PENDING


def test_a_manual_refresh_answered_404_fails_the_job_and_resolves_the_refresh() -> None:
    """A refresh is a check of the one job: Flow's 404 ends it, and the waiting refresh is answered."""
    rig = lost_rig()
    (gid,) = rig.running(1)
    done: Future[None] = Future()
    rig.poller.refresh(gid, done)
    (call,) = rig.tick()
    assert call.kind == CHECK
    rig.answer(call, not_found())
    assert done.done()
    assert_lost(rig, gid)


def test_a_404_to_a_cancel_leaves_the_job_cancelled() -> None:
    """Cancel is recorded before Flow is asked; Flow not knowing the operation changes nothing more."""
    rig = lost_rig()
    (gid,) = rig.running(1)
    assert rig.poller.cancel(gid)
    cancel = rig.next_call(CANCEL)
    assert describe(cancel)[0] == "cancel"
    rig.answer(cancel, not_found())
    assert rig.runner.pending() == []
    assert rig.generation(gid).error_reason == ErrorReason.CANCELLED


# --- absent from the answers ----------------------------------------------------------------------------


def test_a_job_absent_from_answers_that_report_others_is_lost_after_the_setting() -> None:
    """Left out of every answer that reports the other job, for `lost_after_s`: it fails, the other runs on."""
    rig = lost_rig()
    known, lost = rig.running(2)
    seen = check_until(rig, rig.clock.now + 3 * LOST_AFTER, reporting(rig, known))
    with_lost = [at for at, call in seen if lost in call.job_ids]
    assert_lost(rig, lost)
    assert with_lost[-1] - with_lost[0] >= LOST_AFTER  # failed at the first answer past the setting, not before
    assert with_lost[-2] - with_lost[0] < LOST_AFTER
    assert "100 seconds" in (rig.generation(lost).error_message or "")
    assert rig.generation(known).status == Status.PENDING


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda call: [], id="empty-answers"),
        pytest.param(lambda call: Transient("Flow is temporarily unavailable (503)."), id="failed-checks"),
    ],
)
def test_empty_or_failed_answers_prove_nothing(answer: Callable[[Call], object]) -> None:
    """Answers that report nobody, or no answer at all, never make a job lost: only the deadline ends it."""
    rig = lost_rig()
    ids = rig.running(2)
    check_until(rig, rig.clock.now + 10 * LOST_AFTER, answer)
    assert [rig.generation(i).status for i in ids] == [Status.PENDING, Status.PENDING]


def test_a_job_alone_in_its_checks_is_never_lost_by_absence() -> None:
    """With no other job reported, a job missing from its own check's answer proves nothing."""
    rig = lost_rig()
    (gid,) = rig.running(1)
    check_until(rig, rig.clock.now + 10 * LOST_AFTER, lambda call: [])
    assert rig.generation(gid).status == Status.PENDING


def test_a_job_reported_again_starts_its_absence_afresh() -> None:
    """Reported once within the setting, the job's absence counts again from its next absent answer."""
    rig = lost_rig()
    known, flaky = rig.running(2)
    start = rig.clock.now
    check_until(rig, start + 0.8 * LOST_AFTER, reporting(rig, known))
    report = check_until(rig, rig.clock.now + LOST_AFTER, reporting(rig, known, flaky))
    reported_at = max(at for at, call in report if flaky in call.job_ids)
    seen = check_until(rig, reported_at + 0.9 * LOST_AFTER, reporting(rig, known))
    assert any(flaky in call.job_ids for _, call in seen)
    assert rig.generation(flaky).status == Status.PENDING  # absent for more than the setting since `start`
    check_until(rig, reported_at + 3 * LOST_AFTER, reporting(rig, known))
    assert_lost(rig, flaky)
