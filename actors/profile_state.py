"""What the poller knows about each Flow profile at run time: contract in use, pauses, token refresh."""

from __future__ import annotations

import math
from dataclasses import dataclass

from actors.flow import StatusContract
from actors.profiles import Profile

__all__ = ["PAUSE_LADDER", "ProfileState"]

PAUSE_LADDER = (10.0, 30.0, 120.0, 600.0, 1800.0)
"""Seconds a profile pauses after repeated throttles or captcha rejections (flow-api.md §2.2)."""


@dataclass(slots=True)
class ProfileState:
    """One profile's credentials (in memory only) and its run-time state."""

    profile: Profile
    contract: StatusContract
    paused_until: float = -math.inf
    pause_reason: str | None = None
    pause_level: int = 0
    refreshing: bool = False
    needs_session: bool = False
    """The bearer token expired and the session cookie is missing or refused: waiting for a new cookie."""
    refresh_again: bool = False
    """A new session cookie arrived while a refresh with the old one was in flight."""
    contract_switches: int = 0

    @classmethod
    def of(cls, profile: Profile) -> ProfileState:
        """Initial state: a fixed contract as configured; `auto` starts with the legacy `operations` contract.

        Where Flow still accepts it, its answers carry the video URL, which saves one budgeted URL look-up
        per finished job; where Flow refuses it (400), the first check switches to `media` for good.
        """
        contract: StatusContract = "media" if profile.status_contract == "media" else "operations"
        return cls(profile=profile, contract=contract)

    @property
    def auto_contract(self) -> bool:
        """Whether the status contract is detected rather than configured."""
        return self.profile.status_contract == "auto"

    def is_paused(self, now: float) -> bool:
        """Submissions of this profile wait until the pause ends."""
        return now < self.paused_until

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

    def switch_contract(self) -> StatusContract:
        """Flow refused the status shape: use the other one (auto profiles only)."""
        self.contract = "operations" if self.contract == "media" else "media"
        self.contract_switches += 1
        return self.contract
