"""The poller: the one place that decides which Flow call to make next, and records what Flow answers.

A plain, single-threaded class (the PollerActor is only its mailbox). Each `tick` spends the budget in
this order: manual refreshes, video URL look-ups and cancels, submissions (at most `submit_share` of the
budget while status checks are due, each batch spaced by its delay), then status checks batched up to K
jobs per request and timed by the CheckScheduler. HTTP runs on the CallRunner's threads; outcomes come
back through `handle_results`, which records events and then acknowledges them, so an outcome whose
recording fails (a full disk) is handled again later instead of being lost.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import math
import sqlite3
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from actors.budget import Budget
from actors.calls import Call, CallKind, CallRunner
from actors.clock import Clock
from actors.fault_log import FaultLog
from actors.flow import FlowClient, UpscaleSpec
from actors.jobs import Job, Phase
from actors.outcomes import OutcomeHandler
from actors.profile_state import ProfileState
from actors.profiles import Profile
from actors.queue_status import DETECTION_WINDOW_S, Pause, QueueSnapshot
from actors.scheduler import CheckScheduler
from actors.timing import CompletionModel
from actors.tokens import TokenBroker
from domain.application import VeoRelay
from domain.errors import DomainError
from domain.generation import Generation
from domain.values import ErrorReason, Status

__all__ = ["MAX_HANDLER_FAILURES", "Poller", "PollerSettings"]

logger = logging.getLogger(__name__)

MAX_HANDLER_FAILURES = 3
STORAGE_ERRORS = (PersistenceError, sqlite3.Error, OSError)
"""What a write to the store raises while the store is unavailable (full, read-only, unreachable)."""


@dataclass(frozen=True)
class PollerSettings:
    """Tunables of the poller (CONTRACT §5 flags feed these)."""

    rate: float = 10.0
    budget_margin: float = 0.1
    """Starts keep to `rate` per (1 + margin) s: loopback alone showed up to 49 ms of send-to-arrival jitter."""
    check_batch: int = 10
    deadline_s: float = 3600.0
    batch_delay_s: float = 0.5
    submit_share: float = 0.5
    url_retry_s: float = 1.0
    url_attempts: int = 10
    submit_backoff_base: float = 1.0
    submit_backoff_max: float = 60.0
    max_captcha_rejections: int = 3
    on_quota: str = "wait"


class Poller:
    """Owns every Flow call: submissions, status checks, URL look-ups, cancels and token refreshes."""

    def __init__(
        self,
        app: VeoRelay,
        runner: CallRunner,
        profiles: dict[str, Profile],
        budget: Budget,
        model: CompletionModel,
        *,
        clock: Clock,
        settings: PollerSettings | None = None,
        tokens: TokenBroker | None = None,
        on_token: Callable[[UUID, str | None], None] = lambda _id, _token: None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.on_token = on_token
        self.runner = runner
        self.budget = budget
        self.model = model
        self.clock = clock
        self.settings = settings or PollerSettings()
        self.profiles = {name: ProfileState.of(profile) for name, profile in profiles.items()}
        self.scheduler: CheckScheduler[UUID] = CheckScheduler(
            model, clock=clock, batch_size=self.settings.check_batch, deadline_s=self.settings.deadline_s
        )
        self.jobs: dict[UUID, Job] = {}
        self.queue: list[tuple[int, int, UUID]] = []  # (-priority, sequence, id) of QUEUED jobs, sorted
        self.batch_delay: dict[str, float] = {}
        self.batch_next: dict[str, float] = {}
        self.resolves: deque[UUID] = deque()
        self.delayed_resolves: list[tuple[float, UUID]] = []  # heap of (instant, id): URL look-ups to retry
        self.token_refreshes: deque[str] = deque()  # profiles whose bearer token must be refreshed
        self.cancels: deque[tuple[str, str]] = deque()  # (profile id, media name) to cancel on Flow
        self.waiters: dict[UUID, list[Future[None]]] = {}
        self.submits: deque[float] = deque()  # instants of recent submissions (the share rule)
        self.sequence = 0
        self.handler_errors = 0
        self.storage = FaultLog(logger, clock)
        self.failed_results: dict[int, int] = {}  # call id -> failed handling attempts (not storage faults)
        self.throttled = 0
        self.errors: Counter[str] = Counter()  # answers that were errors, by call kind and error class
        self.detections: deque[tuple[float, float]] = deque(maxlen=500)  # (instant, latency bound)
        self.outcomes = OutcomeHandler(self)

    # --- intake -------------------------------------------------------------------------------------

    def enqueue(self, generation_ids: Iterable[UUID], token: str | None = None, delay_s: float | None = None) -> None:
        """Take recorded generations (Requested) into the submission queue; already known ones are ignored."""
        for generation_id in generation_ids:
            if generation_id in self.jobs:
                continue
            generation = self.app.get_generation(generation_id)
            if generation.is_terminal:
                continue
            self.sequence += 1
            job = Job.from_generation(generation, self.sequence, token)
            self.remember_batch(generation, delay_s)
            self.jobs[generation_id] = job
            if job.profile_id not in self.profiles:
                self.finish_failed(job, ErrorReason.INVALID_REQUEST, f"Unknown profile {job.profile_id!r}.")
                continue
            if generation.is_started:
                self.track_running(job, started_at=self.clock())
            else:
                self.put_in_queue(job)

    def remember_batch(self, generation: Generation, delay_s: float | None = None) -> None:
        """The spacing of the generation's batch: as given now, else as recorded with the batch (restore)."""
        delay = delay_s if delay_s is not None else generation.batch_delay_s
        if generation.batch_id is not None and delay is not None:
            self.batch_delay[generation.batch_id] = delay

    def put_in_queue(self, job: Job) -> None:
        """Queue a job for submission (priority first, then arrival order)."""
        job.phase = Phase.QUEUED
        bisect.insort(self.queue, (-job.priority, job.sequence, job.generation_id))

    def track_running(self, job: Job, started_at: float, deadline_at: float | None = None) -> None:
        """Flow has the job: schedule its status checks."""
        job.phase = Phase.RUNNING
        self.scheduler.track(job.generation_id, job.key, started_at, job.priority, deadline_at)

    def refresh(self, generation_id: UUID, done: Future[None]) -> None:
        """A manual refresh: check the job at top priority; `done` resolves when that check is handled."""
        job = self.jobs.get(generation_id)
        if job is None or job.phase != Phase.RUNNING or generation_id not in self.scheduler:
            done.set_result(None)
            return
        if not self.scheduler.urgent(generation_id) and not self.scheduler.is_in_flight(generation_id):
            done.set_result(None)  # checked less than a second ago: that check is the answer
            return
        self.waiters.setdefault(generation_id, []).append(done)

    def provide_session(self, profile_id: str, session_cookie: str, provider_id: str) -> None:
        """A token provider's fresh session cookie for its profile (see OutcomeHandler.session_provided)."""
        self.outcomes.session_provided(profile_id, session_cookie, provider_id)

    def cancel(self, generation_id: UUID) -> bool:
        """Stop working on a job and record Failed(cancelled); False when it is not active here."""
        job = self.jobs.get(generation_id)
        if job is None:  # not (yet) taken in here, e.g. an unknown profile: the poller still owns its events
            if self.app.get_generation(generation_id).is_terminal:
                return False
            self.app.record_cancelled(generation_id)
            return True
        if job.phase in (Phase.DONE, Phase.RESOLVING):  # resolving: Flow already made the video
            return False
        if job.phase == Phase.SUBMITTING:
            job.cancel_requested = True  # decided when the submission's answer arrives
            return True
        if job.phase == Phase.RUNNING and job.operation_name is not None:
            self.cancels.append((job.profile_id, job.media_name or job.operation_name))
        self.finish_failed(job, ErrorReason.CANCELLED, "Cancelled at the user's request.")
        return True

    # --- the loop -----------------------------------------------------------------------------------

    def tick(self) -> float | None:
        """Spend the budget on what is due now; returns when to tick next (None: only on new work)."""
        now = self.clock()
        token_timeout = self.tokens.expire() if self.tokens is not None else None
        for generation_id in self.scheduler.expired():
            job = self.jobs.get(generation_id)
            if job is not None and job.phase != Phase.DONE:
                minutes = self.settings.deadline_s / 60
                self.finish_failed(job, ErrorReason.TIMEOUT, f"Flow gave no result within {minutes:g} minutes.")
        while self.budget.can_acquire():
            call = self.next_call(now)
            if call is None:
                break
            acquired = self.budget.try_acquire()
            assert acquired, "can_acquire and try_acquire disagree"
            self.runner.start(call)
        wake = self.next_wake(now)
        if token_timeout is not None and (wake is None or token_timeout < wake):
            wake = token_timeout
        return wake

    def next_call(self, now: float) -> Call | None:
        """The most valuable call to send now, or None."""
        if self.token_refreshes:
            return self.refresh_token_call(self.token_refreshes.popleft())
        if any(not self.scheduler.is_in_flight(w) for w in self.waiters) and (call := self.check_call()):
            return call
        while self.delayed_resolves and self.delayed_resolves[0][0] <= now:
            self.resolves.append(heapq.heappop(self.delayed_resolves)[1])
        if self.resolves:
            return self.resolve_call(self.resolves.popleft())
        if self.cancels:
            profile_id, media_name = self.cancels.popleft()
            return self.cancel_call(profile_id, media_name)
        # next_due() answers "now" with its own, later clock reading: compare with a fresh one, not `now`.
        checks_due = (due := self.scheduler.next_due()) is not None and due <= self.clock()
        if not checks_due or self.submit_share_left(now):
            call = self.submission_call(now)
            if call is not None:
                return call
        return self.check_call() if checks_due else None

    def submit_share_left(self, now: float) -> bool:
        """Whether submissions may take another slot of this second while checks are due."""
        while self.submits and self.submits[0] <= now - 1.0:
            self.submits.popleft()
        return len(self.submits) < max(1.0, self.settings.rate * self.settings.submit_share)

    def next_wake(self, now: float) -> float | None:
        """The earliest instant something may become sendable."""
        candidates = [t for t in (self.scheduler.next_due(), self.scheduler.next_deadline()) if t is not None]
        if self.resolves or self.cancels or self.token_refreshes:
            candidates.append(now)
        if self.delayed_resolves:
            candidates.append(self.delayed_resolves[0][0])
        queued = self.next_submission_at(now)
        if queued is not None:
            candidates.append(queued)
        if not candidates:
            return None
        wake = min(candidates)
        now = max(now, self.clock())  # next_due() may have answered "now" with a later reading than ours
        if wake <= now:
            if self.budget.in_flight >= self.budget.max_in_flight:
                return self.scheduler.next_deadline()  # only an answer frees a slot, and answers wake us
            wake = max(now, self.budget.next_available())
        return wake

    # --- submissions --------------------------------------------------------------------------------

    def submission_ready_at(self, job: Job, now: float) -> float:
        """When this queued job may be submitted (backoff, batch spacing, profile pause)."""
        ready = job.not_before
        if job.batch_id is not None:
            ready = max(ready, self.batch_next.get(job.batch_id, -math.inf))
        state = self.profiles.get(job.profile_id)
        if state is not None:
            ready = max(ready, state.paused_until)
            if self.waiting_for_provider(job):
                return math.inf  # a provider connecting wakes the loop
        return ready

    def next_submission_at(self, now: float) -> float | None:
        """The earliest instant a queued job may be submitted."""
        best: float | None = None
        seen: set[str] = set()
        for _, _, generation_id in self.queue:
            job = self.jobs[generation_id]
            lane = job.batch_id or ""
            if job.batch_id is not None and lane in seen:
                continue
            seen.add(lane)
            ready = self.submission_ready_at(job, now)
            if ready == math.inf:  # waits for a provider to connect, which wakes the loop itself
                continue
            best = ready if best is None else min(best, ready)
            if best <= now:
                break
        return best

    def submission_call(self, now: float) -> Call | None:
        """Record `Submitted` for the first ready queued job and build its call.

        A job that needs a reCAPTCHA token and has none first asks a provider (no budget is spent while
        it waits); with no provider connected it stays queued and its lane waits.
        """
        blocked: set[str] = set()
        index = 0
        while index < len(self.queue):
            job = self.jobs[self.queue[index][2]]
            lane = job.batch_id or ""
            if (job.batch_id is not None and lane in blocked) or self.submission_ready_at(job, now) > now:
                if job.batch_id is not None:
                    blocked.add(lane)
                index += 1
                continue
            if self.needs_token(job):
                if self.tokens is not None and self.tokens.request(job.generation_id, job.profile_id, self.on_token):
                    del self.queue[index]
                    job.phase = Phase.WAITING_TOKEN
                    continue
                blocked.add(lane)
                index += 1
                continue
            try:
                self.app.record_submitted(job.generation_id)
            except DomainError as exc:
                logger.warning("dropping %s from the queue: %s", job.generation_id, exc)
                del self.queue[index]
                job.phase = Phase.DONE
                return None
            except STORAGE_ERRORS:
                self.storage.failed(f"recording Submitted for {job.generation_id} (retried in 1 s)")
                job.not_before = now + 1.0
                return None
            except Exception:
                logger.exception("cannot record Submitted for %s; retrying in 1 s", job.generation_id)
                job.not_before = now + 1.0
                return None
            self.storage.succeeded()
            del self.queue[index]
            job.phase = Phase.SUBMITTING
            self.submits.append(now)
            if job.batch_id is not None:
                self.batch_next[job.batch_id] = now + self.batch_delay.get(job.batch_id, self.settings.batch_delay_s)
            return self.submit_call(job)
        return None

    def needs_token(self, job: Job) -> bool:
        """The job's profile requires a reCAPTCHA token and the job has none."""
        return job.recaptcha_token is None and self.profiles[job.profile_id].profile.recaptcha == "required"

    def waiting_for_provider(self, job: Job) -> bool:
        """A queued job that needs a token while no provider serves its profile."""
        return self.needs_token(job) and (self.tokens is None or self.tokens.providers(job.profile_id) == 0)

    def token_ready(self, generation_id: UUID, token: str | None) -> None:
        """A provider's token (or None: no provider could answer) for a job waiting for one."""
        job = self.jobs.get(generation_id)
        if job is None or job.phase not in (Phase.WAITING_TOKEN, Phase.QUEUED):
            return
        if token is not None:
            job.recaptcha_token = token
        if job.phase == Phase.WAITING_TOKEN:
            self.put_in_queue(job)

    def submit_call(self, job: Job) -> Call:
        """The generate or upscale call of a job (the token is used once, then forgotten)."""
        profile = self.profiles[job.profile_id].profile
        spec = job.spec()
        token, job.recaptcha_token = job.recaptcha_token, None

        def perform(client: FlowClient) -> object:
            if isinstance(spec, UpscaleSpec):
                return client.upscale(profile, spec, token)
            return client.generate(profile, spec, token)

        return Call(CallKind.SUBMIT, (job.generation_id,), job.profile_id, perform)

    # --- status checks, URLs, cancels, tokens -------------------------------------------------------

    def check_call(self) -> Call | None:
        """A status check of the jobs the scheduler picks (one profile per request)."""
        picked = self.scheduler.pick()
        if not picked:
            return None
        by_profile: dict[str, list[Job]] = {}
        for generation_id in picked:
            job = self.jobs[generation_id]
            by_profile.setdefault(job.profile_id, []).append(job)
        (profile_id, jobs), *others = by_profile.items()
        for _, rest in others:  # another profile's jobs wait for their own request
            self.scheduler.requeue(j.generation_id for j in rest)
        state = self.profiles[profile_id]
        handles = [job.handle for job in jobs]
        contract = state.contract
        profile = state.profile

        def perform(client: FlowClient) -> object:
            return client.check_status(profile, handles, contract)

        return Call(CallKind.CHECK, tuple(j.generation_id for j in jobs), profile_id, perform, contract)

    def resolve_call(self, generation_id: UUID) -> Call | None:
        """Fetch the video URL of a finished job (media contract)."""
        job = self.jobs.get(generation_id)
        if job is None or job.phase != Phase.RESOLVING:
            return None
        profile = self.profiles[job.profile_id].profile
        media_id = job.media_name or job.operation_name or ""
        job.url_attempts += 1

        def perform(client: FlowClient) -> object:
            return client.resolve_video_url(profile, media_id)

        return Call(CallKind.RESOLVE, (generation_id,), job.profile_id, perform)

    def cancel_call(self, profile_id: str, media_name: str) -> Call:
        """Ask Flow to stop a running job (best effort)."""
        profile = self.profiles[profile_id].profile

        def perform(client: FlowClient) -> object:
            client.cancel(profile, media_name)
            return None

        return Call(CallKind.CANCEL, (), profile_id, perform)

    def refresh_token_call(self, profile_id: str) -> Call:
        """Turn the profile's session cookie into a fresh bearer token."""
        profile = self.profiles[profile_id].profile

        def perform(client: FlowClient) -> object:
            return client.refresh_bearer(profile)

        return Call(CallKind.REFRESH_TOKEN, (), profile_id, perform)

    # --- outcomes -----------------------------------------------------------------------------------

    def handle_results(self) -> int:
        """Handle every finished call; stops at the first one that cannot be recorded (retried later).

        A storage fault keeps the result for another try, however long the fault lasts. Any other failure
        is a bug: after `MAX_HANDLER_FAILURES` tries the result is logged and dropped, so one bad answer
        cannot stop all recording (the jobs it concerned are restored on the next restart).
        """
        handled = 0
        for result in self.runner.pending():
            try:
                self.outcomes.handle(result)
                self.storage.succeeded()
            except STORAGE_ERRORS:
                self.handler_errors += 1
                self.storage.failed(f"recording the answer of a {result.call.kind} call (it stays in the mailbox)")
                break
            except Exception:
                self.handler_errors += 1
                failures = self.failed_results[result.call.call_id] = (
                    self.failed_results.get(result.call.call_id, 0) + 1
                )
                if failures < MAX_HANDLER_FAILURES:
                    logger.exception("handling a %s answer failed (try %d)", result.call.kind, failures)
                    break
                logger.exception("dropping a %s answer that failed %d times", result.call.kind, failures)
            self.failed_results.pop(result.call.call_id, None)
            self.runner.ack(result)
            self.budget.release()
            handled += 1
        return handled

    def finish_failed(self, job: Job, reason: str, message: str, remote_status: str | None = None) -> None:
        """Record Failed and forget the job."""
        self.app.record_failed(job.generation_id, reason, message, remote_status)
        self.forget(job)

    def forget(self, job: Job) -> None:
        """The job is terminal: drop it from every structure and answer its refresh waiters."""
        job.phase = Phase.DONE
        self.scheduler.untrack(job.generation_id)
        self.queue = [entry for entry in self.queue if entry[2] != job.generation_id]
        self.jobs.pop(job.generation_id, None)
        self.answer_waiters(job.generation_id)

    def answer_waiters(self, generation_id: UUID) -> None:
        """Resolve the manual refreshes waiting on this job."""
        for waiter in self.waiters.pop(generation_id, []):
            if not waiter.done():
                waiter.set_result(None)

    # --- introspection ------------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """`queue_status` data (CONTRACT §4) now."""
        return self.snapshot().at(self.clock())

    def snapshot(self) -> QueueSnapshot:
        """`queue_status` as of now, to be read at any later instant until the poller's state changes."""
        now = self.clock()
        phases = [job.phase for job in self.jobs.values()]
        running = [job for job in self.jobs.values() if job.phase in (Phase.RUNNING, Phase.RESOLVING)]
        processing = sum(1 for job in running if job.remote_status == "MEDIA_GENERATION_STATUS_ACTIVE")
        return QueueSnapshot(
            queued=phases.count(Phase.QUEUED),
            waiting_token=phases.count(Phase.WAITING_TOKEN)
            + sum(1 for job in self.jobs.values() if job.phase == Phase.QUEUED and self.waiting_for_provider(job)),
            submitting=phases.count(Phase.SUBMITTING),
            pending=len(running) - processing,
            processing=processing,
            in_flight=self.budget.in_flight,
            starts=self.budget.recent_starts(),
            budget={"rate": self.budget.rate, "max_in_flight": self.budget.max_in_flight},
            providers=self.tokens.providers() if self.tokens is not None else 0,
            throttled=self.throttled,
            errors=dict(sorted(self.errors.items())),
            detections=tuple(d for d in self.detections if d[0] >= now - DETECTION_WINDOW_S),
            pauses=tuple(
                Pause(name, state.paused_until, state.pause_reason)
                for name, state in sorted(self.profiles.items())
                if state.is_paused(now)
            ),
        )

    def status_of(self, generation_id: UUID) -> str | None:
        """The client status the poller believes a job has (None when not active here)."""
        job = self.jobs.get(generation_id)
        if job is None:
            return None
        if job.remote_status == "MEDIA_GENERATION_STATUS_ACTIVE":
            return Status.PROCESSING
        return Status.PENDING
