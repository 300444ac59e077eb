"""The check scheduler: timing, priorities, refreshes, backoff, in-flight, deadlines, fairness, speed."""

from __future__ import annotations

import heapq
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.budget import Budget
from actors.clock import FakeClock
from actors.scheduler import CheckScheduler
from actors.timing import CompletionModel, Key

GEN: Key = ("veo_3_1_t2v_fast", "generation")


def learned_model(low: float = 20.0, high: float = 60.0, n: int = 200) -> CompletionModel:
    rng = random.Random(11)
    model = CompletionModel()
    model.load(GEN, [rng.uniform(low, high) for _ in range(n)])
    return model


def make(model: CompletionModel | None = None, **options: float) -> tuple[FakeClock, CheckScheduler[str]]:
    clock = FakeClock()
    batch = int(options.pop("batch_size", 10))
    scheduler: CheckScheduler[str] = CheckScheduler(model or learned_model(), clock=clock, batch_size=batch, **options)
    return clock, scheduler


def test_nothing_is_picked_before_a_job_can_plausibly_be_done() -> None:
    """Jobs whose learned completion times start at 20 s are not checked at 10 s; they are near 20 s."""
    clock, scheduler = make()
    for i in range(5):
        scheduler.track(f"j{i}", GEN, started_at=0.0)
    clock.set(10.0)
    assert scheduler.pick() == []
    due = scheduler.next_due()
    assert due is not None
    assert 18.0 <= due <= 21.0
    clock.set(due)
    assert sorted(scheduler.pick()) == [f"j{i}" for i in range(5)]


def test_pick_returns_at_most_the_batch_size() -> None:
    """One request never holds more than batch_size jobs, nor more than the limit asked for."""
    clock, scheduler = make(batch_size=4)
    for i in range(10):
        scheduler.track(f"j{i}", GEN, started_at=0.0)
    clock.set(30.0)
    assert len(scheduler.pick()) == 4
    assert len(scheduler.pick(limit=2)) == 2
    assert len(scheduler.pick(limit=100)) == 4


def test_higher_priorities_are_picked_first() -> None:
    """Among jobs due at once, urgent, high, normal and low priority go in that order."""
    clock, scheduler = make()
    for priority, name in enumerate(["low", "normal", "high", "urgent"]):
        scheduler.track(name, GEN, started_at=0.0, priority=priority)
    clock.set(30.0)
    assert [scheduler.pick(limit=1)[0] for _ in range(4)] == ["urgent", "high", "normal", "low"]


def test_higher_priorities_are_checked_more_often_under_saturation() -> None:
    """With more due jobs than the budget can check, a high-priority job is checked more often than a low one."""
    clock, scheduler = make(batch_size=2)
    scheduler.track("low", GEN, started_at=0.0, priority=0)
    scheduler.track("high", GEN, started_at=0.0, priority=2)
    for i in range(40):
        scheduler.track(f"n{i}", GEN, started_at=0.0)
    clock.set(25.0)
    counts = {"low": 0, "high": 0}
    for _ in range(300):
        clock.advance(0.1)
        picked = scheduler.pick()
        for job in picked:
            counts[job] = counts.get(job, 0) + 1
        scheduler.checked(picked)
    assert counts["high"] > 3 * counts["low"] > 0


def test_a_manual_refresh_goes_first_whatever_the_timing() -> None:
    """urgent() puts a job first in the next pick, even before it could plausibly be done."""
    clock, scheduler = make()
    scheduler.track("early", GEN, started_at=0.0)
    for i in range(20):
        scheduler.track(f"due{i}", GEN, started_at=-100.0)
    clock.set(1.0)
    assert scheduler.urgent("early")
    assert scheduler.next_due() == clock.now
    picked = scheduler.pick()
    assert picked[0] == "early"
    assert len(picked) == 10


def test_a_refresh_joins_a_check_in_flight_or_just_made() -> None:
    """urgent() returns False for a job whose check is in flight or answered less than a second ago."""
    clock, scheduler = make()
    scheduler.track("j", GEN, started_at=-100.0)
    assert scheduler.pick() == ["j"]
    assert not scheduler.urgent("j")
    clock.advance(0.05)
    scheduler.checked(["j"])
    clock.advance(0.5)
    assert not scheduler.urgent("j")
    clock.advance(0.6)
    assert scheduler.urgent("j")
    with pytest.raises(KeyError):
        scheduler.urgent("unknown")


def test_a_job_in_flight_is_not_picked_again() -> None:
    """A picked job stays out of later picks until its check is reported."""
    clock, scheduler = make(batch_size=1)
    scheduler.track("a", GEN, started_at=-100.0)
    scheduler.track("b", GEN, started_at=-100.0)
    first = scheduler.pick()
    second = scheduler.pick()
    assert sorted(first + second) == ["a", "b"]
    assert scheduler.is_in_flight("a")
    assert scheduler.is_in_flight("b")
    clock.advance(5.0)
    assert scheduler.pick() == []
    assert scheduler.next_due() is None
    scheduler.checked(first)
    assert [scheduler.is_in_flight(j) for j in (*first, *second)] == [False, True]
    due = scheduler.next_due()
    assert due is not None
    clock.set(max(clock.now, due))
    assert scheduler.pick() == first


def test_requeued_jobs_keep_their_place_without_backoff() -> None:
    """Jobs picked but not sent go back to the front, a manual refresh stays a manual refresh."""
    clock, scheduler = make(batch_size=2)
    for i in range(4):
        scheduler.track(f"j{i}", GEN, started_at=-100.0 + i)
    scheduler.track("late", GEN, started_at=25.0)
    clock.set(30.0)
    assert scheduler.urgent("late")
    first = scheduler.pick()
    assert first == ["late", "j0"]
    scheduler.requeue(first)
    assert not any(scheduler.is_in_flight(j) for j in first)
    assert scheduler.pick() == first
    scheduler.requeue(["j0"])
    assert scheduler.pick() == ["j0", "j1"]


def test_errors_back_off_one_second_times_one_and_a_half_up_to_a_minute() -> None:
    """Each failed check delays the job's next check by 1, 1.5, 2.25 ... s, capped at 60 s."""
    clock, scheduler = make()
    scheduler.track("j", GEN, started_at=-1000.0)
    expected = [min(60.0, 1.5**k) for k in range(14)]
    for backoff in expected:
        assert scheduler.pick() == ["j"]
        scheduler.errored(["j"])
        errored_at = clock.now
        clock.set(errored_at + backoff - 0.01)
        assert scheduler.pick() == []
        assert scheduler.next_due() == pytest.approx(errored_at + backoff)
        clock.set(errored_at + backoff)
    assert expected[-1] == 60.0
    assert scheduler.pick() == ["j"]
    clock.advance(0.05)
    scheduler.checked(["j"])
    clock.advance(60.0)
    assert scheduler.pick() == ["j"]
    scheduler.errored(["j"])
    assert scheduler.next_due() == pytest.approx(clock.now + 1.0)


def test_a_backed_off_job_does_not_ride_along_in_another_request() -> None:
    """Filling a request with extra jobs skips a job whose error backoff has not expired."""
    clock, scheduler = make()
    scheduler.track("failing", GEN, started_at=-100.0)
    assert scheduler.pick() == ["failing"]
    scheduler.errored(["failing"])
    scheduler.track("other", GEN, started_at=-100.0)
    clock.advance(0.5)
    assert scheduler.pick() == ["other"]


def test_a_request_is_filled_with_jobs_that_may_be_done() -> None:
    """When one job is due, the request also carries jobs past their floor, not jobs that cannot be done."""
    _clock, scheduler = make()
    scheduler.track("due", GEN, started_at=-100.0)
    for i in range(5):
        scheduler.track(f"plausible{i}", GEN, started_at=-19.0)
    scheduler.track("young", GEN, started_at=-2.0)
    picked = scheduler.pick()
    assert picked[0] == "due"
    assert sorted(picked[1:]) == [f"plausible{i}" for i in range(5)]


def test_a_checked_job_waits_before_its_next_check() -> None:
    """After a check a job is not due again at once; its next check comes within the spacing bounds."""
    clock, scheduler = make()
    scheduler.track("j", GEN, started_at=0.0)
    clock.set(30.0)
    assert scheduler.pick() == ["j"]
    clock.advance(0.05)
    scheduler.checked(["j"])
    assert scheduler.pick() == []
    due = scheduler.next_due()
    assert due is not None
    assert 30.0 + 0.15 <= due <= 30.0 + 60.0


def test_tail_jobs_are_neither_starved_nor_hammered() -> None:
    """A job far past every learned completion time is still checked, ever less often, at most 60 s apart."""
    clock, scheduler = make()
    scheduler.track("stuck", GEN, started_at=0.0)
    checks: list[float] = []
    while clock.now < 3000.0:
        due = scheduler.next_due()
        assert due is not None
        clock.set(max(clock.now, due))
        assert scheduler.pick() == ["stuck"]
        checks.append(clock.now)
        scheduler.checked(["stuck"])
    gaps = [b - a for a, b in itertools.pairwise(checks)]
    late = [g for c, g in zip(checks, gaps, strict=False) if c > 200.0]
    assert max(gaps) <= 60.0 + 1e-9
    assert late[-1] == pytest.approx(60.0)
    assert min(late) >= 10.0
    assert len(checks) < 300


def test_jobs_past_their_deadline_expire() -> None:
    """expired() returns and forgets the jobs whose deadline passed; a restored job keeps its deadline."""
    clock, scheduler = make(deadline_s=100.0)
    scheduler.track("fresh", GEN, started_at=0.0)
    scheduler.track("restored", GEN, started_at=-500.0, deadline_at=50.0)
    assert scheduler.next_deadline() == 50.0
    clock.set(49.9)
    assert scheduler.expired() == []
    clock.set(50.0)
    assert scheduler.expired() == ["restored"]
    assert "restored" not in scheduler
    clock.set(100.0)
    assert scheduler.expired() == ["fresh"]
    assert len(scheduler) == 0
    assert scheduler.next_deadline() is None


def test_a_job_past_its_deadline_is_not_checked() -> None:
    """pick() skips a due job whose deadline has passed (expired() reports it)."""
    _clock, scheduler = make()
    scheduler.track("late", GEN, started_at=-100.0, deadline_at=-1.0)
    assert scheduler.pick() == []
    assert scheduler.expired() == ["late"]


def test_shrink_batch_halves_down_to_one() -> None:
    """A too-large batch halves the batch size, which is remembered, down to 1."""
    _clock, scheduler = make()
    assert [scheduler.shrink_batch() for _ in range(5)] == [5, 2, 1, 1, 1]
    for i in range(5):
        scheduler.track(f"j{i}", GEN, started_at=-100.0)
    assert len(scheduler.pick()) == 1


def test_completed_untracks_and_teaches_the_model() -> None:
    """completed() stops polling and records a duration between the last running check and the finding."""
    model = CompletionModel()
    clock, scheduler = make(model)
    scheduler.track("j", GEN, started_at=0.0)
    clock.set(10.0)
    assert scheduler.pick() == ["j"]
    scheduler.checked(["j"])
    due = scheduler.next_due()
    assert due is not None
    clock.set(due)
    assert scheduler.pick() == ["j"]
    assert 10.0 < due < 20.0
    assert scheduler.completed("j") == pytest.approx((10.0 + due) / 2)
    assert model.count(GEN) == 1
    assert len(scheduler) == 0
    assert not scheduler.is_in_flight("j")
    assert scheduler.completed("j") is None


def test_untrack_and_retrack() -> None:
    """untrack forgets a job (even in flight); tracking an id again replaces its timing."""
    _clock, scheduler = make()
    scheduler.track("j", GEN, started_at=-100.0)
    assert scheduler.pick() == ["j"]
    assert scheduler.untrack("j")
    assert not scheduler.untrack("j")
    assert not scheduler.is_in_flight("j")
    scheduler.checked(["j"])
    scheduler.track("j", GEN, started_at=0.0)
    scheduler.track("j", GEN, started_at=-100.0)
    assert len(scheduler) == 1
    assert scheduler.pick() == ["j"]
    assert scheduler.pick() == []


def test_next_due_is_none_without_jobs() -> None:
    """An empty scheduler has nothing due and no deadline."""
    _, scheduler = make()
    assert scheduler.next_due() is None
    assert scheduler.next_deadline() is None
    assert scheduler.pick() == []


def test_a_fresh_key_is_checked_early_under_the_prior() -> None:
    """With no data at all the first checks come within about two seconds (simulator jobs take 1-5 s)."""
    _clock, scheduler = make(CompletionModel())
    scheduler.track("j", GEN, started_at=0.0)
    due = scheduler.next_due()
    assert due is not None
    assert 0.5 <= due <= 2.0


def simulate(policy: str, completions: list[float], rate: float = 10.0) -> list[float]:
    """Detection latencies of a virtual run: the scheduler, or the seed's one-job round-robin with backoff."""
    clock = FakeClock()
    budget = Budget(rate, clock=clock)
    scheduler: CheckScheduler[int] = CheckScheduler(learned_model(), clock=clock)
    for job in range(len(completions)):
        scheduler.track(job, GEN, started_at=0.0)
    last = dict.fromkeys(range(len(completions)), -1e9)
    wait = dict.fromkeys(range(len(completions)), 0.0)
    latencies: list[float] = []
    answers: list[tuple[float, int, list[int]]] = []
    sent = 0
    while clock.now < 400.0 and (len(scheduler) if policy == "scheduler" else last):
        while answers and answers[0][0] <= clock.now:
            _, _, jobs = heapq.heappop(answers)
            budget.release()
            for job in jobs:
                if completions[job] <= clock.now:
                    latencies.append(clock.now - completions[job])
                    scheduler.completed(job)
                    last.pop(job, None)
                else:
                    scheduler.checked([job])
                    if job in last:
                        wait[job] = 1.0 if wait[job] == 0.0 else min(60.0, wait[job] * 1.5)
                        last[job] = clock.now
        while budget.can_acquire():
            if policy == "scheduler":
                jobs = scheduler.pick()
            else:
                ready = [j for j in last if clock.now - last[j] >= wait[j]]
                jobs = sorted(ready, key=last.__getitem__)[:1]
                for job in jobs:
                    last[job] = 1e9
            if not jobs:
                break
            budget.try_acquire()
            sent += 1
            heapq.heappush(answers, (clock.now + 0.05, sent, jobs))
        clock.advance(0.01)
    return latencies


def test_the_policy_detects_completions_much_faster_than_round_robin() -> None:
    """On the same budget the scheduler's mean detection latency is under a quarter of the seed's."""
    rng = random.Random(5)
    completions = [rng.uniform(20.0, 60.0) for _ in range(60)]
    ours = simulate("scheduler", completions)
    seed = simulate("seed", completions)
    assert len(ours) == len(seed) == 60
    assert sum(ours) / len(ours) < sum(seed) / len(seed) / 4
    assert sorted(ours)[30] < 0.6


OPS = st.lists(
    st.tuples(
        st.sampled_from(["track", "pick", "checked", "errored", "requeue", "completed", "untrack", "urgent", "wait"]),
        st.integers(min_value=0, max_value=7),
        st.floats(min_value=0.0, max_value=30.0),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_any_sequence_keeps_the_bookkeeping_consistent(ops: list[tuple[str, int, float]]) -> None:
    """Whatever the calls, a pick holds distinct tracked jobs not already in flight, within the batch size."""
    clock, scheduler = make(batch_size=3)
    in_flight: set[str] = set()
    for op, n, x in ops:
        job = f"j{n}"
        if op == "track":
            scheduler.track(job, GEN, started_at=clock.now - x * 3, priority=n % 4)
            in_flight.discard(job)
        elif op == "pick":
            picked = scheduler.pick()
            assert len(picked) <= 3
            assert len(set(picked)) == len(picked)
            assert not in_flight & set(picked)
            assert all(j in scheduler for j in picked)
            in_flight |= set(picked)
        elif op == "checked":
            scheduler.checked([job])
            in_flight.discard(job)
        elif op == "errored":
            scheduler.errored([job])
            in_flight.discard(job)
        elif op == "requeue":
            scheduler.requeue([job])
            in_flight.discard(job)
        elif op == "completed":
            scheduler.completed(job)
            in_flight.discard(job)
        elif op == "untrack":
            scheduler.untrack(job)
            in_flight.discard(job)
        elif op == "urgent" and job in scheduler:
            scheduler.urgent(job)
        else:
            clock.advance(x)
        assert {f"j{i}" for i in range(8) if scheduler.is_in_flight(f"j{i}")} == in_flight
        due = scheduler.next_due()
        idle = len(scheduler) == len(in_flight)
        assert (due is None) == idle


def test_every_tracked_job_is_eventually_checked() -> None:
    """Serving requests as fast as the budget allows, every job of a mixed set is checked within its bounds."""
    clock, scheduler = make()
    starts = {f"j{i}": -float(i * 37 % 400) for i in range(200)}
    for job, start in starts.items():
        scheduler.track(job, GEN, started_at=start, priority=int(-start) % 4)
    seen: set[str] = set()
    while clock.now < 120.0:
        picked = scheduler.pick()
        seen |= set(picked)
        scheduler.checked(picked)
        clock.advance(0.105)
    assert seen == set(starts)
