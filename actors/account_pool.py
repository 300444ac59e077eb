"""Which account a queued job goes to, chosen when it is about to be submitted (CONTRACT §4).

A pinned job (a `profile_id`, an upscale on its source's account) has one candidate; a pool job has every
profile with `pool` true. Among the candidates ready now, the one with the most free room wins: the most
places left under its active limit, then the fewest throttles in the last hour, then the one whose last
submission is oldest (so equal accounts take turns).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from actors.jobs import Job
from actors.profile_state import ProfileState

__all__ = ["AccountPool"]

Skip = Callable[[Job, str], bool]
"""Whether an account cannot take this job for a reason outside pacing (it waits for a token provider)."""


class AccountPool:
    """Answers, for one queued job, when an account may take it and which one to take now."""

    def __init__(self, states: Mapping[str, ProfileState], active: Callable[[str], int]) -> None:
        self._states = states
        self._active = active
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

    def ready_at(self, account: str) -> float:
        """When the account may take its next submission (infinite while it is full)."""
        state = self._states[account]
        return max(state.paused_until, state.pacing.ready_at(self._active(account)))

    def earliest(self, job: Job, skip: Skip) -> float:
        """When some account may take this job (infinite: only an answer or a provider can change that)."""
        return min((self.ready_at(a) for a in self.candidates(job) if not skip(job, a)), default=math.inf)

    def choose(self, job: Job, now: float, skip: Skip) -> str | None:
        """The ready account with the most free room, or None when none is ready at `now`."""
        ready = [a for a in self.candidates(job) if not skip(job, a) and self.ready_at(a) <= now]
        if not ready:
            return None
        return min(ready, key=self._rank)

    def _rank(self, account: str) -> tuple[float, int, float, str]:
        pacing = self._states[account].pacing
        return (-pacing.room(self._active(account)), pacing.throttles_last_hour(), pacing.last_submit, account)
