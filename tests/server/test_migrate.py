"""`veo migrate --to postgresql://...`: events and positions copied exactly, verified, read models built."""

from __future__ import annotations

import socket
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from actors.video_files import VIDEOS_DIR, VideoFiles
from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections.analytics import AnalyticsView
from projections.history import HistoryView
from projections.rebuild import rebuild
from server.migration import PAGE, CopyMismatch, verify
from server.store import locate
from server.video_chunks import VideoChunks
from veo_cli.main import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def some_history(app: VeoRelay) -> list[UUID]:
    """A few generations in every state, and a batch."""
    ids = [app.request_generation(GenerationSpec(prompt=f"p{i}"))[0] for i in range(3)]
    _, batch, _ = app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(4)])
    for gid in ids[:2]:
        app.record_submitted(gid)
        app.record_started(gid, f"op-{gid}", None, "MEDIA_GENERATION_STATUS_ACTIVE")
    app.record_completed(ids[0], "mg-0", "https://videos.example/0.mp4")
    app.record_failed(ids[2], "PUBLIC_ERROR_UNSAFE_GENERATION", "refused")
    return [*ids, *batch]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    app = locate(tmp_path, None).open_app()
    some_history(app)
    app.close()
    return tmp_path


def stored(app: VeoRelay) -> list[tuple[int, str, int, str, bytes]]:
    return [
        (n.id, UUID(str(n.originator_id)).hex, n.originator_version, n.topic, n.state)
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]


def test_migrate_copies_every_event_at_its_position_and_builds_the_read_models(source: Path, postgres_url: str) -> None:
    """Same ids, originators, versions, topics and states; the views equal a rebuild of the source."""
    code, out, err = run("migrate", "--to", postgres_url, "--data", str(source))
    assert code == 0, err
    assert "verified" in out
    assert f"copied 0 kept video(s) (0 bytes) from {source / 'videos'} into the database" in out
    origin = locate(source, None)
    copy = locate(source, postgres_url)
    source_app, target_app = origin.open_app(), copy.open_app()
    source_db, target_db = origin.open_read_model(), copy.open_read_model()
    try:
        assert stored(target_app) == stored(source_app)
        rebuild(source_app, source_db, [HistoryView, AnalyticsView])
        history = HistoryView()
        ids = [row.id for row in history.page(source_db.reader(), 100, None)]
        assert history.get_many(target_db.reader(), ids) == history.get_many(source_db.reader(), ids)
        assert history.deltas_after(target_db.reader(), 0, 1000) == history.deltas_after(source_db.reader(), 0, 1000)
        assert history.position(target_db.reader()) == source_app.last_position()
        gid, _ = target_app.request_generation(GenerationSpec(prompt="after the move"))
        assert target_app.last_position() == source_app.last_position() + 1
        assert target_app.get_generation(gid).prompt == "after the move"
    finally:
        for db in (source_db, target_db):
            db.close()
        source_app.close()
        target_app.close()


def test_migrate_refuses_a_target_that_already_holds_events(source: Path, postgres_url: str) -> None:
    """A second migration into the same database is refused and changes nothing."""
    assert run("migrate", "--to", postgres_url, "--data", str(source))[0] == 0
    code, _, err = run("migrate", "--to", postgres_url, "--data", str(source))
    assert code == 2
    assert "already holds 13 events" in err


def test_migrate_refuses_a_missing_source(tmp_path: Path, postgres_url: str) -> None:
    """No store in the data directory: a usage error naming where it looked."""
    code, _, err = run("migrate", "--to", postgres_url, "--data", str(tmp_path / "nowhere"))
    assert code == 2
    assert "no event store at" in err


def test_migrate_reports_an_unreachable_target_without_its_password(source: Path) -> None:
    """Nothing listening on the port: exit 3, the address in the message, the password not."""
    with socket.socket() as probe:  # bound, never listening: refused, and no one else can take the port meanwhile
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        code, out, err = run(
            "migrate", "--to", f"postgresql://relay:hunter2@127.0.0.1:{port}/veo", "--data", str(source)
        )
    assert code == 3
    assert f"cannot connect to PostgreSQL database 'veo' at 127.0.0.1:{port}" in err
    assert "hunter2" not in out + err


def test_migrate_refuses_a_target_that_is_not_postgresql(source: Path, tmp_path: Path) -> None:
    """`--to` names where the events go, and only PostgreSQL is a migration target."""
    code, _, err = run("migrate", "--to", str(tmp_path / "other.sqlite"), "--data", str(source))
    assert code == 2
    assert "must be postgresql://" in err


def test_verify_names_the_page_where_a_copy_differs(source: Path, postgres_url: str) -> None:
    """A changed state after the copy is found and reported by position range."""
    import psycopg  # noqa: PLC0415 - only where PostgreSQL runs (the module is collected everywhere)

    assert run("migrate", "--to", postgres_url, "--data", str(source))[0] == 0
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE veorelay_events SET state = state || '\\x20'::bytea WHERE notification_id = 5")
    with pytest.raises(CopyMismatch, match=f"between positions 1 and {PAGE}"):
        verify(locate(source, None), locate(source, postgres_url))


def test_replay_and_rebuild_work_on_the_migrated_store(source: Path, postgres_url: str) -> None:
    """The store tools take `--store postgresql://...` like a SQLite path."""
    assert run("migrate", "--to", postgres_url, "--data", str(source))[0] == 0
    code, out, err = run("replay", "--json", "--store", postgres_url, "--data", str(source))
    assert code == 0, err
    assert len(out.splitlines()) == 13
    code, out, err = run("rebuild", "--store", postgres_url, "--data", str(source))
    assert code == 0, err
    assert "13 events up to position 13" in out


def test_migrate_copies_the_kept_videos_into_the_database_and_rebuild_leaves_them(
    source: Path, postgres_url: str
) -> None:
    """Each kept file lands in the chunks, checked against its name (a damaged one is named and not copied); a
    later `veo rebuild` of the read models does not touch them."""
    files = VideoFiles(source / VIDEOS_DIR)
    video = bytes(range(256)) * 5000
    with files.partial() as partial:
        partial.write(video)
        sha256 = partial.commit().sha256
    damaged = files.path_for("ab" * 32)
    damaged.parent.mkdir()
    damaged.write_bytes(b"not what the name says")
    code, out, err = run("migrate", "--to", postgres_url, "--data", str(source))
    assert code == 0, err
    assert f"copied 1 kept video(s) ({len(video):,} bytes)" in out
    assert f"whose bytes do not match their name ({'ab' * 32})" in err
    assert run("rebuild", "--store", postgres_url, "--data", str(source))[0] == 0
    target = locate(source, postgres_url)
    assert target.postgres is not None
    db = target.open_read_model()
    try:
        chunks = VideoChunks(target.postgres.conninfo(), lambda: db.reader().raw, target.postgres.description)
        assert chunks.has(sha256, len(video))
        assert chunks.read(sha256, 0, len(video)) == video
        assert db.reader().execute("SELECT DISTINCT sha256 FROM veo_video_chunks").fetchall() == [(sha256,)]
    finally:
        db.close()


def test_store_tools_refuse_a_database_without_an_event_store(tmp_path: Path, postgres_url: str) -> None:
    """An empty database is not a store: a usage error that says where it looked."""
    code, _, err = run("replay", "--store", postgres_url, "--data", str(tmp_path))
    assert code == 2
    assert "no event store in PostgreSQL database" in err
