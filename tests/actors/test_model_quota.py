"""A model's daily quota on a fake clock: Flow's `PER_MODEL_DAILY_QUOTA_REACHED` takes only that model out on
that account until the profile's `quota_reset`; the account goes on taking other models, a pool job of that
model goes to another account, and a pinned one waits or fails as its `on_quota` says."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from actors.calls import Call, CallKind
from actors.flow import SubmitResult
from actors.poller_settings import PollerSettings
from actors.profiles import Profile
from actors.quota_reset import QuotaReset
from domain.requests import GenerationSpec
from domain.values import ErrorReason, Status
from tests.actors.fakes import PENDING, Rig, answered, make_rig
from tests.actors.test_account_choice import account, submissions
from tests.actors.test_account_memory import restarted, rig_on

SUBMIT = CallKind.SUBMIT
MODEL_QUOTA = "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED"
FAST, QUALITY = "veo_3_1_t2v_fast", "veo_3_1_t2v_quality"
HOUR = 3600.0


def requested(rig: Rig, model: str, count: int = 1, profile_id: str | None = None) -> list[UUID]:
    """Generations of `model` (pinned to `profile_id`, else to the pool) handed to the poller."""
    spec = [GenerationSpec(prompt=f"{model} {i}", model=model, profile_id=profile_id) for i in range(count)]
    ids = [rig.app.request_generation(each)[0] for each in spec]
    rig.poller.enqueue(ids)
    return ids


def model_of(rig: Rig, call: Call) -> str:
    return rig.generation(call.job_ids[0]).model


def model_out_on_a(rig: Rig) -> float:
    """Submit the next job (a FAST one, on a) and have Flow answer that FAST's daily quota is used up there."""
    call = rig.next_call(SUBMIT)
    assert (call.profile_id, model_of(rig, call)) == ("a", FAST)
    rig.answer(call, answered(429, MODEL_QUOTA))
    return rig.clock.now


def a_with_reset(hours: float, on_quota: str = "wait") -> list[Profile]:
    """Accounts a (its quota back `hours` after a refusal, on_quota as given) and b."""
    a = account("a")
    a.quota_reset, a.on_quota = QuotaReset(hours=hours), on_quota
    return [a, account("b")]


def test_a_pool_job_of_the_model_goes_elsewhere_while_the_account_takes_other_models() -> None:
    rig = make_rig(profiles=a_with_reset(2.0))
    (fast,) = requested(rig, FAST)
    out_at = model_out_on_a(rig)
    assert rig.events(fast)[-1] == "Deferred"
    moved = rig.next_call(SUBMIT)
    assert (moved.job_ids, moved.profile_id) == ((fast,), "b")
    rig.answer(moved, answered(429, "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"))  # b is paused: a still takes QUALITY
    (quality,) = requested(rig, QUALITY)
    other = rig.next_call(SUBMIT)
    assert (other.job_ids, other.profile_id) == ((quality,), "a")
    status_a, status_b = rig.poller.status().accounts
    assert (status_a.state, status_a.quota_until) == ("ready", None)
    assert status_a.models_out_of_quota == {FAST: "2027-01-15T10:16:40.000Z"}  # the rig's wall clock, 2 h on
    assert status_b.models_out_of_quota == {}
    back = rig.next_call(SUBMIT, within=60.0)  # b's pause ends: the FAST job goes there, never to a
    assert (back.job_ids, back.profile_id) == ((fast,), "b")
    assert rig.clock.now < out_at + 2 * HOUR


def test_the_model_comes_back_on_the_account_at_its_quota_reset() -> None:
    a, _ = a_with_reset(1.0)
    rig = make_rig(profiles=[a, account("b", max_active=1)])
    requested(rig, FAST)
    out_at = model_out_on_a(rig)
    rig.answer(rig.next_call(SUBMIT), SubmitResult(operation_name="op-b", remote_status=PENDING))  # b is full now
    (later,) = requested(rig, FAST)
    assert submissions(rig, out_at + HOUR - 1.0) == []
    why = rig.poller.status().waiting_for_accounts
    assert why is not None
    assert "a is out of its daily quota for veo_3_1_t2v_fast until 2027-01-15 09:16 UTC" in why
    assert "b is full (1 of 1 active)" in why
    again = rig.next_call(SUBMIT)
    assert (again.job_ids, again.profile_id) == ((later,), "a")
    assert rig.runner.started_at(again) == pytest.approx(out_at + HOUR)
    assert rig.poller.status().accounts[0].models_out_of_quota == {}


def test_a_pinned_job_of_the_model_waits_while_the_account_takes_other_models() -> None:
    rig = make_rig(profiles=a_with_reset(1.0))
    (fast,) = requested(rig, FAST, profile_id="a")
    out_at = model_out_on_a(rig)
    (quality,) = requested(rig, QUALITY, profile_id="a")
    started = submissions(rig, out_at + HOUR - 1.0)
    assert [(call.job_ids, call.profile_id) for call in started] == [((quality,), "a")]
    assert rig.generation(fast).status == Status.PENDING
    again = rig.next_call(SUBMIT)
    assert (again.job_ids, again.profile_id) == ((fast,), "a")
    assert rig.runner.started_at(again) == pytest.approx(out_at + HOUR)


def test_pinned_jobs_of_the_model_fail_when_set_to_fail_naming_the_model_account_and_reset() -> None:
    rig = make_rig(profiles=a_with_reset(1.0, on_quota="fail"))
    (refused,) = requested(rig, FAST, profile_id="a")
    model_out_on_a(rig)
    generation = rig.generation(refused)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.QUOTA_EXHAUSTED)
    assert generation.error_message == (
        "Account a is out of its daily quota for veo_3_1_t2v_fast until 2027-01-15 09:16 UTC "
        f'({MODEL_QUOTA}), and on_quota = "fail" ends its jobs rather than wait.'
    )
    later, quality = requested(rig, FAST, profile_id="a") + requested(rig, QUALITY, profile_id="a")
    assert rig.next_call(SUBMIT).job_ids == (quality,)
    generation = rig.generation(later)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.QUOTA_EXHAUSTED)
    assert "a is out of its daily quota for veo_3_1_t2v_fast until 2027-01-15 09:16 UTC" in (
        generation.error_message or ""
    )


def test_a_pool_job_fails_only_when_every_account_is_out_of_its_model_and_set_to_fail() -> None:
    rig = make_rig(PollerSettings(on_quota="fail"), profiles=a_with_reset(1.0))
    (fast,) = requested(rig, FAST)
    model_out_on_a(rig)
    assert rig.generation(fast).status == Status.PENDING  # back to the pool: b may take it
    on_b = rig.next_call(SUBMIT)
    assert on_b.profile_id == "b"
    rig.answer(on_b, answered(429, MODEL_QUOTA))
    (quality,) = requested(rig, QUALITY)
    assert rig.next_call(SUBMIT).job_ids == (quality,)
    generation = rig.generation(fast)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.QUOTA_EXHAUSTED)
    assert "a is out of its daily quota for veo_3_1_t2v_fast" in (generation.error_message or "")
    assert "b is out of its daily quota for veo_3_1_t2v_fast" in (generation.error_message or "")


def test_a_models_quota_out_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    before = rig_on(path, [account("a"), account("b")], clock_start=1000.0, wall_offset=1_800_000_000.0)
    ids = requested(before, FAST)
    model_out_on_a(before)
    was = before.poller.status().accounts[0].models_out_of_quota
    after = restarted(before, path, ids)
    now_a, now_b = after.poller.status().accounts
    assert (now_a.state, now_a.models_out_of_quota, now_b.models_out_of_quota) == ("ready", was, {})
    assert after.next_call(SUBMIT).profile_id == "b"


def test_a_models_quota_out_that_ended_while_the_relay_was_down_is_not_recalled(tmp_path: Path) -> None:
    a = account("a")
    a.quota_reset = QuotaReset(hours=0.005)  # 18 s: over before the restart's 30 s downtime
    before = rig_on(tmp_path / "events.sqlite", [a, account("b")], clock_start=1000.0, wall_offset=1_800_000_000.0)
    ids = requested(before, FAST)
    model_out_on_a(before)
    after = restarted(before, tmp_path / "events.sqlite", ids)
    assert after.poller.status().accounts[0].models_out_of_quota == {}
    assert after.next_call(SUBMIT).profile_id == "a"
