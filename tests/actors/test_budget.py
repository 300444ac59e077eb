"""The budget: sliding window, pacing, in-flight limit and pauses, on a fake clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.budget import Budget
from actors.clock import FakeClock


def drain(budget: Budget, clock: FakeClock, until: float) -> list[float]:
    """Start calls as early as the budget allows (releasing each at once) until `until`; return the starts."""
    starts: list[float] = []
    while True:
        at = max(clock.now, budget.next_available())
        if at >= until:
            return starts
        clock.set(at)
        assert budget.try_acquire()
        budget.release()
        starts.append(at)


def test_first_call_starts_at_once() -> None:
    """An idle budget allows a call immediately."""
    clock = FakeClock(100.0)
    budget = Budget(clock=clock)
    assert budget.next_available() <= clock.now
    assert budget.try_acquire()


def test_consecutive_starts_are_paced() -> None:
    """A second start waits (1 + margin) / rate after the first: no burst even when idle."""
    clock = FakeClock()
    budget = Budget(10.0, margin=0.05, clock=clock)
    assert budget.try_acquire()
    assert not budget.try_acquire()
    assert budget.next_available() == pytest.approx(0.105)
    clock.advance(0.104)
    assert not budget.try_acquire()
    clock.set(budget.next_available())
    assert budget.try_acquire()


def test_no_burst_after_idle() -> None:
    """After a long idle spell the calls still come one pacing interval apart."""
    clock = FakeClock()
    budget = Budget(10.0, clock=clock)
    clock.advance(3600.0)
    starts = drain(budget, clock, clock.now + 1.0)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1.05 / 10.0 - 1e-9  # (1 + margin) / rate


def test_never_more_than_rate_starts_in_a_second() -> None:
    """Draining as fast as allowed yields at most `rate` starts in any 1-second window."""
    clock = FakeClock()
    budget = Budget(10.0, clock=clock)
    starts = drain(budget, clock, 30.0)
    assert max_in_window(starts, 1.0) <= 10
    assert len(starts) >= 10 * 30 * 0.9


def test_fractional_rate_rounds_the_window_down() -> None:
    """A rate of 2.5 allows at most 2 starts in any window."""
    clock = FakeClock()
    budget = Budget(2.5, clock=clock)
    starts = drain(budget, clock, 20.0)
    assert max_in_window(starts, 1.0) <= 2


def test_in_flight_limit_blocks_until_release() -> None:
    """With max_in_flight calls outstanding nothing starts until one is released."""
    clock = FakeClock()
    budget = Budget(10.0, max_in_flight=2, clock=clock)
    assert budget.try_acquire()
    clock.advance(1.0)
    assert budget.try_acquire()
    clock.advance(1.0)
    assert budget.in_flight == 2
    assert not budget.can_acquire()
    assert not budget.try_acquire()
    budget.release()
    assert budget.in_flight == 1
    assert budget.try_acquire()


def test_release_without_a_call_is_ignored() -> None:
    """An extra release does not create room beyond max_in_flight."""
    clock = FakeClock()
    budget = Budget(10.0, max_in_flight=1, clock=clock)
    budget.release()
    assert budget.in_flight == 0
    assert budget.try_acquire()
    clock.advance(1.0)
    assert not budget.try_acquire()


def test_pause_blocks_starts_until_it_ends() -> None:
    """A pause (Retry-After) holds every start until its instant."""
    clock = FakeClock()
    budget = Budget(10.0, clock=clock)
    budget.pause_until(5.0)
    assert budget.paused_until == 5.0
    assert budget.next_available() == 5.0
    clock.set(4.999)
    assert not budget.try_acquire()
    clock.set(5.0)
    assert budget.try_acquire()


def test_a_shorter_pause_never_shortens_a_longer_one() -> None:
    """pause_until keeps the later of the two instants."""
    clock = FakeClock()
    budget = Budget(clock=clock)
    budget.pause_until(30.0)
    budget.pause_until(10.0)
    assert budget.paused_until == 30.0
    budget.pause_until(40.0)
    assert budget.paused_until == 40.0


def test_requests_last_second_counts_recent_starts() -> None:
    """requests_last_second counts the starts of the last second only."""
    clock = FakeClock()
    budget = Budget(10.0, clock=clock)
    drain(budget, clock, 0.5)
    assert budget.requests_last_second() == 5
    clock.advance(1.0)
    assert budget.requests_last_second() == 0


def test_set_rate_changes_pacing_and_window() -> None:
    """Lowering the rate lengthens the pacing interval and caps the window lower."""
    clock = FakeClock()
    budget = Budget(10.0, clock=clock)
    budget.set_rate(2.0)
    assert budget.rate == 2.0
    starts = drain(budget, clock, 10.0)
    assert max_in_window(starts, 1.0) <= 2
    with pytest.raises(ValueError, match="rate"):
        budget.set_rate(0.0)


def max_in_window(starts: list[float], width: float) -> int:
    """The most starts in any half-open window [a, a + width)."""
    best = 0
    j = 0
    for i, start in enumerate(starts):
        while starts[j] + width <= start:
            j += 1
        best = max(best, i - j + 1)
    return best


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=20),
    max_in_flight=st.integers(min_value=1, max_value=12),
    steps=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=0.4), st.integers(min_value=0, max_value=3)),
        min_size=1,
        max_size=300,
    ),
)
def test_no_window_ever_holds_more_than_rate_starts(
    rate: int, max_in_flight: int, steps: list[tuple[float, int]]
) -> None:
    """For any attempts at increasing times, no 1-s window exceeds `rate` and in-flight never exceeds its cap."""
    clock = FakeClock()
    budget = Budget(float(rate), max_in_flight=max_in_flight, clock=clock)
    starts: list[float] = []
    for gap, releases in steps:
        clock.advance(gap)
        for _ in range(releases):
            if budget.in_flight:
                budget.release()
        if budget.try_acquire():
            starts.append(clock.now)
        assert budget.in_flight <= max_in_flight
    assert max_in_window(starts, 1.0) <= rate
    assert max_in_window(starts, 1.05) <= rate
