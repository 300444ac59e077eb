"""Flood control: serve within the rate, warn and pause past it, close a persistent flooder."""

from __future__ import annotations

from server.flood import (
    BUSY_REQUESTS,
    MAX_CONCURRENT_REQUESTS,
    FloodGuard,
    TokenBucket,
    Verdict,
    may_start,
)


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard(clock: FakeClock, *, warnings: int = 3) -> FloodGuard:
    return FloodGuard(10.0, 20.0, warnings_before_close=warnings, pause=1.0, clock=clock)


def test_a_bucket_gives_its_burst_at_once_then_refills_at_its_rate() -> None:
    """A full bucket grants `burst` messages; then one more per 1/rate seconds, never more than `burst`."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5.0, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.25
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now += 3600
    assert bucket.level() == 5.0


def test_an_empty_bucket_takes_nothing() -> None:
    """A refused message costs no token: the next one is served as soon as one token has refilled."""
    clock = FakeClock()
    bucket = TokenBucket(8.0, 1.0, clock=clock)
    assert bucket.take()
    assert not bucket.take()
    assert not bucket.take()
    clock.now += 0.125
    assert bucket.take()


def test_a_client_within_its_burst_is_served() -> None:
    """Twenty messages at once fit the burst of twenty: all served, no warning."""
    flood = guard(FakeClock())
    assert {flood.admit() for _ in range(20)} == {Verdict.SERVE}
    assert flood.warnings == 0


def test_a_client_past_its_burst_is_warned_once_per_excess_message_read() -> None:
    """The message after the burst earns a warning; after the pause the refilled tokens are served again."""
    clock = FakeClock()
    flood = guard(clock)
    for _ in range(20):
        flood.admit()
    assert flood.admit() is Verdict.WARN
    clock.now += flood.pause
    assert [flood.admit() for _ in range(10)] == [Verdict.SERVE] * 10
    assert flood.admit() is Verdict.WARN
    assert flood.warnings == 2


def test_a_client_still_flooding_after_its_warnings_is_closed() -> None:
    """Three warnings in a row, each followed by the pause's worth of messages, then the close verdict."""
    clock = FakeClock()
    flood = guard(clock)
    verdicts = [flood.admit() for _ in range(21)]
    for _ in range(3):
        clock.now += flood.pause
        verdicts += [flood.admit() for _ in range(11)]
    assert verdicts.count(Verdict.SERVE) == 20 + 3 * 10
    assert verdicts.count(Verdict.WARN) == 3
    assert verdicts[-1] is Verdict.CLOSE


def test_warnings_are_forgiven_once_the_client_was_quiet_long_enough_to_refill() -> None:
    """After a quiet spell that refills the bucket, a client starts again with no warnings against it."""
    clock = FakeClock()
    flood = guard(clock, warnings=1)
    for _ in range(21):
        flood.admit()
    assert flood.warnings == 1
    clock.now += 2.0  # 20 tokens at 10 a second: full again
    assert flood.admit() is Verdict.SERVE
    assert flood.warnings == 0
    for _ in range(19):
        flood.admit()
    assert flood.admit() is Verdict.WARN


def test_a_client_warned_but_not_yet_refilled_keeps_its_warnings() -> None:
    """A short pause is not a quiet spell: the warnings stay, and the next excess message closes."""
    clock = FakeClock()
    flood = guard(clock, warnings=1)
    for _ in range(21):
        flood.admit()
    clock.now += 1.0
    assert [flood.admit() for _ in range(11)] == [Verdict.SERVE] * 10 + [Verdict.CLOSE]


def test_a_connection_has_its_own_requests_in_progress_up_to_its_cap_while_the_server_is_quiet() -> None:
    """Below BUSY_REQUESTS in progress server-wide, a connection starts requests up to MAX_CONCURRENT_REQUESTS."""
    assert may_start(0, 0)
    assert may_start(MAX_CONCURRENT_REQUESTS - 1, BUSY_REQUESTS - 1)
    assert not may_start(MAX_CONCURRENT_REQUESTS, 0)


def test_a_busy_server_answers_each_connection_one_request_at_a_time() -> None:
    """Once BUSY_REQUESTS are in progress, a connection with one in progress waits; one with none starts."""
    assert not may_start(1, BUSY_REQUESTS)
    assert may_start(0, 10 * BUSY_REQUESTS)
