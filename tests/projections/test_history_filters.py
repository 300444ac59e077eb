"""The history page's filters (get_history's search, status and days): the same rows on SQLite and PostgreSQL."""

from __future__ import annotations

from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.history import HistoryFilter, HistoryView
from projections.runner import ProjectionRunner

PROMPTS = [
    "A Red Kite over hills",
    "a red kite, close up",
    "blue whale",
    "50% off_sale!",
    "50 percent offXsale",
    "Ωmega",
]


def prompts(db: ReadModelDatabase, only: HistoryFilter, limit: int = 50) -> list[str]:
    return [row.prompt for row in HistoryView().page(db.reader(), limit, None, only)]


def test_search_finds_a_substring_in_any_case_and_takes_wildcards_literally(
    app: VeoRelay, db: ReadModelDatabase
) -> None:
    """`red KITE` finds both kites; `%` and `_` are letters to find, not LIKE's wildcards."""
    for prompt in PROMPTS:
        app.request_generation(GenerationSpec(prompt=prompt))
    ProjectionRunner(app, db, [HistoryView(), AnalyticsView()]).catch_up()
    listed = prompts(db, HistoryFilter())  # rows made in one millisecond are listed in id order: keep the listing's
    kites = [prompt for prompt in listed if "kite" in prompt.lower()]
    assert sorted(kites) == ["A Red Kite over hills", "a red kite, close up"]
    assert prompts(db, HistoryFilter(search="red KITE")) == kites
    assert prompts(db, HistoryFilter(search="0% off_")) == ["50% off_sale!"]
    assert prompts(db, HistoryFilter(search="!")) == ["50% off_sale!"]
    assert prompts(db, HistoryFilter(search="Ωmega")) == ["Ωmega"]
    assert prompts(db, HistoryFilter(search="no such words")) == []


def test_status_and_time_bounds_combine_and_page_with_the_cursor(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Filters AND together; `created_from` is inclusive, `created_before` exclusive; the cursor pages within."""
    ids = [app.request_generation(GenerationSpec(prompt=f"shot {n}"))[0] for n in range(6)]
    for gid in ids[::2]:
        app.record_submitted(gid)
        app.record_failed(gid, "timeout", "too slow")
    ProjectionRunner(app, db, [HistoryView(), AnalyticsView()]).catch_up()
    view, conn = HistoryView(), db.reader()
    listed = view.page(conn, 50, None)
    times = {row.prompt: row.created_at for row in listed}
    # rows made in one millisecond are listed in id order: the filtered lists keep the unfiltered list's order
    failed_order = [row.prompt for row in listed if row.status == "failed"]
    pending_order = [row.prompt for row in listed if row.status == "pending"]
    assert sorted(failed_order) == ["shot 0", "shot 2", "shot 4"]
    assert sorted(pending_order) == ["shot 1", "shot 3", "shot 5"]

    assert prompts(db, HistoryFilter(status="failed")) == failed_order
    assert prompts(db, HistoryFilter(status="pending", search="SHOT")) == pending_order
    assert prompts(db, HistoryFilter(status="completed")) == []
    window = HistoryFilter(created_from=times["shot 1"], created_before=times["shot 5"])
    inside = prompts(db, window)
    assert "shot 1" in inside and "shot 5" not in inside
    assert set(inside) == {p for p, t in times.items() if times["shot 1"] <= t < times["shot 5"]}

    failed = HistoryFilter(status="failed")
    first = view.page(conn, 2, None, failed)
    rest = view.page(conn, 2, (first[-1].created_at, first[-1].id), failed)
    assert [row.prompt for row in first + rest] == failed_order


def test_every_item_of_a_batch_has_the_batchs_creation_time(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A batch is requested at one moment: its items share the batch row's `created_at` even when their events'
    timestamps straddle a millisecond, so lists that order by time keep a batch's items together."""
    batch_id, ids, _ = app.request_batch([GenerationSpec(prompt=f"item {n}") for n in range(200)])
    ProjectionRunner(app, db, [HistoryView()]).catch_up()
    view, conn = HistoryView(), db.reader()
    batch = view.batch(conn, str(batch_id))
    assert batch is not None
    assert {row.created_at for row in view.get_many(conn, [str(i) for i in ids])} == {batch.created_at}
