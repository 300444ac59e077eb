"""The queue status snapshot: what changes with time alone is computed when it is read."""

from __future__ import annotations

import json

import msgspec

from actors.profile_state import ProfileState
from actors.queue_status import (
    DONE_WINDOW_S,
    AccountView,
    BudgetLimits,
    Pause,
    PausedProfile,
    QueueSnapshot,
    QueueStatus,
)
from tests.actors.fakes import make_profile

COUNTS = {"queued": 2, "waiting_token": 1, "submitting": 0, "pending": 3, "processing": 4, "in_flight": 5}


def snapshot(
    starts: tuple[float, ...] = (),
    detections: tuple[tuple[float, float], ...] = (),
    pauses: tuple[Pause, ...] = (),
    errors: dict[str, int] | None = None,
) -> QueueSnapshot:
    status = QueueStatus(
        queued=COUNTS["queued"],
        waiting_token=COUNTS["waiting_token"],
        submitting=COUNTS["submitting"],
        pending=COUNTS["pending"],
        processing=COUNTS["processing"],
        in_flight=COUNTS["in_flight"],
        requests_last_second=0,
        budget=BudgetLimits(10.0, 10),
        providers=1,
        throttled=0,
        errors=errors or {},
        detection_latency=0.0,
        paused_profiles=(),
    )
    return QueueSnapshot(status, starts, detections, pauses)


def test_the_counts_are_as_taken_whenever_it_is_read() -> None:
    status = msgspec.to_builtins(snapshot().at(1_000.0))
    assert {k: status[k] for k in COUNTS} == COUNTS
    assert (status["budget"], status["providers"]) == ({"rate": 10.0, "max_in_flight": 10}, 1)


def test_requests_last_second_counts_the_calls_started_within_a_second_of_the_reading() -> None:
    taken = snapshot(starts=(99.2, 99.6, 100.0))
    assert taken.at(100.0).requests_last_second == 3
    assert taken.at(100.5).requests_last_second == 2
    assert taken.at(100.9).requests_last_second == 1
    assert taken.at(101.0).requests_last_second == 0


def test_the_detection_latency_is_the_half_mean_over_the_minute_before_the_reading() -> None:
    taken = snapshot(detections=((10.0, 4.0), (50.0, 2.0)))
    assert taken.at(60.0).detection_latency == 1.5
    assert taken.at(80.0).detection_latency == 1.0  # the first is over a minute old
    assert taken.at(200.0).detection_latency == 0.0


def test_a_pause_counts_down_and_is_gone_once_it_has_ended() -> None:
    taken = snapshot(pauses=(Pause("default", 130.0, "throttled"),))
    assert taken.at(100.0).paused_profiles == (PausedProfile("default", 30.0, "throttled"),)
    assert taken.at(129.5).paused_profiles == (PausedProfile("default", 0.5, "throttled"),)
    assert taken.at(130.0).paused_profiles == ()


def test_readers_cannot_change_the_snapshot_through_an_answer() -> None:
    taken = snapshot(errors={"check:Transient": 2})
    taken.at(1.0).errors["check:Transient"] = 0
    assert taken.at(1.0).errors == {"check:Transient": 2}


def test_the_wire_form_has_the_protocols_fields_in_order_and_the_restart_figures_only_once_set() -> None:
    """The JSON the server sends for `queue_status` (docs/PROTOCOL.md); the leader row has no restart figures."""
    status = snapshot(pauses=(Pause("p", 110.0, None),)).at(100.0)
    fields = [*COUNTS, "requests_last_second", "budget", "providers", "throttled", "errors", "detection_latency"]
    assert list(json.loads(msgspec.json.encode(status))) == [
        *fields,
        "paused_profiles",
        "accounts",
        "waiting_for_accounts",
    ]
    supervised = msgspec.structs.replace(status, restarts=1, last_restart_seconds=None)
    wire = json.loads(msgspec.json.encode(supervised))
    assert list(wire) == [
        *fields,
        "paused_profiles",
        "accounts",
        "waiting_for_accounts",
        "restarts",
        "last_restart_seconds",
    ]
    assert wire["paused_profiles"] == [{"profile_id": "p", "seconds_left": 10.0, "reason": None}]
    assert (wire["restarts"], wire["last_restart_seconds"]) == (1, None)


def test_an_accounts_state_and_recent_throttles_are_computed_when_read() -> None:
    """Resting before paused; the seconds left count down; a throttle counts for an hour."""
    view = AccountView(
        profile_id="a",
        pool=True,
        active=2,
        limit=3,
        configured_limit=4,
        gap=4.0,
        configured_gap=1.5,
        paused_until=150.0,
        resting_until=120.0,
        reason="why",
        throttles=(100.0,),
        throttles_total=1,
        blocks_total=1,
        done=(50.0, 90.0),
    )
    taken = QueueSnapshot(snapshot().status, (), (), (), (view,))
    assert [(a.state, a.seconds_left, a.reason) for a in taken.at(110.0).accounts] == [("resting", 10.0, "why")]
    assert [(a.state, a.seconds_left) for a in taken.at(130.0).accounts] == [("paused", 20.0)]
    ready = taken.at(3699.0).accounts[0]
    assert (ready.state, ready.seconds_left, ready.reason, ready.throttles_last_hour) == ("ready", None, None, 1)
    assert taken.at(3700.0).accounts[0].throttles_last_hour == 0
    assert (ready.active, ready.limit, ready.gap, ready.pool) == (2, 3, 4.0, True)
    assert (ready.configured_limit, ready.configured_gap, ready.throttles_total, ready.blocks_total) == (4, 1.5, 1, 1)


def test_jobs_done_count_for_a_day_from_when_each_completed() -> None:
    """`done_last_24h` drops each completion 24 hours after it, whenever the status is read."""
    state = ProfileState.of(make_profile("a"), clock=lambda: 0.0)
    for instant in (10.0, 20.0, 30.0):
        state.completed(instant)
    taken = QueueSnapshot(snapshot().status, (), (), (), (state.account_view(active=0),))
    assert [taken.at(now).accounts[0].done_last_24h for now in (30.0, DONE_WINDOW_S + 10.0, DONE_WINDOW_S + 30.0)] == [
        3,
        2,
        0,
    ]
    state.completed(DONE_WINDOW_S + 25.0)
    assert state.done == (30.0, DONE_WINDOW_S + 25.0)
