"""What the poller records for each answer from Flow (CONTRACT §1 "At most once, never lost").

Handlers are safe to run again on the same result: a handler whose recording fails (storage fault) is
retried from the top, so each checks the job's phase before recording.
"""

from __future__ import annotations

import heapq
import logging
from typing import TYPE_CHECKING, Any

from actors.calls import CallKind, CallResult
from actors.flow import (
    AccessDenied,
    Ambiguous,
    BadRequest,
    CannotCancel,
    CaptchaRejected,
    ContentPolicy,
    ContractRejected,
    FlowError,
    NotFound,
    QuotaReached,
    RemoteStatus,
    SubmitResult,
    Throttled,
    Unauthenticated,
    UnusualTraffic,
)
from actors.jobs import Job, Phase
from domain.values import ErrorReason

if TYPE_CHECKING:
    from actors.poller import Poller

__all__ = ["OutcomeHandler"]

logger = logging.getLogger(__name__)

AMBIGUOUS_MESSAGE = (
    "The submission's answer was lost ({detail}), so Flow may have started this video and charged for it. "
    "It was not sent again. Check Flow's library; if the video is not there, use retry to submit it anew."
)


_FINAL = (ContentPolicy, AccessDenied, NotFound, BadRequest)
"""Refusals that end the job at once: the request itself is wrong for Flow."""
_NOT_COUNTED = (QuotaReached, CaptchaRejected, Throttled, UnusualTraffic, Unauthenticated)
"""Refusals handled by pausing; they do not lengthen the job's own backoff."""


class OutcomeHandler:
    """Turns call results into events and poller state."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller

    def handle(self, result: CallResult) -> None:
        """Dispatch one result by the kind of its call."""
        kind = result.call.kind
        if result.error is not None:
            self.poller.errors[f"{kind}:{type(result.error).__name__}"] += 1
        if kind == CallKind.SUBMIT:
            self.submission(result)
        elif kind == CallKind.CHECK:
            self.check(result)
        elif kind == CallKind.RESOLVE:
            self.resolved(result)
        elif kind == CallKind.REFRESH_TOKEN:
            self.token_refreshed(result)
        elif result.error is not None and not isinstance(result.error, CannotCancel):
            logger.warning("cancel on Flow failed: %s", result.error)

    # --- submissions --------------------------------------------------------------------------------

    def submission(self, result: CallResult) -> None:
        poller = self.poller
        job = poller.jobs.get(result.call.job_ids[0])
        if job is None or job.phase != Phase.SUBMITTING:
            return
        error = result.error
        if error is None:
            self.accepted(job, result.value)
            return
        if not isinstance(error, FlowError) or isinstance(error, Ambiguous) or not error.proves_nothing_created:
            detail = error.reason if isinstance(error, FlowError) else type(error).__name__
            poller.finish_failed(job, ErrorReason.INTERRUPTED_SUBMISSION, AMBIGUOUS_MESSAGE.format(detail=detail))
            return
        if job.cancel_requested:  # nothing was created and the user cancelled: never try again
            poller.finish_failed(job, ErrorReason.CANCELLED, "Cancelled at the user's request.")
            return
        self.refused(job, error)

    def accepted(self, job: Job, value: Any) -> None:
        poller = self.poller
        assert isinstance(value, SubmitResult)
        operation = value.operation_name or value.media_name or value.media_generation_id
        if operation is None:
            poller.finish_failed(
                job, ErrorReason.INTERRUPTED_SUBMISSION, AMBIGUOUS_MESSAGE.format(detail="no operation name")
            )
            return
        if job.operation_name is None:  # else a storage fault after Started made this a retry
            poller.app.record_started(job.generation_id, operation, value.media_name, value.remote_status)
            job.operation_name, job.media_name, job.remote_status = operation, value.media_name, value.remote_status
        poller.profiles[job.profile_id].resume()
        now = poller.clock()
        if job.cancel_requested:
            poller.finish_failed(job, ErrorReason.CANCELLED, "Cancelled at the user's request.")
            poller.cancels.append((job.profile_id, job.media_name or operation))
        elif value.terminal and value.successful:
            job.media_generation_id = value.media_generation_id
            job.phase = Phase.RESOLVING
            poller.resolves.append(job.generation_id)
        elif value.terminal:
            reason = value.error_reason or value.remote_status or "MEDIA_GENERATION_STATUS_FAILED"
            poller.finish_failed(job, reason, value.error_message or "Flow refused the job.", value.remote_status)
        else:
            poller.track_running(job, started_at=now, deadline_at=now + poller.settings.deadline_s)

    def refused(self, job: Job, error: FlowError) -> None:
        """The answer proves nothing was created: wait and try again, pause, or fail for good.

        Counters and pauses change only once the event is recorded: after a storage fault the handler runs
        again and must count this refusal once.
        """
        poller = self.poller
        now = poller.clock()
        settings = poller.settings
        rejections = job.captcha_rejections + (1 if isinstance(error, CaptchaRejected) else 0)
        errors = job.submit_errors + (0 if isinstance(error, _FINAL + _NOT_COUNTED) else 1)
        final = self.final_reason(job, error, rejections, errors)
        if final is not None:
            poller.finish_failed(job, final[0], final[1])
        else:
            poller.app.record_deferred(job.generation_id, error.reason or type(error).__name__, error.message)
        job.captcha_rejections, job.submit_errors = rejections, errors
        self.slow_down(job, error, now)
        if final is not None:
            return
        backoff = settings.submit_backoff_base * 1.5 ** max(0, job.submit_errors - 1)
        job.not_before = now + min(settings.submit_backoff_max, backoff)
        poller.put_in_queue(job)

    def final_reason(self, job: Job, error: FlowError, rejections: int, errors: int) -> tuple[str, str] | None:
        """(reason, message) when this refusal ends the job, else None."""
        settings = self.poller.settings
        if isinstance(error, _FINAL):
            return (error.flow_reason or ErrorReason.INVALID_REQUEST, error.message)  # Flow's reason verbatim
        if isinstance(error, QuotaReached):
            if self.poller.profiles[job.profile_id].profile.on_quota == "fail" or settings.on_quota == "fail":
                return (ErrorReason.QUOTA_EXHAUSTED, error.message)
            return None
        if isinstance(error, CaptchaRejected):
            if rejections >= settings.max_captcha_rejections:
                return (ErrorReason.CAPTCHA_REJECTED, error.message)
            return None
        return None  # proven-transient refusals never end a job (CONTRACT §1): it waits, backing off to 60 s

    def slow_down(self, job: Job, error: FlowError, now: float) -> None:
        """Pause what the refusal says to pause: the profile, the whole budget, or until a new token."""
        poller = self.poller
        state = poller.profiles[job.profile_id]
        if isinstance(error, QuotaReached) and job.phase != Phase.DONE:
            state.pause(now, f"quota reached: {error.reason}", seconds=3600.0)
        elif isinstance(error, CaptchaRejected):
            state.pause(now, "reCAPTCHA token rejected")
        elif isinstance(error, Throttled):
            poller.throttled += 1
            wait = error.retry_after if error.retry_after is not None else 10.0
            poller.budget.pause_until(now + wait)
        elif isinstance(error, UnusualTraffic):
            state.pause(now, f"unusual traffic: {error.reason}")
        elif isinstance(error, Unauthenticated):
            self.need_token(job.profile_id)

    def need_token(self, profile_id: str) -> None:
        """The bearer token expired: refresh it once from the session cookie, or pause the profile until a
        usable cookie arrives (a cookie labs refused is not tried again)."""
        poller = self.poller
        state = poller.profiles[profile_id]
        now = poller.clock()
        if state.refreshing:
            return
        if state.profile.session_cookie and not state.needs_session:
            state.refreshing = True
            state.pause(now, "refreshing the bearer token", seconds=30.0)
            poller.token_refreshes.append(profile_id)
        else:
            state.needs_session = True
            cookie = "the session cookie was refused" if state.profile.session_cookie else "no session cookie"
            state.pause(
                now,
                f"bearer token expired and {cookie} to refresh it: update the profiles file "
                "(or let the token bridge extension provide the session)",
            )

    def token_refreshed(self, result: CallResult) -> None:
        poller = self.poller
        state = poller.profiles.get(result.call.profile_id)
        if state is None:
            return
        state.refreshing = False
        again, state.refresh_again = state.refresh_again, False
        if result.error is None:
            state.needs_session = False
            state.paused_until = poller.clock()
            state.resume()
            logger.info("refreshed the bearer token of profile %s", result.call.profile_id)
        elif again:  # a new session cookie arrived meanwhile: try that one at once
            self.need_token(result.call.profile_id)
        else:
            state.needs_session = isinstance(result.error, Unauthenticated)
            state.pause(poller.clock(), f"token refresh failed: {result.error}")

    def session_provided(self, profile_id: str, session_cookie: str, provider_id: str) -> None:
        """A provider's fresh session cookie: the next refresh uses it; a profile waiting for one refreshes now."""
        state = self.poller.profiles.get(profile_id)
        if state is None:
            return
        state.profile.session_cookie = session_cookie
        logger.info("session cookie for profile %s updated by provider %s", profile_id, provider_id)
        if state.refreshing:
            state.refresh_again = True  # the refresh in flight uses the old cookie
        elif state.needs_session:
            state.needs_session = False
            self.need_token(profile_id)

    # --- status checks ------------------------------------------------------------------------------

    def check(self, result: CallResult) -> None:
        poller = self.poller
        ids = result.call.job_ids
        jobs = [job for i in ids if (job := poller.jobs.get(i)) is not None and job.phase == Phase.RUNNING]
        if result.error is not None:
            self.check_failed(result, jobs)
            return
        answers: dict[str, RemoteStatus] = {}
        for remote in result.value:
            answers[remote.name] = remote
            answers.setdefault(remote.handle.name_for("media"), remote)
        still_running = []
        for job in jobs:
            remote = answers.get(job.operation_name or "") or answers.get(job.media_name or "")
            if remote is None or not remote.terminal:
                if remote is not None and remote.status is not None and remote.status != job.remote_status:
                    poller.app.record_progress(job.generation_id, remote.status)
                    job.remote_status = remote.status
                still_running.append(job.generation_id)
            elif remote.successful:
                last_running = poller.scheduler.last_running(job.generation_id)
                if last_running is not None:
                    poller.detections.append((poller.clock(), poller.clock() - last_running))
                poller.scheduler.completed(job.generation_id)
                job.media_generation_id = remote.media_generation_id
                if remote.video_url:
                    self.complete(job, remote.video_url, remote.status)
                else:
                    job.phase = Phase.RESOLVING
                    poller.resolves.append(job.generation_id)
            else:
                reason = remote.error_reason or remote.status or "MEDIA_GENERATION_STATUS_FAILED"
                message = remote.error_message or "Flow reported the generation as failed."
                poller.finish_failed(job, reason, message, remote.status)
        poller.scheduler.checked(still_running)
        for generation_id in ids:
            poller.answer_waiters(generation_id)

    def check_failed(self, result: CallResult, jobs: list[Job]) -> None:
        poller = self.poller
        error = result.error
        state = poller.profiles.get(result.call.profile_id)
        now = poller.clock()
        if isinstance(error, Throttled):
            poller.throttled += 1
            poller.budget.pause_until(now + (error.retry_after if error.retry_after is not None else 10.0))
        elif isinstance(error, ContractRejected) and state is not None:
            if state.auto_contract and state.contract == result.call.contract and state.contract_switches < 2:
                logger.warning("profile %s: Flow refused the %s status shape", state.profile.name, state.contract)
                state.switch_contract()
            elif error.handle_count > 1:
                poller.scheduler.shrink_batch()
        elif isinstance(error, Unauthenticated):
            self.need_token(result.call.profile_id)
        else:
            logger.info("status check failed (%s); backing off", error)
        poller.scheduler.errored(job.generation_id for job in jobs)
        for generation_id in result.call.job_ids:
            poller.answer_waiters(generation_id)

    def complete(self, job: Job, url: str | None, remote_status: str | None) -> None:
        poller = self.poller
        poller.app.record_completed(
            job.generation_id, job.media_generation_id, url, remote_status or "MEDIA_GENERATION_STATUS_SUCCESSFUL"
        )
        poller.forget(job)

    def resolved(self, result: CallResult) -> None:
        """The media URL look-up answered: complete, or retry briefly while labs lags."""
        poller = self.poller
        job = poller.jobs.get(result.call.job_ids[0])
        if job is None or job.phase != Phase.RESOLVING:
            return
        url = result.value if result.error is None else None
        if url or job.url_attempts >= poller.settings.url_attempts:
            if not url:
                logger.warning("no video URL for %s after %d tries", job.generation_id, job.url_attempts)
            self.complete(job, url, None)
            return
        heapq.heappush(poller.delayed_resolves, (poller.clock() + poller.settings.url_retry_s, job.generation_id))
