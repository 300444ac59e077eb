"""`queue_status`: the typed status the server encodes, and the snapshot the PollerActor publishes after each
message so that the status can be read without asking the actor.

What only the actor's work changes (job counts, calls in flight, errors, providers) is copied as it is; what
changes with time alone (calls started in the last second, the detection latency over the last minute, the
seconds left of each profile pause) keeps the instants it is computed from and is computed when read.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from actors.account_quota import ModelOut

__all__ = [
    "DETECTION_WINDOW_S",
    "DONE_WINDOW_S",
    "AccountStatus",
    "AccountView",
    "BudgetLimits",
    "Pause",
    "PausedProfile",
    "QueueSnapshot",
    "QueueStatus",
    "Tally",
]

DETECTION_WINDOW_S = 60.0
"""`detection_latency` is the mean over this many seconds."""
THROTTLE_WINDOW_S = 3600.0
"""`throttles_last_hour` counts over this many seconds."""
DONE_WINDOW_S = 24 * 3600.0
"""`done_last_24h` counts over this many seconds."""


class BudgetLimits(msgspec.Struct, frozen=True):
    """The request budget's limits."""

    rate: float
    max_in_flight: int


class PausedProfile(msgspec.Struct, frozen=True):
    """A profile whose submissions wait, and for how many more seconds."""

    profile_id: str
    seconds_left: float
    reason: str | None


class AccountStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One profile (Flow account) as the pool sees it: whether it takes submissions now, and its pacing."""

    profile_id: str
    state: str
    """`ready`, `paused` (throttle ladder, reCAPTCHA, token), `resting` (after a hard block) or `out_of_quota`
    (until its quota resets)."""
    seconds_left: float | None
    """Until the pause, rest or quota-out ends (None when ready)."""
    reason: str | None
    pool: bool
    """Whether it takes requests without a `profile_id`."""
    active: int
    """Its generations submitted and not yet finished."""
    limit: int | None
    """Its active limit as learned (at most the configured one; None: no limit of its own)."""
    configured_limit: int | None
    """Its active limit as configured (`max_active`)."""
    gap: float
    """Seconds between two of its submissions, as learned."""
    configured_gap: float
    """Seconds between two of its submissions as configured (`submit_gap`)."""
    throttles_last_hour: int
    """Flow's throttles and hard blocks of it within the last hour."""
    throttles_total: int
    """Flow's throttles of it since the relay started."""
    blocks_total: int
    """Flow's hard blocks of it since the relay started."""
    done_last_24h: int
    """Its generations and upscales that completed within the last 24 hours (since the relay started)."""
    quota_until: str | None = None
    """When its used-up quota comes back (ISO-8601 UTC), while it is out of quota; else None."""
    credits: int | None = None
    """Its latest known credit balance (less what submissions since spent; None: not read yet)."""
    models_out_of_quota: dict[str, str] = msgspec.field(default_factory=dict)
    """The models whose daily quota on it is used up (Flow's `PER_MODEL_DAILY_QUOTA_REACHED`), each with when
    it comes back (ISO-8601 UTC); it takes other models meanwhile, and its `state` does not change for them."""


class QueueStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The `queue_status` result (CONTRACT §4); the supervisor adds its restart figures, left out when unset."""

    queued: int
    waiting_token: int
    submitting: int
    pending: int
    processing: int
    in_flight: int
    requests_last_second: int
    budget: BudgetLimits
    providers: int
    throttled: int
    errors: dict[str, int]
    detection_latency: float
    paused_profiles: tuple[PausedProfile, ...]
    accounts: tuple[AccountStatus, ...] = ()
    waiting_for_accounts: str | None = None
    """Why queued jobs wait although the budget has room: no account they may use takes them now (paused,
    resting, out of quota, full, or short of credits); None when nothing waits for an account."""
    restarts: int | msgspec.UnsetType = msgspec.UNSET
    last_restart_seconds: float | msgspec.UnsetType | None = msgspec.UNSET
    keep_videos: bool | msgspec.UnsetType = msgspec.UNSET
    """Whether the relay keeps every finished video (the server adds it: it is the node's setting)."""


@dataclass(frozen=True, slots=True)
class Pause:
    """A profile whose submissions wait until `until` (a clock instant)."""

    profile_id: str
    until: float
    reason: str | None


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account as of the snapshot; its state and recent throttles are computed when read."""

    profile_id: str
    pool: bool
    active: int
    limit: int | None
    configured_limit: int | None
    gap: float
    configured_gap: float
    paused_until: float
    resting_until: float
    reason: str | None
    throttles: tuple[float, ...]
    throttles_total: int
    blocks_total: int
    done: tuple[float, ...]
    """Instants its jobs completed at, oldest first (at least those within `DONE_WINDOW_S`)."""
    quota_until: float = float("-inf")
    quota_until_wall: float | None = None
    quota_reason: str | None = None
    credits: int | None = None
    models_out: tuple[tuple[str, ModelOut], ...] = ()
    """The models out of their daily quota on it, by name, with when each comes back."""

    def at(self, now: float) -> AccountStatus:
        """The account's status at instant `now`."""
        out = now < self.quota_until
        reason = self.reason
        if out:
            state, until, reason = "out_of_quota", self.quota_until, self.quota_reason
        elif now < self.resting_until:
            state, until = "resting", self.resting_until
        elif now < self.paused_until:
            state, until = "paused", self.paused_until
        else:
            state, until = "ready", None
        return AccountStatus(
            profile_id=self.profile_id,
            state=state,
            seconds_left=None if until is None else round(until - now, 1),
            reason=None if until is None else reason,
            pool=self.pool,
            active=self.active,
            limit=self.limit,
            configured_limit=self.configured_limit,
            gap=self.gap,
            configured_gap=self.configured_gap,
            throttles_last_hour=sum(1 for t in self.throttles if t > now - THROTTLE_WINDOW_S),
            throttles_total=self.throttles_total,
            blocks_total=self.blocks_total,
            done_last_24h=len(self.done) - bisect.bisect_right(self.done, now - DONE_WINDOW_S),
            quota_until=_iso(self.quota_until_wall) if out and self.quota_until_wall is not None else None,
            credits=self.credits,
            models_out_of_quota={model: _iso(out.until_wall) for model, out in self.models_out if now < out.until},
        )


def _iso(wall: float) -> str:
    """Seconds since the epoch as ISO-8601 UTC with milliseconds and `Z` (the contract's times)."""
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The poller's queue status as of its last message, to be read at any later instant."""

    status: QueueStatus
    """The figures only the actor's work changes; those that change with time alone are filled in by `at`."""
    starts: tuple[float, ...]
    """Instants of the calls started within the last second or so (the budget's window)."""
    detections: tuple[tuple[float, float], ...]
    """(instant, latency bound) of the detections within the last `DETECTION_WINDOW_S` seconds."""
    pauses: tuple[Pause, ...]
    """Profile pauses that had not ended when the snapshot was taken."""
    accounts: tuple[AccountView, ...] = ()

    def at(self, now: float) -> QueueStatus:
        """The `queue_status` at instant `now` (not before the snapshot was taken)."""
        recent = [bound for at, bound in self.detections if at >= now - DETECTION_WINDOW_S]
        return msgspec.structs.replace(
            self.status,
            requests_last_second=sum(1 for start in self.starts if start + 1.0 > now),
            errors=dict(self.status.errors),  # a reader's copy: the snapshot stays as taken
            detection_latency=round(sum(recent) / len(recent) / 2, 3) if recent else 0.0,
            paused_profiles=tuple(
                PausedProfile(pause.profile_id, round(pause.until - now, 1), pause.reason)
                for pause in self.pauses
                if now < pause.until
            ),
            accounts=tuple(account.at(now) for account in self.accounts),
        )


class Tally:
    """What the poller counts for `queue_status`: throttling answers, errors by kind, and detections."""

    def __init__(self) -> None:
        self._throttled = 0
        self._errors: Counter[str] = Counter()
        self._detections: deque[tuple[float, float]] = deque(maxlen=500)

    def error(self, call_kind: str, error: BaseException) -> None:
        """An answer that was an error."""
        self._errors[f"{call_kind}:{type(error).__name__}"] += 1

    def throttled(self) -> None:
        """Flow answered 429."""
        self._throttled += 1

    def detected(self, now: float, last_running: float) -> None:
        """A finished job was noticed at `now`; it was last seen running at `last_running`."""
        self._detections.append((now, now - last_running))

    def throttled_count(self) -> int:
        """429 answers so far."""
        return self._throttled

    def errors(self) -> dict[str, int]:
        """Error answers by `kind:ErrorClass`, sorted."""
        return dict(sorted(self._errors.items()))

    def detections_since(self, instant: float) -> tuple[tuple[float, float], ...]:
        """(instant, latency bound) of the detections since `instant`."""
        return tuple(d for d in self._detections if d[0] >= instant)
