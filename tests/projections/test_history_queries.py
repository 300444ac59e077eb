"""Queries of the history read model: one, many, pages, non-terminal, batches, journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner


def project(app: VeoRelay, db: ReadModelDatabase) -> None:
    ProjectionRunner(app, db, [HistoryView(), AnalyticsView()]).catch_up()


def test_get_many_keeps_the_order_asked_and_skips_unknown_ids(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Unknown ids are absent; found rows come in the order asked."""
    a, _ = app.request_generation(GenerationSpec(prompt="a"))
    b, _ = app.request_generation(GenerationSpec(prompt="b"))
    project(app, db)
    rows = HistoryView().get_many(db.reader(), [str(b), "nope", str(a)])
    assert [r.prompt for r in rows] == ["b", "a"]


def test_pages_go_newest_first_without_overlap(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Following the cursor visits every row once, newest first; a batch's items keep request order."""
    for i in range(4):
        app.request_generation(GenerationSpec(prompt=f"p{i}"))
    app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(5)])
    project(app, db)
    view, conn = HistoryView(), db.reader()
    seen: list[tuple[str, str]] = []
    cursor = None
    while page := view.page(conn, 3, cursor):
        assert len(page) <= 3
        seen += [(r.created_at, r.prompt) for r in page]
        cursor = (page[-1].created_at, page[-1].id)
    assert sorted(p for _, p in seen) == sorted([f"p{i}" for i in range(4)] + [f"b{i}" for i in range(5)])
    assert [t for t, _ in seen] == sorted((t for t, _ in seen), reverse=True)
    assert [p for _, p in seen if p.startswith("b")] == [f"b{i}" for i in reversed(range(5))]


def test_a_view_with_an_older_table_layout_is_rebuilt(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Tables from an older schema are dropped and the view starts again from position 0."""
    app.request_generation(GenerationSpec(prompt="fox"))
    project(app, db)
    with db.write() as conn:
        conn.execute("UPDATE history_tracking SET schema = 1")
    runner = ProjectionRunner(app, db, [HistoryView(), AnalyticsView()])
    assert HistoryView().position(db.reader()) == 0
    runner.catch_up()
    assert HistoryView().position(db.reader()) == app.last_position()


def test_non_terminal_lists_what_the_poller_must_restore(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Pending and processing rows are restored; completed and failed are not."""
    ids = [app.request_generation(GenerationSpec(prompt=f"p{i}"))[0] for i in range(3)]
    app.record_failed(ids[0], "cancelled", "Cancelled.")
    app.record_submitted(ids[1])
    app.record_started(ids[1], "op", None, "MEDIA_GENERATION_STATUS_ACTIVE")
    project(app, db)
    rows = HistoryView().non_terminal(db.reader())
    assert {(r.id, r.status) for r in rows} == {(str(ids[1]), "processing"), (str(ids[2]), "pending")}


def test_rows_carry_contract_times_and_nulls(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Times are ISO-8601 UTC with milliseconds and Z; unknown values are null."""
    gid, _ = app.request_generation(GenerationSpec(prompt="fox"))
    project(app, db)
    row = HistoryView().get(db.reader(), str(gid))
    assert row is not None
    assert row.created_at.endswith("Z")
    assert len(row.created_at) == len("2026-01-01T00:00:00.000Z")
    assert (row.started_at, row.operation_name, row.video_url, row.error_reason) == (None, None, None, None)


def test_one_event_changing_two_rows_gives_two_deltas_at_one_position(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A batch item's status change moves its row and its batch row: both deltas share the position."""
    _, ids, _ = app.request_batch([GenerationSpec(prompt="a")])
    project(app, db)
    deltas = HistoryView().deltas_after(db.reader(), 0, 100)
    assert [(d.position, d.channel) for d in deltas] == [(1, "generation:status"), (1, "batch:progress")]
    app.record_submitted(ids[0])
    project(app, db)
    later = HistoryView().deltas_after(db.reader(), 1, 100)
    assert [(d.position, d.channel) for d in later] == [(2, "generation:status")]


def test_pruning_keeps_the_newest_and_records_what_is_gone(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Deltas that are both old and beyond the keep count go; resumes before them must re-read."""
    for i in range(5):
        app.request_generation(GenerationSpec(prompt=f"p{i}"))
    project(app, db)
    view = HistoryView()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    with db.write() as conn:
        deleted = view.prune_journal(conn, future, keep_last=2)
    conn = db.reader()
    assert deleted == 3
    assert view.pruned_through(conn) == 3
    assert [d.position for d in view.deltas_after(conn, 0, 100)] == [4, 5]
    with db.write() as wconn:
        assert view.prune_journal(wconn, "2000-01-01T00:00:00.000Z", keep_last=0) == 0


def test_analytics_counts_percentiles_and_failures(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Completion times per model and job type, failures by reason, counts by status."""
    ids = [app.request_generation(GenerationSpec(prompt=f"p{i}"))[0] for i in range(3)]
    for gid in ids[:2]:
        app.record_submitted(gid)
        app.record_started(gid, "op", None, "MEDIA_GENERATION_STATUS_PENDING")
        app.record_completed(gid, "mg", "https://v")
    app.record_failed(ids[2], "PUBLIC_ERROR_UNSAFE_GENERATION", "refused")
    project(app, db)
    summary = AnalyticsView().summary(db.reader(), "all", datetime.now(UTC).timestamp())
    assert summary.counts == {"pending": 0, "processing": 0, "completed": 2, "failed": 1, "cancelled": 0}
    assert [(c.model, c.job_type, c.count) for c in summary.completion] == [("veo_3_1_t2v_fast", "generation", 2)]
    assert summary.completion[0].p50 >= 0
    assert summary.failures == {"PUBLIC_ERROR_UNSAFE_GENERATION": 1}
    later = AnalyticsView().summary(db.reader(), "1h", datetime.now(UTC).timestamp() + 7200)
    assert later.counts["completed"] == 0


def test_rebuild_of_an_empty_store_gives_empty_views(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Rebuilding nothing is fine and leaves position 0."""
    report = rebuild(app, db, [HistoryView, AnalyticsView])
    assert (report.events, report.position) == (0, 0)
    assert HistoryView().counts(db.reader()) == {}


def test_a_batch_row_shows_its_full_size_from_the_first_delta(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Each item's Requested carries the batch size, so progress never reports a smaller total."""
    app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(4)])
    project(app, db)
    batches = [d for d in HistoryView().deltas_after(db.reader(), 0, 100) if d.channel == "batch:progress"]
    totals = [msgspec.json.decode(d.data)["total"] for d in batches]
    pending = [msgspec.json.decode(d.data)["pending"] for d in batches]
    assert (totals, pending) == ([4, 4, 4, 4], [1, 2, 3, 4])
