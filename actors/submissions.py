"""Which queued job the poller submits next, to which account, and the `Submitted` it records first.

Part of the poller (single-threaded, called from its `tick`): a job goes when its backoff, its batch's spacing and
one of its accounts (pauses, gaps, active limits, quota, a token provider when the account needs one) allow it;
submissions take at most `submit_share` of a second's budget while status checks are due. A job no account can do
fails without a call.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from uuid import UUID

from actors import backends
from actors.account_pool import AccountPool
from actors.calls import Call
from actors.credit_costs import credits_for
from actors.fault_log import STORAGE_ERRORS, FaultLog
from actors.jobs import Job
from actors.poller_settings import PollerSettings
from actors.profile_state import ProfileState
from actors.tokens import TokenBroker
from actors.worklist import Worklist
from domain.application import VeoRelay
from domain.errors import DomainError
from domain.values import ErrorReason

__all__ = ["Submissions"]

logger = logging.getLogger(__name__)


class Submissions:
    """Chooses and records submissions over the poller's worklist and accounts (loop thread only)."""

    def __init__(
        self,
        app: VeoRelay,
        work: Worklist,
        accounts: AccountPool,
        profiles: Mapping[str, ProfileState],
        settings: PollerSettings,
        storage: FaultLog,
        tokens: TokenBroker | None,
        on_token: Callable[[UUID, str | None], None],
    ) -> None:
        self._app = app
        self._work = work
        self._accounts = accounts
        self._profiles = profiles
        self._settings = settings
        self._storage = storage
        self._tokens = tokens
        self._on_token = on_token
        self._recent: deque[float] = deque()  # instants of recent submissions (the share rule)

    def share_left(self, now: float) -> bool:
        """Whether submissions may take another slot of this second while checks are due."""
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        return len(self._recent) < max(1.0, self._settings.rate * self._settings.submit_share)

    def _ready_at(self, job: Job) -> float:
        """When this queued job may be submitted (backoff, batch spacing, and the earliest of its accounts: their
        pauses, gaps and active limits); infinite while it waits for an answer or a provider, which wake the loop.
        A job no account can do is due at once: it fails without a call."""
        if self._refused_everywhere(job) is not None:
            return -math.inf
        ready = job.not_before
        if job.batch_id is not None:
            batch_ready = self._work.batch_ready_at(job.batch_id)
            if batch_ready is not None:
                ready = max(ready, batch_ready)
        return max(ready, self._accounts.earliest(job, self._unfit))

    def next_at(self, now: float) -> float | None:
        """The earliest instant a queued job may be submitted."""
        best: float | None = None
        seen: set[str] = set()
        for job in self._work.queued():
            lane = job.batch_id or ""
            if job.batch_id is not None and lane in seen:
                continue
            seen.add(lane)
            ready = self._ready_at(job)
            if ready == math.inf:  # waits for an answer or a provider, which wake the loop themselves
                continue
            best = ready if best is None else min(best, ready)
            if best <= now:
                break
        return best

    def next_call(self, now: float) -> Call | None:
        """Record `Submitted` for the first ready queued job and build its call.

        A job that needs a reCAPTCHA token and has none first asks a provider (no budget is spent while
        it waits); with no provider connected it stays queued and its lane waits.
        """
        blocked: set[str] = set()
        for job in self._work.queued():
            lane = job.batch_id or ""
            if (refusal := self._refused_everywhere(job)) is not None:
                self._work.finish_failed(job, ErrorReason.INVALID_REQUEST, refusal)
                continue
            if (job.batch_id is not None and lane in blocked) or self._ready_at(job) > now:
                if job.batch_id is not None:
                    blocked.add(lane)
                continue
            account = self._accounts.choose(job, now, self._unfit)
            if account is None:
                blocked.add(lane)
                continue
            self._work.choose_account(job, account)
            if self._needs_token(job, account):
                if self._tokens is not None and self._tokens.request(job.generation_id, account, self._on_token):
                    self._work.wait_for_token(job)
                else:
                    blocked.add(lane)
                continue
            try:
                model = backends.model_used(job, self._profiles[account].profile)
                self._app.record_submitted(job.generation_id, account, model)
            except DomainError as exc:
                logger.warning("dropping %s from the queue: %s", job.generation_id, exc)
                self._work.forget(job)
                return None
            except STORAGE_ERRORS:
                self._storage.failed(f"recording Submitted for {job.generation_id} (retried in 1 s)")
                job.not_before = now + 1.0
                return None
            except Exception:
                logger.exception("cannot record Submitted for %s; retrying in 1 s", job.generation_id)
                job.not_before = now + 1.0
                return None
            self._storage.succeeded()
            self._work.submit(job, now, self._settings.batch_delay_s)
            self._profiles[account].pacing.submitted()
            self._profiles[account].quota.spend(credits_for(job.model))
            self._recent.append(now)
            return backends.submit_call(job, self._profiles[account].profile)
        return None

    def refuse_hopeless(self, now: float) -> None:
        """Fail the queued jobs no account can take: each of their accounts is out of quota or short of credits
        and set to fail rather than wait (looked at only while some account is so)."""
        if not self._accounts.may_refuse(now):
            return
        for job in self._work.queued():
            if (refusal := self._accounts.refusal(job, now)) is None:
                continue
            try:
                self._work.finish_failed(job, ErrorReason.QUOTA_EXHAUSTED, refusal)
            except STORAGE_ERRORS:
                self._storage.failed(f"recording Failed for {job.generation_id} (retried at the next tick)")
                return
            self._storage.succeeded()

    def _unfit(self, job: Job, account: str) -> bool:
        """The account cannot take the job now: its backend cannot do it, or it waits for a token provider."""
        refused = backends.refused(job, self._profiles[account].profile) is not None
        return refused or self.provider_missing(job, account)

    def _refused_everywhere(self, job: Job) -> str | None:
        """Why no account the job may go to can do it (None: some can, or it has no account)."""
        candidates = self._accounts.candidates(job)
        refusals = [backends.refused(job, self._profiles[account].profile) for account in candidates]
        if not candidates or any(refusal is None for refusal in refusals):
            return None
        return refusals[0]

    def _needs_token(self, job: Job, account: str) -> bool:
        """The account requires a reCAPTCHA token and the job has none."""
        return job.recaptcha_token is None and self._profiles[account].profile.recaptcha == "required"

    def provider_missing(self, job: Job, account: str) -> bool:
        """On this account the job would need a token while no provider serves the account."""
        return self._needs_token(job, account) and (self._tokens is None or self._tokens.providers(account) == 0)

    def waiting_for_provider(self, job: Job) -> bool:
        """A queued job that needs a token on every account it may go to, while no provider serves them."""
        candidates = self._accounts.candidates(job)
        return bool(candidates) and all(self.provider_missing(job, account) for account in candidates)
