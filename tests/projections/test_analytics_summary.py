"""The analytics summary computed by the database equals the nearest-rank definition computed in Python."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from domain.application import VeoRelay
from projections.analytics import AnalyticsView, CompletionStats, Summary, percentile
from projections.database import ReadModelDatabase
from projections.runner import ProjectionRunner

NOW = 1_800_000_000.0
MODELS = ["veo_3_1_t2v_fast", "veo_3_1_t2v", "Veo-Ä"]
JOB_TYPES = ["generation", "upscale"]
STATUSES = ["pending", "processing", "completed", "failed", "cancelled"]
REASONS = ["PUBLIC_ERROR_UNSAFE_GENERATION", "flow_timeout", "interrupted_submission"]


def reference(rows: list[tuple[Any, ...]], window: str, now: float) -> Summary:
    """The summary by definition, over (id, model, job_type, status, created, started, finished, duration, reason)."""
    since = now - 3600 if window == "1h" else float("-inf")
    counts = dict.fromkeys(STATUSES, 0)
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    for _, model, job_type, status, created, _started, finished, duration, reason in rows:
        if created >= since:
            counts[status] += 1
        if status == "completed" and duration is not None and finished >= since:
            durations[(model, job_type)].append(duration)
        if status == "failed" and finished >= since:
            failures[reason] += 1
    completion = []
    for (model, job_type), values in sorted(durations.items()):
        values.sort()
        cuts = [round(percentile(values, q), 3) for q in (50, 90, 99)]
        completion.append(
            CompletionStats(model=model, job_type=job_type, count=len(values), p50=cuts[0], p90=cuts[1], p99=cuts[2])
        )
    return Summary(window=window, counts=counts, completion=completion, failures=dict(sorted(failures.items())))


def random_rows(rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    rows = []
    for index in range(count):
        status = rng.choice(STATUSES)
        created = NOW - rng.uniform(0, 3 * 3600)
        started = created + rng.uniform(0, 60) if status != "pending" else None
        finished = duration = None
        if started is not None and status in ("completed", "failed", "cancelled"):
            finished = started + rng.choice([30.0, 45.5, rng.uniform(1, 300)])  # repeated values: ties
            if status == "completed" and rng.random() < 0.95:
                duration = round(finished - started, rng.choice([0, 3]))
        reason = {"failed": rng.choice(REASONS), "cancelled": "cancelled"}.get(status)
        rows.append(
            (
                f"g{index}",
                rng.choice(MODELS),
                rng.choice(JOB_TYPES),
                status,
                created,
                started,
                finished,
                duration,
                reason,
            )
        )
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_summary_matches_the_definition_for_every_window(app: VeoRelay, db: ReadModelDatabase, seed: int) -> None:
    """Counts, per-model percentiles (nearest rank, ties, one-value groups) and failures equal the Python definition."""
    rng = random.Random(seed)
    view = AnalyticsView()
    ProjectionRunner(app, db, [view]).catch_up()  # creates the tables and indexes
    rows = random_rows(rng, rng.choice([0, 1, 7, 300]))
    with db.write() as conn:
        conn.executemany(f"INSERT INTO {view.tables[0]} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    for window in ("all", "1h"):
        assert view.summary(db.reader(), window, NOW) == reference(rows, window, NOW)
