"""Restore: the poller's working state rebuilt from the store after a start or an actor crash (CONTRACT §1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from actors.calls import CallKind
from actors.poller_settings import PollerSettings
from actors.restore import RestoreReport, Unfinished
from domain.values import ErrorReason, Status
from tests.actors.fakes import PENDING, Rig, accepted, make_rig, remote, unfinished

SUBMIT, CHECK = CallKind.SUBMIT, CallKind.CHECK
WALL_NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def rows(rig: Rig, ids: list[UUID], started_at: datetime | None = None) -> list[Unfinished]:
    """What the read model hands restore for these generations."""
    return [unfinished(rig.generation(i), started_at) for i in ids]


def test_requested_and_deferred_jobs_go_back_to_the_queue() -> None:
    """Only Requested, or a Deferred last attempt: queued again and submitted by the new poller."""
    rig = make_rig()
    requested = rig.request("never submitted")
    deferred = rig.request("refused once")
    rig.app.record_submitted(deferred)
    rig.app.record_deferred(deferred, "transient", "503")
    report = rig.poller.restore(rows(rig, [requested, deferred]), WALL_NOW)
    assert report == RestoreReport(queued=2)
    rig.run(1002.0)
    assert sorted(c.job_ids[0] for c in rig.runner.calls(SUBMIT)) == sorted([requested, deferred])
    assert rig.generation(deferred).attempts == 2


def test_a_submission_without_an_answer_fails_as_interrupted() -> None:
    """Submitted without Started and no call in flight: Flow may have it, so it fails and is never resent."""
    rig = make_rig()
    gid = rig.request()
    rig.app.record_submitted(gid)
    report = rig.poller.restore(rows(rig, [gid]), WALL_NOW)
    assert report == RestoreReport(interrupted=1)
    failed = rig.generation(gid)
    assert (failed.status, failed.error_reason) == (Status.FAILED, ErrorReason.INTERRUPTED_SUBMISSION)
    rig.run(1600.0)
    assert rig.runner.started == []


def test_a_submission_still_in_flight_waits_for_its_answer() -> None:
    """After an actor crash, a submission whose call is still in the runner is not failed: its answer is recorded."""
    rig = make_rig()
    (gid,) = rig.queued(1)
    submit = rig.next_call(SUBMIT)
    rig.poller = rig.new_poller()  # the actor crashed; its successor shares the store, runner and budget
    report = rig.poller.restore(rows(rig, [gid]), WALL_NOW)
    assert report == RestoreReport(awaiting_answer=1)
    assert rig.poller.status().submitting == 1
    assert rig.run(1010.0) == []
    operation = rig.accept(submit)
    assert rig.events(gid) == ["Requested", "Submitted", "Started"]
    assert rig.generation(gid).operation_name == operation
    assert rig.next_call(CHECK).job_ids == (gid,)
    assert rig.runner.calls(SUBMIT) == [submit]


def test_an_answer_waiting_in_the_mailbox_is_recorded_by_the_successor() -> None:
    """A submission answered while no actor ran (result unacknowledged) counts as in flight and gets recorded."""
    rig = make_rig()
    (gid,) = rig.queued(1)
    submit = rig.next_call(SUBMIT)
    rig.runner.finish(submit, accepted(rig.operation(gid)))
    rig.poller = rig.new_poller()
    assert rig.poller.restore(rows(rig, [gid]), WALL_NOW) == RestoreReport(awaiting_answer=1)
    assert rig.poller.handle_results() == 1
    assert rig.events(gid) == ["Requested", "Submitted", "Started"]
    assert rig.budget.in_flight == 0


def test_started_jobs_resume_polling_with_their_original_deadline() -> None:
    """Started 3500 s before the restart with a 3600 s deadline: polled again, timed out 100 s after restore."""
    rig = make_rig(PollerSettings(deadline_s=3600.0))
    (gid,) = rig.running(1)
    rig.poller = rig.new_poller()
    started_at = WALL_NOW - timedelta(seconds=3500)
    restored_at = rig.clock.now
    assert rig.poller.restore(rows(rig, [gid], started_at), WALL_NOW) == RestoreReport(running=1)
    check = rig.next_call(CHECK)
    assert check.job_ids == (gid,)
    rig.answer(check, [remote(rig.operation(gid), PENDING)])
    rig.run(restored_at + 99.9, respond=lambda call: [remote(rig.operation(gid), PENDING)])
    assert rig.generation(gid).status == Status.PENDING
    rig.run(restored_at + 100.0)
    failed = rig.generation(gid)
    assert (failed.status, failed.error_reason) == (Status.FAILED, ErrorReason.TIMEOUT)


def test_a_started_job_past_its_deadline_at_restore_times_out_at_the_first_tick() -> None:
    """A job started longer ago than the deadline is not polled again: it fails as timeout."""
    rig = make_rig(PollerSettings(deadline_s=600.0))
    (gid,) = rig.running(1)
    rig.poller = rig.new_poller()
    started_at = WALL_NOW - timedelta(hours=2)
    rig.poller.restore(rows(rig, [gid], started_at), WALL_NOW)
    assert rig.tick() == []
    assert rig.generation(gid).error_reason == ErrorReason.TIMEOUT


def test_restore_skips_terminal_and_already_known_jobs() -> None:
    """Terminal generations and jobs the poller already holds are left alone."""
    rig = make_rig()
    (known,) = rig.queued(1)
    done = rig.request()
    rig.app.record_cancelled(done)
    report = rig.poller.restore(rows(rig, [known, done]), WALL_NOW)
    assert report == RestoreReport()
    assert rig.events(done)[-1] == "Failed"
    assert rig.poller.status().queued == 1


@pytest.mark.parametrize("started", [False, True])
def test_a_job_of_an_unknown_profile_fails_as_invalid_request(started: bool) -> None:
    """A row naming a profile that is no longer configured fails instead of waiting forever."""
    rig = make_rig()
    gid = rig.request(profile_id="gone")
    if started:
        rig.app.record_submitted(gid)
        rig.app.record_started(gid, "op-gone", None, PENDING)
    rig.poller.restore(rows(rig, [gid], WALL_NOW), WALL_NOW)
    assert rig.generation(gid).error_reason == ErrorReason.INVALID_REQUEST
