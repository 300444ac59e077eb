"""The poller's working state: every job it holds and every errand it owes Flow, with one owner.

A job is in one place at a time: the submission queue, waiting for a token, submitting, the running set
(status checks timed by the CheckScheduler) or waiting for its video URL. Each move between places is one
method here, so the poller, the outcome handler and restore all change the state the same way.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future
from uuid import UUID

from actors.jobs import Job, Phase
from actors.scheduler import CheckScheduler, CheckShape
from domain.application import VeoRelay
from domain.generation import Generation
from domain.values import ErrorReason

__all__ = ["Worklist"]

logger = logging.getLogger(__name__)

ACTIVE_PHASES = frozenset({Phase.SUBMITTING, Phase.RUNNING})
"""Where a job counts against its account's active limit: submitted and not yet finished on Flow."""
NO_POOL_MESSAGE = (
    "No profile takes requests without a profile_id (every profile has pool = false): "
    "name a profile with profile_id, or set pool = true on one."
)


class Worklist:
    """The jobs of one poller by place, the cancels and token refreshes to send, and the refreshes to answer."""

    def __init__(
        self,
        app: VeoRelay,
        checks: CheckScheduler[UUID],
        profile_ids: Collection[str],
        pool: Collection[str],
        shape: Callable[[str], CheckShape] = lambda _account: CheckShape(),
    ) -> None:
        self._app = app
        self._shape = shape
        """How an account's jobs are checked (its backend's batch, first check and model)."""
        self._checks = checks
        self._profile_ids = profile_ids
        self._pool = pool
        self._jobs: dict[UUID, Job] = {}
        self._active: Counter[str] = Counter()  # account -> its jobs in ACTIVE_PHASES
        self._queue: list[tuple[int, int, UUID]] = []  # (-priority, sequence, id) of QUEUED jobs, sorted
        self._sequence = 0
        self._batch_delay: dict[str, float] = {}
        self._batch_next: dict[str, float] = {}
        self._url_look_ups: deque[UUID] = deque()
        self._later_url_look_ups: list[tuple[float, UUID]] = []  # heap of (instant, id)
        self._cancels: deque[tuple[str, str]] = deque()  # (profile id, media name) to cancel on Flow
        self._token_refreshes: deque[str] = deque()  # profiles whose bearer token must be refreshed
        self._waiters: dict[UUID, list[Future[None]]] = {}
        self._alone: set[UUID] = set()  # running jobs to check one per request (a batch of them answered 404)

    # --- intake -------------------------------------------------------------------------------------

    def take_in(self, generation: Generation, token: str | None = None, delay_s: float | None = None) -> Job | None:
        """Hold a recorded, unfinished generation as a job; None when it is held already, or failed at once
        because its profile is unknown here (or, for a pool job, no profile takes pool jobs)."""
        if generation.id in self._jobs or generation.is_terminal:
            return None
        self._sequence += 1
        job = Job.from_generation(generation, self._sequence, token)
        delay = delay_s if delay_s is not None else generation.batch_delay_s  # as recorded, on restore
        if generation.batch_id is not None and delay is not None:
            self._batch_delay[generation.batch_id] = delay
        self._jobs[job.generation_id] = job
        if job.profile_id is not None and job.profile_id not in self._profile_ids:
            self.finish_failed(job, ErrorReason.INVALID_REQUEST, f"Unknown profile {job.profile_id!r}.")
            return None
        if job.pooled and not self._pool and not generation.is_started:
            self.finish_failed(job, ErrorReason.INVALID_REQUEST, NO_POOL_MESSAGE)
            return None
        return job

    def active(self, account: str) -> int:
        """How many jobs of this account are submitted and not yet finished on Flow."""
        return self._active[account]

    def _move(self, job: Job, phase: Phase) -> None:
        """Change a job's place, keeping its account's active count."""
        was_active, now_active = job.phase in ACTIVE_PHASES, phase in ACTIVE_PHASES
        if job.profile_id is not None and was_active != now_active:
            self._active[job.profile_id] += 1 if now_active else -1
        job.phase = phase

    def job(self, generation_id: UUID) -> Job | None:
        """The job of a generation held here, in any place."""
        return self._jobs.get(generation_id)

    def jobs(self) -> Iterator[Job]:
        """Every job held here."""
        return iter(self._jobs.values())

    def holds(self, generation_id: UUID) -> bool:
        """Whether the generation is held here."""
        return generation_id in self._jobs

    # --- the submission queue -----------------------------------------------------------------------

    def put_in_queue(self, job: Job) -> None:
        """Queue a job for submission (priority first, then arrival order); a pool job's account is chosen
        again when it is next submitted (unless it holds a provider's token, which belongs to its account)."""
        self._move(job, Phase.QUEUED)
        if job.pooled and job.recaptcha_token is None:
            job.profile_id = None
        bisect.insort(self._queue, (-job.priority, job.sequence, job.generation_id))

    def queued(self) -> Iterator[Job]:
        """The queued jobs in submission order (taking out the one just yielded is safe)."""
        for _, _, generation_id in list(self._queue):  # a copy of the keys only: cheap, and lazy past them
            job = self._jobs.get(generation_id)
            if job is not None and job.phase == Phase.QUEUED:
                yield job

    def has_queued(self) -> bool:
        """Whether any job waits in the submission queue."""
        return bool(self._queue)

    def wait_for_token(self, job: Job) -> None:
        """Take a queued job out of the queue until a provider's token arrives."""
        self._unqueue(job)
        self._move(job, Phase.WAITING_TOKEN)

    def choose_account(self, job: Job, account: str) -> None:
        """A queued pool job will be submitted to (or wait for a token of) this account."""
        job.profile_id = account

    def submit(self, job: Job, now: float, default_batch_delay_s: float) -> None:
        """Take a queued job out of the queue: its `Submitted` is recorded; space its batch's next item."""
        self._unqueue(job)
        self._move(job, Phase.SUBMITTING)
        if job.batch_id is not None:
            self._batch_next[job.batch_id] = now + self._batch_delay.get(job.batch_id, default_batch_delay_s)

    def await_answer(self, job: Job) -> None:
        """The job's submission is still on its way (restore after an actor crash): its answer will come."""
        self._move(job, Phase.SUBMITTING)

    def batch_ready_at(self, batch_id: str) -> float | None:
        """When the next item of a batch may be submitted (None: nothing of it submitted yet)."""
        return self._batch_next.get(batch_id)

    def _unqueue(self, job: Job) -> None:
        entry = (-job.priority, job.sequence, job.generation_id)
        index = bisect.bisect_left(self._queue, entry)
        if index < len(self._queue) and self._queue[index] == entry:
            del self._queue[index]

    # --- the running set ----------------------------------------------------------------------------

    def track_running(self, job: Job, started_at: float, deadline_at: float | None = None) -> None:
        """The backend has the job: schedule its status checks as its account's backend allows."""
        self._move(job, Phase.RUNNING)
        shape = self._shape(job.account)
        key = (shape.model or job.model, job.job_type)
        self._checks.track(
            job.generation_id, key, started_at, job.priority, deadline_at, batch=shape.batch, floor_s=shape.floor_s
        )

    def running(self, generation_ids: Iterable[UUID]) -> list[Job]:
        """The jobs among these that are running (a check's answer concerns only those)."""
        return [job for i in generation_ids if (job := self._jobs.get(i)) is not None and job.phase == Phase.RUNNING]

    def pick_checks(self) -> list[Job]:
        """The running jobs the scheduler picks for the next status check; a job to check alone goes by itself."""
        picked = [self._jobs[generation_id] for generation_id in self._checks.pick()]
        alone = next((job for job in picked if job.generation_id in self._alone), None)
        if alone is None:
            return picked
        self._checks.requeue(job.generation_id for job in picked if job is not alone)
        return [alone]

    def check_alone(self, jobs: Iterable[Job]) -> None:
        """Flow answered a check of these jobs with 404 without saying which it does not know: check each alone,
        at once (no backoff)."""
        ids = [job.generation_id for job in jobs]
        self._alone.update(ids)
        self._checks.requeue(ids)

    def put_back_checks(self, jobs: Iterable[Job]) -> None:
        """Picked jobs that wait for their own request (another profile's)."""
        self._checks.requeue(job.generation_id for job in jobs)

    def checked(self, still_running: Iterable[UUID]) -> None:
        """A status check answered: these are still running (and may share checks again)."""
        ids = list(still_running)
        self._alone.difference_update(ids)
        self._checks.checked(ids)

    def check_failed(self, jobs: Iterable[Job]) -> None:
        """A status check failed: its jobs back off."""
        self._checks.errored(job.generation_id for job in jobs)

    def shrink_checks(self) -> None:
        """Flow refused a check of several jobs at once: ask about fewer per request."""
        self._checks.shrink_batch()

    def check_due_at(self) -> float | None:
        """When the next status check is due."""
        return self._checks.next_due()

    def next_deadline(self) -> float | None:
        """The earliest deadline of a running job."""
        return self._checks.next_deadline()

    def past_deadline(self) -> list[Job]:
        """The running jobs whose deadline has passed (each is answered once)."""
        expired = (self._jobs.get(generation_id) for generation_id in self._checks.expired())
        return [job for job in expired if job is not None and job.phase != Phase.DONE]

    def check_first(self, generation_id: UUID) -> bool:
        """A manual refresh: True when it waits for a check (one in flight, or this job first in the next pick);
        False when the job is not running here or was checked a moment ago (that check is the answer)."""
        job = self._jobs.get(generation_id)
        if job is None or job.phase != Phase.RUNNING or generation_id not in self._checks:
            return False
        return self._checks.urgent(generation_id) or self._checks.is_in_flight(generation_id)

    def refresh_waits(self) -> bool:
        """Whether a manual refresh waits for a check not yet sent."""
        return any(not self._checks.is_in_flight(generation_id) for generation_id in self._waiters)

    # --- video URLs ---------------------------------------------------------------------------------

    def succeeded(self, job: Job, media_generation_id: str | None) -> float | None:
        """Flow finished the job: it leaves the running set; the instant it was last seen running, if known."""
        job.media_generation_id = media_generation_id
        last_running = self._checks.last_running(job.generation_id)
        self._checks.completed(job.generation_id)
        return last_running

    def look_up_url(self, job: Job) -> None:
        """Fetch the finished job's video URL next."""
        self._move(job, Phase.RESOLVING)
        self._url_look_ups.append(job.generation_id)

    def look_up_url_at(self, job: Job, instant: float) -> None:
        """Fetch the video URL again at `instant` (labs lags behind Flow)."""
        heapq.heappush(self._later_url_look_ups, (instant, job.generation_id))

    def next_url_look_up(self, now: float) -> Job | None:
        """The next job whose video URL is due to be fetched."""
        while self._later_url_look_ups and self._later_url_look_ups[0][0] <= now:
            self._url_look_ups.append(heapq.heappop(self._later_url_look_ups)[1])
        while self._url_look_ups:
            job = self._jobs.get(self._url_look_ups.popleft())
            if job is not None and job.phase == Phase.RESOLVING:
                return job
        return None

    def resolving(self, generation_id: UUID) -> Job | None:
        """The job, if it waits for its video URL."""
        job = self._jobs.get(generation_id)
        return job if job is not None and job.phase == Phase.RESOLVING else None

    # --- errands ------------------------------------------------------------------------------------

    def cancel_on_flow(self, profile_id: str, media_name: str) -> None:
        """Ask Flow to stop a job (best effort)."""
        self._cancels.append((profile_id, media_name))

    def next_cancel(self) -> tuple[str, str] | None:
        """(profile id, media name) of the next cancel to send."""
        return self._cancels.popleft() if self._cancels else None

    def refresh_token(self, profile_id: str) -> None:
        """Turn the profile's session cookie into a fresh bearer token next."""
        self._token_refreshes.append(profile_id)

    def next_token_refresh(self) -> str | None:
        """The profile whose bearer token to refresh next."""
        return self._token_refreshes.popleft() if self._token_refreshes else None

    def errand_due_at(self, now: float) -> float | None:
        """When the next URL look-up, cancel or token refresh may be sent."""
        if self._url_look_ups or self._cancels or self._token_refreshes:
            return now
        return self._later_url_look_ups[0][0] if self._later_url_look_ups else None

    # --- manual refreshes ---------------------------------------------------------------------------

    def wait_for_check(self, generation_id: UUID, done: Future[None]) -> None:
        """Resolve `done` when the job's next status check is handled."""
        self._waiters.setdefault(generation_id, []).append(done)

    def answer_waiters(self, generation_id: UUID) -> None:
        """Resolve the manual refreshes waiting on this job."""
        for waiter in self._waiters.pop(generation_id, []):
            if not waiter.done():
                waiter.set_result(None)

    # --- the end ------------------------------------------------------------------------------------

    def finish_failed(self, job: Job, reason: str, message: str, remote_status: str | None = None) -> None:
        """Record Failed and forget the job."""
        self._app.record_failed(job.generation_id, reason, message, remote_status)
        self.forget(job)

    def finish_completed(self, job: Job, url: str | None, remote_status: str) -> None:
        """Record Completed and forget the job."""
        self._app.record_completed(job.generation_id, job.media_generation_id, url, remote_status)
        self.forget(job)

    def forget(self, job: Job) -> None:
        """The job is terminal (or cannot be worked on): drop it from every place, answer its refreshes."""
        self._move(job, Phase.DONE)
        self._checks.untrack(job.generation_id)
        self._unqueue(job)
        self._jobs.pop(job.generation_id, None)
        self._alone.discard(job.generation_id)
        self.answer_waiters(job.generation_id)
