"""The simulator's settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from veo_simulator.accounts import AccountLimits
from veo_simulator.errors import ConfigError
from veo_simulator.faults import FaultMix
from veo_simulator.gemini_state import FILE_TTL_S

__all__ = [
    "CONTRACTS",
    "GEMINI_MODELS",
    "GEMINI_RPM",
    "REALISTIC_RENDER_S",
    "VIDEO_SIZE",
    "Contract",
    "SimulatorConfig",
]

logger = logging.getLogger(__name__)

Contract = Literal["operations", "media", "both"]
CONTRACTS: tuple[Contract, ...] = ("operations", "media", "both")
REALISTIC_RENDER_S = (60.0, 180.0)
"""Render times like the real service's: "typically 60-180 s" (flow-api.md §5)."""
VIDEO_SIZE = 4096
"""Bytes of every simulated video by default: enough for range requests and checksums to mean something."""
GEMINI_MODELS = (
    "veo-3.0-generate-001",
    "veo-3.0-fast-generate-001",
    "veo-3.1-generate-preview",
    "veo-3.1-fast-generate-preview",
    "veo-3.1-lite-generate-preview",
    "veo-3.1-generate-001",
    "veo-3.1-fast-generate-001",
)
"""The Veo model ids the Gemini API serves (flow-api.md §6, with the GA ``-001`` ids of newer code)."""
GEMINI_RPM = 10
"""predictLongRunning calls per key per minute: the Veo preview models' published limit."""


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulator.

    rate: requests allowed in any sliding second (<= 0: unlimited); lo/hi: operation duration range
    in seconds; fail: probability an operation ends FAILED; faults: ``{"500": 0.05, ...}``;
    timeout_s: how long the ``timeout`` fault holds an answer; url_lag_s: how long after success the
    media URL redirect still answers 404; credits: each account's starting credit balance.
    account_*: the per-account limits of ``accounts.AccountLimits`` (all 0: off): generations active,
    seconds between submissions, throttles within ``account_window`` seconds before a hard block of
    ``account_block`` seconds, generations allowed; ``account_quotas`` overrides the quota per credential;
    ``model_quotas``: generations of each named model allowed per account (its daily quota).
    video_size: bytes of every simulated video (Flow's media URLs and Gemini's files).
    gemini_*: the Gemini API: the keys it accepts (none: every key is invalid), predictLongRunning calls
    per key per minute (<= 0: no quota), the models it serves, the probabilities that an operation ends
    with an error or safety-filtered, and how long a video file stays downloadable after completion.
    Gemini operations take a duration in [lo, hi] like Flow's.
    """

    port: int = 0
    rate: float = 10.0
    lo: float = 20.0
    hi: float = 60.0
    fail: float = 0.0
    faults: Mapping[str, float] = field(default_factory=dict)
    seed: int | None = None
    state_file: str | Path | None = None
    require_captcha: bool = False
    contract: Contract = "both"
    host: str = "127.0.0.1"
    timeout_s: float = 15.0
    url_lag_s: float = 0.0
    credits: int = 50_000
    persist_debounce_s: float = 0.2
    account_active: int = 0
    account_gap: float = 0.0
    account_throttles_before_block: int = 0
    account_window: float = 60.0
    account_block: float = 600.0
    account_quota: int = 0
    account_quotas: Mapping[str, int] = field(default_factory=dict)
    model_quotas: Mapping[str, int] = field(default_factory=dict)
    video_size: int = VIDEO_SIZE
    gemini_keys: Sequence[str] = ()
    gemini_rpm: int = GEMINI_RPM
    gemini_models: Sequence[str] = GEMINI_MODELS
    gemini_fail: float = 0.0
    gemini_filtered: float = 0.0
    gemini_file_ttl_s: float = FILE_TTL_S

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be within 0-65535, got {self.port}")
        if self.lo < 0 or self.hi < self.lo:
            raise ConfigError(f"need 0 <= lo <= hi, got lo={self.lo} hi={self.hi}")
        if not 0.0 <= self.fail <= 1.0:
            raise ConfigError(f"fail must be within [0, 1], got {self.fail}")
        if self.contract not in CONTRACTS:
            raise ConfigError(f"contract must be one of {', '.join(CONTRACTS)}, got {self.contract!r}")
        if self.timeout_s < 0 or self.url_lag_s < 0:
            raise ConfigError("timeout_s and url_lag_s must not be negative")
        if self.video_size < 64:
            raise ConfigError(f"video_size must be at least 64 bytes, got {self.video_size}")
        if min(self.gemini_fail, self.gemini_filtered) < 0 or self.gemini_fail + self.gemini_filtered > 1:
            raise ConfigError("gemini_fail and gemini_filtered must be probabilities adding up to at most 1")
        if self.gemini_file_ttl_s < 0:
            raise ConfigError("gemini_file_ttl_s must not be negative")
        if any(not key for key in self.gemini_keys) or any(not model for model in self.gemini_models):
            raise ConfigError("Gemini keys and models must not be empty")
        if self.credits < 0:
            raise ConfigError(f"account credits must not be negative, got {self.credits}")
        self.fault_mix()
        self.account_limits()

    def fault_mix(self) -> FaultMix:
        """The configured faults as a validated mix."""
        return FaultMix.from_mapping(self.faults)

    def account_limits(self) -> AccountLimits:
        """The configured per-account limits, validated."""
        return AccountLimits(
            max_active=self.account_active,
            gap_s=self.account_gap,
            throttles_before_block=self.account_throttles_before_block,
            window_s=self.account_window,
            block_s=self.account_block,
            quota=self.account_quota,
            quotas=dict(self.account_quotas),
            model_quotas=dict(self.model_quotas),
        )
