"""What one submission costs in Flow credits, by model key (flow-api.md §5, Flow's 2026 pricing).

Veo 3.1 Fast 20 (10 on Ultra), Quality 100, Lite 10 (5 on Ultra), the relaxed / low-priority queue 0; an
upscale to 4K about 50, to 1080p free. A key the table does not know costs nothing as far as the pool can
tell: the account is not skipped for it, and Flow's own answer decides.
"""

from __future__ import annotations

import logging

__all__ = ["HIGHEST_PRICE", "credits_for"]

logger = logging.getLogger(__name__)

HIGHEST_PRICE = 100
"""The most one submission costs (a Quality generation)."""
_QUALITY_KEYS = ("_t2v", "_i2v_s", "_r2v")
"""Veo generation keys without a speed suffix are the Quality models."""


def credits_for(model: str) -> int:
    """The credits a generation or upscale with this model key takes from the account (0 when unknown)."""
    if "upsampler" in model:
        return 50 if model.endswith("_4k") else 0
    if not model.startswith("veo_") or "relaxed" in model or "low_priority" in model:
        return 0
    ultra = "ultra" in model
    if "lite" in model:
        return 5 if ultra else 10
    if "fast" in model:
        return 10 if ultra else 20
    return HIGHEST_PRICE if any(part in model for part in _QUALITY_KEYS) else 0
