"""What the relay learned about its accounts survives a restart (issue 23, item 5): a real SQLite store, a new
poller on it whose monotonic clock starts anew while the wall clock goes on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from actors.account_pacing import DEFAULT_REST_S
from actors.budget import Budget
from actors.calls import CallKind
from actors.clock import FakeClock
from actors.poller_settings import PollerSettings
from actors.profiles import Profile
from actors.timing import CompletionModel
from domain.account import Account
from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections.events import read_events
from server.replay import state_at
from tests.actors.fakes import FakeRunner, Rig, answered, unfinished
from tests.actors.test_account_choice import account

SUBMIT = CallKind.SUBMIT
DOWNTIME_S = 30.0


def sqlite_app(path: Path) -> VeoRelay:
    return VeoRelay(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def rig_on(path: Path, profiles: list[Profile], *, clock_start: float, wall_offset: float) -> Rig:
    clock = FakeClock(clock_start)
    settings = PollerSettings()
    return Rig(
        app=sqlite_app(path),
        clock=clock,
        runner=FakeRunner(clock),
        budget=Budget(settings.rate, clock=clock),
        model=CompletionModel(),
        profiles={p.name: p for p in profiles},
        settings=settings,
        wall_offset=wall_offset,
    )


def restarted(before: Rig, path: Path, ids: list[UUID]) -> Rig:
    """A new process on the same store: its monotonic clock starts at 5 s, the wall clock went on meanwhile."""
    wall = before.wall() + DOWNTIME_S
    after = rig_on(path, [account(name) for name in before.profiles], clock_start=5.0, wall_offset=wall - 5.0)
    after.poller.restore([unfinished(after.generation(i)) for i in ids], datetime.now(UTC))
    return after


def test_a_restart_in_the_middle_of_a_rest_keeps_the_account_resting(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    before = rig_on(path, [account("a")], clock_start=1000.0, wall_offset=1_800_000_000.0)
    ids = [before.app.request_generation(GenerationSpec(prompt=f"p{i}", profile_id=None))[0] for i in range(2)]
    before.poller.enqueue(ids)
    before.answer(before.next_call(SUBMIT), answered(429, "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC"))
    blocked_at = before.clock.now
    assert before.run(blocked_at + 100.0) == []
    after = restarted(before, path, ids)
    (status,) = after.poller.status().accounts
    left = DEFAULT_REST_S - 100.0 - DOWNTIME_S
    assert (status.state, status.seconds_left, status.throttles_last_hour) == ("resting", left, 1)
    assert after.run(after.clock.now + left - 1.0) == []
    again = after.next_call(SUBMIT)
    assert after.runner.started_at(again) == pytest.approx(5.0 + left)


def test_learned_limits_and_a_quota_out_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    before = rig_on(path, [account("a"), account("b")], clock_start=1000.0, wall_offset=1_800_000_000.0)
    ids = [before.app.request_generation(GenerationSpec(prompt=f"p{i}", profile_id=None))[0] for i in range(2)]
    before.poller.enqueue(ids)
    before.answer(before.next_call(SUBMIT), answered(429, "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"))
    before.answer(before.next_call(SUBMIT), answered(429, "PUBLIC_ERROR_USER_QUOTA_REACHED"))
    was_a, was_b = before.poller.status().accounts
    after = restarted(before, path, ids)
    now_a, now_b = after.poller.status().accounts
    assert (now_a.limit, now_a.gap) == (was_a.limit, was_a.gap) == (3, 1.0)
    assert (now_b.state, now_b.quota_until, now_b.reason) == ("out_of_quota", was_b.quota_until, was_b.reason)


def test_account_events_make_no_history_rows(tmp_path: Path) -> None:
    """The read models and `veo replay --at` skip an account's events: they concern no generation."""
    app = sqlite_app(tmp_path / "events.sqlite")
    gid, _ = app.request_generation(GenerationSpec(prompt="p", profile_id=None))
    app.record_account("a", lambda a: a.quota_out(1.0, 2.0, "quota reached"))
    events, last = read_events(app, 0, 100)
    assert ([e.kind for e in events], last) == (["Requested"], 3)
    assert [row.id for row in state_at(app, datetime.now(UTC))] == [str(gid)]
    account = app.get_account("a")
    assert isinstance(account, Account)
    assert (account.quota_until, account.quota_reason) == (2.0, "quota reached")
