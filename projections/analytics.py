"""The analytics read model (the seed's "queue analytics"): counts, completion-time percentiles, failures."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec

from domain.generation import Generation
from domain.values import ACTIVE_REMOTE_STATUS, Status
from projections.tracking import TrackedView

__all__ = ["AnalyticsView", "CompletionStats", "Summary", "percentile"]

WINDOWS = {"all": None, "1h": 3600.0}


class CompletionStats(msgspec.Struct, kw_only=True):
    """Completion-time percentiles (seconds from Started to Completed) of one model and job type."""

    model: str
    job_type: str
    count: int
    p50: float
    p90: float
    p99: float


class Summary(msgspec.Struct, kw_only=True):
    """`get_analytics` data."""

    window: str
    counts: dict[str, int]
    completion: list[CompletionStats]
    failures: dict[str, int]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence (q in 0..100)."""
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n*q/100), at least 1
    return float(sorted_values[int(rank) - 1])


class AnalyticsView(TrackedView):
    """One row per generation with the instants analytics need (epoch seconds)."""

    name = "analytics"
    base_tables = ("analytics_jobs",)

    def table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.tables[0]} (id TEXT PRIMARY KEY, model TEXT, job_type TEXT, "
            "status TEXT, created_at REAL, started_at REAL, finished_at REAL, duration REAL, error_reason TEXT)"
        ]

    def index_statements(self) -> list[str]:
        table = self.tables[0]
        return [
            f"CREATE INDEX IF NOT EXISTS {table}_by_created ON {table} (created_at)",
            f"CREATE INDEX IF NOT EXISTS {table}_by_finished ON {table} (finished_at)",
        ]

    def apply(self, conn: sqlite3.Connection, items: Sequence[tuple[int, Any]], journal_after: int) -> None:
        table = self.tables[0]
        for _, event in items:
            key = str(event.originator_id)
            at = event.timestamp.timestamp()
            kind = type(event)
            if kind is Generation.Requested:
                conn.execute(
                    f"INSERT OR REPLACE INTO {table} (id, model, job_type, status, created_at) VALUES (?, ?, ?, ?, ?)",
                    (key, event.model, event.job_type, Status.PENDING.value, at),
                )
            elif kind is Generation.Started:
                status = Status.PROCESSING if event.remote_status == ACTIVE_REMOTE_STATUS else Status.PENDING
                conn.execute(f"UPDATE {table} SET started_at = ?, status = ? WHERE id = ?", (at, status.value, key))
            elif kind is Generation.Progressed and event.remote_status == ACTIVE_REMOTE_STATUS:
                conn.execute(f"UPDATE {table} SET status = ? WHERE id = ?", (Status.PROCESSING.value, key))
            elif kind is Generation.Completed:
                conn.execute(
                    f"UPDATE {table} SET status = ?, finished_at = ?, duration = ? - started_at WHERE id = ?",
                    (Status.COMPLETED.value, at, at, key),
                )
            elif kind is Generation.Failed:
                conn.execute(
                    f"UPDATE {table} SET status = ?, finished_at = ?, error_reason = ? WHERE id = ?",
                    (Status.FAILED.value, at, event.error_reason, key),
                )

    # --- reading ------------------------------------------------------------------------------------

    def summary(self, conn: sqlite3.Connection, window: str, now: float) -> Summary:
        """Counts by status, completion percentiles per model and job type, failures by reason."""
        span = WINDOWS[window]
        since = now - span if span is not None else float("-inf")
        table = self.tables[0]
        counts = {status.value: 0 for status in Status}
        for status, count in conn.execute(
            f"SELECT status, COUNT(*) FROM {table} WHERE created_at >= ? GROUP BY status", (since,)
        ):
            counts[status] = count
        durations: dict[tuple[str, str], list[float]] = defaultdict(list)
        for model, job_type, duration in conn.execute(
            f"SELECT model, job_type, duration FROM {table} WHERE status = 'completed' "
            "AND finished_at >= ? AND duration IS NOT NULL ORDER BY duration",
            (since,),
        ):
            durations[(model, job_type)].append(duration)
        completion = [
            CompletionStats(
                model=model,
                job_type=job_type,
                count=len(values),
                p50=round(percentile(values, 50), 3),
                p90=round(percentile(values, 90), 3),
                p99=round(percentile(values, 99), 3),
            )
            for (model, job_type), values in sorted(durations.items())
        ]
        failures = dict(
            conn.execute(
                f"SELECT error_reason, COUNT(*) FROM {table} WHERE status = 'failed' AND finished_at >= ? "
                "GROUP BY error_reason ORDER BY error_reason",
                (since,),
            ).fetchall()
        )
        return Summary(window=window, counts=counts, completion=completion, failures=failures)

    def recent_durations(self, conn: sqlite3.Connection, per_key: int = 500) -> dict[tuple[str, str], list[float]]:
        """The last `per_key` completion times of each (model, job type), for the poller's timing model."""
        found: dict[tuple[str, str], list[float]] = defaultdict(list)
        for model, job_type, duration in conn.execute(
            f"SELECT model, job_type, duration FROM {self.tables[0]} WHERE status = 'completed' "
            "AND duration IS NOT NULL ORDER BY finished_at DESC"
        ):
            bucket = found[(model, job_type)]
            if len(bucket) < per_key:
                bucket.append(duration)
        return dict(found)
