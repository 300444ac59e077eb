"""The sliding one-second arrival window."""

from __future__ import annotations

from veo_simulator.throttle import ArrivalWindow


def test_more_than_rate_arrivals_in_a_second_are_refused() -> None:
    """The R+1-th arrival within (t-1, t] is over the rate."""
    window = ArrivalWindow(3.0)
    assert [window.arrive(10.0 + i * 0.1) for i in range(5)] == [True, True, True, False, False]
    assert window.max_count == 5


def test_arrivals_a_full_second_old_leave_the_window() -> None:
    """An arrival exactly one second earlier no longer counts."""
    window = ArrivalWindow(1.0)
    assert window.arrive(10.0)
    assert not window.arrive(10.999)
    assert window.arrive(11.999)
    assert window.max_count == 2


def test_refused_arrivals_count_in_the_window() -> None:
    """Hammering keeps the window full: rejected arrivals count too."""
    window = ArrivalWindow(2.0)
    results = [window.arrive(t) for t in (0.0, 0.3, 0.6, 0.9, 1.2, 1.5)]
    assert results == [True, True, False, False, False, False]


def test_zero_rate_means_no_limit() -> None:
    """rate <= 0 lets everything through but still measures the window."""
    window = ArrivalWindow(0.0)
    assert all(window.arrive(5.0) for _ in range(100))
    assert window.max_count == 100
