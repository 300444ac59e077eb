"""What the poller knows about each Flow profile at run time: contract in use, pacing, pauses, token refresh."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from actors.account_pacing import PAUSE_LADDER, AccountPacing
from actors.account_quota import AccountQuota
from actors.clock import Clock
from actors.flow import StatusContract
from actors.minute_quota import MinuteQuota
from actors.profiles import Profile
from actors.queue_status import DONE_WINDOW_S, AccountView

__all__ = ["ProfileState"]


@dataclass(slots=True)
class ProfileState:
    """One profile's credentials (in memory only) and its run-time state."""

    profile: Profile
    contract: StatusContract
    pacing: AccountPacing
    quota: AccountQuota = field(default_factory=AccountQuota)
    paused_until: float = -math.inf
    pause_reason: str | None = None
    pause_level: int = 0
    contract_switches: int = 0
    done: tuple[float, ...] = ()
    """Instants its jobs completed at within the last day, oldest first (a new tuple on each completion, so
    snapshots share it without copying)."""
    _refreshing: bool = False
    _needs_session: bool = False
    """The bearer token expired and the session cookie is missing or refused: waiting for a new cookie."""
    _refresh_again: bool = False
    """A new session cookie arrived while a refresh with the old one was in flight."""

    @classmethod
    def of(cls, profile: Profile, clock: Clock) -> ProfileState:
        """Initial state: a fixed contract as configured; `auto` starts with the legacy `operations` contract.

        Where Flow still accepts it, its answers carry the video URL, which saves one budgeted URL look-up
        per finished job; where Flow refuses it (400), the first check switches to `media` for good.
        """
        contract: StatusContract = "media" if profile.status_contract == "media" else "operations"
        minute = MinuteQuota(profile.rpm, clock=clock) if profile.is_gemini else None
        pacing = AccountPacing(profile.max_active, profile.submit_gap, clock=clock, minute=minute)
        return cls(profile=profile, contract=contract, pacing=pacing)

    @property
    def auto_contract(self) -> bool:
        """Whether the status contract is detected rather than configured."""
        return self.profile.status_contract == "auto"

    def submissions_wait(self) -> tuple[float, str | None]:
        """(until, why) of whatever holds this profile's submissions longest: a pause of its own (reCAPTCHA,
        token), its pacing's (throttle ladder, rest after a hard block) or its quota-out."""
        return max(self._pause(), (self.quota.out_until, self.quota.out_reason), key=lambda wait: wait[0])

    def _pause(self) -> tuple[float, str | None]:
        """(until, why) of the longer of its own pause and its pacing's."""
        view = self.pacing.view()
        pacing = (max(view.paused_until, view.resting_until), view.reason)
        return max((self.paused_until, self.pause_reason), pacing, key=lambda wait: wait[0])

    def account_view(self, active: int) -> AccountView:
        """The account for `queue_status`, with `active` of its generations submitted and not yet finished."""
        pacing = self.pacing.view()
        return AccountView(
            profile_id=self.profile.name,
            pool=self.profile.pool,
            active=active,
            limit=pacing.limit,
            configured_limit=self.pacing.configured_active,
            gap=pacing.gap,
            configured_gap=self.pacing.configured_gap,
            paused_until=max(self.paused_until, pacing.paused_until),
            resting_until=pacing.resting_until,
            reason=self._pause()[1],
            throttles=pacing.throttles,
            throttles_total=pacing.throttles_total,
            blocks_total=pacing.blocks_total,
            done=self.done,
            quota_until=self.quota.out_until,
            quota_until_wall=self.quota.out_until_wall,
            quota_reason=self.quota.out_reason,
            credits=self.quota.credits,
            models_out=tuple(sorted(self.quota.models_out.items(), key=lambda item: item[0])),
        )

    def completed(self, now: float) -> None:
        """One of its jobs completed at `now` (forgetting completions older than a day)."""
        kept = self.done[bisect.bisect_right(self.done, now - DONE_WINDOW_S) :]
        self.done = (*kept, now)

    def pause(self, now: float, reason: str, seconds: float | None = None) -> float:
        """Pause submissions for `seconds`, or the next step of the ladder; returns the end instant."""
        if seconds is None:
            seconds = PAUSE_LADDER[min(self.pause_level, len(PAUSE_LADDER) - 1)]
            self.pause_level += 1
        self.paused_until = max(self.paused_until, now + seconds)
        self.pause_reason = reason
        return self.paused_until

    def resume(self) -> None:
        """A submission went through: forget the ladder."""
        self.pause_level = 0
        self.pause_reason = None

    def token_expired(self, now: float) -> bool:
        """The bearer token expired: True when a refresh from the session cookie is to be sent now; otherwise
        the profile pauses until a usable cookie arrives (a cookie labs refused is not tried again)."""
        if self._refreshing:
            return False
        if self.profile.session_cookie and not self._needs_session:
            self._refreshing = True
            self.pause(now, "refreshing the bearer token", seconds=30.0)
            return True
        self._needs_session = True
        cookie = "the session cookie was refused" if self.profile.session_cookie else "no session cookie"
        self.pause(
            now,
            f"bearer token expired and {cookie} to refresh it: update the profiles file "
            "(or let the token bridge extension provide the session)",
        )
        return False

    def token_refreshed(self, now: float, error: BaseException | None, *, cookie_refused: bool) -> bool:
        """A refresh answered (`error` None: it worked); True when the token expired anew must be handled at
        once, because a new session cookie arrived while the refresh was in flight."""
        self._refreshing = False
        again, self._refresh_again = self._refresh_again, False
        if error is None:
            self._needs_session = False
            self.paused_until = now
            self.resume()
            return False
        if again:
            return True
        self._needs_session = cookie_refused
        self.pause(now, f"token refresh failed: {error}")
        return False

    def new_session(self, session_cookie: str) -> bool:
        """A provider's fresh session cookie: the next refresh uses it; True when a profile waiting for one
        should refresh now."""
        self.profile.session_cookie = session_cookie
        if self._refreshing:
            self._refresh_again = True  # the refresh in flight uses the old cookie
            return False
        if self._needs_session:
            self._needs_session = False
            return True
        return False

    def switch_contract(self) -> StatusContract:
        """Flow refused the status shape: use the other one (auto profiles only)."""
        self.contract = "operations" if self.contract == "media" else "media"
        self.contract_switches += 1
        return self.contract
