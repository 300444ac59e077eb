"""Shared test fixtures."""

from __future__ import annotations

import pytest

from actors import account_pacing, profile_state

__all__ = ["short_pauses"]

SHORT_PAUSE_S = 0.2


@pytest.fixture
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """An account pauses 0.2 s (not 10 s, then 30 s, ...) after a throttle or a rejected reCAPTCHA token, and a
    throttle widens its gap to at least 0.2 s (not 1 s): whole-system runs through such refusals take seconds.

    The ladder and the gap themselves are unit-tested on a fake clock (tests/actors/test_account_pacing.py).
    """
    ladder = (SHORT_PAUSE_S,) * len(account_pacing.PAUSE_LADDER)
    monkeypatch.setattr(account_pacing, "PAUSE_LADDER", ladder)
    monkeypatch.setattr(profile_state, "PAUSE_LADDER", ladder)
    monkeypatch.setattr(account_pacing, "MIN_GAP_AFTER_THROTTLE", SHORT_PAUSE_S)
