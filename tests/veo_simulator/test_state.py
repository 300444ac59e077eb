"""Operation lifecycle of the simulator's state model, on a fake clock."""

from __future__ import annotations

import random

import pytest

from tests.veo_simulator.fakes import FakeClock
from veo_simulator.state import (
    UNSAFE_REASON,
    CancelOutcome,
    NewOperation,
    OperationBook,
    Status,
    is_unsafe,
)


def make_book(clock: FakeClock, lo: float = 10.0, hi: float = 10.0, fail: float = 0.0) -> OperationBook:
    return OperationBook(clock, random.Random(7), lo, hi, fail)


def test_operation_goes_pending_active_then_successful_at_its_completion_instant() -> None:
    """PENDING until 20% of the duration, ACTIVE until completion, then SUCCESSFUL."""
    clock = FakeClock()
    book = make_book(clock)
    op = book.create(NewOperation(scene_id="s1", prompt="a cat"))
    assert op.complete_at == clock.now + 10.0
    assert book.status(op) is Status.PENDING
    clock.advance(1.9)
    assert book.status(op) is Status.PENDING
    clock.advance(0.1)
    assert book.status(op) is Status.ACTIVE
    clock.advance(7.99)
    assert book.status(op) is Status.ACTIVE
    clock.advance(0.01)
    assert book.status(op) is Status.SUCCESSFUL
    assert op.final_status is Status.SUCCESSFUL


def test_durations_are_drawn_within_lo_and_hi() -> None:
    """Completion comes between lo and hi seconds after creation."""
    clock = FakeClock()
    book = make_book(clock, lo=20.0, hi=60.0)
    durations = [book.create(NewOperation(scene_id=str(i))).complete_at - clock.now for i in range(200)]
    assert all(20.0 <= d <= 60.0 for d in durations)
    assert max(durations) - min(durations) > 20.0


def test_same_seed_draws_the_same_durations() -> None:
    """A seeded generator makes runs repeatable."""
    clock = FakeClock()
    first = OperationBook(clock, random.Random(3), 1.0, 9.0)
    second = OperationBook(clock, random.Random(3), 1.0, 9.0)
    assert [first.create(NewOperation(scene_id="a")).complete_at for _ in range(5)] == [
        second.create(NewOperation(scene_id="a")).complete_at for _ in range(5)
    ]


def test_fail_marker_fails_at_completion_with_unsafe_reason() -> None:
    """A prompt with [fail] is accepted, then FAILED when it completes."""
    clock = FakeClock()
    book = make_book(clock)
    op = book.create(NewOperation(scene_id="s", prompt="a [FAIL] dog"))
    clock.advance(5)
    assert book.status(op) is Status.ACTIVE
    clock.advance(5)
    assert book.status(op) is Status.FAILED
    assert op.failure_reason == UNSAFE_REASON


def test_fail_probability_one_fails_every_operation() -> None:
    """With fail=1 every operation ends FAILED; with fail=0 none does."""
    clock = FakeClock()
    failing = make_book(clock, fail=1.0)
    healthy = make_book(clock, fail=0.0)
    assert all(failing.create(NewOperation(scene_id="s")).failure_reason for _ in range(20))
    assert not any(healthy.create(NewOperation(scene_id="s")).failure_reason for _ in range(20))


def test_fail_upscale_marker_fails_only_the_upscale() -> None:
    """[fail-upscale] lets the generation succeed and fails its upscale."""
    clock = FakeClock()
    book = make_book(clock)
    source = book.create(NewOperation(scene_id="s", prompt="x [fail-upscale]"))
    upscale = book.create(NewOperation(scene_id="u", kind="upscale", prompt=source.prompt))
    assert source.failure_reason is None
    assert upscale.failure_reason == UNSAFE_REASON
    assert upscale.media_generation_id.endswith("_upsampled")


def test_unsafe_marker_is_detected_case_insensitively() -> None:
    """[unsafe] anywhere in the prompt makes it unsafe."""
    assert is_unsafe("a [Unsafe] scene")
    assert not is_unsafe("a safe scene")


def test_unknown_names_are_not_found() -> None:
    """Looking up or cancelling an unknown name finds nothing."""
    book = make_book(FakeClock())
    assert book.get("nope") is None
    assert book.find_media("nope") is None
    assert book.cancel("nope") is CancelOutcome.NOT_FOUND


def test_media_is_found_by_name_or_media_generation_id() -> None:
    """Upscale sources may be named by media id or media generation id."""
    book = make_book(FakeClock())
    op = book.create(NewOperation(scene_id="s"))
    assert book.find_media(op.name) is op
    assert book.find_media(op.media_generation_id) is op
    assert op.media_name == op.name


def test_cancel_running_operation_makes_it_cancelled() -> None:
    """A running operation can be cancelled; it stays CANCELLED past its completion instant."""
    clock = FakeClock()
    book = make_book(clock)
    op = book.create(NewOperation(scene_id="s"))
    clock.advance(3)
    assert book.cancel(op.name) is CancelOutcome.CANCELLED
    clock.advance(100)
    assert book.status(op) is Status.CANCELLED
    assert op.final_status is Status.CANCELLED


def test_cancel_of_finished_operation_is_refused() -> None:
    """Finished operations cannot be cancelled (twice included)."""
    clock = FakeClock()
    book = make_book(clock)
    op = book.create(NewOperation(scene_id="s"))
    clock.advance(10)
    assert book.cancel(op.name) is CancelOutcome.FINISHED
    running = book.create(NewOperation(scene_id="t"))
    assert book.cancel(running.name) is CancelOutcome.CANCELLED
    assert book.cancel(running.name) is CancelOutcome.FINISHED


def test_observe_records_first_terminal_sighting_only_once() -> None:
    """first_seen_terminal_at is the first status check that reported it terminal."""
    clock = FakeClock()
    book = make_book(clock)
    op = book.create(NewOperation(scene_id="s"))
    assert book.observe(op) is Status.PENDING
    assert op.first_seen_terminal_at is None
    clock.advance(12)
    assert book.observe(op) is Status.SUCCESSFUL
    seen = clock.now
    clock.advance(5)
    book.observe(op)
    assert op.first_seen_terminal_at == seen


def test_explicit_completion_instant_is_used() -> None:
    """Admin-made operations are ACTIVE at once and complete at the instant given."""
    clock = FakeClock()
    book = make_book(clock)
    op = book.create(NewOperation(scene_id="s", origin="admin"), clock.now + 3.5)
    assert op.complete_at == clock.now + 3.5
    assert book.status(op) is Status.ACTIVE
    past = book.create(NewOperation(scene_id="t", origin="admin"), clock.now - 50)
    assert book.status(past) is Status.SUCCESSFUL


def test_restore_brings_back_operations() -> None:
    """Operations restored into a new book are found by name and generation id."""
    clock = FakeClock()
    book = make_book(clock)
    op = book.create(NewOperation(scene_id="s"))
    other = make_book(clock)
    other.restore(book.all())
    assert other.get(op.name) == op
    assert other.find_media(op.media_generation_id) == op


@pytest.mark.parametrize("elapsed", [0.0, 1.99])
def test_zero_length_operations_are_terminal_at_once(elapsed: float) -> None:
    """lo = hi = 0 gives operations that are finished when created."""
    clock = FakeClock()
    book = make_book(clock, lo=0.0, hi=0.0)
    op = book.create(NewOperation(scene_id="s"))
    clock.advance(elapsed)
    assert book.status(op) is Status.SUCCESSFUL
