"""A Gemini key's per-minute quota: configured limits hold, 429s teach one, and a learned one relaxes."""

from __future__ import annotations

from actors.clock import FakeClock
from actors.minute_quota import RELAX_AFTER, WINDOW, MinuteQuota


def test_a_configured_limit_holds_in_every_sliding_minute() -> None:
    clock = FakeClock(0.0)
    quota = MinuteQuota(2, clock=clock)
    quota.started()
    clock.set(10.0)
    quota.started()
    assert quota.ready_at() == WINDOW  # the first leaves the window at 61 s: a margin over the API's minute
    clock.set(WINDOW)
    quota.started()
    assert quota.ready_at() == 10.0 + WINDOW


def test_without_a_limit_a_429_teaches_one_below_what_the_minute_held() -> None:
    clock = FakeClock(0.0)
    quota = MinuteQuota(None, clock=clock)
    for _ in range(5):
        quota.started()
    assert quota.ready_at() <= 0.0
    assert quota.refused(retry_after=None) == WINDOW
    assert quota.limit == 4


def test_a_429_never_raises_a_limit_and_waits_the_retry_delay() -> None:
    clock = FakeClock(0.0)
    quota = MinuteQuota(10, clock=clock)
    for _ in range(3):
        quota.started()
    assert quota.refused(retry_after=20.0) == 20.0
    assert quota.limit == 2
    assert quota.ready_at() == WINDOW  # two of three slots used up for the minute


def test_a_learned_limit_relaxes_up_to_the_configured_one() -> None:
    clock = FakeClock(0.0)
    quota = MinuteQuota(3, clock=clock)
    quota.started()
    quota.refused(None)
    assert quota.limit == 1
    for _ in range(3 * RELAX_AFTER):
        quota.accepted()
    assert quota.limit == 3
