"""One Flow account's quota and credits as the relay knows them (issue 23, item 4).

Flow's `PUBLIC_ERROR_USER_QUOTA_REACHED` takes the account out of the pool until its quota resets (the
profile's `quota_reset`). Its credits come from `GET /v1/credits`, read inside the budget at start and then
at most every few minutes while work waits, and from the `remainingCredits` that submission and status
answers carry (flow-api.md §1.2); a submission spends its model's price at once, so the next choice does not
count credits already on their way. A plain class on the injected clock.
"""

from __future__ import annotations

import logging
import math

__all__ = ["CREDITS_RETRY_S", "AccountQuota"]

logger = logging.getLogger(__name__)

CREDITS_RETRY_S = 60.0
"""After a credits read failed, the next one waits this long (or the read interval, if shorter)."""


class AccountQuota:
    """Whether the account is out of quota (until when, why) and its latest known credit balance."""

    def __init__(self) -> None:
        self.out_until = -math.inf
        """The clock instant its quota comes back (-inf: not out)."""
        self.out_until_wall: float | None = None
        """The same instant on the wall clock (seconds since the epoch), for people and for the store."""
        self.out_reason: str | None = None
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
