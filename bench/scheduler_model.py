"""Status-check scheduling on a virtual clock: detection latency under a fixed request budget.

N jobs all start at t=0 and complete at instants uniform in [20, 60] s (--low, --high). Budget R=10 requests/s, K=10
operations per request, 50 ms per request (Flow evaluates a request at its midpoint; a completion counts
as detected when the answer arrives). Compares the CheckScheduler (warm: it learned the distribution from
200 earlier durations; cold: no data at all) with a model of the seed: one operation per request, every
1 s a cycle sends the <= 10 least recently checked jobs whose backoff has expired, the backoff after a
job's k-th check being min(60, 1.5^(k-1)) s. A reference row shows ideal round-robin with K-operation
requests at the budget's full pace (about the best possible here, see run_round_robin).
Deterministic: no threads, no HTTP, no sleeps.

    .venv/bin/python bench/scheduler_model.py            # N=100 and N=1000
    .venv/bin/python bench/scheduler_model.py --n 500 --seed 3 --perf
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from collections import deque
from dataclasses import dataclass

from actors.budget import Budget
from actors.clock import FakeClock
from actors.scheduler import CheckScheduler
from actors.timing import CompletionModel, Key

KEY: Key = ("veo_3_1_t2v_fast", "generation")
RATE = 10.0
BATCH = 10
LATENCY = 0.05
TARGET_P50 = {100: 0.5, 1000: 3.0}
"""The real system's p50 targets (seconds) at these N; this model leaves out HTTP and recording time."""


@dataclass
class Result:
    """One strategy's figures for one run."""

    name: str
    latencies: list[float]
    requests: list[float]
    checks: int

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def max_in_window(self, width: float = 1.0) -> int:
        best, j = 0, 0
        for i, start in enumerate(self.requests):
            while self.requests[j] + width <= start:
                j += 1
            best = max(best, i - j + 1)
        return best

    def budget_use(self, completions: list[float]) -> float:
        """Requests sent while work was due (first completion to last detection) over R x that span."""
        first = min(completions)
        last = max(c + lat for c, lat in zip(completions, self.latencies, strict=True))
        sent = sum(1 for r in self.requests if first <= r <= last)
        return sent / (RATE * (last - first))


def run_scheduler(name: str, completions: list[float], model: CompletionModel) -> Result:
    """Drive a CheckScheduler and a Budget like the PollerActor would, on a fake clock."""
    clock = FakeClock()
    budget = Budget(RATE, max_in_flight=10, clock=clock)
    scheduler: CheckScheduler[int] = CheckScheduler(model, clock=clock, batch_size=BATCH)
    for job in range(len(completions)):
        scheduler.track(job, KEY, 0.0)
    latencies = [0.0] * len(completions)
    requests: list[float] = []
    answers: list[tuple[float, int, list[int]]] = []
    checks = 0
    while len(scheduler) or answers:
        now = clock()
        while answers and answers[0][0] <= now:
            arrival, _, jobs = heapq.heappop(answers)
            budget.release()
            seen_at = arrival - LATENCY / 2
            for job in jobs:
                if completions[job] <= seen_at:
                    latencies[job] = arrival - completions[job]
                    scheduler.completed(job)
            scheduler.checked(j for j in jobs if completions[j] > seen_at)
        while budget.can_acquire():
            jobs = scheduler.pick()
            if not jobs:
                break
            assert budget.try_acquire()
            requests.append(now)
            checks += len(jobs)
            heapq.heappush(answers, (now + LATENCY, len(requests), jobs))
        wake = [answers[0][0]] if answers else []
        due = scheduler.next_due()
        if due is not None and budget.in_flight < budget.max_in_flight:
            wake.append(max(due, budget.next_available()))
        if not wake:
            break
        clock.set(max(min(wake), now + 1e-6))
    return Result(name, latencies, requests, checks)


def run_seed(completions: list[float]) -> Result:
    """The seed's worker: 1-s cycles, <= 10 single-operation requests each, per-job backoff x1.5 to 60 s."""
    remaining = list(range(len(completions)))
    last = [float("-inf")] * len(completions)
    wait = [0.0] * len(completions)
    latencies = [0.0] * len(completions)
    requests: list[float] = []
    t = 0.0
    while remaining:
        due = sorted((job for job in remaining if t - last[job] >= wait[job]), key=lambda job: last[job])
        batch = due[:10]
        for job in batch:
            requests.append(t)
            if completions[job] <= t + LATENCY / 2:
                latencies[job] = t + LATENCY - completions[job]
                remaining.remove(job)
            else:
                last[job] = t
                wait[job] = 1.0 if wait[job] == 0.0 else min(60.0, wait[job] * 1.5)
        t += 1.0
    return Result("seed (round-robin + backoff)", latencies, requests, len(requests))


def run_round_robin(completions: list[float], start: float = 18.0) -> Result:
    """Reference: K-operation requests at the budget's full pace, round-robin over undetected jobs.

    With every job alike (same start, same distribution) checking the least recently checked job is
    what maximises the expected detections of each check, so this is close to the best any policy can
    do with this budget; it needs to know when to start, which the scheduler learns.
    """
    interval = (1.0 + 0.05) / RATE
    queue = deque(range(len(completions)))
    latencies = [0.0] * len(completions)
    requests: list[float] = []
    checks = 0
    t = start
    while queue:
        jobs = [queue.popleft() for _ in range(min(BATCH, len(queue)))]
        requests.append(t)
        checks += len(jobs)
        for job in jobs:
            if completions[job] <= t + LATENCY / 2:
                latencies[job] = t + LATENCY - completions[job]
            else:
                queue.append(job)
        t += interval
    return Result(f"reference: round-robin from {start:g} s", latencies, requests, checks)


def warm_model(seed: int, low: float = 20.0, high: float = 60.0, samples: int = 200) -> CompletionModel:
    """A model that learned from `samples` earlier durations drawn like the run's."""
    rng = random.Random(seed + 1)
    model = CompletionModel()
    model.load(KEY, [rng.uniform(low, high) for _ in range(samples)])
    return model


def report(n: int, seed: int, low: float, high: float) -> None:
    """Run every strategy on the same completion instants and print one table."""
    rng = random.Random(seed)
    completions = [rng.uniform(low, high) for _ in range(n)]
    seed_run = run_seed(completions)
    results = [
        run_scheduler("scheduler, warm (200 samples)", completions, warm_model(seed, low, high)),
        run_scheduler("scheduler, cold (no data)", completions, CompletionModel()),
        run_round_robin(completions, start=0.9 * low),
        seed_run,
    ]
    print(f"\nN={n} jobs, completions U[{low:g}, {high:g}] s, R={RATE:g} req/s, K={BATCH}, seed={seed}")
    header = f"{'strategy':32} {'p50 s':>7} {'p90 s':>7} {'p99 s':>7} {'max s':>7} "
    header += f"{'requests':>9} {'checks':>7} {'max/1s':>6} {'use':>5} {'p50 x':>6}"
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = seed_run.quantile(0.5) / r.quantile(0.5)
        print(
            f"{r.name:32} {r.quantile(0.5):7.2f} {r.quantile(0.9):7.2f} {r.quantile(0.99):7.2f} "
            f"{max(r.latencies):7.2f} {len(r.requests):9d} {r.checks:7d} {r.max_in_window():6d} "
            f"{r.budget_use(completions):5.0%} {ratio:6.1f}"
        )
    warm = results[0]
    within = "within" if warm.max_in_window() <= RATE else "OVER"
    target = TARGET_P50.get(n)
    goal = f" (real-system target <= {target:g} s)" if target is not None else ""
    print(f"scheduler (warm): p50 {warm.quantile(0.5):.2f} s{goal}, budget {within} R in every 1-s window")


def perf(n: int, picks: int = 2000) -> None:
    """Wall-clock cost of pick() + checked() with n jobs all due (the saturated case)."""
    clock = FakeClock()
    model = warm_model(0)
    scheduler: CheckScheduler[int] = CheckScheduler(model, clock=clock)
    for job in range(n):
        scheduler.track(job, KEY, 0.0)
    clock.set(30.0)
    started = time.perf_counter()
    for _ in range(picks):
        clock.advance(0.1)
        scheduler.checked(scheduler.pick())
    per_pick = (time.perf_counter() - started) / picks
    print(f"pick()+checked() with N={n} jobs due: {per_pick * 1e6:.0f} us per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, action="append", help="number of jobs (repeatable; default 100, 1000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the completion instants")
    parser.add_argument("--low", type=float, default=20.0, help="shortest completion time, s (default 20)")
    parser.add_argument("--high", type=float, default=60.0, help="longest completion time, s (default 60)")
    parser.add_argument("--perf", action="store_true", help="also time pick() with 1,000 and 10,000 jobs")
    args = parser.parse_args()
    for n in args.n or [100, 1000]:
        report(n, args.seed, args.low, args.high)
    if args.perf:
        print()
        for n in (1000, 10_000):
            perf(n)
    print("\np50 x = the seed's p50 over this strategy's; max/1s = most requests in any 1-s window;")
    print("use = requests sent from the first completion to the last detection over R x that span.")


if __name__ == "__main__":
    main()
