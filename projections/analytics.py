"""The analytics read model (the seed's "queue analytics"): counts, completion-time percentiles, failures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from domain.values import ACTIVE_REMOTE_STATUS, Status, status_after_failure
from projections.dialect import Column, Connection, Dialect
from projections.events import ViewEvent
from projections.tracking import TrackedView

__all__ = ["AnalyticsView", "CompletionStats", "Summary", "percentile"]

WINDOWS = {"all": None, "1h": 3600.0}
_COLUMNS = ("model", "job_type", "status", "created_at", "started_at", "finished_at", "duration", "error_reason")
_MODEL, _STATUS, _STARTED, _FINISHED, _DURATION, _REASON = 0, 2, 4, 5, 6, 7
_REALS = {"created_at", "started_at", "finished_at", "duration"}
_TYPED_COLUMNS: tuple[Column, ...] = tuple((c, "real" if c in _REALS else "text") for c in ("id", *_COLUMNS))


def _epoch(row_time: str) -> float:
    """Epoch seconds of a row time (`...Z`)."""
    return datetime.fromisoformat(row_time).timestamp()


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
    return float(sorted_values[_rank(len(sorted_values), q) - 1])


def _rank(count: int, q: float) -> int:
    """The nearest rank (1-based) of percentile `q` among `count` values: ceil(count*q/100), at least 1."""
    return max(1, int(-(-count * q // 100)))


class AnalyticsView(TrackedView):
    """One row per generation with the instants analytics need (epoch seconds)."""

    name = "analytics"
    base_tables = ("analytics_jobs",)
    schema = 2  # 2: a cancellation's status is `cancelled` (counted apart, not among the failures)
    indexes = (
        ("by_created", 0, "created_at"),
        ("by_finished", 0, "finished_at"),
        ("by_completion", 0, "status, model, job_type, duration, finished_at"),  # covers every completion query
    )

    def table_statements(self, dialect: Dialect) -> list[str]:
        real = dialect.real
        return [
            f"CREATE TABLE IF NOT EXISTS {self.tables[0]} (id TEXT PRIMARY KEY, model TEXT, job_type TEXT, "
            f"status TEXT, created_at {real}, started_at {real}, finished_at {real}, duration {real}, "
            "error_reason TEXT)"
        ]

    def apply(self, conn: Connection, items: Sequence[ViewEvent], journal_after: int) -> None:
        """Apply events inside the caller's transaction (rows changed in memory, written once)."""
        table = self.tables[0]
        rows = self._load(conn, {item.generation_id for item in items})
        for item in items:
            kind, data = item.kind, item.data
            if kind == "Requested":
                rows[item.generation_id] = [data.model, data.job_type, Status.PENDING.value, _epoch(item.at)]
                rows[item.generation_id] += [None, None, None, None]
                continue
            row = rows.get(item.generation_id)
            if row is None:
                continue
            if kind == "Submitted" and data.model is not None:  # the model the backend was asked for
                row[_MODEL] = data.model
            elif kind == "Started":
                row[_STARTED] = _epoch(item.at)
                if data.remote_status == ACTIVE_REMOTE_STATUS:
                    row[_STATUS] = Status.PROCESSING.value
            elif kind == "Progressed" and data.remote_status == ACTIVE_REMOTE_STATUS:
                row[_STATUS] = Status.PROCESSING.value
            elif kind == "Completed":
                row[_STATUS] = Status.COMPLETED.value
                row[_FINISHED] = _epoch(item.at)
                row[_DURATION] = row[_FINISHED] - row[_STARTED] if row[_STARTED] is not None else None
            elif kind == "Failed":
                row[_STATUS] = status_after_failure(data.error_reason).value
                row[_FINISHED] = _epoch(item.at)
                row[_REASON] = data.error_reason
        conn.dialect.upsert_rows(conn, table, _TYPED_COLUMNS, "id", [(key, *values) for key, values in rows.items()])

    def _load(self, conn: Connection, ids: set[str]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        wanted = list(ids)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            condition, parameters = conn.dialect.any_of("id", chunk)
            cursor = conn.execute(
                f"SELECT id, {', '.join(_COLUMNS)} FROM {self.tables[0]} WHERE {condition}", parameters
            )
            for key, *values in cursor:
                found[key] = values
        return found

    # --- reading ------------------------------------------------------------------------------------

    def summary(self, conn: Connection, window: str, now: float) -> Summary:
        """Counts by status, completion percentiles per model and job type, failures by reason.

        Cancellations are counted under `cancelled` only: not failures, and (like failures) not in the
        percentiles, which are taken over completed jobs.

        The database does the work (counts and groups along the `by_completion` index, each percentile one
        ordered walk of it), so no row is copied into Python and the reply is a handful of small queries.
        """
        span = WINDOWS[window]
        since = () if span is None else (now - span,)
        created = "" if span is None else " WHERE created_at >= ?"
        finished = "" if span is None else " AND finished_at >= ?"
        table = self.tables[0]
        counts = {status.value: 0 for status in Status}
        for status, count in conn.execute(f"SELECT status, COUNT(*) FROM {table}{created} GROUP BY status", since):
            counts[status] = count
        done = f"status = 'completed' AND duration IS NOT NULL{finished}"
        groups = conn.execute(
            f"SELECT model, job_type, COUNT(*) FROM {table} WHERE {done} GROUP BY model, job_type", since
        )
        completion = []
        for model, job_type, count in sorted(groups.fetchall()):
            cuts = [self._nth_duration(conn, done, (model, job_type, *since), _rank(count, q)) for q in (50, 90, 99)]
            completion.append(
                CompletionStats(model=model, job_type=job_type, count=count, p50=cuts[0], p90=cuts[1], p99=cuts[2])
            )
        failed = conn.execute(
            f"SELECT error_reason, COUNT(*) FROM {table} WHERE status = 'failed'{finished} GROUP BY error_reason", since
        )
        failures = dict(sorted(failed.fetchall()))  # sorted here: the backends' collations order text differently
        return Summary(window=window, counts=counts, completion=completion, failures=failures)

    def _nth_duration(self, conn: Connection, done: str, parameters: tuple[Any, ...], rank: int) -> float:
        """The `rank`-th shortest completion time (1-based) among one model and job type's `done` rows."""
        (duration,) = conn.execute(
            f"SELECT duration FROM {self.tables[0]} WHERE model = ? AND job_type = ? AND {done} "
            "ORDER BY duration LIMIT 1 OFFSET ?",
            (*parameters, rank - 1),
        ).fetchone()
        return round(float(duration), 3)

    def recent_durations(self, conn: Connection, per_key: int = 500) -> dict[tuple[str, str], list[float]]:
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
