"""What the poller records for a submission's answer, and what the account learns from it.

Accepted: `Started` (or at once completed or failed). Refused in a way that proves nothing was created: the
job waits and tries again (`Deferred`), its account pauses, rests, learns from a throttle or goes out of quota,
or the job fails for good when the refusal says the request itself is wrong or its profile fails rather than
waits. Any other answer leaves the submission in doubt: the job fails as `interrupted_submission` and is never
sent again (CONTRACT §1 "At most once, never lost"). Safe to run again on the same result after a storage
fault: each step checks the job's phase first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from actors import backends
from actors.account_memory import AccountMemory
from actors.budget import Budget
from actors.calls import CallResult
from actors.clock import Clock
from actors.flow import (
    AccessDenied,
    Ambiguous,
    BadRequest,
    CaptchaRejected,
    ContentPolicy,
    FlowError,
    ModelQuotaReached,
    NotFound,
    QuotaReached,
    SubmitResult,
    Throttled,
    Unauthenticated,
    UnusualTraffic,
)
from actors.gemini import GeminiError, KeyRefused, RateLimited
from actors.jobs import Job, Phase
from actors.poller_settings import PollerSettings
from actors.profile_state import ProfileState
from actors.queue_status import Tally
from actors.worklist import Worklist
from domain.application import VeoRelay
from domain.values import CANCELLED_MESSAGE, FAILED_REMOTE_STATUS, ErrorReason

__all__ = ["AMBIGUOUS_GEMINI_MESSAGE", "AMBIGUOUS_MESSAGE", "KEY_PAUSE_S", "REFUSED_MESSAGE", "SubmissionAnswers"]

logger = logging.getLogger(__name__)

AMBIGUOUS_MESSAGE = (
    "The submission's answer was lost ({detail}), so Flow may have started this video and charged for it. "
    "It was not sent again. Check Flow's library; if the video is not there, use retry to submit it anew."
)
AMBIGUOUS_GEMINI_MESSAGE = (
    "The submission's answer was lost ({detail}), so the Gemini API may have started this video and billed "
    "for it. It was not sent again. Check the key's usage; if the video was not made, use retry to submit it anew."
)
REFUSED_MESSAGE = "{service} refused the job."
"""A submission answered as already failed, when the answer says no more (`service`: `backends.service_name`)."""
KEY_PAUSE_S = 3600.0
"""How long a profile whose key the Gemini API refused waits before one submission tries it again."""

_FINAL = (ContentPolicy, AccessDenied, NotFound, BadRequest)
"""Refusals that end the job at once: the request itself is wrong for Flow."""
_NOT_COUNTED = (QuotaReached, CaptchaRejected, Throttled, UnusualTraffic, Unauthenticated, KeyRefused)
"""Refusals handled by pausing; they do not lengthen the job's own backoff."""


class SubmissionAnswers:
    """Turns submission answers into events, job moves and account state (the poller's thread only)."""

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
        need_token: Callable[[str], None],
    ) -> None:
        self._app = app
        self._work = work
        self._profiles = profiles
        self._budget = budget
        self._tally = tally
        self._clock = clock
        self._settings = settings
        self._memory = memory
        self._need_token = need_token
        """Called with a profile whose bearer token Flow refused (the outcome handler refreshes it)."""

    def handle(self, result: CallResult) -> None:
        """Record what a submission's answer proves: started, refused (wait, pause or fail), or in doubt."""
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
            self.key_refused(job.account, error, now)
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

    def key_refused(self, profile_id: str, error: KeyRefused, now: float) -> None:
        """The Gemini API refused the profile's key: the profile is unusable until its key is fixed; its
        submissions wait (one try again after `KEY_PAUSE_S`), or fail as its `on_quota` says."""
        state = self._profiles[profile_id]
        logger.error("profile %s is unusable: %s", profile_id, error.message)
        state.pause(now, f"the Gemini API refused the key ({error.flow_reason or error.http_status})", KEY_PAUSE_S)
