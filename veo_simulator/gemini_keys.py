"""The Gemini API keys the simulator accepts: each key's per-minute quota and figures, known by a label only."""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from veo_simulator.throttle import ArrivalWindow

__all__ = ["QUOTA_WINDOW_S", "KeyBook", "KeyUse", "key_label"]

logger = logging.getLogger(__name__)

QUOTA_WINDOW_S = 60.0


def key_label(key: str) -> str:
    """How audit and logs name a key: the first 10 hex digits of its sha256 (the key itself never appears)."""
    return hashlib.sha256(key.encode()).hexdigest()[:10]


class KeyUse:
    """One key: its quota over predictLongRunning calls in a sliding minute, and the calls it made (counted on
    arrival, whatever the answer) and the 429s it got (its quota's, the simulator's per-second rate's)."""

    def __init__(self, index: int, label: str) -> None:
        self.index = index
        self.label = label
        self._calls = ArrivalWindow(0.0, QUOTA_WINDOW_S)
        self._accepted: deque[float] = deque()
        self.max_accepted = 0
        self.predict_calls = 0
        self.quota_429 = 0
        self.rate_429 = 0
        self.operation_checks = 0
        self.downloads = 0

    def called(self, now: float) -> None:
        """A predictLongRunning call with this key arrived at ``now`` (monotonic seconds), refused or not."""
        self.predict_calls += 1
        self._calls.arrive(now)

    def admit(self, now: float, rpm: int) -> float | None:
        """None when a call at ``now`` is within ``rpm`` calls admitted in the last minute (then it counts),
        else the seconds until one would be admitted. ``rpm`` <= 0: no quota."""
        accepted = self._accepted
        while accepted and accepted[0] <= now - QUOTA_WINDOW_S:
            accepted.popleft()
        if rpm > 0 and len(accepted) >= rpm:
            self.quota_429 += 1
            return accepted[0] + QUOTA_WINDOW_S - now
        accepted.append(now)
        self.max_accepted = max(self.max_accepted, len(accepted))
        return None

    def report(self) -> dict[str, Any]:
        """This key's figures for the audit."""
        return {
            "index": self.index,
            "predict_calls": self.predict_calls,
            "max_calls_in_any_60s_window": self._calls.max_count,
            "max_accepted_in_any_60s_window": self.max_accepted,
            "quota_429": self.quota_429,
            "rate_429": self.rate_429,
            "operation_checks": self.operation_checks,
            "downloads": self.downloads,
        }


class KeyBook:
    """The valid keys (by value, for lookups), the calls with a missing or unknown key, and the downloads from
    the keyless storage URL the file download redirects to."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys: dict[str, KeyUse] = {}
        for index, key in enumerate(keys):
            self._keys.setdefault(key, KeyUse(index, key_label(key)))
        self.missing_key = 0
        self.invalid_key = 0
        self.storage_downloads = 0

    def find(self, key: str) -> KeyUse | None:
        """The key's record, or None for a key the simulator does not accept."""
        return self._keys.get(key)

    def report(self) -> dict[str, dict[str, Any]]:
        """Each key's figures, by label."""
        return {use.label: use.report() for use in self._keys.values()}
