"""Quota and credits on a fake clock: an account out of quota leaves the pool until its reset, and one whose
credits cannot pay for a model is skipped for it (issue 23, item 4)."""

from __future__ import annotations

import math

import msgspec
import pytest

from actors.account_quota import CREDITS_RETRY_S, AccountQuota
from actors.calls import CallKind
from actors.flow import Credits, SubmitResult
from actors.poller_settings import PollerSettings
from actors.quota_reset import QuotaReset
from domain.requests import GenerationSpec
from domain.values import ErrorReason, Status
from tests.actors.fakes import PENDING, Rig, answered, make_rig, remote
from tests.actors.test_account_choice import account, pooled, submissions

SUBMIT, CHECK, CREDITS = CallKind.SUBMIT, CallKind.CHECK, CallKind.CREDITS
QUOTA = "PUBLIC_ERROR_USER_QUOTA_REACHED"
HOUR = 3600.0


def out_of_quota_on(rig: Rig, name: str) -> None:
    """Submit the next job and have Flow answer that `name`'s quota is used up."""
    call = rig.next_call(SUBMIT)
    assert call.profile_id == name
    rig.answer(call, answered(429, QUOTA))


def with_credits(rig: Rig, **balances: int) -> None:
    """Let the start-up credits reads go and answer them with these balances."""
    rig.run(rig.clock.now + 1.0)
    calls = rig.runner.open_calls(CREDITS)
    assert sorted(call.profile_id for call in calls) == sorted(balances)
    for call in calls:
        rig.answer(call, Credits(credits=balances[call.profile_id]))


def test_an_account_out_of_quota_leaves_the_pool_until_its_reset() -> None:
    a = account("a")
    a.quota_reset = QuotaReset(hours=2.0)
    rig = make_rig(profiles=[a, account("b", max_active=3)])
    first, *_ = pooled(rig, 3)
    out_of_quota_on(rig, "a")
    out_at = rig.clock.now
    assert rig.events(first)[-1] == "Deferred"
    started = submissions(rig, out_at + 2 * HOUR - 1.0)
    assert {call.profile_id for call in started} == {"b"}
    assert first in {call.job_ids[0] for call in started}
    (status_a, _) = rig.poller.status().accounts
    assert (status_a.state, status_a.reason) == ("out_of_quota", f"quota reached: {QUOTA}")
    assert status_a.quota_until == "2027-01-15T10:16:40.000Z"  # the rig's wall clock, two hours on
    pooled(rig, 1)  # b is full: this one waits for a's reset
    assert rig.next_call(SUBMIT).profile_id == "a"
    assert rig.clock.now == pytest.approx(out_at + 2 * HOUR)


def test_a_time_of_day_reset_is_the_next_such_utc_instant() -> None:
    reset = QuotaReset(minute_of_day=8 * 60)
    assert reset.until(1_800_000_000.0) == 1_800_000_000.0 + 86400.0  # exactly 08:00 UTC: the next day's
    assert reset.until(1_800_000_000.0 - 60.0) == 1_800_000_000.0
    assert str(reset) == "08:00 UTC"


def test_a_pinned_job_waits_for_its_accounts_quota_when_set_to_wait() -> None:
    a = account("a")
    a.quota_reset = QuotaReset(hours=1.0)
    rig = make_rig(profiles=[a, account("b")])
    (gid,) = rig.queued(1, profile_id="a")
    out_of_quota_on(rig, "a")
    out_at = rig.clock.now
    assert submissions(rig, out_at + HOUR - 1.0) == []
    again = rig.next_call(SUBMIT)
    assert (again.job_ids, again.profile_id) == ((gid,), "a")
    assert rig.runner.started_at(again) == pytest.approx(out_at + HOUR)


def test_pinned_jobs_fail_when_their_account_is_out_of_quota_and_set_to_fail() -> None:
    """The refused job and the next one pinned to the account fail with quota_exhausted; pool jobs go on."""
    a = account("a")
    a.on_quota = "fail"
    rig = make_rig(profiles=[a, account("b")])
    refused, later = rig.queued(2, profile_id="a")
    out_of_quota_on(rig, "a")
    assert rig.generation(refused).error_reason == ErrorReason.QUOTA_EXHAUSTED
    (pool_job,) = pooled(rig)
    assert rig.next_call(SUBMIT).job_ids == (pool_job,)
    generation = rig.generation(later)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.QUOTA_EXHAUSTED)
    assert "a is out of quota until 2027-01-16" in (generation.error_message or "")


def test_a_pool_job_fails_only_when_every_account_is_out_of_quota_and_set_to_fail() -> None:
    rig = make_rig(PollerSettings(on_quota="fail"), profiles=[account("a"), account("b")])
    (gid,) = pooled(rig)
    out_of_quota_on(rig, "a")
    assert rig.generation(gid).status == Status.PENDING  # back to the pool: b may take it
    out_of_quota_on(rig, "b")
    rig.run(rig.clock.now + 1.0)
    generation = rig.generation(gid)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.QUOTA_EXHAUSTED)
    assert generation.error_message is not None
    assert "a is out of quota" in generation.error_message
    assert "b is out of quota" in generation.error_message


def test_while_accounts_are_only_out_for_a_while_pool_jobs_wait_and_queue_status_says_why() -> None:
    rig = make_rig(profiles=[account("a"), account("b")])
    (gid,) = pooled(rig)
    out_of_quota_on(rig, "a")
    rig.answer(rig.next_call(SUBMIT), answered(429, "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"))
    assert rig.generation(gid).status == Status.PENDING
    why = rig.poller.status().waiting_for_accounts
    assert why is not None
    assert why.startswith("waiting for an account: a is out of quota until 2027-01-16")
    assert "b is paused for 10 s (throttled by Flow" in why


def test_credits_are_read_at_start_inside_the_budget_and_not_again_while_answers_carry_them() -> None:
    rig = make_rig(PollerSettings(credits_every_s=300.0), profiles=[account("a"), account("b")])
    reads = rig.run(rig.clock.now + 1.0)
    assert sorted((call.kind, call.profile_id) for call in reads) == [(CREDITS, "a"), (CREDITS, "b")]
    assert rig.budget.in_flight == 2  # each read took a slot of the budget
    for call in reads:
        rig.answer(call, Credits(credits=400 if call.profile_id == "a" else 500))
    pooled(rig, 1)
    submit = rig.next_call(SUBMIT)
    assert submit.profile_id == "b"  # more credits, all else equal
    assert [s.credits for s in rig.poller.status().accounts] == [400, 480]  # the submission's price counted
    rig.answer(submit, SubmitResult(operation_name="op-1", remote_status=PENDING, remaining_credits=470))
    assert [s.credits for s in rig.poller.status().accounts] == [400, 470]
    assert [call.kind for call in rig.run(rig.clock.now + 600.0) if call.kind != CHECK] == []  # nothing waits


def test_after_the_first_read_credits_are_read_only_while_work_waits_and_answers_count_as_reads() -> None:
    quota = AccountQuota()
    assert quota.read_due_at(300.0, work_waits=False) == -math.inf  # the first read, at start
    quota.reading()
    assert quota.read_due_at(300.0, work_waits=True) is None  # one in flight
    quota.read_answered(None, 10.0, 300.0)
    assert quota.read_due_at(300.0, work_waits=True) == 10.0 + CREDITS_RETRY_S  # failed: again a minute later
    quota.reading()
    quota.read_answered(100, 100.0, 300.0)
    assert (quota.credits, quota.read_due_at(300.0, work_waits=True)) == (100, 400.0)
    assert quota.read_due_at(300.0, work_waits=False) is None  # idle: no reads
    quota.seen(80, 200.0, 300.0)  # remainingCredits in an answer
    assert (quota.credits, quota.read_due_at(300.0, work_waits=True)) == (80, 500.0)
    assert quota.read_due_at(0.0, work_waits=True) is None  # reads off


def test_an_account_that_cannot_pay_for_the_model_is_skipped() -> None:
    rig = make_rig(PollerSettings(credits_every_s=300.0), profiles=[account("a"), account("b", max_active=1)])
    with_credits(rig, a=50, b=1000)
    rig.running(1, profile_id="b")  # b is full: room favours a
    quality = rig.app.request_generation(GenerationSpec(prompt="q", model="veo_3_1_t2v", profile_id=None))[0]
    fast = rig.app.request_generation(GenerationSpec(prompt="f", model="veo_3_1_t2v_fast", profile_id=None))[0]
    rig.poller.enqueue([quality, fast])
    started = submissions(rig, rig.clock.now + 5.0)
    assert [(call.job_ids[0], call.profile_id) for call in started] == [(fast, "a")]  # quality waits for b
    assert rig.poller.status().waiting_for_accounts == (
        "waiting for an account: a has 30 credits, veo_3_1_t2v costs 100; b is full (1 of 1 active)"
    )


def test_a_pinned_job_on_an_account_short_of_credits_fails_when_set_to_fail() -> None:
    a = account("a")
    a.on_quota = "fail"
    rig = make_rig(PollerSettings(credits_every_s=300.0), profiles=[a])
    with_credits(rig, a=10)
    gid = rig.app.request_generation(GenerationSpec(prompt="q", model="veo_3_1_t2v", profile_id="a"))[0]
    rig.poller.enqueue([gid])
    rig.run(rig.clock.now + 1.0)
    generation = rig.generation(gid)
    assert (generation.status, generation.error_reason) == (Status.FAILED, ErrorReason.QUOTA_EXHAUSTED)
    assert "a has 10 credits, veo_3_1_t2v costs 100" in (generation.error_message or "")


def test_a_status_answer_carrying_remaining_credits_updates_the_balance() -> None:
    rig = make_rig(profiles=[account("a")])
    (gid,) = rig.running(1, profile_id="a")
    check = rig.next_call(CHECK, within=600.0)
    answer = remote(rig.operation(gid), PENDING)
    rig.answer(check, [msgspec.structs.replace(answer, remaining_credits=1234)])
    assert rig.poller.status().accounts[0].credits == 1234
