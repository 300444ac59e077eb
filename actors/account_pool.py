"""Which account a queued job goes to, chosen when it is about to be submitted (CONTRACT §4).

A pinned job (a `profile_id`, an upscale on its source's account) has one candidate; a pool job has every
profile with `pool` true. An account out of quota takes nothing before its quota resets, one out of the job's
model's daily quota takes no job of that model before the same reset, and one whose known credits cannot pay
for the job's model is skipped for that job. Among the candidates ready now, the one
with the most free room wins: the most places left under its active limit, then the fewest throttles in the
last hour, then the most credits, then the one whose last submission is oldest (so equal accounts take
turns). A job none of whose accounts can ever take it (each out of quota, of its model's quota or of credits,
and set to fail rather than wait) is refused with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from actors.credit_costs import HIGHEST_PRICE, credits_for
from actors.jobs import Job
from actors.profile_state import ProfileState

__all__ = ["AccountPool"]

Skip = Callable[[Job, str], bool]
"""Whether an account cannot take this job for a reason outside pacing (it waits for a token provider)."""


class AccountPool:
    """Answers, for one queued job, when an account may take it and which one to take now."""

    def __init__(
        self, states: Mapping[str, ProfileState], active: Callable[[str], int], *, on_quota: str = "wait"
    ) -> None:
        self._states = states
        self._active = active
        self._on_quota = on_quota
        """The poller's own `on_quota`: `fail` makes every account fail its jobs when out of quota."""
        self._pool = tuple(name for name, state in states.items() if state.profile.pool)

    @property
    def members(self) -> tuple[str, ...]:
        """The profiles that take pool jobs."""
        return self._pool

    def candidates(self, job: Job) -> tuple[str, ...]:
        """The accounts this job may go to: its own when pinned (or holding a token of its chosen account)."""
        if job.profile_id is not None and (not job.pooled or job.recaptcha_token is not None):
            return (job.profile_id,) if job.profile_id in self._states else ()
        return self._pool

    def ready_at(self, account: str, job: Job | None = None) -> float:
        """When the account may take its next submission (of `job`, whose model it must be able to pay for and
        not be out of); infinite while it is full or short of credits (an answer or a credits read changes that)."""
        state = self._states[account]
        model_until = -math.inf
        if job is not None:
            if not state.quota.can_pay(credits_for(job.model)):
                return math.inf
            model_until = state.quota.model_until(job.model)
        return max(state.paused_until, state.quota.out_until, model_until, state.pacing.ready_at(self._active(account)))

    def earliest(self, job: Job, skip: Skip) -> float:
        """When some account may take this job (infinite: only an answer or a provider can change that)."""
        return min((self.ready_at(a, job) for a in self.candidates(job) if not skip(job, a)), default=math.inf)

    def choose(self, job: Job, now: float, skip: Skip) -> str | None:
        """The ready account with the most free room, or None when none is ready at `now`."""
        ready = [a for a in self.candidates(job) if not skip(job, a) and self.ready_at(a, job) <= now]
        if not ready:
            return None
        return min(ready, key=self._rank)

    def may_refuse(self, now: float) -> bool:
        """Whether some account set to fail is out of quota (or of a model's) or may be short of credits (else
        `refusal` is None for every job, and the queue need not be looked at)."""
        return any(
            self._fails(name)
            and (state.quota.is_out(now) or state.quota.any_model_out(now) or not state.quota.can_pay(HIGHEST_PRICE))
            for name, state in self._states.items()
        )

    def refusal(self, job: Job, now: float) -> str | None:
        """Why no account can ever take this job (each is out of quota, or of its model's quota, or cannot pay,
        and fails rather than waits), or None while one may still take it."""
        candidates = self.candidates(job)
        reasons = []
        for account in candidates:
            why = self._closed(account, job, now)
            if why is None or not self._fails(account):
                return None
            reasons.append(f"{account} {why}")
        if not reasons:
            return None
        return (
            'No account can take this job now and each is set to fail rather than wait (on_quota = "fail"): '
            + "; ".join(reasons)
            + "."
        )

    def waiting(self, job: Job, now: float, skip: Skip) -> str | None:
        """Why this queued job waits for an account at `now` (None when one is ready, or it waits for a
        token provider): each candidate's state in a few words."""
        candidates = [a for a in self.candidates(job) if not skip(job, a)]
        if not candidates or any(self.ready_at(a, job) <= now for a in candidates):
            return None
        return "waiting for an account: " + "; ".join(f"{a} {self._state_words(a, job, now)}" for a in candidates)

    def _state_words(self, account: str, job: Job, now: float) -> str:
        closed = self._closed(account, job, now)
        if closed is not None:
            return closed
        state = self._states[account]
        until, reason = state.submissions_wait()
        if now < until:
            return f"is paused for {until - now:.0f} s ({reason})"
        active = self._active(account)
        if state.pacing.room(active) <= 0:
            return f"is full ({active} of {state.pacing.max_active} active)"
        return "keeps its gap between submissions"

    def _closed(self, account: str, job: Job, now: float) -> str | None:
        quota = self._states[account].quota
        closed = quota.closed_to(job.model, now)
        if closed is not None:
            return closed
        cost = credits_for(job.model)
        if not quota.can_pay(cost):
            return f"has {quota.credits} credits, {job.model} costs {cost}"
        return None

    def _fails(self, account: str) -> bool:
        return self._on_quota == "fail" or self._states[account].profile.on_quota == "fail"

    def _rank(self, account: str) -> tuple[float, int, int, float, str]:
        state = self._states[account]
        pacing = state.pacing
        credits = state.quota.credits if state.quota.credits is not None else 0
        return (
            -pacing.room(self._active(account)),
            pacing.throttles_last_hour(),
            -credits,
            pacing.last_submit,
            account,
        )
