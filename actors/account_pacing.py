"""One Flow account's own pacing: how many of its generations may be active, how far apart its submissions go,
and what it learned from Flow's throttling (CONTRACT §6: on top of the global budget).

Flow throttles each account on its own and does not publish the limits (flow-api.md §5): too many active
generations or submissions too close together earn `USER_REQUESTS_THROTTLED`, and repeated throttling a hard
block (`UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC`). So a throttle tightens the account's limits at once and pauses it
on a ladder; a hard block rests it; the limits relax step by step after sustained success, never above the
configured ones. A plain class with an injected clock; the poller asks it, the outcome handler tells it.

A Gemini API key is an account too (its `max_active` and `submit_gap` apply alike); it adds a per-minute quota
(`actors.minute_quota`) that its submissions keep to and its 429 answers teach.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from actors.clock import Clock
from actors.minute_quota import MinuteQuota

__all__ = [
    "DEFAULT_REST_S",
    "GAP_SUSPECT_S",
    "MAX_REST_S",
    "PAUSE_LADDER",
    "RELAX_AFTER",
    "RELAX_QUIET_S",
    "AccountPacing",
    "AccountState",
    "PacingView",
]

logger = logging.getLogger(__name__)

PAUSE_LADDER = (10.0, 30.0, 120.0, 600.0, 1800.0)
"""Seconds an account's submissions pause after its 1st, 2nd, ... throttle (or reCAPTCHA rejection) in a row
(flow-api.md §2.2)."""
DEFAULT_REST_S = 600.0
"""How long an account rests after its first hard block; each further block doubles it."""
MAX_REST_S = 6 * 3600.0
"""The longest rest (Flow's hard blocks are reported to last minutes to hours)."""
RELAX_AFTER = 10
"""Accepted submissions, none throttled, before the limits relax one step."""
RELAX_QUIET_S = 300.0
"""Seconds without a throttle before the limits relax one step."""
MIN_GAP_AFTER_THROTTLE = 1.0
"""A throttled account's gap is at least this (the safe envelope reported is a second or more)."""
GAP_SUSPECT_S = 2.0
"""A throttled submission sent less than this after the account's previous one may have been refused for the gap
alone (Flow does not say which limit it hit): the gap widens to at least this and the active limit stays. Any
later throttle then comes at this gap or wider, so it lowers the active limit."""
MAX_GAP = 60.0
"""The widest gap learning may set."""
HOUR = 3600.0
THROTTLE_REASON = "throttled by Flow (requesting generations too quickly)"
REST_REASON = "blocked by Flow for unusual traffic: resting"


class AccountState(StrEnum):
    """Whether the account's submissions may go now."""

    READY = "ready"
    PAUSED = "paused"  # on the throttle ladder (or a gap of minutes)
    RESTING = "resting"  # after a hard block: not tried before its end


@dataclass(frozen=True, slots=True)
class PacingView:
    """What `queue_status` shows of an account's pacing, frozen at one instant (times on the pacing's clock)."""

    paused_until: float
    resting_until: float
    reason: str | None
    limit: int | None
    gap: float
    throttles: tuple[float, ...]
    """Instants of the throttles and blocks within the last hour."""
    throttles_total: int
    """Throttles since the relay started (hard blocks not counted)."""
    blocks_total: int
    """Hard blocks since the relay started."""


class AccountPacing:
    """An account's limits (configured and as learned), its pause ladder, its rest, and its recent throttles."""

    def __init__(
        self, max_active: int | None, submit_gap: float, *, clock: Clock, minute: MinuteQuota | None = None
    ) -> None:
        self._clock = clock
        self.minute = minute
        """The per-minute quota of a Gemini API key (None: a Flow account, which has none)."""
        self.configured_active = max_active
        self.configured_gap = submit_gap
        self.max_active = max_active
        """The effective limit of active generations (None: no limit of its own)."""
        self.gap = submit_gap
        """The effective seconds between two submissions."""
        self._last_submit = -math.inf
        self._interval = math.inf  # between its last two submissions
        self._paused_until = -math.inf
        self._resting_until = -math.inf
        self._reason: str | None = None
        self._level = 0  # the next step of the ladder
        self._rest_s = DEFAULT_REST_S
        self._successes = 0
        self._last_throttle = -math.inf
        self._throttles: deque[float] = deque()
        self._throttles_total = 0
        self._blocks_total = 0

    # --- asked by the poller ------------------------------------------------------------------------

    @property
    def ladder_step(self) -> int:
        """The next step of the pause ladder."""
        return self._level

    @property
    def next_rest_s(self) -> float:
        """How long the next hard block rests the account."""
        return self._rest_s

    @property
    def last_submit(self) -> float:
        """When its last submission was sent (-inf: never)."""
        return self._last_submit

    def room(self, active: int) -> float:
        """How many more generations may be active now (infinite without a limit)."""
        return math.inf if self.max_active is None else self.max_active - active

    def ready_at(self, active: int) -> float:
        """When the next submission may go: the gap, the pause, the rest; infinite while the account is full
        (only an answer frees a place, and answers wake the poller)."""
        if self.room(active) <= 0:
            return math.inf
        quota = self.minute.ready_at() if self.minute is not None else -math.inf
        return max(self._last_submit + self.gap, self._paused_until, self._resting_until, quota)

    def throttles_last_hour(self) -> int:
        """Throttles and hard blocks within the last hour."""
        self._forget_old()
        return len(self._throttles)

    def state(self) -> AccountState:
        """Ready, paused (ladder) or resting (hard block), now."""
        now = self._clock()
        if now < self._resting_until:
            return AccountState.RESTING
        if now < self._paused_until:
            return AccountState.PAUSED
        return AccountState.READY

    def view(self) -> PacingView:
        """A frozen copy for `queue_status`."""
        self._forget_old()
        return PacingView(
            self._paused_until,
            self._resting_until,
            self._reason,
            self.max_active,
            self.gap,
            tuple(self._throttles),
            self._throttles_total,
            self._blocks_total,
        )

    # --- told by the poller and the outcome handler -------------------------------------------------

    def submitted(self) -> None:
        """A submission of this account is about to be sent."""
        now = self._clock()
        self._interval, self._last_submit = now - self._last_submit, now
        if self.minute is not None:
            self.minute.started()

    def accepted(self) -> bool:
        """Flow accepted a submission: after enough of them, with no throttle for a while, relax one step
        (True when it did)."""
        if self.minute is not None:
            self.minute.accepted()
        self._successes += 1
        if self._successes >= RELAX_AFTER and self._clock() - self._last_throttle >= RELAX_QUIET_S:
            self._successes = 0
            self._relax()
            return True
        return False

    def recall(
        self,
        *,
        max_active: int | None,
        gap: float,
        ladder_step: int,
        next_rest_s: float,
        paused_until: float,
        resting_until: float,
        throttles: tuple[float, ...],
    ) -> None:
        """Take back what an earlier run learned (instants on this pacing's clock); never looser than the
        configured limits, which may have changed since."""
        if max_active is not None:
            self.max_active = max_active if self.configured_active is None else min(max_active, self.configured_active)
        self.gap = max(gap, self.configured_gap)
        self._level = ladder_step
        self._rest_s = next_rest_s
        self._paused_until = max(self._paused_until, paused_until)
        self._resting_until = max(self._resting_until, resting_until)
        if throttles:
            self._throttles.extend(throttles)
            self._last_throttle = max(self._last_throttle, throttles[-1])
        now = self._clock()
        if resting_until > now:
            self._reason = REST_REASON
        elif paused_until > now:
            self._reason = THROTTLE_REASON

    def throttled(self, active: int) -> float:
        """Flow answered `USER_REQUESTS_THROTTLED` with `active` generations of this account active (counting the
        refused one): fewer active and a wider gap (only a wider gap when it was sent soon after the previous one:
        `GAP_SUSPECT_S`), and a pause on the ladder. Returns the pause's end."""
        now = self._note_throttle()
        self._throttles_total += 1
        if self._interval < GAP_SUSPECT_S:  # maybe the gap alone: widen it, keep the active limit
            self.gap = min(MAX_GAP, max(GAP_SUSPECT_S, self.gap * 2))
        else:
            self._tighten(active)
        seconds = PAUSE_LADDER[min(self._level, len(PAUSE_LADDER) - 1)]
        self._level += 1
        self._paused_until = max(self._paused_until, now + seconds)
        self._reason = THROTTLE_REASON
        logger.warning(
            "account throttled: pausing %.0f s, now at most %s active and %.1f s apart",
            seconds,
            self.max_active,
            self.gap,
        )
        return self._paused_until

    def blocked(self, active: int) -> float:
        """Flow's hard block (`UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC`): tighten and rest (10 min, doubling on repeat)
        without trying before its end. Returns the rest's end."""
        now = self._note_throttle()
        self._blocks_total += 1
        self._tighten(active)
        self._resting_until = max(self._resting_until, now + self._rest_s)
        self._rest_s = min(MAX_REST_S, self._rest_s * 2)
        self._reason = REST_REASON
        logger.warning("account blocked by Flow: resting until %.0f", self._resting_until)
        return self._resting_until

    # --- learning -----------------------------------------------------------------------------------

    def _note_throttle(self) -> float:
        now = self._clock()
        self._throttles.append(now)
        self._last_throttle = now
        self._successes = 0
        return now

    def _tighten(self, active: int) -> None:
        """Fewer active: one fewer than Flow refused when others were running, else one fewer than the limit (at
        least one; an account without a limit learns one only from a refusal with others running); and a gap at
        least 1 s and twice as wide."""
        if active > 1:
            refused_at = active if self.max_active is None else min(self.max_active, active)
            self.max_active = refused_at - 1
        elif self.max_active is not None:
            self.max_active = max(1, self.max_active - 1)
        self.gap = min(MAX_GAP, max(MIN_GAP_AFTER_THROTTLE, self.gap * 2))

    def _relax(self) -> None:
        """One step back toward the configured limits; the ladder and the rest length step down with it."""
        if self.max_active is not None and (self.configured_active is None or self.max_active < self.configured_active):
            self.max_active += 1
        gap = self.gap * 0.75
        self.gap = self.configured_gap if gap < self.configured_gap + 0.05 else gap
        self._level = max(0, self._level - 1)
        if self.max_active == self.configured_active and self.gap == self.configured_gap:
            self._rest_s = DEFAULT_REST_S

    def _forget_old(self) -> None:
        horizon = self._clock() - HOUR
        while self._throttles and self._throttles[0] <= horizon:
            self._throttles.popleft()
