"""Completion-time distributions learned per (model, job type): the adaptive timing of status checks."""

from __future__ import annotations

import logging
import math
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["GENERIC_PRIOR", "CompletionModel", "Distribution", "Key"]

logger = logging.getLogger(__name__)

Key = tuple[str, str]
"""What completion times are learned per: (model, job_type)."""

_MIN_DURATION = 1e-3
_MAX_Q = 1.0 - 1e-12


@dataclass(frozen=True, slots=True)
class Distribution:
    """A smooth completion-time CDF: linear between knots, then an exponential tail (finite hazard)."""

    xs: tuple[float, ...]
    """Knot instants (seconds since Started), strictly increasing, at least two."""
    ps: tuple[float, ...]
    """The CDF at each knot: non-decreasing, ps[0] == 0, ps[-1] < 1."""
    tail_scale: float
    """Beyond the last knot the survival decays as exp(-(t - xs[-1]) / tail_scale)."""

    def __post_init__(self) -> None:
        if len(self.xs) < 2 or len(self.xs) != len(self.ps):
            raise ValueError("a distribution needs at least two knots and one probability per knot")
        if self.ps[0] != 0.0 or not self.ps[-1] < 1.0 or not self.tail_scale > 0.0:
            raise ValueError("ps must start at 0 and end below 1, with a positive tail scale")

    @classmethod
    def from_samples(cls, samples: Iterable[float]) -> Distribution:
        """The smoothed empirical CDF of the durations: knot i at the i-th order statistic, F = i/(n+1)."""
        values = sorted(max(_MIN_DURATION, s) for s in samples)
        if not values:
            raise ValueError("no samples")
        n = len(values)
        xs: list[float] = []
        for v in values:
            xs.append(v if not xs or v > xs[-1] else xs[-1] * (1.0 + 1e-9) + 1e-9)
        gap = (xs[-1] - xs[0]) / (n - 1) if n > 1 else 0.0
        low = max(0.0, xs[0] - max(gap, 0.25 * xs[0]))
        ps = [i / (n + 1) for i in range(n + 1)]
        tail_scale = max(0.1 * xs[-1], 2.0 * gap, _MIN_DURATION)
        return cls((low, *xs), tuple(ps), tail_scale)

    @classmethod
    def log_uniform(
        cls, low: float, high: float, *, mass: float = 0.99, tail_scale: float = 300.0, knots: int = 48
    ) -> Distribution:
        """Mass `mass` spread log-uniformly over [low, high] (each decade equally likely), then a tail."""
        ratio = high / low
        xs = tuple(low * ratio ** (k / (knots - 1)) for k in range(knots))
        ps = tuple(mass * k / (knots - 1) for k in range(knots))
        return cls(xs, ps, tail_scale)

    def blend(self, other: Distribution, weight: float) -> Distribution:
        """The mixture weight * self + (1 - weight) * other, as a distribution of the same form."""
        xs = sorted(set(self.xs) | set(other.xs))
        ps: list[float] = []
        for x in xs:
            p = weight * self.cdf(x) + (1.0 - weight) * other.cdf(x)
            ps.append(max(p, ps[-1]) if ps else 0.0)
        return Distribution(tuple(xs), tuple(ps), max(self.tail_scale, other.tail_scale))

    def cdf(self, t: float) -> float:
        """P(duration <= t)."""
        xs, ps = self.xs, self.ps
        if t <= xs[0]:
            return 0.0
        if t >= xs[-1]:
            return 1.0 - (1.0 - ps[-1]) * math.exp(-(t - xs[-1]) / self.tail_scale)
        i = bisect_right(xs, t)
        x0, x1 = xs[i - 1], xs[i]
        return ps[i - 1] + (ps[i] - ps[i - 1]) * (t - x0) / (x1 - x0)

    def quantile(self, q: float) -> float:
        """The smallest t with cdf(t) >= q (q is clamped into [0, 1))."""
        xs, ps = self.xs, self.ps
        if q <= 0.0:
            return xs[0]
        if q >= ps[-1]:
            q = min(q, _MAX_Q)
            return xs[-1] + self.tail_scale * math.log((1.0 - ps[-1]) / (1.0 - q))
        i = bisect_left(ps, q)
        p0, p1 = ps[i - 1], ps[i]
        return xs[i - 1] + (xs[i] - xs[i - 1]) * (q - p0) / (p1 - p0)


GENERIC_PRIOR = Distribution.log_uniform(1.0, 900.0)
"""Before anything is known: 1 s to 15 min, each decade alike (Flow takes 60-180 s, a simulator 1-5 s)."""


class CompletionModel:
    """Learns the seconds from Started to Completed per key, from history and live observations.

    A key with samples uses its smoothed empirical CDF blended with the generic prior (the prior's weight
    is `prior_weight` samples' worth, so a few samples already dominate yet a shifted reality can still
    be found); a key without samples uses all keys' pooled samples the same way, else the prior alone.
    """

    def __init__(self, *, window: int = 500, prior: Distribution = GENERIC_PRIOR, prior_weight: float = 2.0) -> None:
        if window < 1 or prior_weight < 0:
            raise ValueError("window must be positive and prior_weight non-negative")
        self._window = window
        self._prior = prior
        self._prior_weight = prior_weight
        self._samples: dict[Key, deque[float]] = {}
        self._cache: dict[Key, Distribution] = {}
        self._pooled: Distribution | None = None

    def __repr__(self) -> str:
        return f"CompletionModel(keys={len(self._samples)}, samples={sum(map(len, self._samples.values()))})"

    def keys(self) -> list[Key]:
        """Keys with at least one sample."""
        return [key for key, samples in self._samples.items() if samples]

    def count(self, key: Key) -> int:
        """How many samples the key holds."""
        samples = self._samples.get(key)
        return len(samples) if samples else 0

    def load(self, key: Key, durations: Iterable[float]) -> None:
        """Replace the key's samples with (the last `window` of) durations, e.g. from the analytics view."""
        kept = [d for d in durations if _valid(key, d)]
        self._samples[key] = deque(kept[-self._window :], maxlen=self._window)
        self._changed(key)

    def observe(self, key: Key, duration: float) -> None:
        """Add one live completion time; the oldest sample beyond `window` is forgotten."""
        if not _valid(key, duration):
            return
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = deque(maxlen=self._window)
        samples.append(duration)
        self._changed(key)

    def distribution(self, key: Key) -> Distribution:
        """The key's current completion-time distribution."""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        samples = self._samples.get(key)
        dist = self._blend(samples) if samples else self._pooled_distribution()
        self._cache[key] = dist
        return dist

    def cdf(self, key: Key, t: float) -> float:
        """P(a job of this key completes within t seconds of Started)."""
        return self.distribution(key).cdf(t)

    def quantile(self, key: Key, q: float) -> float:
        """The q-quantile of the key's completion time, in seconds."""
        return self.distribution(key).quantile(q)

    def _pooled_distribution(self) -> Distribution:
        if self._pooled is None:
            pooled = [d for samples in self._samples.values() for d in samples]
            self._pooled = self._blend(pooled) if pooled else self._prior
        return self._pooled

    def _blend(self, samples: Sequence[float]) -> Distribution:
        n = len(samples)
        return Distribution.from_samples(samples).blend(self._prior, n / (n + self._prior_weight))

    def _changed(self, key: Key) -> None:
        self._pooled = None
        self._cache = {k: d for k, d in self._cache.items() if k != key and self.count(k)}


def _valid(key: Key, duration: float) -> bool:
    if math.isfinite(duration) and duration >= 0.0:
        return True
    logger.warning("ignoring completion time %r for %s", duration, key)
    return False
