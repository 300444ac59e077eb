"""The Poller with Gemini API profiles, on a fake clock: its calls, its check timing, its quota, its outcomes."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from actors.calls import Call, CallKind
from actors.flow import GenerateSpec, RemoteStatus, StatusHandle, SubmitResult
from actors.gemini.errors import Ambiguous, KeyRefused, RateLimited, error_from_response
from actors.gemini.interpret import remote_status
from actors.gemini.models import GeneratedSample, Operation, OperationResponse, SampleVideo, VideoResponse
from actors.minute_quota import WINDOW
from actors.poller_settings import PollerSettings
from actors.profiles import Profile
from actors.restore import INTERRUPTED_GEMINI_MESSAGE, RestoreReport
from domain.requests import GenerationSpec
from domain.values import FAILED_REMOTE_STATUS as FAILED
from domain.values import ErrorReason, Status
from tests.actors.fakes import RecordingClient, Rig, make_profile, make_rig, unfinished

SUBMIT, CHECK = CallKind.SUBMIT, CallKind.CHECK
KEY = "AIzaSyA-poller-secret-key-0123456789"
URI = "https://gemini.test/v1beta/files/f1:download?alt=media"


def gemini_profile(name: str = "g", **options: Any) -> Profile:
    return Profile(name=name, backend="gemini", api_key=KEY, base_url="https://gemini.test", **options)


def gemini_rig(*profiles: Profile) -> Rig:
    return make_rig(profiles=profiles or [gemini_profile()])


def invoked(call: Call) -> tuple[str, tuple[Any, ...]]:
    """The GeminiClient method a call invokes and its arguments."""
    client = RecordingClient()
    call.perform(client)
    ((name, args),) = client.calls
    return name, args


def refused(status: int, body: dict[str, Any]) -> Exception:
    return error_from_response(httpx.Response(status, json=body), what="the generate request", submission=True)


def operation_of(call: Call) -> str:
    return f"models/veo-3.1-fast-generate-preview/operations/{call.job_ids[0].hex[:8]}"


def accept(rig: Rig, call: Call) -> str:
    name = operation_of(call)
    rig.answer(call, SubmitResult(operation_name=name))
    return name


def finished(name: str, **response: Any) -> list[RemoteStatus]:
    """A status check's answer as the client reads a done operation."""
    video = VideoResponse(**response)
    operation = Operation(name=name, done=True, response=OperationResponse(generate_video_response=video))
    return [remote_status(operation, StatusHandle(operation_name=name))]


def submitted_models(rig: Rig, generation_id: UUID) -> list[str | None]:
    """The model each recorded submission asked for."""
    return [getattr(e, "model", None) for e in rig.app.events.get(generation_id) if type(e).__name__ == "Submitted"]


def test_a_generation_is_submitted_and_completed_through_the_gemini_api() -> None:
    """predictLongRunning with the profile's model, then one-operation checks until done with the video uri."""
    rig = gemini_rig()
    (gid,) = rig.queued(1, profile_id="g")
    submit = rig.next_call(SUBMIT)
    assert submit.backend == "gemini"
    name, (profile, spec) = invoked(submit)
    assert (name, profile.name, spec.prompt) == ("generate", "g", "prompt 0")
    operation = accept(rig, submit)
    assert rig.generation(gid).operation_name == operation
    check = rig.next_call(CHECK)
    assert (check.backend, check.job_ids) == ("gemini", (gid,))
    rig.answer(check, finished(operation, generated_samples=[GeneratedSample(video=SampleVideo(uri=URI))]))
    generation = rig.generation(gid)
    assert (generation.status, generation.video_url) == (Status.COMPLETED, URI)
    assert submitted_models(rig, gid) == ["veo-3.1-fast-generate-preview"]  # the profile's, not the request's


def test_no_check_before_ten_seconds_and_each_check_carries_one_operation() -> None:
    """The first check waits for the backend's floor; a Flow profile's jobs still share a check."""
    rig = make_rig(profiles=[gemini_profile(), make_profile("p")])
    ids = rig.queued(3, profile_id="g") + rig.queued(3, profile_id="p")
    accepted_at: dict[UUID, float] = {}
    for _ in ids:
        call = rig.next_call(SUBMIT)
        if call.backend == "gemini":
            accept(rig, call)
        else:
            rig.accept(call)
        accepted_at[call.job_ids[0]] = rig.clock.now
    checks: list[Call] = []
    while sum(c.backend == "gemini" for c in checks) < 3:
        checks.append(rig.next_call(CHECK))
    gemini = [c for c in checks if c.backend == "gemini"]
    flow = [c for c in checks if c.backend == "flow"]
    assert all(len(c.job_ids) == 1 for c in gemini)
    assert len({c.job_ids for c in gemini}) == 3
    assert flow and max(len(c.job_ids) for c in flow) > 1
    for call in gemini:
        assert rig.runner.started_at(call) - accepted_at[call.job_ids[0]] >= 10.0


def test_upscales_and_square_videos_fail_without_a_call() -> None:
    """What the Gemini API cannot do fails `invalid_request` at once, with nothing sent and no budget spent."""
    rig = gemini_rig()
    (source,) = rig.queued(1, profile_id="g")
    submit = rig.next_call(SUBMIT)
    operation = accept(rig, submit)
    rig.answer(
        rig.next_call(CHECK), finished(operation, generated_samples=[GeneratedSample(video=SampleVideo(uri=URI))])
    )
    upscale, _ = rig.app.request_upscale(source)
    square, _ = rig.app.request_generation(GenerationSpec(prompt="p", aspect_ratio="square", profile_id="g"))
    rig.poller.enqueue([upscale, square])
    started = rig.run(rig.clock.now + 5)
    assert started == []
    for gid, expected in ((upscale, "Upscaling is a Flow feature"), (square, "landscape (16:9) and portrait")):
        generation = rig.generation(gid)
        assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.INVALID_REQUEST)
        assert expected in (generation.error_message or "")


def test_a_square_pool_job_goes_to_a_flow_account() -> None:
    rig = make_rig(profiles=[gemini_profile(pool=True), make_profile("p")])
    gid, _ = rig.app.request_generation(GenerationSpec(prompt="p", aspect_ratio="square", profile_id=None))
    rig.poller.enqueue([gid])
    assert rig.next_call(SUBMIT).backend == "flow"
    assert submitted_models(rig, gid) == ["veo_3_1_t2v_fast"]


def test_the_configured_rpm_is_kept_in_every_minute() -> None:
    """rpm = 2: no more than two submissions start in any 61 s (a minute and a margin for the calls' travel, so
    the API never counts three in one of its minutes), however many are queued."""
    rig = gemini_rig(gemini_profile(rpm=2))
    rig.queued(5, profile_id="g")
    rig.run(rig.clock.now + 250, respond=lambda call: SubmitResult(operation_name=operation_of(call)))
    starts = [rig.runner.started_at(c) for c in rig.runner.calls(SUBMIT)]
    assert len(starts) == 5
    assert all(later - earlier >= WINDOW for earlier, later in zip(starts, starts[2:], strict=False))


def test_a_429_defers_the_job_and_teaches_the_quota() -> None:
    """429 RESOURCE_EXHAUSTED proves nothing was created: Deferred, and retried after the API's retry delay."""
    rig = gemini_rig()
    rig.queued(3, profile_id="g")
    calls = [rig.next_call(SUBMIT) for _ in range(3)]
    for call in calls[:2]:
        accept(rig, call)
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "20s"}]}}  # fmt: skip
    refused_at = rig.clock.now
    rig.answer(calls[2], refused(429, body))
    gid = calls[2].job_ids[0]
    assert rig.events(gid)[-1] == "Deferred"
    assert rig.generation(gid).status == Status.PENDING
    assert rig.poller.status().accounts[0].reason is None  # a quota wait, not a pause of the profile
    retry = rig.next_call(SUBMIT)
    assert retry.job_ids == (gid,)
    assert rig.runner.started_at(retry) >= refused_at + 20.0


def test_a_refused_key_pauses_the_profile_and_its_jobs_wait() -> None:
    rig = gemini_rig()
    (gid,) = rig.queued(1, profile_id="g")
    call = rig.next_call(SUBMIT)
    body = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "API key not valid.", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}  # fmt: skip
    error = refused(400, body)
    assert isinstance(error, KeyRefused)
    rig.answer(call, error)
    assert rig.generation(gid).status == Status.PENDING
    (pause,) = rig.poller.status().paused_profiles
    assert "refused the key" in (pause.reason or "")
    assert rig.run(rig.clock.now + 600) == []


def test_a_refused_key_fails_the_job_when_the_profile_says_fail() -> None:
    rig = gemini_rig(gemini_profile(on_quota="fail"))
    (gid,) = rig.queued(1, profile_id="g")
    rig.answer(rig.next_call(SUBMIT), refused(403, {"error": {"code": 403, "status": "PERMISSION_DENIED"}}))
    generation = rig.generation(gid)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.KEY_REFUSED)
    assert "cannot be used until its api_key is fixed" in (generation.error_message or "")


def test_an_ambiguous_submission_is_never_resent() -> None:
    rig = gemini_rig()
    (gid,) = rig.queued(1, profile_id="g")
    rig.answer(rig.next_call(SUBMIT), Ambiguous("lost"))
    generation = rig.generation(gid)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.INTERRUPTED_SUBMISSION)
    assert "Gemini API may have started" in (generation.error_message or "")
    assert rig.run(rig.clock.now + 120) == []


def test_filtered_videos_fail_as_safety_filtered() -> None:
    rig = gemini_rig()
    (gid,) = rig.queued(1, profile_id="g")
    operation = accept(rig, rig.next_call(SUBMIT))
    answer = finished(operation, rai_media_filtered_count=1, rai_media_filtered_reasons=["celebrity likeness"])
    rig.answer(rig.next_call(CHECK), answer)
    generation = rig.generation(gid)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.SAFETY_FILTERED)
    assert "celebrity likeness" in (generation.error_message or "")


def test_a_429_on_a_check_backs_off_without_pausing_the_budget() -> None:
    rig = gemini_rig()
    rig.queued(1, profile_id="g")
    accept(rig, rig.next_call(SUBMIT))
    check = rig.next_call(CHECK)
    rig.answer(check, RateLimited("slow down", retry_after=30.0))
    assert rig.budget.paused_until < rig.clock.now + 1
    assert rig.next_call(CHECK).job_ids == check.job_ids


def test_a_reserved_download_slot_is_granted_within_the_budget() -> None:
    """A video download from the API host takes one start of the budget's window, not a place in flight."""
    rig = gemini_rig()
    done: Future[None] = Future()
    before = len(rig.budget.recent_starts())
    rig.poller.reserve(done)
    rig.tick()
    assert done.done()
    assert len(rig.budget.recent_starts()) == before + 1
    assert rig.budget.in_flight == 0


def test_a_gemini_spec_carries_the_relays_parameters() -> None:
    rig = gemini_rig()
    gid, _ = rig.app.request_generation(GenerationSpec(prompt="p", aspect_ratio="portrait", profile_id="g"))
    rig.poller.enqueue([gid])
    _, (_, spec) = invoked(rig.next_call(SUBMIT))
    assert isinstance(spec, GenerateSpec) and spec.aspect_ratio == "portrait"


def test_a_job_past_its_deadline_names_the_gemini_api() -> None:
    rig = gemini_rig()
    (gid,) = rig.queued(1, profile_id="g")
    accept(rig, rig.next_call(SUBMIT))
    rig.run(rig.clock.now + rig.settings.deadline_s + 1, respond=lambda call: [])
    generation = rig.generation(gid)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.TIMEOUT)
    assert (generation.error_message or "").startswith("The Gemini API gave no result within 60 minutes")


def test_an_operation_the_api_no_longer_knows_names_the_gemini_api() -> None:
    rig = gemini_rig()
    (gid,) = rig.queued(1, profile_id="g")
    accept(rig, rig.next_call(SUBMIT))
    body = {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
    lost = error_from_response(httpx.Response(404, json=body), what="the check", submission=False)
    rig.answer(rig.next_call(CHECK), lost)
    generation = rig.generation(gid)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.OPERATION_LOST)
    assert (generation.error_message or "").startswith("The Gemini API no longer knows this generation's operation")


def test_a_submission_interrupted_by_a_stop_names_the_gemini_api() -> None:
    """Restore fails a Gemini submission without an answer, saying where it may have been started."""
    rig = gemini_rig()
    gid, _ = rig.app.request_generation(GenerationSpec(prompt="p", profile_id="g"))
    rig.app.record_submitted(gid, "g", "veo-3.1-fast-generate-preview")
    assert rig.poller.restore([unfinished(rig.generation(gid))], datetime.now(UTC)) == RestoreReport(interrupted=1)
    generation = rig.generation(gid)
    assert (generation.error_reason, generation.error_message) == (
        ErrorReason.INTERRUPTED_SUBMISSION,
        INTERRUPTED_GEMINI_MESSAGE,
    )
    assert "Flow" not in INTERRUPTED_GEMINI_MESSAGE


def test_a_gemini_profile_has_no_credits_to_read_and_submits_at_once() -> None:
    """Flow's credits read is not sent for a Gemini key (it failed for want of a bearer token and paused the
    profile); the Flow profile beside it still reads its credits."""
    rig = make_rig(PollerSettings(credits_every_s=300.0), profiles=[gemini_profile(), make_profile("p")])
    began = rig.clock.now
    (gid,) = rig.queued(1, profile_id="g")
    submit = rig.next_call(SUBMIT)
    assert (submit.job_ids, rig.runner.started_at(submit) - began < 1.0) == ((gid,), True)
    credits = rig.runner.calls(CallKind.CREDITS)
    assert [call.profile_id for call in credits] == ["p"]


def test_answers_that_say_no_more_name_the_gemini_api() -> None:
    """A failure the answer gives no message for, and an acceptance naming no operation, name the service
    that answered (the fallbacks said "Flow" whatever the backend)."""
    rig = gemini_rig()
    refused_at_once, failed_later, nameless = rig.queued(3, profile_id="g")
    answers = {
        refused_at_once: SubmitResult(operation_name="op-r", remote_status=FAILED, terminal=True),
        failed_later: SubmitResult(operation_name="op-f"),
        nameless: SubmitResult(),
    }
    for _ in answers:
        call = rig.next_call(SUBMIT)
        rig.answer(call, answers[call.job_ids[0]])
    check = rig.next_call(CHECK)
    rig.answer(check, [RemoteStatus(handle=StatusHandle(operation_name="op-f"), status=FAILED, terminal=True)])
    messages = {gid: rig.generation(gid).error_message or "" for gid in answers}
    assert messages[refused_at_once] == "The Gemini API refused the job."
    assert messages[failed_later] == "The Gemini API reported the generation as failed."
    assert messages[nameless].startswith("The submission's answer was lost (no operation name), so the Gemini API")
    assert not any("Flow" in message for message in messages.values())
