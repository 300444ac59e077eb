"""The poller's tunables, read by the poller and by the outcome handler."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PollerSettings"]


@dataclass(frozen=True)
class PollerSettings:
    """Tunables of the poller (CONTRACT §5 flags feed these)."""

    rate: float = 10.0
    budget_margin: float = 0.1
    """Starts keep to `rate` per (1 + margin) s, so that jitter between sending and arrival stays within it."""
    check_batch: int = 10
    deadline_s: float = 3600.0
    batch_delay_s: float = 0.5
    submit_share: float = 0.5
    url_retry_s: float = 1.0
    url_attempts: int = 10
    submit_backoff_base: float = 1.0
    submit_backoff_max: float = 60.0
    max_captcha_rejections: int = 3
    on_quota: str = "wait"
    credits_every_s: float = 0.0
    """Read each account's credits (`GET /v1/credits`, inside the budget) once at start and then at most this
    often while work waits; 0: never (credits are then known only from the answers that carry them)."""
    lost_after_s: float = 600.0
    """A running job missing this long from status answers that report other jobs is lost (Flow forgot it)."""
    gemini_first_check_s: float = 10.0
    """No status check of a Gemini API job before this many seconds after Started (the API's documented
    minimum latency is about 11 s; the completion model may put the first check later, never earlier)."""
