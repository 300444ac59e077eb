"""Quantiles of round-trip samples, and how far a ratio of two of them can be trusted."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence

__all__ = ["at_or_above_p99", "quantiles", "ratio_interval"]

LEVELS = (50, 90, 99)


def quantiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """p50, p90, p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[89] * 1000, cuts[98] * 1000


def at_or_above_p99(trips: Sequence[tuple[float, float]]) -> tuple[float, list[tuple[float, float]]]:
    """For round trips as (Unix time sent, ms): the p99 (ms) the bench prints for them, and those at or above it."""
    cut = quantiles([ms / 1000 for _, ms in trips])[2]
    return cut, [(sent, ms) for sent, ms in trips if ms >= cut]


def ratio_interval(
    base: Sequence[float], other: Sequence[float], *, resamples: int = 1000, seed: int = 0
) -> list[tuple[float, float]]:
    """For p50, p90 and p99: the central 95% of `other`'s quantile over `base`'s when both sample sets are
    resampled with replacement (a bootstrap). It shows how much the ratio moves with which round trips happen
    to be drawn; drift between rounds (the machine's) comes on top of it."""
    rng = random.Random(seed)
    ratios: list[list[float]] = [[] for _ in LEVELS]
    for _ in range(resamples):
        drawn_base = quantiles(rng.choices(base, k=len(base)))
        drawn_other = quantiles(rng.choices(other, k=len(other)))
        for index in range(len(LEVELS)):
            ratios[index].append(drawn_other[index] / drawn_base[index])
    bounds = []
    for values in ratios:
        values.sort()
        bounds.append((values[int(0.025 * resamples)], values[int(0.975 * resamples) - 1]))
    return bounds
