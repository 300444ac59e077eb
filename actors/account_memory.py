"""What the poller learned about each account, kept in the store as Account events (issue 23, item 5).

Throttles, rests, relaxed limits and quota-outs (of the account, or of one model on it) are written as they
happen and read back when a poller restores, so a restarted relay (or a restarted PollerActor) never submits
into a pause, a rest or a quota-out it knew about. Instants cross the restart on the wall clock: each is
stored as wall-clock seconds and turned back into the poller's monotonic clock with both clocks read at the same moment.

Writes are best effort: a store that refuses one is logged and the poller goes on with what it knows in
memory (the answer that taught it is being recorded on its own and must not be handled twice).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from actors.account_pacing import AccountPacing
from actors.clock import Clock
from actors.fault_log import STORAGE_ERRORS
from actors.profile_state import ProfileState
from domain.account import Account
from domain.application import VeoRelay

__all__ = ["AccountMemory"]

logger = logging.getLogger(__name__)


class AccountMemory:
    """Writes an account's lessons to the store and gives them back to a new poller."""

    def __init__(self, app: VeoRelay, *, clock: Clock, wall_clock: Clock) -> None:
        self._app = app
        self._clock = clock
        self._wall_clock = wall_clock

    def to_wall(self, instant: float) -> float:
        """A clock instant as wall-clock seconds since the epoch."""
        return self._wall_clock() + (instant - self._clock())

    def to_clock(self, wall: float) -> float:
        """A wall-clock instant on the poller's clock."""
        return self._clock() + (wall - self._wall_clock())

    # --- written as it happens ----------------------------------------------------------------------

    def throttled(self, profile_id: str, pacing: AccountPacing) -> None:
        """The account was throttled: its tighter limits and its pause."""
        view = pacing.view()
        at, paused_until = self._wall_clock(), self.to_wall(view.paused_until)
        self._record(
            profile_id,
            lambda account: account.throttle(at, paused_until, pacing.max_active, pacing.gap, pacing.ladder_step),
        )

    def rested(self, profile_id: str, pacing: AccountPacing) -> None:
        """The account was hard-blocked: its rest."""
        view = pacing.view()
        at, until = self._wall_clock(), self.to_wall(view.resting_until)
        self._record(
            profile_id, lambda account: account.rest(at, until, pacing.next_rest_s, pacing.max_active, pacing.gap)
        )

    def relaxed(self, profile_id: str, pacing: AccountPacing) -> None:
        """The account's limits relaxed one step."""
        self._record(
            profile_id,
            lambda account: account.relax(pacing.max_active, pacing.gap, pacing.ladder_step, pacing.next_rest_s),
        )

    def quota_out(self, profile_id: str, until_wall: float, reason: str, *, model: str | None = None) -> None:
        """The account's quota (or only `model`'s daily quota) is used up until `until_wall`."""
        at = self._wall_clock()
        self._record(profile_id, lambda account: account.quota_out(at, until_wall, reason, model))

    def _record(self, profile_id: str, change: Callable[[Account], None]) -> None:
        try:
            self._app.record_account(profile_id, change)
        except STORAGE_ERRORS:
            logger.warning("could not record what account %s taught (kept in memory only)", profile_id, exc_info=True)

    # --- read back on restore -----------------------------------------------------------------------

    def recall(self, state: ProfileState) -> bool:
        """Give a fresh profile state what the store remembers of its account; True when there was something."""
        account = self._app.get_account(state.profile.name)
        if account is None:
            return False
        self._recall_pacing(state.pacing, account)
        wall_now = self._wall_clock()
        if account.quota_reason is not None and account.quota_until > wall_now:
            state.quota.quota_out(self.to_clock(account.quota_until), account.quota_until, account.quota_reason)
        for model, until in account.model_quota.items():
            if until > wall_now:
                state.quota.model_out(model, self.to_clock(until), until)
        logger.info("account %s: recalled what earlier runs learned", state.profile.name)
        return True

    def _recall_pacing(self, pacing: AccountPacing, account: Account) -> None:
        if not account.learned:
            return
        horizon = self._wall_clock() - 3600.0
        pacing.recall(
            max_active=account.max_active,
            gap=account.gap if account.gap is not None else pacing.gap,
            ladder_step=account.ladder_step,
            next_rest_s=account.next_rest_s if account.next_rest_s is not None else pacing.next_rest_s,
            paused_until=self._clock_or_past(account.paused_until),
            resting_until=self._clock_or_past(account.resting_until),
            throttles=tuple(self.to_clock(at) for at in account.throttles if at > horizon),
        )

    def _clock_or_past(self, wall: float) -> float:
        return self.to_clock(wall) if wall > self._wall_clock() else -math.inf
