"""Kept videos in PostgreSQL chunks: ranges across chunk boundaries read back byte for byte, identical videos
stored once, a missing or damaged video is not served, and an unfinished upload (a keeper stopped mid-download,
as on a node that lost its lease) leaves nothing and records nothing."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from actors.video_keeper import VideoKeeper, plain_fetch
from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections.database import ReadModelDatabase
from server.store import StoreLocation, locate
from server.video_chunks import CHUNK, VideoChunks
from server.video_route import StoredVideo, VideoRoute

VIDEO = bytes(range(256)) * (CHUNK * 5 // 2 // 256)  # two and a half chunks
SHA = hashlib.sha256(VIDEO).hexdigest()
WAIT = 20.0


@pytest.fixture
def location(tmp_path: Path, postgres_url: str) -> StoreLocation:
    return locate(tmp_path, postgres_url)


@pytest.fixture
def db(location: StoreLocation) -> Iterator[ReadModelDatabase]:
    database = location.open_read_model()
    yield database
    database.close()


@pytest.fixture
def chunks(location: StoreLocation, db: ReadModelDatabase) -> VideoChunks:
    assert location.postgres is not None
    return VideoChunks.open(location.postgres.conninfo(), lambda: db.reader().raw, location.postgres.description)


def rows(db: ReadModelDatabase) -> list[tuple[str, int]]:
    """(sha256, n) of every chunk row, committed ones only."""
    return list(db.reader().execute("SELECT sha256, n FROM veo_video_chunks ORDER BY sha256, n").fetchall())


def store(chunks: VideoChunks, content: bytes, piece: int = 100_000) -> str:
    with chunks.partial() as upload:
        for start in range(0, len(content), piece):
            upload.write(content[start : start + piece])
        return upload.commit().sha256


def test_ranges_across_chunk_boundaries_read_back_byte_for_byte(chunks: VideoChunks, db: ReadModelDatabase) -> None:
    """Within a chunk, across one boundary, across two, the very end, and the whole video."""
    assert store(chunks, VIDEO) == SHA
    assert rows(db) == [(SHA, 0), (SHA, 1), (SHA, 2)]
    assert chunks.has(SHA, len(VIDEO))
    end = len(VIDEO)
    for first, last in [(0, 99), (CHUNK - 10, CHUNK + 9), (CHUNK - 1, 2 * CHUNK), (5, end - 1), (end - 3, end - 1)]:
        assert chunks.read(SHA, first, last - first + 1) == VIDEO[first : last + 1], (first, last)


def test_identical_videos_share_their_chunks(chunks: VideoChunks, db: ReadModelDatabase) -> None:
    """A second upload of the same bytes (in other pieces) commits nothing new; another video gets its own."""
    assert store(chunks, VIDEO) == store(chunks, VIDEO, piece=CHUNK + 1) == SHA
    other = store(chunks, b"another video")
    assert rows(db) == sorted([(SHA, 0), (SHA, 1), (SHA, 2), (other, 0)])


def test_a_missing_or_damaged_video_answers_404(chunks: VideoChunks, db: ReadModelDatabase) -> None:
    """The route serves the video while it is whole; with one chunk gone it is no longer there (404), and
    reading it directly refuses rather than returning short bytes."""
    store(chunks, VIDEO)

    def lookup(sha256: str) -> StoredVideo | None:
        return StoredVideo(sha256, len(VIDEO), "video/mp4") if chunks.has(sha256, len(VIDEO)) else None

    route = VideoRoute(lookup, chunks.read)
    part = asyncio.run(route.respond(SHA, f"bytes={CHUNK - 5}-{CHUNK + 4}"))
    assert (part.status_code, part.body) == (206, VIDEO[CHUNK - 5 : CHUNK + 5])
    assert asyncio.run(route.respond("ab" * 32, None)).status_code == 404
    with db.write() as conn:
        conn.execute("DELETE FROM veo_video_chunks WHERE n = 1")
    assert asyncio.run(route.respond(SHA, "bytes=0-9")).status_code == 404
    with pytest.raises(OSError, match="missing chunks"):
        chunks.read(SHA, 0, len(VIDEO))


def test_an_upload_left_without_commit_leaves_no_chunk(chunks: VideoChunks, db: ReadModelDatabase) -> None:
    """Chunks sent before a failure are rolled back with the upload's transaction."""

    def broken_download() -> None:
        with chunks.partial() as upload:
            upload.write(VIDEO)  # two whole chunks are in the database, uncommitted
            assert len(rows(db)) == 0
            raise RuntimeError("the download broke")

    with pytest.raises(RuntimeError, match="broke"):
        broken_download()
    assert rows(db) == []
    assert not chunks.has(SHA, len(VIDEO))


def test_a_keeper_stopped_mid_download_records_nothing_and_leaves_no_chunk(
    location: StoreLocation, chunks: VideoChunks, db: ReadModelDatabase
) -> None:
    """A node that loses its lease stops its keeper mid-download: the chunks written so far are discarded, no
    VideoStored is recorded, and the generation stays completed for the next leader's keeper."""
    halfway, release = threading.Event(), threading.Event()

    def body() -> Iterator[bytes]:
        yield VIDEO[: 2 * CHUNK + 1]  # two chunks reach the database
        halfway.set()
        release.wait(WAIT)
        yield VIDEO[2 * CHUNK + 1 :]

    app: VeoRelay = location.open_app()
    http = httpx.Client()
    try:
        with respx.mock(base_url="https://storage.example") as mock:
            mock.get("/cut.mp4").mock(
                side_effect=lambda _: httpx.Response(200, content=body(), headers={"Content-Type": "video/mp4"})
            )
            generation_id, _ = app.request_generation(GenerationSpec(prompt="cut"))
            app.record_submitted(generation_id)
            app.record_started(generation_id, "op-cut", None, "MEDIA_GENERATION_STATUS_ACTIVE")
            app.record_completed(generation_id, "mg", "https://storage.example/cut.mp4")
            keeper = VideoKeeper(app, plain_fetch(http), chunks)
            keeper.start([generation_id], after=app.last_position())
            assert halfway.wait(WAIT)
            stopper = threading.Thread(target=keeper.stop)
            stopper.start()
            assert keeper.wait_for(lambda: keeper.stopping, WAIT)
            release.set()
            stopper.join(WAIT)
            assert not stopper.is_alive()
        generation = app.get_generation(generation_id)
        assert (generation.status, generation.video_settled) == ("completed", False)
        assert rows(db) == []
    finally:
        http.close()
        app.close()
