"""One Flow account's quota and credits as the relay knows them (issue 23, item 4).

Flow's `PUBLIC_ERROR_USER_QUOTA_REACHED` takes the account out of the pool until its quota resets (the
profile's `quota_reset`); `PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED` takes out only the model refused,
until the same reset, and the account goes on taking other models. Its credits come from `GET /v1/credits`,
read inside the budget at start and then at most every few minutes while work waits, and from the
`remainingCredits` that submission and status answers carry (flow-api.md §1.2); a submission spends its
model's price at once, so the next choice does not count credits already on their way. A plain class on the
injected clock.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["CREDITS_RETRY_S", "AccountQuota", "ModelOut"]

logger = logging.getLogger(__name__)

CREDITS_RETRY_S = 60.0
"""After a credits read failed, the next one waits this long (or the read interval, if shorter)."""


@dataclass(frozen=True, slots=True)
class ModelOut:
    """One model out of its daily quota on the account, until `until` (clock) / `until_wall` (wall)."""

    until: float
    until_wall: float


class AccountQuota:
    """Whether the account is out of quota (until when, why) and its latest known credit balance."""

    def __init__(self) -> None:
        self.out_until = -math.inf
        """The clock instant its quota comes back (-inf: not out)."""
        self.out_until_wall: float | None = None
        """The same instant on the wall clock (seconds since the epoch), for people and for the store."""
        self.out_reason: str | None = None
        self.models_out: dict[str, ModelOut] = {}
        """The models Flow said are out of their daily quota, and until when (an entry stays after its end)."""
        self.credits: int | None = None
        """The latest known balance, less what submissions since then spent (None: not known yet)."""
        self._reading = False
        self._asked = False
        self._next_read = -math.inf

    # --- quota --------------------------------------------------------------------------------------

    def quota_out(self, until: float, until_wall: float, reason: str) -> None:
        """Flow said the quota is used up: no submission before `until` (clock) / `until_wall` (wall)."""
        if until > self.out_until:
            self.out_until, self.out_until_wall = until, until_wall
        self.out_reason = reason

    def is_out(self, now: float) -> bool:
        """Whether the account is out of quota at `now`."""
        return now < self.out_until

    def model_out(self, model: str, until: float, until_wall: float) -> None:
        """Flow said `model`'s daily quota on this account is used up: no submission of it before `until`."""
        known = self.models_out.get(model)
        if known is None or until > known.until:
            self.models_out[model] = ModelOut(until, until_wall)

    def model_until(self, model: str) -> float:
        """The clock instant `model` comes back on this account (-inf: it is not out)."""
        out = self.models_out.get(model)
        return out.until if out is not None else -math.inf

    def closed_to(self, model: str, now: float) -> str | None:
        """Why the account takes no submission of `model` at `now` in a few words (its quota, or that model's
        daily quota, is used up), or None while it may."""
        if self.is_out(now):
            return f"is out of quota{_until(self.out_until_wall)} ({self.out_reason})"
        out = self.models_out.get(model)
        if out is not None and now < out.until:
            return f"is out of its daily quota for {model}{_until(out.until_wall)}"
        return None

    def any_model_out(self, now: float) -> bool:
        """Whether some model is out of its daily quota at `now`."""
        return any(now < out.until for out in self.models_out.values())

    # --- credits ------------------------------------------------------------------------------------

    def can_pay(self, cost: int) -> bool:
        """Whether the known balance pays `cost` (an unknown balance is not held against the account)."""
        return self.credits is None or self.credits >= cost

    def spend(self, cost: int) -> None:
        """A submission costing `cost` is on its way: count it before Flow's answer says the new balance."""
        if self.credits is not None:
            self.credits -= cost

    def seen(self, balance: int, now: float, every_s: float) -> None:
        """Flow gave the balance (a credits read, or `remainingCredits` in an answer): no read for `every_s`."""
        self.credits = balance
        self._next_read = now + every_s

    def read_due_at(self, every_s: float, *, work_waits: bool) -> float | None:
        """When the next credits read is due (None: reads are off, one is in flight, or nothing needs one:
        after the first read, only while work waits for an account)."""
        if every_s <= 0 or self._reading or (self._asked and not work_waits):
            return None
        return self._next_read

    def reading(self) -> None:
        """A credits read was sent."""
        self._reading = self._asked = True

    def read_answered(self, balance: int | None, now: float, every_s: float) -> None:
        """The credits read answered: `balance`, or None when it failed (tried again a minute later)."""
        self._reading = False
        if balance is not None:
            self.seen(balance, now, every_s)
        else:
            self._next_read = now + min(every_s, CREDITS_RETRY_S)


def _until(wall: float | None) -> str:
    return f" until {datetime.fromtimestamp(wall, UTC):%Y-%m-%d %H:%M} UTC" if wall is not None else ""
