"""The account pool on a fake clock: which account a job goes to, when, and what a throttle or a block changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from uuid import UUID

import pytest

from actors.account_pacing import DEFAULT_REST_S
from actors.calls import Call, CallKind
from actors.profiles import Profile
from actors.queue_status import AccountStatus
from actors.worklist import NO_POOL_MESSAGE
from domain.requests import GenerationSpec
from domain.values import ErrorReason, Status
from tests.actors.fakes import FAILED, SUCCESSFUL, Rig, answered, make_profile, make_rig, remote, unfinished

SUBMIT, CHECK = CallKind.SUBMIT, CallKind.CHECK
THROTTLED = "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
TOO_MUCH_TRAFFIC = "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC"


def account(name: str, max_active: int | None = 4, gap: float = 0.0, *, pool: bool = True) -> Profile:
    profile = make_profile(name)
    profile.max_active, profile.submit_gap, profile.pool = max_active, gap, pool
    return profile


def pooled(rig: Rig, count: int = 1) -> list[UUID]:
    """Generations requested without a profile and handed to the poller."""
    ids = [rig.app.request_generation(GenerationSpec(prompt=f"pool {i}", profile_id=None))[0] for i in range(count)]
    rig.poller.enqueue(ids)
    return ids


def submissions(rig: Rig, until: float) -> list[Call]:
    return [call for call in rig.run(until) if call.kind == SUBMIT]


def test_a_pool_job_goes_to_the_account_with_the_most_free_room() -> None:
    rig = make_rig(profiles=[account("a", max_active=2), account("b", max_active=2)])
    rig.running(1, profile_id="a")
    (gid,) = pooled(rig)
    assert rig.next_call(SUBMIT).profile_id == "b"
    generation = rig.generation(gid)
    assert (generation.profile_id, generation.account) == (None, "b")


def test_equal_accounts_take_turns() -> None:
    rig = make_rig(profiles=[account("a"), account("b")])
    pooled(rig, 4)
    assert [call.profile_id for call in submissions(rig, rig.clock.now + 1.0)] == ["a", "b", "a", "b"]


def test_a_pinned_job_waits_for_its_account_while_pool_jobs_use_the_others() -> None:
    rig = make_rig(profiles=[account("a", max_active=1), account("b")])
    rig.running(1, profile_id="a")
    (pinned,) = rig.queued(1, profile_id="a")
    (pool_job,) = pooled(rig)
    started = submissions(rig, rig.clock.now + 60.0)
    assert [(c.job_ids, c.profile_id) for c in started] == [((pool_job,), "b")]
    assert rig.generation(pinned).attempts == 0


def test_an_account_never_has_more_active_than_its_limit() -> None:
    """The third job waits until one of the two running ones finishes, however long that takes."""
    rig = make_rig(profiles=[account("a", max_active=2)])
    first, _second, third = pooled(rig, 3)
    for call in submissions(rig, rig.clock.now + 1.0):
        rig.accept(call)
    assert rig.events(third) == ["Requested"]
    assert [call.kind for call in rig.run(rig.clock.now + 600.0, stop_at=SUBMIT)] == [CHECK]
    (check,) = rig.runner.open_calls(CHECK)
    rig.answer(check, [remote(rig.operation(first), FAILED)])
    assert rig.generation(first).status == Status.FAILED
    assert rig.next_call(SUBMIT, within=0.0).job_ids == (third,)


def test_submissions_of_one_account_are_its_gap_apart() -> None:
    rig = make_rig(profiles=[account("a", gap=2.0)])
    pooled(rig, 3)
    started = submissions(rig, rig.clock.now + 10.0)
    times = [rig.runner.started_at(call) for call in started]
    assert [later - earlier for earlier, later in itertools.pairwise(times)] == [2.0, 2.0]


def test_a_throttled_submission_is_deferred_and_goes_to_another_account_at_once() -> None:
    rig = make_rig(profiles=[account("a"), account("b")])
    (gid,) = pooled(rig)
    first = rig.next_call(SUBMIT)
    assert first.profile_id == "a"
    rig.answer(first, answered(429, THROTTLED))
    assert rig.events(gid)[-1] == "Deferred"
    again = rig.next_call(SUBMIT)
    assert (again.job_ids, again.profile_id) == ((gid,), "b")
    assert rig.runner.started_at(again) - rig.runner.started_at(first) < 2.0  # the job's own short backoff
    assert rig.generation(gid).status == Status.PENDING


def test_a_throttled_account_pauses_on_the_ladder_and_shows_it() -> None:
    rig = make_rig(profiles=[account("a", max_active=4)])
    (gid,) = pooled(rig)
    throttled_at = rig.clock.now
    rig.answer(rig.next_call(SUBMIT), answered(429, THROTTLED))
    (status,) = rig.poller.status().accounts
    assert status == AccountStatus(
        profile_id="a",
        state="paused",
        seconds_left=10.0,
        reason=status.reason,
        pool=True,
        active=0,
        limit=3,
        configured_limit=4,
        gap=1.0,
        configured_gap=0.0,
        throttles_last_hour=1,
        throttles_total=1,
        blocks_total=0,
        done_last_24h=0,
    )
    again = rig.next_call(SUBMIT)
    assert rig.runner.started_at(again) == pytest.approx(throttled_at + 10.0)
    assert again.job_ids == (gid,)


def test_a_blocked_account_rests_and_is_not_tried_before_the_rest_ends() -> None:
    rig = make_rig(profiles=[account("a")])
    (gid,) = pooled(rig)
    rig.answer(rig.next_call(SUBMIT), answered(429, TOO_MUCH_TRAFFIC))
    blocked_at = rig.clock.now
    (status,) = rig.poller.status().accounts
    assert (status.state, status.throttles_total, status.blocks_total) == ("resting", 0, 1)
    assert submissions(rig, blocked_at + DEFAULT_REST_S - 1.0) == []
    again = rig.next_call(SUBMIT)
    assert rig.runner.started_at(again) == pytest.approx(blocked_at + DEFAULT_REST_S)
    assert rig.events(gid) == ["Requested", "Submitted", "Deferred", "Submitted"]


def test_a_completed_job_counts_as_done_on_the_account_that_made_it() -> None:
    rig = make_rig(profiles=[account("a"), account("b")])
    first, second = pooled(rig, 2)
    for call in submissions(rig, rig.clock.now + 1.0):
        rig.accept(call)
    outcome = {first: SUCCESSFUL, second: FAILED}
    while any(rig.generation(gid).status == Status.PENDING for gid in outcome):
        check = rig.next_call(CHECK)
        rig.answer(check, [remote(rig.operation(gid), outcome[gid], url="https://v/1.mp4") for gid in check.job_ids])
    done = {status.profile_id: status.done_last_24h for status in rig.poller.status().accounts}
    assert done == {rig.generation(first).account: 1, rig.generation(second).account: 0}


def test_an_upscale_goes_to_the_account_of_its_source_video() -> None:
    rig = make_rig(profiles=[account("a"), account("b")])
    (source,) = pooled(rig)
    rig.app.record_submitted(source, "b")
    rig.app.record_started(source, "op-source", None, None)
    rig.app.record_completed(source, "mg-source", "https://videos.example/source.mp4")
    upscale, _ = rig.app.request_upscale(source)
    rig.poller.enqueue([upscale])
    assert rig.next_call(SUBMIT).profile_id == "b"


def test_a_retry_of_a_pool_job_goes_back_to_the_pool() -> None:
    rig = make_rig(profiles=[account("a"), account("b")])
    (gid,) = pooled(rig)
    rig.app.record_submitted(gid, "a")
    rig.app.record_failed(gid, "PUBLIC_ERROR_UNSAFE_GENERATION", "refused")
    retry, _ = rig.app.request_retry(gid)
    assert rig.generation(retry).profile_id is None
    rig.running(2, profile_id="a")
    rig.poller.enqueue([retry])
    assert rig.next_call(SUBMIT).profile_id == "b"


def test_a_pool_job_fails_when_no_profile_takes_pool_jobs() -> None:
    rig = make_rig(profiles=[account("a", pool=False)])
    (gid,) = pooled(rig)
    generation = rig.generation(gid)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.INVALID_REQUEST)
    assert generation.error_message == NO_POOL_MESSAGE


def test_a_profile_out_of_the_pool_still_takes_jobs_pinned_to_it() -> None:
    rig = make_rig(profiles=[account("a", pool=False), account("b")])
    rig.queued(1, profile_id="a")
    pooled(rig, 1)
    assert sorted(call.profile_id for call in submissions(rig, rig.clock.now + 1.0)) == ["a", "b"]


def test_restore_puts_a_deferred_pool_job_back_in_the_pool_and_counts_running_ones_on_their_account() -> None:
    """After a restart a pool job refused on `a` may go to `b`; a pool job running on `a` fills `a`'s place."""
    rig = make_rig(profiles=[account("a", max_active=1), account("b", max_active=1)])
    deferred, running = (
        rig.app.request_generation(GenerationSpec(prompt=p, profile_id=None))[0] for p in ("refused", "running")
    )
    rig.app.record_submitted(deferred, "a")
    rig.app.record_deferred(deferred, "PUBLIC_ERROR_USER_REQUESTS_THROTTLED", "too quickly")
    rig.app.record_submitted(running, "a")
    rig.app.record_started(running, rig.operation(running), None, None)
    rig.poller = rig.new_poller()
    rig.poller.restore([unfinished(rig.generation(i)) for i in (deferred, running)], datetime.now(UTC))
    assert [(a.profile_id, a.active) for a in rig.poller.status().accounts] == [("a", 1), ("b", 0)]
    again = rig.next_call(SUBMIT)
    assert (again.job_ids, again.profile_id) == ((deferred,), "b")
