"""Which running jobs' status to check, and when: adaptive timing under a fixed request budget.

Policy (pure, thread-free; the PollerActor wraps it and owns the Budget):
- No timed check before a job can plausibly be done: `floor_factor` x its key's `floor_quantile`.
- A job becomes *due* when the probability that it completed since its last check,
  (F(now - start) - F(last - start)) / (1 - F(last - start)), reaches its threshold:
  `request_threshold / min(batch_size, jobs tracked) / weight` (priority weights 0.5, 1, 2, 4). So a
  request is sent when it is expected to find about `request_threshold` completions: with a full batch
  each job needs a tenth of that, a lone job all of it. The gap between two checks of one job is clamped
  to [min_spacing, max_spacing].
  Past its key's `tail_quantile` a job's gap also grows with how far past it is (`tail_growth`), up to
  `max_spacing`: tail jobs are neither starved nor hammered.
- A request is worth sending only when at least one job is due (or a manual refresh waits). The budget
  idles otherwise, which happens only while few jobs can plausibly be done: from a few dozen such jobs
  on, due jobs outnumber what the budget can check and every request goes out as soon as allowed.
- Due jobs wait in one FIFO queue per priority; the next job served is the head with the largest
  weight x (now - when it became due). Under saturation this is round-robin within a priority (the job
  due longest ago first, which with alike jobs is also the likeliest to have completed), and a job of
  weight w waits 1/w as long as a normal one, so it is checked about w times as often; nothing starves.
- Every request is filled up to the batch size for free with the jobs due soonest among those past their
  floor, their error backoff and `min_spacing` since their last check.
- A failed check (`errored`) backs the job off 1 s, 1.5 s, 2.25 s ... up to 60 s (the seed's backoff).
- A manual refresh (`urgent`) goes first in the next `pick`, whatever the timing.
- Backends differ in how many operations one check may carry (Flow: `batch_size`; the Gemini API: 1) and
  in how soon a job can be done: `track` takes both per job (`batch`, `floor_s`), and a request carries at
  most the first picked job's `batch`.
Costs: `pick` is O(k log N) for k jobs moved or picked; nothing scans all jobs.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from actors.clock import Clock
from actors.timing import CompletionModel, Distribution, Key

__all__ = ["PRIORITY_WEIGHTS", "CheckScheduler", "CheckShape"]

logger = logging.getLogger(__name__)

J = TypeVar("J", bound=Hashable)

PRIORITY_WEIGHTS = (0.5, 1.0, 2.0, 4.0)
"""Check-rate weight of priorities 0 (low), 1 (normal), 2 (high) and 3 (urgent)."""


@dataclass(frozen=True, slots=True)
class CheckShape:
    """How one account's running jobs are checked, as its backend allows (the `track` options)."""

    batch: int | None = None
    """Operations one status check may carry (None: the scheduler's `batch_size`, Flow's `--check-batch`)."""
    floor_s: float = 0.0
    """No check before this many seconds after Started."""
    model: str | None = None
    """The model completion times are learned for (None: the job's own)."""


@dataclass(slots=True)
class _Job(Generic[J]):
    job_id: J
    key: Key
    started_at: float
    priority: int
    weight: float
    deadline_at: float
    serial: int
    version: int
    batch: int
    floor_at: float = -math.inf
    due: float = -math.inf
    last_running: float | None = None
    sent_at: float | None = None
    refresh: bool = False
    errors: int = 0
    not_before: float = -math.inf


class CheckScheduler(Generic[J]):
    """Chooses the jobs to include in each status-check request (see the module docstring)."""

    def __init__(
        self,
        model: CompletionModel,
        *,
        clock: Clock,
        batch_size: int = 10,
        request_threshold: float = 0.05,
        min_spacing: float = 0.15,
        max_spacing: float = 60.0,
        floor_quantile: float = 0.01,
        floor_factor: float = 0.9,
        tail_quantile: float = 0.99,
        tail_growth: float = 0.1,
        backoff_base: float = 1.0,
        backoff_factor: float = 1.5,
        backoff_max: float = 60.0,
        deadline_s: float = 3600.0,
        coalesce_s: float = 1.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 0.0 < request_threshold < 1.0:
            raise ValueError(f"request_threshold must be in (0, 1), got {request_threshold}")
        self._model = model
        self._clock = clock
        self._batch_size = batch_size
        self._request_threshold = request_threshold
        self._min_spacing = min_spacing
        self._max_spacing = max_spacing
        self._floor_quantile = floor_quantile
        self._floor_factor = floor_factor
        self._tail_quantile = tail_quantile
        self._tail_growth = tail_growth
        self._backoff_base = backoff_base
        self._backoff_factor = backoff_factor
        self._backoff_max = backoff_max
        self._deadline_s = deadline_s
        self._coalesce_s = coalesce_s
        self._jobs: dict[J, _Job[J]] = {}
        self._waiting: list[tuple[float, int, J]] = []  # (due, version, id): not due yet
        self._ready: list[list[tuple[float, int, J]]] = [[] for _ in PRIORITY_WEIGHTS]  # per priority
        self._deadlines: list[tuple[float, int, J]] = []  # (deadline, serial, id)
        self._urgent: dict[J, None] = {}  # manual refreshes, oldest first
        self._versions = itertools.count()

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def __repr__(self) -> str:
        in_flight = sum(1 for job in self._jobs.values() if job.sent_at is not None)
        return f"CheckScheduler(jobs={len(self._jobs)}, in_flight={in_flight}, batch={self._batch_size})"

    def is_in_flight(self, job_id: J) -> bool:
        """Whether the job's check is in flight."""
        job = self._jobs.get(job_id)
        return job is not None and job.sent_at is not None

    def track(
        self,
        job_id: J,
        key: Key,
        started_at: float,
        priority: int = 1,
        deadline_at: float | None = None,
        *,
        batch: int | None = None,
        floor_s: float = 0.0,
    ) -> None:
        """Start polling a job that its backend accepted at `started_at`; tracking it again replaces it.

        `batch`: how many operations a check of this job may carry (None: `batch_size`); `floor_s`: no check
        before this many seconds after `started_at`, whatever the model says.
        """
        if job_id in self._jobs:
            self.untrack(job_id)
        priority = min(max(priority, 0), len(PRIORITY_WEIGHTS) - 1)
        serial = next(self._versions)
        job = _Job(
            job_id=job_id,
            key=key,
            started_at=started_at,
            priority=priority,
            weight=PRIORITY_WEIGHTS[priority],
            deadline_at=started_at + self._deadline_s if deadline_at is None else deadline_at,
            serial=serial,
            version=serial,
            batch=max(1, min(self._batch_size, batch or self._batch_size)),
        )
        dist = self._model.distribution(key)
        job.floor_at = started_at + max(floor_s, self._floor_factor * dist.quantile(self._floor_quantile))
        self._jobs[job_id] = job
        heapq.heappush(self._deadlines, (job.deadline_at, serial, job_id))
        self._schedule(job, self._hazard_due(job, dist))

    def untrack(self, job_id: J) -> bool:
        """Stop polling a job (terminal, cancelled); False when it was not tracked."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            return False
        self._urgent.pop(job_id, None)
        self._maybe_compact()
        return True

    def last_running(self, job_id: J) -> float | None:
        """When a check last saw the job still running (None: never, or not tracked)."""
        job = self._jobs.get(job_id)
        return job.last_running if job is not None else None

    def completed(self, job_id: J) -> float | None:
        """Stop polling a job its check found finished, and teach the model its estimated duration.

        The completion happened between the last check that saw it running (or its floor) and the check
        that found it done; the midpoint is recorded. Returns that duration, None when not tracked.
        """
        job = self._jobs.get(job_id)
        if job is None:
            return None
        seen_done = job.sent_at if job.sent_at is not None else self._clock()
        before = job.last_running if job.last_running is not None else min(job.floor_at, seen_done)
        duration = max(0.0, (before + seen_done) / 2.0 - job.started_at)
        self.untrack(job_id)
        self._model.observe(job.key, duration)
        return duration

    def pick(self, limit: int | None = None) -> list[J]:
        """The jobs to include in one status-check request sent now; empty when none is worth a request.

        The picked jobs are in flight until `checked`, `errored`, `completed`, `untrack` or `requeue`.
        """
        now = self._clock()
        size = self._batch_size if limit is None else min(limit, self._batch_size)
        chosen: list[_Job[J]] = []

        def room() -> int:  # a request carries at most its first job's batch: it goes to that job's backend
            return (min(size, chosen[0].batch) if chosen else size) - len(chosen)

        while self._urgent and room() > 0:
            job_id = next(iter(self._urgent))
            job = self._jobs.get(job_id)
            if job is not None and job.sent_at is None:
                self._take(job, now, chosen)
            else:
                del self._urgent[job_id]
        self._promote(now)
        while room() > 0:
            job = self._next_ready(now)
            if job is None:
                break
            if job.deadline_at > now:
                self._take(job, now, chosen)
        size = min(size, chosen[0].batch) if chosen else size
        if chosen and len(chosen) < size:
            self._top_up(now, size, chosen)
        return [job.job_id for job in chosen]

    def checked(self, job_ids: Iterable[J]) -> None:
        """The checks of these jobs answered and each job is still running."""
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is None or job.sent_at is None:
                continue
            job.last_running = job.sent_at
            job.sent_at = None
            job.errors = 0
            job.not_before = -math.inf
            self._schedule(job, self._hazard_due(job, self._model.distribution(job.key)))

    def requeue(self, job_ids: Iterable[J]) -> None:
        """Put back picked jobs whose check was not sent after all: no backoff, they keep their place."""
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is None or job.sent_at is None:
                continue
            job.sent_at = None
            if job.refresh:
                self._urgent[job_id] = None
            self._schedule(job, job.due)

    def errored(self, job_ids: Iterable[J]) -> None:
        """The checks of these jobs failed: back each off (1 s, x1.5, up to 60 s) before its next check."""
        now = self._clock()
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is None or job.sent_at is None:
                continue
            job.sent_at = None
            job.errors += 1
            backoff = self._backoff_base * self._backoff_factor ** (job.errors - 1)
            job.not_before = now + min(self._backoff_max, backoff)
            due = self._hazard_due(job, self._model.distribution(job.key))
            self._schedule(job, max(job.not_before, due))

    def urgent(self, job_id: J) -> bool:
        """A manual refresh: check the job first in the next pick, whatever its timing.

        Returns False when the refresh joins a check in flight or one made less than `coalesce_s` ago
        (the caller answers from that check); raises KeyError for a job that is not tracked.
        """
        job = self._jobs[job_id]
        if job.sent_at is not None:
            return False
        if job.last_running is not None and self._clock() - job.last_running < self._coalesce_s:
            return False
        self._urgent[job_id] = None
        return True

    def expired(self) -> list[J]:
        """Stop tracking, and return, the jobs whose deadline has passed (oldest deadline first)."""
        now = self._clock()
        gone: list[J] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, serial, job_id = heapq.heappop(self._deadlines)
            job = self._jobs.get(job_id)
            if job is not None and job.serial == serial:
                gone.append(job_id)
                self.untrack(job_id)
        return gone

    def next_due(self) -> float | None:
        """When `pick` may next return something (at or before now: pick now); None when nothing waits."""
        if any(self._jobs[j].sent_at is None for j in self._urgent if j in self._jobs):
            return self._clock()
        if any(self._ready_head(queue) is not None for queue in self._ready):
            return self._clock()
        while self._waiting and self._live(self._waiting[0][2], self._waiting[0][1]) is None:
            heapq.heappop(self._waiting)
        return self._waiting[0][0] if self._waiting else None

    def next_deadline(self) -> float | None:
        """The earliest deadline of a tracked job, for the caller's expiry timer."""
        while self._deadlines:
            deadline, serial, job_id = self._deadlines[0]
            job = self._jobs.get(job_id)
            if job is not None and job.serial == serial:
                return deadline
            heapq.heappop(self._deadlines)
        return None

    def shrink_batch(self) -> int:
        """Flow refused a batch as too large: halve the batch size (down to 1) and return it."""
        self._batch_size = max(1, self._batch_size // 2)
        logger.warning("status-check batch size lowered to %d", self._batch_size)
        return self._batch_size

    def _hazard_due(self, job: _Job[J], dist: Distribution) -> float:
        """When the probability that the job completed since its last check reaches its threshold."""
        theta = self._request_threshold / min(job.batch, max(1, len(self._jobs))) / job.weight
        if job.last_running is None:
            return max(job.floor_at, job.started_at + dist.quantile(theta))
        elapsed = max(0.0, job.last_running - job.started_at)
        done = dist.cdf(elapsed)
        gap = dist.quantile(done + theta * (1.0 - done)) - elapsed
        tail = dist.quantile(self._tail_quantile)
        if elapsed > tail:
            gap = max(gap, self._tail_growth * (elapsed - tail) / job.weight)
        gap = min(self._max_spacing, max(self._min_spacing, gap))
        return max(job.floor_at, job.last_running + gap)

    def _schedule(self, job: _Job[J], due: float) -> None:
        job.version = next(self._versions)
        job.due = due
        heapq.heappush(self._waiting, (due, job.version, job.job_id))

    def _promote(self, now: float) -> None:
        """Move the jobs that became due into the fair queue."""
        while self._waiting and self._waiting[0][0] <= now:
            due, version, job_id = heapq.heappop(self._waiting)
            job = self._live(job_id, version)
            if job is not None:
                heapq.heappush(self._ready[job.priority], (due, version, job_id))

    def _ready_head(self, queue: list[tuple[float, int, J]]) -> _Job[J] | None:
        """The live job at the head of a ready queue, dropping stale entries."""
        while queue:
            job = self._live(queue[0][2], queue[0][1])
            if job is not None:
                return job
            heapq.heappop(queue)
        return None

    def _next_ready(self, now: float) -> _Job[J] | None:
        """Pop the due job that has waited longest, each wait scaled by its priority's weight."""
        best: list[tuple[float, int, J]] | None = None
        best_score = -math.inf
        for priority in reversed(range(len(self._ready))):
            queue = self._ready[priority]
            head = self._ready_head(queue)
            if head is None:
                continue
            score = PRIORITY_WEIGHTS[priority] * (now - queue[0][0])
            if score > best_score:
                best, best_score = queue, score
        if best is None:
            return None
        _, version, job_id = heapq.heappop(best)
        return self._live(job_id, version)

    def _top_up(self, now: float, size: int, chosen: list[_Job[J]]) -> None:
        """Fill the request with the jobs due soonest that may be checked now."""
        skipped: list[tuple[float, int, J]] = []
        budget = 4 * size + 16
        while self._waiting and len(chosen) < size and budget > 0:
            budget -= 1
            entry = heapq.heappop(self._waiting)
            job = self._live(entry[2], entry[1])
            if job is None:
                continue
            recent = job.last_running is not None and now - job.last_running < self._min_spacing
            if now < job.floor_at or now < job.not_before or recent or job.deadline_at <= now:
                skipped.append(entry)
            else:
                self._take(job, now, chosen)
        for entry in skipped:
            heapq.heappush(self._waiting, entry)

    def _take(self, job: _Job[J], now: float, chosen: list[_Job[J]]) -> None:
        job.sent_at = now
        job.version = next(self._versions)
        job.refresh = job.job_id in self._urgent
        self._urgent.pop(job.job_id, None)
        chosen.append(job)

    def _live(self, job_id: J, version: int) -> _Job[J] | None:
        job = self._jobs.get(job_id)
        return job if job is not None and job.version == version else None

    def _maybe_compact(self) -> None:
        """Drop stale heap entries once they outnumber the live jobs."""
        entries = len(self._waiting) + sum(map(len, self._ready)) + len(self._deadlines)
        if entries <= 3 * len(self._jobs) + 64:
            return
        jobs = self._jobs
        self._waiting = [e for e in self._waiting if (j := jobs.get(e[2])) and j.version == e[1]]
        self._ready = [[e for e in queue if (j := jobs.get(e[2])) and j.version == e[1]] for queue in self._ready]
        self._deadlines = [e for e in self._deadlines if (j := jobs.get(e[2])) and j.serial == e[1]]
        heapq.heapify(self._waiting)
        for queue in self._ready:
            heapq.heapify(queue)
        heapq.heapify(self._deadlines)
