"""The kept video in the domain and the read model: `VideoStored` / `VideoStoreFailed` after `Completed`, never
changing the status; the row's `video_sha256`, `video_bytes`, `video_stored_at`; which rows the keeper restores."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.application import VeoRelay
from domain.errors import IllegalTransition
from domain.requests import GenerationSpec
from domain.values import Status, VideoStoreFailure
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.runner import ProjectionRunner

SHA = "ab" * 32


def completed(app: VeoRelay, prompt: str) -> UUID:
    generation_id, _ = app.request_generation(GenerationSpec(prompt=prompt))
    app.record_submitted(generation_id)
    app.record_started(generation_id, f"op-{prompt}", None, "MEDIA_GENERATION_STATUS_ACTIVE")
    app.record_completed(generation_id, "mg", f"https://storage.example/{prompt}.mp4")
    return generation_id


def project(app: VeoRelay, db: ReadModelDatabase) -> HistoryView:
    view = HistoryView()
    ProjectionRunner(app, db, [view]).catch_up()
    return view


def test_a_stored_video_fills_the_row_and_keeps_the_status(app: VeoRelay, db: ReadModelDatabase) -> None:
    """`VideoStored` sets sha256, size and the time stored; the status stays completed, updated_at moves."""
    generation_id = completed(app, "fox")
    app.record_video_stored(generation_id, SHA, 4096, "video/mp4")
    generation = app.get_generation(generation_id)
    assert (generation.status, generation.video_sha256, generation.video_bytes) == (Status.COMPLETED, SHA, 4096)
    assert generation.video_content_type == "video/mp4"
    row = project(app, db).get(db.reader(), str(generation_id))
    assert row is not None
    assert (row.status, row.video_sha256, row.video_bytes) == ("completed", SHA, 4096)
    assert row.video_stored_at is not None
    assert row.video_stored_at == row.updated_at
    assert row.video_stored_at >= (row.completed_at or "")


def test_a_failed_store_is_recorded_and_settles_the_video(app: VeoRelay, db: ReadModelDatabase) -> None:
    """`VideoStoreFailed` leaves the row completed without a file; neither event may follow a settled video."""
    generation_id = completed(app, "owl")
    app.record_video_store_failed(generation_id, VideoStoreFailure.EXPIRED, "The video URL answered 403.")
    generation = app.get_generation(generation_id)
    assert generation.status == Status.COMPLETED
    assert generation.video_settled
    with pytest.raises(IllegalTransition):
        app.record_video_stored(generation_id, SHA, 1, "video/mp4")
    with pytest.raises(IllegalTransition):
        app.record_video_store_failed(generation_id, VideoStoreFailure.EXPIRED, "again")
    row = project(app, db).get(db.reader(), str(generation_id))
    assert row is not None
    assert (row.status, row.video_sha256, row.video_stored_at) == ("completed", None, None)


def test_only_a_completed_generation_has_a_video_to_store(app: VeoRelay) -> None:
    """A pending or failed generation refuses both events; a stored video cannot be stored twice."""
    pending, _ = app.request_generation(GenerationSpec(prompt="cat"))
    with pytest.raises(IllegalTransition):
        app.record_video_stored(pending, SHA, 1, "video/mp4")
    app.record_failed(pending, "timeout", "Took too long.")
    with pytest.raises(IllegalTransition):
        app.record_video_store_failed(pending, VideoStoreFailure.EXPIRED, "no")
    done = completed(app, "dog")
    app.record_video_stored(done, SHA, 1, "video/mp4")
    with pytest.raises(IllegalTransition):
        app.record_video_stored(done, SHA, 1, "video/mp4")


def test_the_keeper_restores_completed_rows_without_a_file(app: VeoRelay, db: ReadModelDatabase) -> None:
    """Rows to keep: completed, with a URL, no stored file (oldest first); a failed store is still listed (the
    keeper checks the aggregate), a stored one and unfinished ones are not."""
    stored, waiting, failed = completed(app, "a"), completed(app, "b"), completed(app, "c")
    app.request_generation(GenerationSpec(prompt="pending"))
    app.record_video_stored(stored, SHA, 10, "video/mp4")
    app.record_video_store_failed(failed, VideoStoreFailure.DOWNLOAD_FAILED, "503 every time")
    view = project(app, db)
    assert [row.id for row in view.videos_to_keep(db.reader())] == [str(waiting), str(failed)]


def test_a_history_view_of_the_previous_schema_is_rebuilt_with_the_video_columns(
    app: VeoRelay, db: ReadModelDatabase
) -> None:
    """A view built before the video columns (schema 4) is rebuilt from position 0 when opened."""
    generation_id = completed(app, "old")
    app.record_video_stored(generation_id, SHA, 77, "video/mp4")
    view = project(app, db)
    rows_table = view.tables[0]
    with db.write() as conn:
        for column in ("video_sha256", "video_bytes", "video_stored_at"):
            conn.execute(f"ALTER TABLE {rows_table} DROP COLUMN {column}")
        conn.execute(f"UPDATE {view.tracking_table} SET schema = 4")
    row = project(app, db).get(db.reader(), str(generation_id))
    assert row is not None
    assert (row.video_sha256, row.video_bytes) == (SHA, 77)
