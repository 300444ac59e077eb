"""What the Poller records for each answer from Flow: status outcomes, the at-most-once table, storage faults."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from actors.calls import Call, CallKind
from actors.flow import SessionTokens, SubmitResult
from actors.flow.errors import (
    ContractRejected,
    FlowError,
    Transient,
    UnreadableSubmission,
    error_from_transport,
)
from actors.poller_settings import PollerSettings
from actors.queue_status import PausedProfile
from actors.quota_reset import QuotaReset
from domain.values import ErrorReason, Status
from tests.actors.fakes import (
    ACTIVE,
    FAILED,
    PENDING,
    SUCCESSFUL,
    Rig,
    accepted,
    answered,
    describe,
    make_profile,
    make_rig,
    remote,
)

SUBMIT, CHECK, RESOLVE, REFRESH_TOKEN = CallKind.SUBMIT, CallKind.CHECK, CallKind.RESOLVE, CallKind.REFRESH_TOKEN
UNSAFE = "PUBLIC_ERROR_UNSAFE_GENERATION"


def broken(exc: httpx.RequestError) -> FlowError:
    """How the Flow client classifies a transport failure of a submission."""
    return error_from_transport(exc, what="the generate request", submission=True)


def submitting(rig: Rig, count: int = 1) -> list[Call]:
    """Queue `count` jobs and start their submissions; returns the calls."""
    rig.queued(count)
    return [rig.next_call(SUBMIT) for _ in range(count)]


# --- accepted submissions and status checks -----------------------------------------------------------


def test_an_accepted_submission_records_started_and_the_job_is_polled() -> None:
    """Flow's answer names the operation: Started is recorded and status checks of that operation follow."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    operation = rig.accept(submit)
    assert rig.events(gid) == ["Requested", "Submitted", "Started"]
    assert rig.generation(gid).operation_name == operation
    check = rig.next_call(CHECK)
    assert check.job_ids == (gid,)
    assert [h.operation_name for h in describe(check)[1][1]] == [operation]


def test_an_unchanged_remote_status_records_nothing() -> None:
    """A check that sees the same remote status again adds no event."""
    rig = make_rig()
    (gid,) = rig.running(1)
    rig.answer(rig.next_call(CHECK), [remote(rig.operation(gid), PENDING)])
    assert rig.events(gid) == ["Requested", "Submitted", "Started"]


def test_an_item_missing_from_the_answer_keeps_the_job_polled() -> None:
    """Flow leaving a job out of its answer records nothing; the job is checked again later."""
    rig = make_rig()
    (gid,) = rig.running(1)
    rig.answer(rig.next_call(CHECK), [])
    assert rig.events(gid) == ["Requested", "Submitted", "Started"]
    assert rig.next_call(CHECK).job_ids == (gid,)


def test_an_active_remote_status_records_progressed_and_processing() -> None:
    """PENDING -> ACTIVE records Progressed; the generation is processing."""
    rig = make_rig()
    (gid,) = rig.running(1)
    rig.answer(rig.next_call(CHECK), [remote(rig.operation(gid), ACTIVE)])
    assert rig.events(gid)[-1] == "Progressed"
    assert rig.generation(gid).status == Status.PROCESSING
    assert rig.poller.status().processing == 1


def test_a_successful_status_with_a_url_records_completed() -> None:
    """SUCCESSFUL with the video URL records Completed with that URL; the job is no longer polled."""
    rig = make_rig()
    (gid,) = rig.running(1)
    url = "https://flow-content.google/video/1"
    rig.answer(rig.next_call(CHECK), [remote(rig.operation(gid), SUCCESSFUL, url=url)])
    done = rig.generation(gid)
    assert (rig.events(gid)[-1], done.status, done.video_url) == ("Completed", Status.COMPLETED, url)
    assert done.media_generation_id == f"mg-{rig.operation(gid)}"
    assert (rig.poller.status().pending, rig.poller.status().processing) == (0, 0)
    rig.run(rig.clock.now + 300.0)
    assert len(rig.runner.calls(CHECK)) == 1


def test_a_successful_status_without_a_url_looks_the_url_up_until_labs_has_it() -> None:
    """Media contract: SUCCESSFUL without URL -> URL look-ups, retried 1 s apart while None, then Completed."""
    rig = make_rig()
    (gid,) = rig.running(1)
    rig.answer(rig.next_call(CHECK), [remote(rig.operation(gid), SUCCESSFUL)])
    assert rig.generation(gid).status == Status.PENDING
    first = rig.next_call(RESOLVE)
    assert describe(first)[0] == "resolve_video_url"
    assert describe(first)[1][1] == rig.operation(gid)
    rig.answer(first, None)
    answered_at = rig.clock.now
    second = rig.next_call(RESOLVE)
    assert rig.runner.started_at(second) == pytest.approx(answered_at + 1.0)
    rig.answer(second, None)
    assert rig.generation(gid).status == Status.PENDING
    url = "https://flow-content.google/video/2"
    rig.answer(rig.next_call(RESOLVE), url)
    done = rig.generation(gid)
    assert (done.status, done.video_url) == (Status.COMPLETED, url)
    assert rig.runner.calls(CHECK) and len(rig.runner.calls(CHECK)) == 1


def test_a_failed_status_records_failed_with_flows_reason_verbatim() -> None:
    """FAILED with a reason records Failed with exactly that reason and Flow's message."""
    rig = make_rig()
    (gid,) = rig.running(1)
    rig.answer(rig.next_call(CHECK), [remote(rig.operation(gid), FAILED, reason=UNSAFE, message="Unsafe.")])
    failed = rig.generation(gid)
    assert (failed.status, failed.error_reason, failed.remote_status) == (Status.FAILED, UNSAFE, FAILED)
    assert failed.error_message == "Unsafe."


def test_a_submission_answered_as_already_failed_records_started_then_failed() -> None:
    """A terminal FAILED answer to the submission itself: Started, then Failed with Flow's reason; no polling."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    answer = SubmitResult(operation_name="op-x", remote_status=FAILED, terminal=True, error_reason=UNSAFE)
    rig.answer(submit, answer)
    assert rig.events(gid) == ["Requested", "Submitted", "Started", "Failed"]
    assert rig.generation(gid).error_reason == UNSAFE
    assert rig.run(rig.clock.now + 60.0) == []


def test_a_submission_answered_as_already_done_looks_the_url_up_without_polling() -> None:
    """An upscale that already existed answers SUCCESSFUL at once: a URL look-up, then Completed."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    answer = SubmitResult(
        operation_name="op-up", remote_status=SUCCESSFUL, terminal=True, successful=True, media_generation_id="mg-up"
    )
    rig.answer(submit, answer)
    resolve = rig.next_call(RESOLVE)
    rig.answer(resolve, "https://flow-content.google/video/up")
    done = rig.generation(gid)
    assert (done.status, done.media_generation_id) == (Status.COMPLETED, "mg-up")
    assert rig.runner.calls(CHECK) == []


@pytest.mark.parametrize("status", [ACTIVE, SUCCESSFUL, FAILED])
def test_a_late_check_answer_for_a_cancelled_job_records_nothing(status: str) -> None:
    """A check in flight when the job was cancelled: its answer is acknowledged and changes nothing."""
    rig = make_rig()
    (gid,) = rig.running(1)
    check = rig.next_call(CHECK)
    rig.poller.cancel(gid)
    rig.runner.finish(check, [remote(rig.operation(gid), status, url="https://flow-content.google/v")])
    assert rig.poller.handle_results() == 1
    assert rig.events(gid)[-1] == "Failed"
    assert rig.generation(gid).error_reason == ErrorReason.CANCELLED


# --- the at-most-once table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(answered(500), id="http-500"),
        pytest.param(broken(httpx.ReadTimeout("read timed out")), id="read-timeout"),
        pytest.param(broken(httpx.ReadError("connection reset by peer")), id="reset-after-send"),
        pytest.param(UnreadableSubmission("Flow's 200 answer could not be read."), id="unreadable-body"),
        pytest.param(RuntimeError("a bug in the client"), id="unexpected-exception"),
    ],
)
def test_an_ambiguous_submission_fails_as_interrupted_and_is_never_resent(error: BaseException) -> None:
    """An answer that does not prove nothing was created: Failed(interrupted_submission), one call only."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rig.answer(submit, error)
    failed = rig.generation(gid)
    assert (failed.status, failed.error_reason) == (Status.FAILED, ErrorReason.INTERRUPTED_SUBMISSION)
    assert "retry" in (failed.error_message or "")
    rig.run(rig.clock.now + 600.0)
    assert rig.runner.calls(SUBMIT) == [submit]
    assert rig.events(gid).count("Submitted") == 1


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(answered(503), id="http-503"),
        pytest.param(broken(httpx.ConnectError("connection refused")), id="connect-refused"),
        pytest.param(broken(httpx.ConnectTimeout("connect timed out")), id="connect-timeout"),
    ],
)
def test_a_transient_refusal_is_deferred_and_resubmitted_after_backoff(error: FlowError) -> None:
    """Proof that nothing was created: Deferred, no new attempt before 1 s, then a second Submitted."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rig.answer(submit, error)
    refused_at = rig.clock.now
    assert rig.events(gid) == ["Requested", "Submitted", "Deferred"]
    assert rig.run(refused_at + 0.99) == []
    again = rig.next_call(SUBMIT)
    assert rig.runner.started_at(again) == pytest.approx(refused_at + 1.0)
    assert rig.events(gid) == ["Requested", "Submitted", "Deferred", "Submitted"]
    assert rig.generation(gid).attempts == 2


def test_repeated_transient_refusals_back_off_longer() -> None:
    """The second refusal in a row waits 1.5 s before the next attempt."""
    rig = make_rig()
    (submit,) = submitting(rig)
    rig.answer(submit, answered(503))
    second = rig.next_call(SUBMIT)
    rig.answer(second, answered(503))
    refused_at = rig.clock.now
    third = rig.next_call(SUBMIT)
    assert rig.runner.started_at(third) == pytest.approx(refused_at + 1.5)


def test_a_throttled_submission_pauses_the_budget_until_retry_after() -> None:
    """429 THROTTLED with Retry-After 30: the job is deferred and no call of any kind starts for 30 s.

    The running job is on another account: on its own account a throttle also lowers the active limit, so
    the deferred job would wait for that job to finish (tests/actors/test_account_choice.py).
    """
    rig = make_rig(profiles=[make_profile("p"), make_profile("q")])
    (running,) = rig.running(1, profile_id="q")
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rig.answer(submit, answered(429, "PUBLIC_ERROR_USER_REQUESTS_THROTTLED", **{"retry-after": "30"}))
    throttled_at = rig.clock.now
    assert rig.budget.paused_until == pytest.approx(throttled_at + 30.0)
    assert rig.events(gid)[-1] == "Deferred"
    assert rig.run(throttled_at + 29.99) == []
    started = rig.run(throttled_at + 31.0)
    assert started
    assert min(rig.runner.started_at(c) for c in started) == pytest.approx(throttled_at + 30.0)
    assert any(c.kind == SUBMIT and c.job_ids == (gid,) for c in started)
    assert any(c.kind == CHECK and running in c.job_ids for c in started)


def test_quota_reached_takes_the_profile_out_until_its_quota_reset_when_waiting() -> None:
    """on_quota=wait: the job is deferred and the profile's submissions wait for its quota reset (an hour)."""
    profile = make_profile()
    profile.quota_reset = QuotaReset(hours=1.0)
    rig = make_rig(profiles=[profile])
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rig.answer(submit, answered(429, "PUBLIC_ERROR_USER_QUOTA_REACHED"))
    paused_at = rig.clock.now
    assert rig.events(gid)[-1] == "Deferred"
    assert rig.poller.status().paused_profiles == (
        PausedProfile("p", 3600.0, "quota reached: PUBLIC_ERROR_USER_QUOTA_REACHED"),
    )
    assert rig.poller.status().accounts[0].state == "out_of_quota"
    (other,) = rig.queued(1)
    assert rig.run(paused_at + 3599.0) == []
    resumed = rig.next_call(SUBMIT)
    assert rig.runner.started_at(resumed) == pytest.approx(paused_at + 3600.0)
    assert resumed.job_ids == (gid,)
    assert rig.next_call(SUBMIT).job_ids == (other,)


@pytest.mark.parametrize("where", ["settings", "profile"])
def test_quota_reached_fails_the_job_when_configured_to_fail(where: str) -> None:
    """on_quota=fail (for the poller or for the profile): Failed(quota_exhausted) and no second attempt."""
    profile = make_profile()
    if where == "profile":
        profile.on_quota = "fail"
    rig = make_rig(PollerSettings(on_quota="fail" if where == "settings" else "wait"), profiles=[profile])
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rig.answer(submit, answered(429, "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED"))
    assert rig.generation(gid).error_reason == ErrorReason.QUOTA_EXHAUSTED
    rig.run(rig.clock.now + 600.0)
    assert rig.runner.calls(SUBMIT) == [submit]


def test_captcha_rejections_defer_then_fail_after_three() -> None:
    """Two rejected tokens defer the job (pausing the profile 10 s, then 30 s); the third fails it."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rejected = answered(403, "PUBLIC_ERROR_UNUSUAL_ACTIVITY")
    waits = []
    for _ in range(2):
        rig.answer(submit, rejected)
        rejected_at = rig.clock.now
        assert rig.events(gid)[-1] == "Deferred"
        submit = rig.next_call(SUBMIT)
        waits.append(rig.runner.started_at(submit) - rejected_at)
    assert waits == pytest.approx([10.0, 30.0])
    rig.answer(submit, rejected)
    failed = rig.generation(gid)
    assert (failed.status, failed.error_reason) == (Status.FAILED, ErrorReason.CAPTCHA_REJECTED)
    rig.run(rig.clock.now + 600.0)
    assert len(rig.runner.calls(SUBMIT)) == 3


def test_a_content_policy_refusal_fails_with_flows_reason_and_is_not_retried() -> None:
    """400 with a content-filter reason: Failed with that reason verbatim, one attempt only."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rig.answer(submit, answered(400, UNSAFE))
    failed = rig.generation(gid)
    assert (failed.status, failed.error_reason) == (Status.FAILED, UNSAFE)
    rig.run(rig.clock.now + 600.0)
    assert rig.runner.calls(SUBMIT) == [submit]


def test_a_refusal_without_a_flow_reason_fails_as_invalid_request() -> None:
    """A 404 without a reason (unknown model key) fails with the contract's `invalid_request`, not a made-up one."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rig.answer(submit, answered(404))
    assert rig.generation(gid).error_reason == ErrorReason.INVALID_REQUEST
    assert rig.runner.calls(SUBMIT) == [submit]


def test_an_expired_token_is_refreshed_once_and_the_jobs_are_resubmitted() -> None:
    """Two 401s: one token refresh call, no resubmission before it answers, then both jobs go again."""
    rig = make_rig()
    calls = submitting(rig, 2)
    ids = [c.job_ids[0] for c in calls]
    for call in calls:
        rig.answer(call, answered(401))
    assert [rig.events(i)[-1] for i in ids] == ["Deferred", "Deferred"]
    refresh = rig.next_call(REFRESH_TOKEN)
    assert describe(refresh)[0] == "refresh_bearer"
    assert rig.run(rig.clock.now + 20.0) == []
    rig.answer(refresh, SessionTokens(access_token="ya29.renewed"))
    again = rig.run(rig.clock.now + 5.0)
    assert sorted(c.job_ids[0] for c in again if c.kind == SUBMIT) == sorted(ids)
    assert len(rig.runner.calls(REFRESH_TOKEN)) == 1


# --- status-check errors --------------------------------------------------------------------------------


def test_a_refused_status_shape_switches_an_auto_profile_to_the_other_contract() -> None:
    """Auto profile: ContractRejected on the operations shape makes the next check use the media shape."""
    rig = make_rig()
    (gid,) = rig.running(1)
    first = rig.next_call(CHECK)
    assert first.contract == "operations"  # auto starts with the legacy shape, whose answers carry the URL
    rig.answer(first, ContractRejected("400 on the status shape", contract="operations", handle_count=1))
    second = rig.next_call(CHECK)
    assert second.contract == "media"
    assert describe(second)[1][2] == "media"
    assert second.job_ids == (gid,)


def test_a_refused_batch_shrinks_on_a_fixed_contract_profile() -> None:
    """Fixed contract: ContractRejected on a 4-handle check halves the batch; the contract stays."""
    rig = make_rig(PollerSettings(check_batch=4), profiles=[make_profile("p", "media")])
    ids = rig.running(4)
    first = rig.next_call(CHECK)
    assert len(first.job_ids) == 4
    rig.answer(first, ContractRejected("400 on the status check", contract="media", handle_count=4))
    rig.run(rig.clock.now + 5.0)
    later = rig.runner.calls(CHECK)[1:]
    assert [len(c.job_ids) for c in later] == [2, 2]
    assert sorted(i for c in later for i in c.job_ids) == sorted(ids)
    assert {c.contract for c in later} == {"media"}


def test_a_failed_status_check_backs_the_job_off_1_then_1_5_seconds() -> None:
    """A transient check failure: no check of that job before 1 s, then after a second failure 1.5 s."""
    rig = make_rig()
    (gid,) = rig.running(1)
    waits = []
    check = rig.next_call(CHECK)
    for _ in range(2):
        rig.clock.advance(0.2)
        rig.answer(check, Transient("503 on the status check"))
        failed_at = rig.clock.now
        check = rig.next_call(CHECK)
        waits.append(rig.runner.started_at(check) - failed_at)
    assert waits == pytest.approx([1.0, 1.5])
    assert check.job_ids == (gid,)
    assert rig.events(gid) == ["Requested", "Submitted", "Started"]


# --- storage faults -------------------------------------------------------------------------------------


def test_an_answer_that_cannot_be_recorded_stays_in_the_mailbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording Started fails once: the result is not acknowledged, nothing is lost, the next pass records it."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    real = rig.app.record_started
    faults = [OSError("disk full")]

    def record_started(*args: Any) -> None:
        if faults:
            raise faults.pop()
        real(*args)

    monkeypatch.setattr(rig.app, "record_started", record_started)
    rig.runner.finish(submit, accepted(rig.operation(gid)))
    assert rig.poller.handle_results() == 0
    assert [r.call for r in rig.runner.pending()] == [submit]
    assert rig.events(gid) == ["Requested", "Submitted"]
    assert rig.budget.in_flight == 1
    assert rig.poller.handle_results() == 1
    assert rig.runner.pending() == []
    assert rig.events(gid) == ["Requested", "Submitted", "Started"]
    assert rig.budget.in_flight == 0
    assert rig.next_call(CHECK).job_ids == (gid,)


def test_no_call_starts_when_submitted_cannot_be_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording Submitted fails once: nothing is sent; 1 s later the job is submitted with Submitted recorded."""
    rig = make_rig()
    (gid,) = rig.queued(1)
    real = rig.app.record_submitted
    faults = [OSError("disk full")]

    def record_submitted(generation_id: UUID, account: str | None = None, model: str | None = None) -> int:
        if faults:
            raise faults.pop()
        return real(generation_id, account, model)

    monkeypatch.setattr(rig.app, "record_submitted", record_submitted)
    assert rig.tick() == []
    assert rig.events(gid) == ["Requested"]
    submit = rig.next_call(SUBMIT)
    assert rig.runner.started_at(submit) == pytest.approx(1001.0)
    assert rig.events(gid) == ["Requested", "Submitted"]


def test_a_storage_fault_after_started_was_recorded_does_not_block_the_mailbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled while submitting, the Failed after Started cannot be recorded once: the retry records it."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    rig.poller.cancel(gid)
    real = rig.app.record_failed
    faults = [OSError("disk full")]

    def record_failed(*args: Any) -> None:
        if faults:
            raise faults.pop()
        real(*args)

    monkeypatch.setattr(rig.app, "record_failed", record_failed)
    rig.runner.finish(submit, accepted(rig.operation(gid)))
    assert rig.poller.handle_results() == 0
    assert rig.poller.handle_results() == 1
    assert rig.runner.pending() == []
    assert rig.events(gid) == ["Requested", "Submitted", "Started", "Failed"]
    assert rig.generation(gid).error_reason == ErrorReason.CANCELLED
    rig.run(rig.clock.now + 60.0)
    assert len(rig.runner.calls(CallKind.CANCEL)) == 1


def test_a_storage_fault_while_deferring_counts_the_refusal_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A captcha rejection whose Deferred cannot be recorded once still counts one rejection and one pause step."""
    rig = make_rig()
    (submit,) = submitting(rig)
    gid = submit.job_ids[0]
    real = rig.app.record_deferred
    faults = [OSError("disk full")]

    def record_deferred(*args: Any) -> None:
        if faults:
            raise faults.pop()
        real(*args)

    monkeypatch.setattr(rig.app, "record_deferred", record_deferred)
    rig.runner.finish(submit, error=answered(403, "PUBLIC_ERROR_UNUSUAL_ACTIVITY"))
    assert rig.poller.handle_results() == 0
    assert rig.poller.handle_results() == 1
    assert rig.events(gid)[-1] == "Deferred"
    (paused,) = rig.poller.status().paused_profiles
    assert paused.seconds_left == pytest.approx(10.0)  # one pause step
    rig.answer(rig.next_call(SUBMIT), answered(403, "PUBLIC_ERROR_UNUSUAL_ACTIVITY"))
    assert rig.events(gid)[-1] == "Deferred"  # the second of three allowed rejections: the first counted once


def test_proven_transient_refusals_never_fail_the_job() -> None:
    """Twenty 503s in a row: the job is deferred each time, backs off to at most 60 s, and is still queued."""
    rig = make_rig()
    [gid] = rig.queued()
    gaps: list[float] = []
    last = None
    for _ in range(20):
        call = rig.next_call(CallKind.SUBMIT, within=120.0)
        if last is not None:
            gaps.append(rig.clock.now - last)
        last = rig.clock.now
        rig.answer(call, answered(503))
    assert rig.app.get_generation(gid).status == Status.PENDING
    assert rig.events(gid).count("Deferred") == 20
    assert max(gaps) <= 60.0 + 1.0
    assert gaps[-1] >= 55.0
