"""What the poller records for each answer from Flow or the Gemini API (CONTRACT §1 "At most once, never lost").

The Gemini client's errors derive from the Flow errors of the same meaning, so most answers are handled
alike; a Gemini key's 429 teaches its per-minute quota instead of Flow's throttle ladder, and a refused key
pauses (or, with `on_quota = "fail"`, fails) its profile's jobs.

Handlers are safe to run again on the same result: a handler whose recording fails (storage fault) is
retried from the top, so each checks the job's phase before recording.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from actors import backends
from actors.account_memory import AccountMemory
from actors.budget import Budget
from actors.calls import CallKind, CallResult
from actors.clock import Clock
from actors.flow import (
    AccessDenied,
    Ambiguous,
    BadRequest,
    CannotCancel,
    CaptchaRejected,
    ContentPolicy,
    ContractRejected,
    FlowError,
    ModelQuotaReached,
    NotFound,
    QuotaReached,
    RemoteStatus,
    SubmitResult,
    Throttled,
    Unauthenticated,
    UnusualTraffic,
)
from actors.gemini import GeminiError, KeyRefused, RateLimited
from actors.jobs import Job, Phase
from actors.lost_operations import NOT_FOUND_DETAIL, absent_too_long, lost_message, missing_detail
from actors.poller_settings import PollerSettings
from actors.profile_state import ProfileState
from actors.queue_status import Tally
from actors.worklist import Worklist
from domain.application import VeoRelay
from domain.values import FAILED_REMOTE_STATUS, SUCCESSFUL_REMOTE_STATUS, ErrorReason

__all__ = [
    "AMBIGUOUS_GEMINI_MESSAGE",
    "AMBIGUOUS_MESSAGE",
    "CANCELLED_MESSAGE",
    "FAILED_MESSAGE",
    "KEY_PAUSE_S",
    "REFUSED_MESSAGE",
    "OutcomeHandler",
]

logger = logging.getLogger(__name__)

AMBIGUOUS_MESSAGE = (
    "The submission's answer was lost ({detail}), so Flow may have started this video and charged for it. "
    "It was not sent again. Check Flow's library; if the video is not there, use retry to submit it anew."
)
AMBIGUOUS_GEMINI_MESSAGE = (
    "The submission's answer was lost ({detail}), so the Gemini API may have started this video and billed "
    "for it. It was not sent again. Check the key's usage; if the video was not made, use retry to submit it anew."
)
CANCELLED_MESSAGE = "Cancelled at the user's request."
REFUSED_MESSAGE = "{service} refused the job."
"""A submission answered as already failed, when the answer says no more (`service`: `backends.service_name`)."""
FAILED_MESSAGE = "{service} reported the generation as failed."
"""A status check answered failed, when the answer says no more."""
KEY_PAUSE_S = 3600.0
"""How long a profile whose key the Gemini API refused waits before one submission tries it again."""

_FINAL = (ContentPolicy, AccessDenied, NotFound, BadRequest)
"""Refusals that end the job at once: the request itself is wrong for Flow."""
_NOT_COUNTED = (QuotaReached, CaptchaRejected, Throttled, UnusualTraffic, Unauthenticated, KeyRefused)
"""Refusals handled by pausing; they do not lengthen the job's own backoff."""


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
        self._memory = memory

    def handle(self, result: CallResult) -> None:
        """Dispatch one result by the kind of its call."""
        kind = result.call.kind
        if result.error is not None:
            self._tally.error(kind, result.error)
        match kind:
            case CallKind.SUBMIT:
                self._submission(result)
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

    # --- submissions --------------------------------------------------------------------------------

    def _submission(self, result: CallResult) -> None:
        job = self._work.job(result.call.job_ids[0])
        if job is None or job.phase != Phase.SUBMITTING:
            return
        error = result.error
        if error is None:
            self._accepted(job, result.value)
            return
        if not isinstance(error, FlowError) or isinstance(error, Ambiguous) or not error.proves_nothing_created:
            detail = error.reason if isinstance(error, FlowError) else type(error).__name__
            self._ambiguous(job, detail)
            return
        if job.cancel_requested:  # nothing was created and the user cancelled: never try again
            self._work.finish_failed(job, ErrorReason.CANCELLED, CANCELLED_MESSAGE)
            return
        self._refused(job, error)

    def _accepted(self, job: Job, value: Any) -> None:
        work = self._work
        assert isinstance(value, SubmitResult)
        operation = value.operation_name or value.media_name or value.media_generation_id
        if operation is None:
            self._ambiguous(job, "no operation name")
            return
        if job.operation_name is None:  # else a storage fault after Started made this a retry
            self._app.record_started(job.generation_id, operation, value.media_name, value.remote_status)
            job.operation_name, job.media_name, job.remote_status = operation, value.media_name, value.remote_status
        state = self._profiles[job.account]
        state.resume()
        if state.pacing.accepted():
            self._memory.relaxed(job.account, state.pacing)
        now = self._clock()
        if value.remaining_credits is not None:
            state.quota.seen(value.remaining_credits, now, self._settings.credits_every_s)
        if job.cancel_requested:
            work.finish_failed(job, ErrorReason.CANCELLED, CANCELLED_MESSAGE)
            work.cancel_on_flow(job.account, job.media_name or operation)
        elif value.terminal and value.successful:
            job.media_generation_id = value.media_generation_id
            state.completed(now)
            work.look_up_url(job)
        elif value.terminal:
            reason = value.error_reason or value.remote_status or FAILED_REMOTE_STATUS
            message = value.error_message or REFUSED_MESSAGE.format(service=self._service(job))
            work.finish_failed(job, reason, message, value.remote_status)
        else:
            work.track_running(job, started_at=now, deadline_at=now + self._settings.deadline_s)

    def _ambiguous(self, job: Job, detail: str) -> None:
        """The submission's answer was lost or unreadable: fail it, saying where it may have been started."""
        gemini = self._profiles[job.account].profile.is_gemini
        message = (AMBIGUOUS_GEMINI_MESSAGE if gemini else AMBIGUOUS_MESSAGE).format(detail=detail)
        self._work.finish_failed(job, ErrorReason.INTERRUPTED_SUBMISSION, message)

    def _service(self, job: Job) -> str:
        """How a message names the service the job's profile sends to."""
        return backends.service_name(self._profiles[job.account].profile)

    def _refused(self, job: Job, error: FlowError) -> None:
        """The answer proves nothing was created: wait and try again, pause, or fail for good.

        Counters and pauses change only once the event is recorded: after a storage fault the handler runs
        again and must count this refusal once.
        """
        now = self._clock()
        settings = self._settings
        rejections = job.captcha_rejections + (1 if isinstance(error, CaptchaRejected) else 0)
        errors = job.submit_errors + (0 if isinstance(error, _FINAL + _NOT_COUNTED) else 1)
        final = self._final_reason(job, error, rejections)
        if final is not None:
            self._work.finish_failed(job, final[0], final[1])
        else:
            self._app.record_deferred(job.generation_id, error.reason or type(error).__name__, error.message)
        job.captcha_rejections, job.submit_errors = rejections, errors
        self._slow_down(job, error, now)
        if final is not None:
            return
        backoff = settings.submit_backoff_base * 1.5 ** max(0, job.submit_errors - 1)
        job.not_before = now + min(settings.submit_backoff_max, backoff)
        self._work.put_in_queue(job)

    def _final_reason(self, job: Job, error: FlowError, rejections: int) -> tuple[str, str] | None:
        """(reason, message) when this refusal ends the job, else None."""
        settings = self._settings
        if isinstance(error, _FINAL):
            if isinstance(error, GeminiError):
                return (error.reason, error.message)  # one of the documented reasons (actors.gemini.errors)
            return (error.flow_reason or ErrorReason.INVALID_REQUEST, error.message)  # Flow's reason verbatim
        fails = not job.pooled and (  # a pool job goes back to the pool: another account may take it
            self._profiles[job.account].profile.on_quota == "fail" or settings.on_quota == "fail"
        )
        if isinstance(error, ModelQuotaReached):
            return (ErrorReason.QUOTA_EXHAUSTED, self._model_quota_message(job, error)) if fails else None
        if isinstance(error, QuotaReached):
            return (ErrorReason.QUOTA_EXHAUSTED, error.message) if fails else None
        if isinstance(error, KeyRefused):
            return (ErrorReason.KEY_REFUSED, error.message) if fails else None
        if isinstance(error, CaptchaRejected):
            if rejections >= settings.max_captcha_rejections:
                return (ErrorReason.CAPTCHA_REJECTED, error.message)
            return None
        return None  # proven-transient refusals never end a job (CONTRACT §1): it waits, backing off to 60 s

    def _slow_down(self, job: Job, error: FlowError, now: float) -> None:
        """Pause what the refusal says to pause: the account (its pacing learns from throttles and blocks), the
        whole budget when Flow names a Retry-After, or until a new token.

        The refused job still counts as active here: Flow refused the account at that many.
        """
        state = self._profiles[job.account]
        if isinstance(error, QuotaReached):
            self._quota_out(job, error)
        elif isinstance(error, KeyRefused) and job.phase != Phase.DONE:
            self._key_refused(job.account, error, now)
        elif isinstance(error, RateLimited):
            self._tally.throttled()
            if state.pacing.minute is not None:
                state.pacing.minute.refused(error.retry_after)
        elif isinstance(error, CaptchaRejected):
            state.pause(now, "reCAPTCHA token rejected")
        elif isinstance(error, Throttled):
            self._tally.throttled()
            state.pacing.throttled(self._work.active(job.account))
            self._memory.throttled(job.account, state.pacing)
            if error.retry_after is not None:
                self._budget.pause_until(now + error.retry_after)
        elif isinstance(error, UnusualTraffic):
            state.pacing.blocked(self._work.active(job.account))
            self._memory.rested(job.account, state.pacing)
        elif isinstance(error, Unauthenticated):
            self._need_token(job.account)

    def _quota_out(self, job: Job, error: QuotaReached) -> None:
        """Flow said the account's quota is used up: out of the pool until the profile's `quota_reset`; or only
        the job's model's daily quota is: that model is out on the account until the same reset."""
        account = job.account
        state = self._profiles[account]
        until_wall = self._quota_back(account)
        reason = f"quota reached: {error.reason}"
        if isinstance(error, ModelQuotaReached):
            state.quota.model_out(job.model, self._memory.to_clock(until_wall), until_wall)
            self._memory.quota_out(account, until_wall, reason, model=job.model)
            logger.warning("account %s is out of its daily quota for %s until its reset", account, job.model)
            return
        state.quota.quota_out(self._memory.to_clock(until_wall), until_wall, reason)
        self._memory.quota_out(account, until_wall, reason)
        logger.warning("account %s is out of quota (%s): no submissions before its reset", account, error.reason)

    def _quota_back(self, account: str) -> float:
        """When a quota the account used up now comes back (wall clock): its profile's `quota_reset`."""
        return self._profiles[account].profile.quota_reset.until(self._memory.to_wall(self._clock()))

    def _model_quota_message(self, job: Job, error: ModelQuotaReached) -> str:
        """Why a pinned job set to fail ends on its model's daily quota: the model, the account, when it is back."""
        back = datetime.fromtimestamp(self._quota_back(job.account), UTC)
        return (
            f"Account {job.account} is out of its daily quota for {job.model} until {back:%Y-%m-%d %H:%M} UTC "
            f'({error.flow_reason}), and on_quota = "fail" ends its jobs rather than wait.'
        )

    def _key_refused(self, profile_id: str, error: KeyRefused, now: float) -> None:
        """The Gemini API refused the profile's key: the profile is unusable until its key is fixed; its
        submissions wait (one try again after `KEY_PAUSE_S`), or fail as its `on_quota` says."""
        state = self._profiles[profile_id]
        logger.error("profile %s is unusable: %s", profile_id, error.message)
        state.pause(now, f"the Gemini API refused the key ({error.flow_reason or error.http_status})", KEY_PAUSE_S)

    def _throttled(self, error: Throttled, now: float) -> None:
        """Flow answered a status check with 429: the whole budget waits as long as it says (10 s when it does
        not say)."""
        self._tally.throttled()
        self._budget.pause_until(now + (error.retry_after if error.retry_after is not None else 10.0))

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
            self._key_refused(result.call.profile_id, error, self._clock())
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
