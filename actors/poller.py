"""The poller: the one place that decides which call to Google to make next, and records what it answers.

A plain, single-threaded class (the PollerActor is only its mailbox). Each `tick` spends the budget in
this order: manual refreshes, video URL look-ups and cancels, submissions (`actors.submissions`: at most
`submit_share` of the budget while status checks are due, each batch spaced by its delay), then status
checks batched up to K jobs per request and timed by the CheckScheduler. HTTP runs on the CallRunner's
threads; outcomes come back through `handle_results`, which records events and then acknowledges them, so an
outcome whose recording fails (a full disk) is handled again later instead of being lost.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from datetime import datetime
from uuid import UUID

from actors import backends
from actors.account_memory import AccountMemory
from actors.account_pool import AccountPool
from actors.budget import Budget
from actors.calls import Call, CallKind, CallRunner
from actors.clock import Clock
from actors.fault_log import STORAGE_ERRORS, FaultLog
from actors.flow_calls import credits_call, refresh_token_call, resolve_call
from actors.jobs import Job, Phase
from actors.outcomes import OutcomeHandler
from actors.poller_settings import PollerSettings
from actors.profile_state import ProfileState
from actors.profiles import Profile
from actors.queue_status import (
    DETECTION_WINDOW_S,
    BudgetLimits,
    Pause,
    QueueSnapshot,
    QueueStatus,
    Tally,
)
from actors.restore import RestoreReport, Unfinished, restore
from actors.scheduler import CheckScheduler
from actors.submissions import Submissions
from actors.timing import CompletionModel
from actors.tokens import TokenBroker
from actors.worklist import Worklist
from domain.application import VeoRelay
from domain.values import ACTIVE_REMOTE_STATUS, CANCELLED_MESSAGE, ErrorReason

__all__ = ["MAX_HANDLER_FAILURES", "Poller", "PollerSettings"]

logger = logging.getLogger(__name__)

MAX_HANDLER_FAILURES = 3


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
        wall_clock: Clock = time.time,
        settings: PollerSettings | None = None,
        tokens: TokenBroker | None = None,
        on_token: Callable[[UUID, str | None], None] = lambda _id, _token: None,
    ) -> None:
        self._app = app
        self._tokens = tokens
        self._on_token = on_token
        self._runner = runner
        self._budget = budget
        self._clock = clock
        self._settings = settings or PollerSettings()
        self._profiles = {name: ProfileState.of(profile, clock) for name, profile in profiles.items()}
        checks: CheckScheduler[UUID] = CheckScheduler(
            model, clock=clock, batch_size=self._settings.check_batch, deadline_s=self._settings.deadline_s
        )
        pool = [name for name, profile in profiles.items() if profile.pool]
        self._work = Worklist(
            app,
            checks,
            self._profiles.keys(),
            pool,
            lambda account: backends.check_shape(self._profiles[account].profile, self._settings),
        )
        self._accounts = AccountPool(self._profiles, self._work.active, on_quota=self._settings.on_quota)
        self._memory = AccountMemory(app, clock=clock, wall_clock=wall_clock)
        self._tally = Tally()
        self._outcomes = OutcomeHandler(
            app,
            self._work,
            self._profiles,
            budget,
            self._tally,
            clock=clock,
            settings=self._settings,
            memory=self._memory,
        )
        self._storage = FaultLog(logger, clock)
        self._submissions = Submissions(
            app, self._work, self._accounts, self._profiles, self._settings, self._storage, tokens, on_token
        )
        self._failed_results: dict[int, int] = {}  # call id -> failed handling attempts (not storage faults)
        self._reservations: deque[Future[None]] = deque()  # budget slots asked for by others (video downloads)

    # --- intake -------------------------------------------------------------------------------------

    def restore(self, unfinished: Sequence[Unfinished], wall_now: datetime) -> RestoreReport:
        """Take back what the store remembers of each account, then every unfinished generation (on start, and
        after a crash)."""
        for state in self._profiles.values():
            self._memory.recall(state)
        answers_due = self._runner.busy_job_ids(CallKind.SUBMIT)
        gemini = {name for name, state in self._profiles.items() if state.profile.is_gemini}
        return restore(self._app, self._work, unfinished, answers_due, self._clock(), wall_now, self._settings, gemini)

    def enqueue(self, generation_ids: Iterable[UUID], token: str | None = None, delay_s: float | None = None) -> None:
        """Take recorded generations (Requested) into the submission queue; already known ones are ignored."""
        for generation_id in generation_ids:
            if self._work.holds(generation_id):
                continue
            generation = self._app.get_generation(generation_id)
            job = self._work.take_in(generation, token, delay_s)
            if job is None:
                continue
            if generation.is_started:
                self._work.track_running(job, started_at=self._clock())
            else:
                self._work.put_in_queue(job)

    def refresh(self, generation_id: UUID, done: Future[None]) -> None:
        """A manual refresh: check the job at top priority; `done` resolves when that check is handled."""
        if self._work.check_first(generation_id):
            self._work.wait_for_check(generation_id, done)
        else:
            done.set_result(None)  # not running here, or checked less than a second ago: that check is the answer

    def reserve(self, done: Future[None]) -> None:
        """A call made outside the poller (a video download from the Gemini API host) needs a start in the
        budget: `done` resolves when it may be sent. The slot counts in the window; it is not held in flight."""
        self._reservations.append(done)

    def provide_session(self, profile_id: str, session_cookie: str, provider_id: str) -> None:
        """A token provider's fresh session cookie for its profile (see OutcomeHandler.session_provided)."""
        self._outcomes.session_provided(profile_id, session_cookie, provider_id)

    def cancel(self, generation_id: UUID) -> bool:
        """Stop working on a job and record Failed(cancelled); False when it is not active here."""
        job = self._work.job(generation_id)
        if job is None:  # not (yet) taken in here, e.g. an unknown profile: the poller still owns its events
            if self._app.get_generation(generation_id).is_terminal:
                return False
            self._app.record_cancelled(generation_id)
            return True
        if job.phase in (Phase.DONE, Phase.RESOLVING):  # resolving: Flow already made the video
            return False
        if job.phase == Phase.SUBMITTING:
            job.cancel_requested = True  # decided when the submission's answer arrives
            return True
        if job.phase == Phase.RUNNING and job.operation_name is not None:
            self._work.cancel_on_flow(job.account, job.media_name or job.operation_name)
        self._work.finish_failed(job, ErrorReason.CANCELLED, CANCELLED_MESSAGE)
        return True

    # --- the loop -----------------------------------------------------------------------------------

    def tick(self) -> float | None:
        """Spend the budget on what is due now; returns when to tick next (None: only on new work)."""
        now = self._clock()
        token_timeout = self._tokens.expire() if self._tokens is not None else None
        for job in self._work.past_deadline():
            minutes = self._settings.deadline_s / 60
            service = backends.service_name(self._profiles[job.account].profile)
            self._work.finish_failed(job, ErrorReason.TIMEOUT, f"{service} gave no result within {minutes:g} minutes.")
        self._submissions.refuse_hopeless(now)
        while self._budget.can_acquire():
            if self._reservations:
                self._grant(self._reservations.popleft())
                continue
            call = self._next_call(now)
            if call is None:
                break
            acquired = self._budget.try_acquire()
            assert acquired, "can_acquire and try_acquire disagree"
            self._runner.start(call)
        wake = self._next_wake(now)
        if token_timeout is not None and (wake is None or token_timeout < wake):
            wake = token_timeout
        return wake

    def _grant(self, done: Future[None]) -> None:
        """Spend one start of the budget on a reserved outside call (none when its caller stopped waiting)."""
        if not done.set_running_or_notify_cancel():
            return
        acquired = self._budget.try_acquire()
        assert acquired, "can_acquire and try_acquire disagree"
        self._budget.release()  # counted in the window, not held: the download runs on the keeper's thread
        done.set_result(None)

    def retry_results_at(self) -> float | None:
        """When to handle the mailbox again: in a second while an answer in it could not be recorded."""
        return self._clock() + 1.0 if self._runner.pending() else None

    def _next_call(self, now: float) -> Call | None:
        """The most valuable call to send now, or None."""
        if (profile_id := self._work.next_token_refresh()) is not None:
            return refresh_token_call(profile_id, self._profiles[profile_id].profile)
        if (profile_id := self._credits_due(now)) is not None:
            self._profiles[profile_id].quota.reading()
            return credits_call(profile_id, self._profiles[profile_id].profile)
        if self._work.refresh_waits() and (call := self._check_call()):
            return call
        if (job := self._work.next_url_look_up(now)) is not None:
            return resolve_call(job, self._profiles[job.account].profile)
        while (cancel := self._work.next_cancel()) is not None:
            profile_id, media_name = cancel
            if (call := backends.cancel_call(profile_id, self._profiles[profile_id].profile, media_name)) is not None:
                return call
        # check_due_at() answers "now" with its own, later clock reading: compare with a fresh one, not `now`.
        checks_due = (due := self._work.check_due_at()) is not None and due <= self._clock()
        if not checks_due or self._submissions.share_left(now):
            call = self._submissions.next_call(now)
            if call is not None:
                return call
        return self._check_call() if checks_due else None

    def _next_wake(self, now: float) -> float | None:
        """The earliest instant something may become sendable."""
        candidates = [
            t
            for t in (
                self._work.check_due_at(),
                self._work.next_deadline(),
                self._work.errand_due_at(now),
                now if self._reservations else None,
                self._submissions.next_at(now),
                self._next_credits_read(),
            )
            if t is not None
        ]
        if not candidates:
            return None
        wake = min(candidates)
        now = max(now, self._clock())  # check_due_at() may have answered "now" with a later reading than ours
        if wake <= now:
            if self._budget.in_flight >= self._budget.max_in_flight:
                return self._work.next_deadline()  # only an answer frees a slot, and answers wake us
            wake = max(now, self._budget.next_available())
        return wake

    # --- credits ------------------------------------------------------------------------------------

    def _credits_reads(self) -> Iterable[tuple[str, float]]:
        """(account, when its next credits read is due) of the Flow accounts that want one (the Gemini API bills
        a key with no balance to read)."""
        every_s = self._settings.credits_every_s
        if every_s <= 0:
            return
        work_waits = self._work.has_queued()
        for name, state in self._profiles.items():
            if not backends.reads_credits(state.profile):
                continue
            due = state.quota.read_due_at(every_s, work_waits=work_waits)
            if due is not None:
                yield name, due

    def _credits_due(self, now: float) -> str | None:
        """The account whose credits to read now, if any."""
        return next((name for name, due in self._credits_reads() if due <= now), None)

    def _next_credits_read(self) -> float | None:
        return min((due for _, due in self._credits_reads()), default=None)

    def token_ready(self, generation_id: UUID, token: str | None) -> None:
        """A provider's token (or None: no provider could answer) for a job waiting for one."""
        job = self._work.job(generation_id)
        if job is None or job.phase not in (Phase.WAITING_TOKEN, Phase.QUEUED):
            return
        if token is not None:
            job.recaptcha_token = token
        if job.phase == Phase.WAITING_TOKEN:
            self._work.put_in_queue(job)

    # --- status checks ------------------------------------------------------------------------------

    def _check_call(self) -> Call | None:
        """A status check of the jobs the scheduler picks (one profile per request)."""
        picked = self._work.pick_checks()
        if not picked:
            return None
        by_profile: dict[str, list[Job]] = {}
        for job in picked:
            by_profile.setdefault(job.account, []).append(job)
        (profile_id, jobs), *others = by_profile.items()
        for _, rest in others:  # another profile's jobs wait for their own request
            self._work.put_back_checks(rest)
        return backends.check_call(jobs, profile_id, self._profiles[profile_id])

    # --- outcomes -----------------------------------------------------------------------------------

    def handle_results(self) -> int:
        """Handle every finished call; stops at the first one that cannot be recorded (retried later).

        A storage fault keeps the result for another try, however long the fault lasts. Any other failure
        is a bug: after `MAX_HANDLER_FAILURES` tries the result is logged and dropped, so one bad answer
        cannot stop all recording (the jobs it concerned are restored on the next restart).
        """
        handled = 0
        for result in self._runner.pending():
            try:
                self._outcomes.handle(result)
                self._storage.succeeded()
            except STORAGE_ERRORS:
                self._storage.failed(f"recording the answer of a {result.call.kind} call (it stays in the mailbox)")
                break
            except Exception:
                failures = self._failed_results[result.call.call_id] = (
                    self._failed_results.get(result.call.call_id, 0) + 1
                )
                if failures < MAX_HANDLER_FAILURES:
                    logger.exception("handling a %s answer failed (try %d)", result.call.kind, failures)
                    break
                logger.exception("dropping a %s answer that failed %d times", result.call.kind, failures)
            self._failed_results.pop(result.call.call_id, None)
            self._runner.ack(result)
            self._budget.release()
            handled += 1
        return handled

    # --- introspection ------------------------------------------------------------------------------

    def _waiting_for_accounts(self, now: float) -> str | None:
        """Why the first queued job that waits for an account does (queue_status's `waiting_for_accounts`)."""
        job = next(self._work.queued(), None)
        return None if job is None else self._accounts.waiting(job, now, self._submissions.provider_missing)

    def status(self) -> QueueStatus:
        """`queue_status` now."""
        return self.snapshot().at(self._clock())

    def snapshot(self) -> QueueSnapshot:
        """`queue_status` as of now, to be read at any later instant until the poller's state changes."""
        now = self._clock()
        jobs = list(self._work.jobs())
        phases = [job.phase for job in jobs]
        running = [job for job in jobs if job.phase in (Phase.RUNNING, Phase.RESOLVING)]
        processing = sum(1 for job in running if job.remote_status == ACTIVE_REMOTE_STATUS)
        status = QueueStatus(
            queued=phases.count(Phase.QUEUED),
            waiting_token=phases.count(Phase.WAITING_TOKEN)
            + sum(1 for job in jobs if job.phase == Phase.QUEUED and self._submissions.waiting_for_provider(job)),
            submitting=phases.count(Phase.SUBMITTING),
            pending=len(running) - processing,
            processing=processing,
            in_flight=self._budget.in_flight,
            requests_last_second=0,
            budget=BudgetLimits(self._budget.rate, self._budget.max_in_flight),
            providers=self._tokens.providers() if self._tokens is not None else 0,
            throttled=self._tally.throttled_count(),
            errors=self._tally.errors(),
            detection_latency=0.0,
            paused_profiles=(),
            waiting_for_accounts=self._waiting_for_accounts(now),
        )
        return QueueSnapshot(
            status,
            starts=self._budget.recent_starts(),
            detections=self._tally.detections_since(now - DETECTION_WINDOW_S),
            pauses=tuple(
                Pause(name, until, reason)
                for name, (until, reason) in sorted((n, s.submissions_wait()) for n, s in self._profiles.items())
                if now < until
            ),
            accounts=tuple(
                state.account_view(self._work.active(name)) for name, state in sorted(self._profiles.items())
            ),
        )
