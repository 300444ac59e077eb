"""The delta journal stored as pages reads, cuts and prunes exactly as a journal of one row per delta."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections import journal
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.journal import Delta
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from tests.projections.conftest import random_history

EVERYTHING = 10**9
FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")


def expected_cut(deltas: list[Delta], after: int, limit: int) -> list[Delta]:
    """What a journal of one row per delta returned: the first `limit` later deltas, less a cut position."""
    found = [d for d in deltas if d.position > after][:limit]
    if len(found) == limit and found:
        found = [d for d in found if d.position != found[-1].position] or found
    return found


def page_spans(db: ReadModelDatabase) -> list[tuple[int, int, int]]:
    cursor = db.reader().execute("SELECT first_position, last_position, deltas FROM delta_journal ORDER BY 2")
    return [tuple(row) for row in cursor]


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages close after 3 deltas, so a small history spans many of them."""
    monkeypatch.setattr(journal, "PAGE_DELTAS", 3)


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize("seed", [5, 6])
def test_reads_from_any_position_with_any_limit_match_a_row_per_delta(
    app: VeoRelay, db: ReadModelDatabase, seed: int
) -> None:
    """Whatever the page boundaries (live pages and a rebuild's), every read returns the same deltas."""
    rng = random.Random(seed)
    random_history(app, rng, 80)
    app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(6)])
    ProjectionRunner(app, db, [HistoryView(), AnalyticsView()], page_size=7).catch_up()
    view, conn = HistoryView(), db.reader()
    live = view.deltas_after(conn, 0, EVERYTHING)
    rebuild(app, db, [HistoryView, AnalyticsView], page_size=50)
    rebuilt = view.deltas_after(conn, 0, EVERYTHING)
    assert rebuilt == live
    assert len(page_spans(db)) > 1
    head = app.last_position()
    for _ in range(60):
        after, limit = rng.randint(0, head), rng.randint(1, 12)
        assert view.deltas_after(conn, after, limit) == expected_cut(rebuilt, after, limit)


@pytest.mark.usefixtures("small_pages")
def test_a_position_is_never_split_between_pages(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A batch item's row and batch deltas share a page, so a page boundary falls between positions."""
    app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(5)])
    rebuild(app, db, [HistoryView, AnalyticsView])
    spans = page_spans(db)
    assert [deltas for _, _, deltas in spans] == [4, 4, 2]
    assert all(later[0] > earlier[1] for earlier, later in itertools.pairwise(spans))


def test_a_reader_following_page_by_page_sees_every_delta_once(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Following `deltas_after` with a small limit (as the hub does) visits the whole journal in order."""
    app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(40)])
    rebuild(app, db, [HistoryView, AnalyticsView])
    view, conn = HistoryView(), db.reader()
    seen: list[Delta] = []
    position = 0
    while page := view.deltas_after(conn, position, 5):
        assert len(page) <= 5
        seen += page
        position = page[-1].position
    assert seen == view.deltas_after(conn, 0, EVERYTHING)
    assert len(seen) == 80


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize("keep_last", [0, 1, 4, 5, 11, 1000])
def test_pruning_keeps_exactly_the_newest_deltas_across_pages(
    app: VeoRelay, db: ReadModelDatabase, keep_last: int
) -> None:
    """Old deltas beyond the last `keep_last` go, even from the middle of a page; whole positions only."""
    app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(4)])
    for i in range(5):
        app.request_generation(GenerationSpec(prompt=f"p{i}"))
    ProjectionRunner(app, db, [HistoryView(), AnalyticsView()], page_size=4).catch_up()
    view = HistoryView()
    everything = view.deltas_after(db.reader(), 0, EVERYTHING)
    cutoff = everything[-keep_last - 1].position if keep_last < len(everything) else 0
    with db.write() as conn:
        deleted = view.prune_journal(conn, FUTURE, keep_last=keep_last)
    conn = db.reader()
    assert view.deltas_after(conn, 0, EVERYTHING) == [d for d in everything if d.position > cutoff]
    assert deleted == len([d for d in everything if d.position <= cutoff])
    assert view.pruned_through(conn) == cutoff
    assert sum(deltas for _, _, deltas in page_spans(db)) == len(everything) - deleted


def test_a_page_not_yet_old_is_kept_whole(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A page is old once its newest delta is: younger pages stay, whatever `keep_last` says."""
    runner = ProjectionRunner(app, db, [HistoryView(), AnalyticsView()])
    for i in range(3):
        app.request_generation(GenerationSpec(prompt=f"p{i}"))
        runner.catch_up()
    with db.write() as conn:
        for day in (1, 2, 3):
            conn.execute("UPDATE delta_journal SET recorded_at = ? WHERE last_position = ?", (f"2000-01-0{day}", day))
    view = HistoryView()
    with db.write() as conn:
        deleted = view.prune_journal(conn, "2000-01-03", keep_last=0)
    conn = db.reader()
    assert deleted == 2
    assert [d.position for d in view.deltas_after(conn, 0, EVERYTHING)] == [3]
    assert view.pruned_through(conn) == 2


def test_a_journal_in_the_row_per_delta_layout_is_rebuilt_as_pages(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A data directory from before pages (history schema 2) is rebuilt at start and serves the same deltas."""
    for i in range(3):
        app.request_generation(GenerationSpec(prompt=f"p{i}"))
    with db.write() as conn:
        integer = conn.dialect.integer
        conn.execute(
            f"CREATE TABLE delta_journal (key {integer} PRIMARY KEY, position {integer} NOT NULL, "
            f"channel TEXT NOT NULL, data {conn.dialect.blob} NOT NULL, recorded_at TEXT NOT NULL)"
        )
        conn.execute(
            f"CREATE TABLE history_tracking (id INTEGER PRIMARY KEY, position {integer} NOT NULL, "
            f"pruned_through {integer} NOT NULL, schema INTEGER NOT NULL)"
        )
        conn.execute("INSERT INTO history_tracking VALUES (1, 3, 0, 2)")
        conn.execute("INSERT INTO delta_journal VALUES (2, 1, 'generation:status', ?, 'x')", (b"{}",))
    runner = ProjectionRunner(app, db, [HistoryView(), AnalyticsView()])
    assert HistoryView().position(db.reader()) == 0
    runner.catch_up()
    deltas = HistoryView().deltas_after(db.reader(), 0, EVERYTHING)
    assert [(d.position, d.channel) for d in deltas] == [(p, "generation:status") for p in (1, 2, 3)]
    assert HistoryView().found_schema(db.reader()) == HistoryView.schema
