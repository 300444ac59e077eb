"""An account's own pacing on a fake clock: limits, the throttle ladder, rests after hard blocks, relaxing."""

from __future__ import annotations

import math

import pytest

from actors.account_pacing import (
    DEFAULT_REST_S,
    GAP_SUSPECT_S,
    PAUSE_LADDER,
    RELAX_AFTER,
    RELAX_QUIET_S,
    AccountPacing,
    AccountState,
)
from actors.clock import FakeClock


def pacing(max_active: int | None = 4, gap: float = 2.0) -> tuple[AccountPacing, FakeClock]:
    clock = FakeClock(1000.0)
    return AccountPacing(max_active, gap, clock=clock), clock


def test_a_full_account_is_not_ready_until_an_answer_frees_a_place() -> None:
    account, _ = pacing(max_active=2)
    assert account.ready_at(active=1) == -math.inf
    assert account.ready_at(active=2) == math.inf
    assert (account.room(1), account.room(2)) == (1, 0)


def test_without_a_limit_of_its_own_an_account_always_has_room() -> None:
    account, _ = pacing(max_active=None, gap=0.0)
    assert account.room(500) == math.inf
    assert account.ready_at(500) == -math.inf


def test_two_submissions_are_at_least_the_gap_apart() -> None:
    account, clock = pacing(gap=2.0)
    account.submitted()
    assert account.ready_at(active=1) == clock.now + 2.0


def test_a_throttle_lowers_the_limit_below_what_flow_refused_and_widens_the_gap() -> None:
    account, _ = pacing(max_active=4, gap=2.0)
    account.throttled(active=3)
    assert (account.max_active, account.gap) == (2, 4.0)


def test_a_throttle_learns_a_limit_for_an_account_without_one() -> None:
    account, _ = pacing(max_active=None, gap=0.0)
    account.throttled(active=6)
    assert (account.max_active, account.gap) == (5, 1.0)


def test_a_throttle_of_a_lone_submission_lowers_the_limit_by_one_and_widens_the_gap() -> None:
    """Nothing else was running: the gap was too short, or the limit too high; an account without a limit keeps
    none (nothing says how many at once it takes)."""
    limited, _ = pacing(max_active=4, gap=0.0)
    limited.throttled(active=1)
    assert (limited.max_active, limited.gap) == (3, 1.0)
    unlimited, _ = pacing(max_active=None, gap=0.5)
    unlimited.throttled(active=1)
    assert (unlimited.max_active, unlimited.gap) == (None, 1.0)


def test_a_throttle_soon_after_the_previous_submission_widens_only_the_gap_and_the_next_one_lowers_the_limit() -> None:
    """Flow does not say which limit it hit: a submission 1 s after the previous one may have been refused for the
    gap alone, so the gap widens to at least 2 s and the active limit stays; a throttle after that can only be the
    active limit."""
    account, clock = pacing(max_active=6, gap=1.0)
    account.submitted()
    clock.advance(1.0)
    account.submitted()
    pause_end = account.throttled(active=2)
    assert (account.max_active, account.gap) == (6, GAP_SUSPECT_S)
    clock.set(pause_end)
    account.submitted()
    account.throttled(active=5)
    assert (account.max_active, account.gap) == (4, 2 * GAP_SUSPECT_S)


def test_the_limit_never_falls_below_one() -> None:
    account, _ = pacing(max_active=1)
    account.throttled(active=1)
    assert account.max_active == 1


def test_throttles_in_a_row_climb_the_pause_ladder() -> None:
    """10 s, 30 s, 2 min, 10 min, 30 min, and 30 min from then on."""
    account, clock = pacing()
    pauses = []
    for _ in range(len(PAUSE_LADDER) + 1):
        pauses.append(account.throttled(active=1) - clock.now)
        assert account.state() == AccountState.PAUSED
        clock.advance(pauses[-1])
    assert pauses == [*PAUSE_LADDER, PAUSE_LADDER[-1]]
    assert account.state() == AccountState.READY


def test_a_paused_account_is_ready_when_the_pause_ends() -> None:
    account, clock = pacing(gap=0.0)
    end = account.throttled(active=1)
    assert account.ready_at(active=0) == end == clock.now + 10.0


def test_a_hard_block_rests_the_account_ten_minutes_doubling_on_repeat() -> None:
    account, clock = pacing()
    first = account.blocked(active=2) - clock.now
    assert account.state() == AccountState.RESTING
    assert account.ready_at(active=0) == clock.now + first
    clock.advance(first - 0.1)
    assert account.state() == AccountState.RESTING
    clock.advance(0.1)
    second = account.blocked(active=1) - clock.now
    assert (first, second) == (DEFAULT_REST_S, 2 * DEFAULT_REST_S)


def test_sustained_success_relaxes_one_step_at_a_time_never_above_the_configuration() -> None:
    account, clock = pacing(max_active=4, gap=2.0)
    account.throttled(active=4)
    assert (account.max_active, account.gap) == (3, 4.0)
    clock.advance(RELAX_QUIET_S)
    steps = []
    for _ in range(4 * RELAX_AFTER):
        account.accepted()
        steps.append((account.max_active, account.gap))
    assert steps[RELAX_AFTER - 2] == (3, 4.0)  # not before RELAX_AFTER successes
    assert steps[RELAX_AFTER - 1] == (4, 3.0)
    assert steps[2 * RELAX_AFTER - 1][1] == pytest.approx(2.25)
    assert steps[-1] == (4, 2.0)


def test_success_soon_after_a_throttle_does_not_relax() -> None:
    account, clock = pacing(max_active=4, gap=2.0)
    account.throttled(active=4)
    clock.advance(RELAX_QUIET_S / 2)
    for _ in range(3 * RELAX_AFTER):
        account.accepted()
    assert (account.max_active, account.gap) == (3, 4.0)


def test_throttles_are_counted_for_an_hour() -> None:
    account, clock = pacing()
    account.throttled(active=1)
    clock.advance(1800.0)
    account.blocked(active=1)
    assert account.throttles_last_hour() == 2
    clock.advance(1800.0)
    assert account.throttles_last_hour() == 1
    assert account.view().throttles == (clock.now - 1800.0,)
