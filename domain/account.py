"""The Account aggregate: what the relay learned about one Flow account's limits, so a restart keeps it.

Flow throttles each account on its own (flow-api.md §5). The relay learns tighter limits from throttles,
pauses on a ladder, rests after a hard block and takes an account out of the pool when its quota is used
up (or takes out one model only, when Flow says that model's daily quota is); each of these is one event
here, so a restarted relay never submits into a block it knew about. The instants are wall-clock seconds
since the epoch (a monotonic reading means nothing after a restart), computed by the caller. The read models
ignore these events: they concern no generation.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.requests import id_for_key

__all__ = ["RECENT_THROTTLES", "Account", "account_id"]

RECENT_THROTTLES = 20
"""How many of the latest throttle instants an account keeps (queue_status counts those of the last hour)."""


def account_id(profile_id: str) -> UUID:
    """The aggregate id of a profile's account (one per profile name)."""
    return id_for_key("account", profile_id)


class Account(Aggregate):
    """One Flow account's learned limits, pause, rest and quota-out, as of the latest event."""

    class Opened(Aggregate.Created):
        """The relay first learned something about this account."""

        profile_id: str

    class Throttled(Aggregate.Event):
        """Flow answered `USER_REQUESTS_THROTTLED`: tighter limits and a pause on the ladder."""

        at: float
        paused_until: float
        max_active: int | None
        gap: float
        ladder_step: int

    class Rested(Aggregate.Event):
        """Flow hard-blocked the account (`UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC`): it rests until `until`."""

        at: float
        until: float
        next_rest_s: float
        max_active: int | None
        gap: float

    class LimitsRelaxed(Aggregate.Event):
        """After sustained success the limits moved one step back toward the configured ones."""

        max_active: int | None
        gap: float
        ladder_step: int
        next_rest_s: float

    class QuotaOut(Aggregate.Event):
        """Flow said the account's quota is used up: it takes no submission before `until`; with a `model`,
        only that model's daily quota is (the account takes other models meanwhile)."""

        class_version: ClassVar[int] = 2
        at: float
        until: float
        reason: str
        model: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Events recorded before per-model quotas named no model: they took the whole account out."""
            state["model"] = None

    @staticmethod
    def create_id(profile_id: str, **_: Any) -> UUID:
        """One aggregate per profile name."""
        return account_id(profile_id)

    @event(Opened)
    def __init__(self, profile_id: str) -> None:
        self.profile_id = profile_id
        self.max_active: int | None = None
        """The learned active limit (None: nothing learned, or no limit)."""
        self.gap: float | None = None
        """The learned gap between submissions (None: nothing learned)."""
        self.ladder_step = 0
        self.next_rest_s: float | None = None
        self.paused_until = 0.0
        self.resting_until = 0.0
        self.quota_until = 0.0
        self.quota_reason: str | None = None
        self.model_quota: dict[str, float] = {}
        """Per model out of its daily quota: the instant it comes back (the latest refusal's)."""
        self.throttles: list[float] = []
        """The latest throttle and block instants (at most `RECENT_THROTTLES`)."""

    @property
    def learned(self) -> bool:
        """Whether a limit was learned (a throttle or a block tightened them)."""
        return self.gap is not None

    def throttle(self, at: float, paused_until: float, max_active: int | None, gap: float, ladder_step: int) -> None:
        """Record a throttle and the limits and pause it led to."""
        self._throttled(at=at, paused_until=paused_until, max_active=max_active, gap=gap, ladder_step=ladder_step)

    @event(Throttled)
    def _throttled(self, at: float, paused_until: float, max_active: int | None, gap: float, ladder_step: int) -> None:
        self._note(at)
        self.paused_until = max(self.paused_until, paused_until)
        self.max_active, self.gap, self.ladder_step = max_active, gap, ladder_step

    def rest(self, at: float, until: float, next_rest_s: float, max_active: int | None, gap: float) -> None:
        """Record a hard block and the rest it led to."""
        self._rested(at=at, until=until, next_rest_s=next_rest_s, max_active=max_active, gap=gap)

    @event(Rested)
    def _rested(self, at: float, until: float, next_rest_s: float, max_active: int | None, gap: float) -> None:
        self._note(at)
        self.resting_until = max(self.resting_until, until)
        self.next_rest_s, self.max_active, self.gap = next_rest_s, max_active, gap

    def relax(self, max_active: int | None, gap: float, ladder_step: int, next_rest_s: float) -> None:
        """Record one step of relaxation."""
        self._relaxed(max_active=max_active, gap=gap, ladder_step=ladder_step, next_rest_s=next_rest_s)

    @event(LimitsRelaxed)
    def _relaxed(self, max_active: int | None, gap: float, ladder_step: int, next_rest_s: float) -> None:
        self.max_active, self.gap, self.ladder_step, self.next_rest_s = max_active, gap, ladder_step, next_rest_s

    def quota_out(self, at: float, until: float, reason: str, model: str | None = None) -> None:
        """Record that the quota (of `model` only, when given) is used up until `until`."""
        self._quota_out(at=at, until=until, reason=reason, model=model)

    @event(QuotaOut)
    def _quota_out(self, at: float, until: float, reason: str, model: str | None) -> None:
        if model is None:
            self.quota_until, self.quota_reason = until, reason
        else:
            self.model_quota = {**self.model_quota, model: until}

    def _note(self, at: float) -> None:
        self.throttles = [*self.throttles, at][-RECENT_THROTTLES:]
