"""Detection figures of one run: when each completion was recorded, and what the simulator saw meanwhile.

Detection latency: from an operation's completion instant in the simulator (`complete_at`, epoch seconds)
to the timestamp of the `Completed` event recorded for its generation. Budget use: the mean requests per
whole second that lies inside [first completion, last detection], over R; the requests are the arrivals
the simulator counted (Flow and labs paths, 429s included).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.application import VeoRelay
from domain.generation import Generation

__all__ = ["RunFigures", "completed_instants", "figures", "quantile"]

logger = logging.getLogger(__name__)

_PAGE = 1000


def completed_instants(app: VeoRelay) -> dict[UUID, float]:
    """Epoch seconds at which each generation's `Completed` event was recorded."""
    instants: dict[UUID, float] = {}
    after = 0
    while True:
        notifications = app.recorder.select_notifications(start=after + 1, limit=_PAGE)
        if not notifications:
            return instants
        for notification in notifications:
            if notification.topic.endswith("Generation.Completed"):
                event = app.mapper.to_domain_event(notification)
                assert isinstance(event, Generation.Completed)
                instants[UUID(str(event.originator_id))] = event.timestamp.timestamp()
        after = notifications[-1].id


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of the values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(frozen=True)
class RunFigures:
    """One strategy's figures for one run."""

    name: str
    jobs: int
    latencies: list[float]
    seen: list[float]
    """Completion -> the first status answer that reported it terminal (the simulator's instant)."""
    handled: list[float]
    """That answer -> `Completed` recorded (answer transit, handling, URL look-up, the save)."""
    requests: int
    requests_by_path: dict[str, int]
    max_in_1s: int
    throttled: int
    budget_use: float
    span_s: float

    @property
    def undetected(self) -> int:
        """Jobs with no `Completed` recorded when the run ended."""
        return self.jobs - len(self.latencies)

    def p(self, q: float) -> float:
        """A latency quantile, seconds."""
        return quantile(self.latencies, q)


def figures(
    name: str,
    rate: float,
    complete_at: Mapping[UUID, float],
    names: Mapping[UUID, str],
    recorded: Mapping[UUID, float],
    audit: Mapping[str, Any],
) -> RunFigures:
    """The figures of a run from each job's completion instant, operation name, recorded instant and the audit."""
    latencies = [recorded[job] - complete_at[job] for job in complete_at if job in recorded]
    first_seen = {
        op["name"]: float(op["first_seen_terminal_at"])
        for op in audit["operations"]
        if op.get("first_seen_terminal_at") is not None
    }
    seen = [first_seen[names[job]] - complete_at[job] for job in complete_at if names[job] in first_seen]
    handled = [
        recorded[job] - first_seen[names[job]] for job in complete_at if job in recorded and names[job] in first_seen
    ]
    first = min(complete_at.values())
    last = max(recorded.values(), default=first)
    per_second = {int(second): int(count) for second, count in audit["per_second"].items()}
    seconds = range(math.ceil(first), math.floor(last))  # whole seconds inside [first, last]
    use = sum(per_second.get(s, 0) for s in seconds) / (rate * len(seconds)) if seconds else math.nan
    return RunFigures(
        name=name,
        jobs=len(complete_at),
        latencies=latencies,
        seen=seen,
        handled=handled,
        requests=int(audit["requests_total"]),
        requests_by_path={str(k): int(v) for k, v in audit["requests_by_path"].items()},
        max_in_1s=int(audit["max_in_any_1s_window"]),
        throttled=int(audit["throttled_429"]),
        budget_use=use,
        span_s=last - first,
    )
