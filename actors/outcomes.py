"""What the poller records for each answer from Flow or the Gemini API (CONTRACT §1 "At most once, never lost").

Submissions' answers go to `actors.submission_answers`; status checks, URL look-ups, credits reads, token
refreshes and cancels are handled here. The Gemini client's errors derive from the Flow errors of the same
meaning, so most answers are handled alike.

Handlers are safe to run again on the same result: a handler whose recording fails (storage fault) is
retried from the top, so each checks the job's phase before recording.
"""

from __future__ import annotations

import logging

from actors import backends
from actors.account_memory import AccountMemory
from actors.budget import Budget
from actors.calls import CallKind, CallResult
from actors.clock import Clock
from actors.flow import CannotCancel, ContractRejected, NotFound, RemoteStatus, Throttled, Unauthenticated
from actors.gemini import KeyRefused, RateLimited
from actors.jobs import Job
from actors.lost_operations import NOT_FOUND_DETAIL, absent_too_long, lost_message, missing_detail
from actors.poller_settings import PollerSettings
from actors.profile_state import ProfileState
from actors.queue_status import Tally
from actors.submission_answers import SubmissionAnswers
from actors.worklist import Worklist
from domain.application import VeoRelay
from domain.values import FAILED_REMOTE_STATUS, SUCCESSFUL_REMOTE_STATUS, ErrorReason

__all__ = ["FAILED_MESSAGE", "OutcomeHandler"]

logger = logging.getLogger(__name__)

FAILED_MESSAGE = "{service} reported the generation as failed."
"""A status check answered failed, when the answer says no more."""


class OutcomeHandler:
    """Turns call results into events, and moves the jobs they concern through the worklist."""

    def __init__(
        self,
        app: VeoRelay,
        work: Worklist,
        profiles: dict[str, ProfileState],
        budget: Budget,
        tally: Tally,
        *,
        clock: Clock,
        settings: PollerSettings,
        memory: AccountMemory,
    ) -> None:
        self._app = app
        self._work = work
        self._profiles = profiles
        self._budget = budget
        self._tally = tally
        self._clock = clock
        self._settings = settings
        self._submissions = SubmissionAnswers(
            app,
            work,
            profiles,
            budget,
            tally,
            clock=clock,
            settings=settings,
            memory=memory,
            need_token=self._need_token,
        )

    def handle(self, result: CallResult) -> None:
        """Dispatch one result by the kind of its call."""
        kind = result.call.kind
        if result.error is not None:
            self._tally.error(kind, result.error)
        match kind:
            case CallKind.SUBMIT:
                self._submissions.handle(result)
            case CallKind.CHECK:
                self._check(result)
            case CallKind.RESOLVE:
                self._resolved(result)
            case CallKind.REFRESH_TOKEN:
                self._token_refreshed(result)
            case CallKind.CREDITS:
                self._credits_read(result)
            case CallKind.CANCEL if isinstance(result.error, NotFound):
                logger.info("Flow no longer knew an operation it was asked to cancel: nothing more is charged for it")
            case CallKind.CANCEL if result.error is not None and not isinstance(result.error, CannotCancel):
                logger.warning("cancel on Flow failed: %s", result.error)

    def _throttled(self, error: Throttled, now: float) -> None:
        """Flow answered a status check with 429: the whole budget waits as long as it says (10 s when it does
        not say)."""
        self._tally.throttled()
        self._budget.pause_until(now + (error.retry_after if error.retry_after is not None else 10.0))

    def _service(self, job: Job) -> str:
        """How a message names the service the job's profile sends to."""
        return backends.service_name(self._profiles[job.account].profile)

    # --- credits ------------------------------------------------------------------------------------

    def _credits_read(self, result: CallResult) -> None:
        """A credits read answered: the balance, or (failed) another read a minute later."""
        state = self._profiles.get(result.call.profile_id)
        if state is None:
            return
        balance = result.value.credits if result.error is None else None
        state.quota.read_answered(balance, self._clock(), self._settings.credits_every_s)
        if isinstance(result.error, Unauthenticated):
            self._need_token(result.call.profile_id)
        elif result.error is not None:
            logger.info("reading the credits of %s failed: %s", result.call.profile_id, result.error)

    # --- bearer tokens ------------------------------------------------------------------------------

    def _need_token(self, profile_id: str) -> None:
        """The bearer token expired: refresh it from the session cookie, or wait for a usable cookie."""
        if self._profiles[profile_id].token_expired(self._clock()):
            self._work.refresh_token(profile_id)

    def _token_refreshed(self, result: CallResult) -> None:
        profile_id = result.call.profile_id
        state = self._profiles.get(profile_id)
        if state is None:
            return
        refused = isinstance(result.error, Unauthenticated)
        if state.token_refreshed(self._clock(), result.error, cookie_refused=refused):
            self._need_token(profile_id)  # a new session cookie arrived meanwhile: try that one at once
        elif result.error is None:
            logger.info("refreshed the bearer token of profile %s", profile_id)

    def session_provided(self, profile_id: str, session_cookie: str, provider_id: str) -> None:
        """A provider's fresh session cookie: the next refresh uses it; a profile waiting for one refreshes now."""
        state = self._profiles.get(profile_id)
        if state is None:
            return
        logger.info("session cookie for profile %s updated by provider %s", profile_id, provider_id)
        if state.new_session(session_cookie):
            self._need_token(profile_id)

    # --- status checks ------------------------------------------------------------------------------

    def _check(self, result: CallResult) -> None:
        work = self._work
        ids = result.call.job_ids
        jobs = work.running(ids)
        if isinstance(result.error, NotFound):
            self._not_found(result, jobs)
            return
        if result.error is not None:
            self._check_failed(result, jobs)
            return
        answers: dict[str, RemoteStatus] = {}
        for remote in result.value:
            answers[remote.name] = remote
            answers.setdefault(remote.handle.name_for("media"), remote)
        now, lost_after_s = self._clock(), self._settings.lost_after_s
        still_running = []
        for job in jobs:
            remote = answers.get(job.operation_name or "") or answers.get(job.media_name or "")
            if remote is None and answers and absent_too_long(job, now, lost_after_s):
                self._lost(job, missing_detail(lost_after_s))
                continue
            if remote is not None:
                job.absent_since = None
            if remote is None or not remote.terminal:
                if remote is not None and remote.status is not None and remote.status != job.remote_status:
                    self._app.record_progress(job.generation_id, remote.status)
                    job.remote_status = remote.status
                still_running.append(job.generation_id)
            elif remote.successful:
                last_running = work.succeeded(job, remote.media_generation_id)
                if last_running is not None:
                    self._tally.detected(self._clock(), last_running)
                self._profiles[job.account].completed(self._clock())
                if remote.video_url:
                    work.finish_completed(job, remote.video_url, remote.status or SUCCESSFUL_REMOTE_STATUS)
                else:
                    work.look_up_url(job)
            else:
                reason = remote.error_reason or remote.status or FAILED_REMOTE_STATUS
                message = remote.error_message or FAILED_MESSAGE.format(service=self._service(job))
                work.finish_failed(job, reason, message, remote.status)
        work.checked(still_running)
        self._credits_seen(result.call.profile_id, result.value)
        for generation_id in ids:
            work.answer_waiters(generation_id)

    def _credits_seen(self, profile_id: str, answers: list[RemoteStatus]) -> None:
        """A status answer carried the account's balance (flow-api.md §1.3)."""
        state = self._profiles.get(profile_id)
        balance = next((a.remaining_credits for a in answers if a.remaining_credits is not None), None)
        if state is not None and balance is not None:
            state.quota.seen(balance, self._clock(), self._settings.credits_every_s)

    def _not_found(self, result: CallResult, jobs: list[Job]) -> None:
        """Flow answered a check with 404: it does not know an operation it was asked about (flow-api.md §2.2).

        A check of one job: that job is lost. Of several: the answer does not say which, so each is checked
        alone next, and only the ones Flow does not know fail.
        """
        if len(result.call.job_ids) > 1:
            logger.info("Flow answered 404 to a check of %d jobs; checking each alone", len(result.call.job_ids))
            self._work.check_alone(jobs)  # their manual refreshes are answered by those checks
            return
        for job in jobs:
            self._lost(job, NOT_FOUND_DETAIL)
        for generation_id in result.call.job_ids:
            self._work.answer_waiters(generation_id)

    def _lost(self, job: Job, detail: str) -> None:
        """Fail a running job whose operation its backend no longer knows (actors.lost_operations)."""
        self._work.finish_failed(job, ErrorReason.OPERATION_LOST, lost_message(job, detail, self._service(job)))

    def _check_failed(self, result: CallResult, jobs: list[Job]) -> None:
        error = result.error
        state = self._profiles.get(result.call.profile_id)
        if isinstance(error, KeyRefused):
            self._submissions.key_refused(result.call.profile_id, error, self._clock())
        elif isinstance(error, RateLimited):
            logger.info("a status check exceeded the Gemini key's quota; its job backs off")
        elif isinstance(error, Throttled):
            self._throttled(error, self._clock())
        elif isinstance(error, ContractRejected) and state is not None:
            if state.auto_contract and state.contract == result.call.contract and state.contract_switches < 2:
                logger.warning("profile %s: Flow refused the %s status shape", state.profile.name, state.contract)
                state.switch_contract()
            elif error.handle_count > 1:
                self._work.shrink_checks()
        elif isinstance(error, Unauthenticated):
            self._need_token(result.call.profile_id)
        else:
            logger.info("status check failed (%s); backing off", error)
        self._work.check_failed(jobs)
        for generation_id in result.call.job_ids:
            self._work.answer_waiters(generation_id)

    # --- video URLs ---------------------------------------------------------------------------------

    def _resolved(self, result: CallResult) -> None:
        """The media URL look-up answered: complete, or retry briefly while labs lags."""
        job = self._work.resolving(result.call.job_ids[0])
        if job is None:
            return
        url = result.value if result.error is None else None
        if url or job.url_attempts >= self._settings.url_attempts:
            if not url:
                logger.warning("no video URL for %s after %d tries", job.generation_id, job.url_attempts)
            self._work.finish_completed(job, url, SUCCESSFUL_REMOTE_STATUS)
            return
        self._work.look_up_url_at(job, self._clock() + self._settings.url_retry_s)
