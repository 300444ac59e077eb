"""The Generation aggregate's life and guards, without any I/O."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import AlreadyTerminal, IllegalTransition
from domain.generation import Generation
from domain.values import TERMINAL_STATUSES, ErrorReason, Status

PENDING = "MEDIA_GENERATION_STATUS_PENDING"
ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"


def new_generation() -> Generation:
    return Generation(
        generation_id=uuid4(),
        job_type="generation",
        prompt="a red fox in snow",
        model="veo_3_1_t2v_fast",
        aspect_ratio="landscape",
        seed=7,
        priority="normal",
        profile_id="default",
        scene_id=str(uuid4()),
    )


def started_generation() -> Generation:
    generation = new_generation()
    generation.submit()
    generation.start("op-1", "media-1", PENDING)
    return generation


def event_names(generation: Generation) -> list[str]:
    return [type(e).__name__ for e in generation.collect_events()]


def test_a_request_is_pending_with_every_parameter() -> None:
    """Requested carries the parameters and leaves the generation pending."""
    generation = new_generation()
    assert generation.status == Status.PENDING
    assert generation.prompt == "a red fox in snow"
    assert event_names(generation) == ["Requested"]


def test_full_life_records_each_event_once() -> None:
    """Submitted, Started, Progressed, Completed follow Requested in order."""
    generation = started_generation()
    statuses = [generation.status]
    assert generation.progress(ACTIVE) is True
    statuses.append(generation.status)
    generation.complete("mg-1", "https://video", "MEDIA_GENERATION_STATUS_SUCCESSFUL")
    statuses.append(generation.status)
    assert statuses == [Status.PENDING, Status.PROCESSING, Status.COMPLETED]
    assert generation.video_url == "https://video"
    assert event_names(generation) == ["Requested", "Submitted", "Started", "Progressed", "Completed"]


def test_unchanged_remote_status_records_nothing() -> None:
    """Polling a job whose remote status did not change records no Progressed."""
    generation = started_generation()
    generation.collect_events()
    assert generation.progress(PENDING) is False
    assert generation.collect_events() == []


def test_started_as_active_is_processing_at_once() -> None:
    """A submission Flow already reports ACTIVE is processing."""
    generation = new_generation()
    generation.submit()
    generation.start("op", None, ACTIVE)
    assert generation.status == Status.PROCESSING


def test_processing_stays_processing_if_flow_reports_pending_again() -> None:
    """Processing is sticky: a later PENDING from Flow does not move the job back."""
    generation = started_generation()
    generation.progress(ACTIVE)
    generation.progress(PENDING)
    assert generation.status == Status.PROCESSING
    assert generation.remote_status == PENDING


@pytest.mark.parametrize("finish", ["complete", "fail", "cancel"])
def test_terminal_states_are_final(finish: str) -> None:
    """After Completed, Failed or a cancellation, every command raises and records nothing."""
    generation = started_generation()
    if finish == "complete":
        generation.complete(None, None, "MEDIA_GENERATION_STATUS_SUCCESSFUL")
    elif finish == "fail":
        generation.fail("PUBLIC_ERROR_UNSAFE_GENERATION", "Flow refused the prompt.")
    else:
        generation.fail(ErrorReason.CANCELLED, "Cancelled at the user's request.")
    generation.collect_events()
    version = generation.version
    for command in (
        lambda: generation.progress(ACTIVE),
        lambda: generation.complete(None, None, "X"),
        lambda: generation.fail("timeout", "late"),
        generation.submit,
    ):
        with pytest.raises(AlreadyTerminal):
            command()
    assert generation.collect_events() == []
    assert generation.version == version


def test_a_cancellation_is_its_own_terminal_status() -> None:
    """Failed with reason `cancelled` leaves `cancelled` (terminal, not failed); any other reason leaves `failed`."""
    cancelled, failed = started_generation(), started_generation()
    cancelled.fail(ErrorReason.CANCELLED, "Cancelled at the user's request.")
    failed.fail(ErrorReason.TIMEOUT, "Took too long.")
    assert (cancelled.status, failed.status) == (Status.CANCELLED, Status.FAILED)
    assert Status.CANCELLED in TERMINAL_STATUSES
    assert cancelled.is_terminal
    assert event_names(cancelled)[-1] == "Failed"  # the event table is fixed (CONTRACT §1)
    assert cancelled.error_reason == ErrorReason.CANCELLED


def test_cancelling_a_cancelled_generation_says_it_is_already_cancelled() -> None:
    """A second cancel is refused as terminal, naming the status it is in."""
    generation = new_generation()
    generation.fail(ErrorReason.CANCELLED, "Cancelled at the user's request.")
    with pytest.raises(AlreadyTerminal, match="is already cancelled"):
        generation.fail(ErrorReason.CANCELLED, "Cancelled at the user's request.")


def test_start_needs_a_submission_first() -> None:
    """Flow cannot have accepted what was never submitted."""
    generation = new_generation()
    with pytest.raises(IllegalTransition, match="never submitted"):
        generation.start("op", None, PENDING)


def test_progress_before_start_is_rejected() -> None:
    """A status check needs an operation name."""
    generation = new_generation()
    with pytest.raises(IllegalTransition, match="not been started"):
        generation.progress(ACTIVE)


def test_a_started_generation_cannot_be_submitted_again() -> None:
    """A second submission after Started would pay twice."""
    generation = started_generation()
    with pytest.raises(IllegalTransition, match="already started"):
        generation.submit()


def test_resubmission_counts_attempts() -> None:
    """A retry of a submission that provably created nothing is attempt 2."""
    generation = new_generation()
    generation.submit()
    generation.submit()
    assert generation.attempts == 2


def test_a_pending_job_can_fail_before_start() -> None:
    """Cancel or an ambiguous submission fails a job Flow never confirmed."""
    generation = new_generation()
    generation.submit()
    generation.fail("interrupted_submission", "Flow may have started it.")
    assert generation.status == Status.FAILED
    assert generation.error_reason == "interrupted_submission"


def test_a_deferred_attempt_closes_the_submission_and_allows_another() -> None:
    """A refusal that proves nothing was created reopens the job for a new attempt."""
    generation = new_generation()
    generation.submit()
    assert generation.submission_open
    generation.defer("PUBLIC_ERROR_USER_REQUESTS_THROTTLED", "Flow asked us to slow down.")
    assert not generation.submission_open
    generation.submit()
    assert (generation.attempts, generation.submission_open) == (2, True)
    assert event_names(generation) == ["Requested", "Submitted", "Deferred", "Submitted"]


def test_defer_needs_a_submission_in_flight() -> None:
    """Nothing to defer before a submission, or after Flow accepted it."""
    generation = new_generation()
    with pytest.raises(IllegalTransition, match="no submission in flight"):
        generation.defer("x", "y")
    started = started_generation()
    with pytest.raises(IllegalTransition, match="already started"):
        started.defer("x", "y")


def test_a_submission_records_the_model_it_asks_for() -> None:
    """The backend's model goes with the submission; the request keeps the model it asked for."""
    generation = new_generation()
    generation.submit("default", "veo-3.1-fast-generate-preview")
    (_, submitted) = generation.collect_events()
    assert getattr(submitted, "model", None) == "veo-3.1-fast-generate-preview"
    assert generation.model == "veo_3_1_t2v_fast"
    unnamed = new_generation()
    unnamed.submit()
    assert getattr(unnamed.collect_events()[1], "model", "absent") is None  # the request's model
