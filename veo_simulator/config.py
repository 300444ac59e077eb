"""The simulator's settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from veo_simulator.accounts import AccountLimits
from veo_simulator.errors import ConfigError
from veo_simulator.faults import FaultMix

__all__ = ["CONTRACTS", "REALISTIC_RENDER_S", "Contract", "SimulatorConfig"]

logger = logging.getLogger(__name__)

Contract = Literal["operations", "media", "both"]
CONTRACTS: tuple[Contract, ...] = ("operations", "media", "both")
REALISTIC_RENDER_S = (60.0, 180.0)
"""Render times like the real service's: "typically 60-180 s" (flow-api.md §5)."""


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulator.

    rate: requests allowed in any sliding second (<= 0: unlimited); lo/hi: operation duration range
    in seconds; fail: probability an operation ends FAILED; faults: ``{"500": 0.05, ...}``;
    timeout_s: how long the ``timeout`` fault holds an answer; url_lag_s: how long after success the
    media URL redirect still answers 404; credits: each account's starting credit balance.
    account_*: the per-account limits of ``accounts.AccountLimits`` (all 0: off): generations active,
    seconds between submissions, throttles within ``account_window`` seconds before a hard block of
    ``account_block`` seconds, generations allowed; ``account_quotas`` overrides the quota per credential.
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
        )
