"""Rebuild equals incremental, and each event is applied exactly once across crashes."""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any

import pytest

from domain.application import VeoRelay
from domain.requests import GenerationSpec
from domain.values import Channel
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.dialect import Connection
from projections.history import Delta, HistoryView
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from tests.projections.conftest import random_history

VIEWS = [HistoryView, AnalyticsView]


def snapshot(db: ReadModelDatabase) -> dict[str, list[Any]]:
    """Every table's rows; the journal as its deltas (its pages are cut where each run's pages were)."""
    conn = db.reader()
    tables = ["veo3_video_generations", "veo3_batches", "analytics_jobs"]
    found = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    found["journal"] = HistoryView().deltas_after(conn, 0, 10**9)
    found["tracking"] = [HistoryView().position(conn), AnalyticsView().position(conn)]
    found["pruned_through"] = [HistoryView().pruned_through(conn)]
    return found


def row_delta_positions(deltas: list[Delta]) -> list[int]:
    """The positions of the generation-row deltas (one per applied event)."""
    return [d.position for d in deltas if d.channel != Channel.BATCH_PROGRESS]


def pages_are_disjoint_and_ordered(db: ReadModelDatabase) -> bool:
    """Each journal page starts after the previous one ends."""
    spans = db.reader().execute("SELECT first_position, last_position FROM delta_journal ORDER BY 1").fetchall()
    return all(first <= last for first, last in spans) and all(
        later[0] > earlier[1] for earlier, later in itertools.pairwise(spans)
    )


def incremental(app: VeoRelay, db: ReadModelDatabase, page_size: int) -> None:
    runner = ProjectionRunner(app, db, [v() for v in VIEWS], page_size=page_size)
    runner.catch_up()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebuild_equals_incremental_on_a_random_history(app: VeoRelay, db: ReadModelDatabase, seed: int) -> None:
    """Applying events page by page as they come gives the same tables as a rebuild from zero."""
    rng = random.Random(seed)
    for _ in range(6):
        random_history(app, rng, 40)
        incremental(app, db, page_size=rng.randint(1, 17))
    before = snapshot(db)
    assert before["tracking"] == [app.last_position()] * 2
    report = rebuild(app, db, VIEWS)
    assert report.position == app.last_position()
    assert snapshot(db) == before


def test_a_crash_between_events_applies_nothing_twice(
    app: VeoRelay, db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that fails midway is rolled back with its tracking; the restart applies it exactly once."""
    _, ids, _ = app.request_batch([GenerationSpec(prompt=f"p{i}") for i in range(4)])
    runner = ProjectionRunner(app, db, [v() for v in VIEWS], page_size=3)
    runner.catch_up()
    for gid in ids:
        app.record_submitted(gid)
        app.record_started(gid, "op", None, "MEDIA_GENERATION_STATUS_ACTIVE")
    original = HistoryView.apply
    calls = {"n": 0}

    def crash_on_second_page(self: HistoryView, conn: Connection, items: Any, journal_after: int) -> None:
        calls["n"] += 1
        original(self, conn, items, journal_after)
        if calls["n"] == 2:
            raise RuntimeError("power cut between events")

    monkeypatch.setattr(HistoryView, "apply", crash_on_second_page)
    with pytest.raises(RuntimeError, match="power cut"):
        runner.catch_up()
    monkeypatch.setattr(HistoryView, "apply", original)
    restarted = ProjectionRunner(app, db, [v() for v in VIEWS], page_size=3)
    restarted.catch_up()
    conn = db.reader()
    batch = HistoryView().batch(conn, app.get_generation(ids[0]).batch_id or "")
    assert batch is not None
    assert (batch.total, batch.pending, batch.processing) == (4, 0, 4)
    journal_positions = row_delta_positions(HistoryView().deltas_after(conn, 0, 10**9))
    assert journal_positions == sorted(set(journal_positions))
    assert len(journal_positions) == app.last_position()
    after = snapshot(db)
    rebuild(app, db, VIEWS)
    assert snapshot(db) == after


def test_the_runner_wakes_on_save_without_polling(app: VeoRelay, db: ReadModelDatabase) -> None:
    """With the fallback poll at a minute, a save is still projected at once."""
    runner = ProjectionRunner(app, db, [v() for v in VIEWS], fallback_poll=60.0)
    runner.start()
    try:
        gid, _ = app.request_generation(GenerationSpec(prompt="fox"))
        assert runner.wait_for(app.last_position(), timeout=30.0)  # well within the minute a poll would take
        row = HistoryView().get(db.reader(), str(gid))
        assert row is not None
        assert row.status == "pending"
    finally:
        runner.stop()


def test_rebuild_while_events_keep_coming_misses_nothing(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A rebuild during live writes swaps in tables that the live runner continues without gaps."""
    runner = ProjectionRunner(app, db, [v() for v in VIEWS], fallback_poll=0.05)
    runner.start()
    stop = threading.Event()

    def write() -> None:
        rng = random.Random(9)
        while not stop.is_set():
            random_history(app, rng, 5)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(3):
            rebuild(app, db, VIEWS, page_size=7)
    finally:
        stop.set()
        writer.join()
    assert runner.wait_for(app.last_position(), timeout=60.0)
    runner.stop()
    live = snapshot(db)
    assert pages_are_disjoint_and_ordered(db)
    assert row_delta_positions(live["journal"]) == list(range(1, app.last_position() + 1))
    rebuild(app, db, VIEWS)
    assert snapshot(db) == live
