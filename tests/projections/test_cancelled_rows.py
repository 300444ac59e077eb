"""A cancellation in the read models: its own status in rows, batch counts and analytics, and old views brought
up to date when they are opened."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.runner import ProjectionRunner


def project(app: VeoRelay, db: ReadModelDatabase) -> ProjectionRunner:
    runner = ProjectionRunner(app, db, [HistoryView(), AnalyticsView()])
    runner.catch_up()
    return runner


def test_a_cancelled_row_is_cancelled_and_never_restored(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Failed(cancelled) leaves the row `cancelled` with its reason; other reasons leave `failed`; neither is
    among the rows the poller restores."""
    cancelled, failed, waiting = (app.request_generation(GenerationSpec(prompt=f"p{i}"))[0] for i in range(3))
    app.record_cancelled(cancelled)
    app.record_failed(failed, "timeout", "Took too long.")
    project(app, db)
    view, conn = HistoryView(), db.reader()
    row = view.get(conn, str(cancelled))
    assert row is not None
    assert (row.status, row.error_reason, row.completed_at is not None) == ("cancelled", "cancelled", True)
    assert [(r.id, r.status) for r in view.non_terminal(conn)] == [(str(waiting), "pending")]
    assert view.counts(conn) == {"cancelled": 1, "failed": 1, "pending": 1}


def test_the_batch_row_counts_cancellations_apart(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A cancelled item moves from pending to `cancelled`, not to `failed`; the delta carries the new field."""
    batch_id, ids, _ = app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(3)])
    app.record_cancelled(ids[0])
    app.record_failed(ids[1], "timeout", "Took too long.")
    project(app, db)
    view = HistoryView()
    batch = view.batch(db.reader(), str(batch_id))
    assert batch is not None
    counts = (batch.total, batch.pending, batch.processing, batch.completed, batch.failed, batch.cancelled)
    assert counts == (3, 1, 0, 0, 1, 1)
    last = [d for d in view.deltas_after(db.reader(), 0, 100) if d.channel == "batch:progress"][-1]
    assert msgspec.json.decode(last.data)["cancelled"] == 1


def test_analytics_count_cancellations_apart_from_failures(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Counts by status have `cancelled`; failures by reason leave cancellations out; percentiles take only
    completed jobs."""
    done, cancelled, failed = (app.request_generation(GenerationSpec(prompt=f"p{i}"))[0] for i in range(3))
    for gid in (done, cancelled):
        app.record_submitted(gid)
        app.record_started(gid, f"op-{gid}", None, "MEDIA_GENERATION_STATUS_ACTIVE")
    app.record_completed(done, "mg", "https://v")
    app.record_cancelled(cancelled)
    app.record_failed(failed, "PUBLIC_ERROR_UNSAFE_GENERATION", "refused")
    project(app, db)
    summary = AnalyticsView().summary(db.reader(), "all", datetime.now(UTC).timestamp())
    assert summary.counts == {"pending": 0, "processing": 0, "completed": 1, "failed": 1, "cancelled": 1}
    assert summary.failures == {"PUBLIC_ERROR_UNSAFE_GENERATION": 1}
    assert [c.count for c in summary.completion] == [1]


def test_views_written_before_cancelled_existed_are_rebuilt_when_opened(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A store whose views hold a cancellation as `failed` (the old projection: schema 3 history without the
    batch row's `cancelled` column, schema 1 analytics) shows it as `cancelled` once a runner opens it."""
    batch_id, ids, _ = app.request_batch([GenerationSpec(prompt="b0"), GenerationSpec(prompt="b1")])
    app.record_cancelled(ids[0])
    project(app, db)
    history, analytics = HistoryView(), AnalyticsView()
    rows_table, batches_table, _ = history.tables
    with db.write() as conn:  # what the old projection left: `failed` rows, no cancelled column, old schemas
        integer = conn.dialect.integer
        conn.execute(f"UPDATE {rows_table} SET status = 'failed' WHERE id = ?", (str(ids[0]),))
        conn.execute(f"DROP TABLE {batches_table}")
        conn.execute(
            f"CREATE TABLE {batches_table} (batch_id TEXT PRIMARY KEY, total {integer}, pending {integer}, "
            f"processing {integer}, completed {integer}, failed {integer}, created_at TEXT, updated_at TEXT)"
        )
        conn.execute(
            f"INSERT INTO {batches_table} VALUES (?, 2, 1, 0, 0, 1, ?, ?)",
            (str(batch_id), "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z"),
        )
        conn.execute(f"UPDATE {analytics.tables[0]} SET status = 'failed'")
        conn.execute(f"UPDATE {history.tracking_table} SET schema = 3")
        conn.execute(f"UPDATE {analytics.tracking_table} SET schema = 1")
    project(app, db)
    conn = db.reader()
    row = history.get(conn, str(ids[0]))
    batch = history.batch(conn, str(batch_id))
    assert row is not None
    assert batch is not None
    assert row.status == "cancelled"
    assert (batch.pending, batch.failed, batch.cancelled) == (1, 0, 1)
    assert analytics.summary(conn, "all", datetime.now(UTC).timestamp()).counts["cancelled"] == 1
    assert (history.position(conn), analytics.position(conn)) == (app.last_position(), app.last_position())
