"""The VideoKeeper against respx: stored files and their checksums, the live hook and the restore at start,
retries with bounded backoff on a fake clock, at most two downloads at once, a full disk, and bad answers."""

from __future__ import annotations

import errno
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import respx

from actors.clock import FakeClock
from actors.video_files import PartialVideo, VideoFiles
from actors.video_keeper import KeeperSettings, VideoKeeper, plain_fetch
from domain.application import VeoRelay
from domain.requests import GenerationSpec
from domain.values import VideoStoreFailure
from server.store import locate

BASE = "https://storage.example"
VIDEO = bytes(range(256)) * 16
WAIT = 20.0


@pytest.fixture
def app(tmp_path: Path) -> Iterator[VeoRelay]:
    application = locate(tmp_path, None).open_app()
    yield application
    application.close()


@pytest.fixture
def files(tmp_path: Path) -> VideoFiles:
    return VideoFiles(tmp_path / "videos")


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


MakeKeeper = Callable[..., VideoKeeper]


@pytest.fixture
def make(app: VeoRelay, files: VideoFiles, clock: FakeClock) -> Iterator[MakeKeeper]:
    """Builds keepers (KeeperSettings given as keywords) and stops them at the end."""
    http = httpx.Client()
    made: list[VideoKeeper] = []

    def build(**settings: Any) -> VideoKeeper:
        keeper = VideoKeeper(app, plain_fetch(http), files, KeeperSettings(**settings), clock)
        made.append(keeper)
        return keeper

    yield build
    for keeper in made:
        keeper.stop()
    http.close()


def completed(app: VeoRelay, name: str) -> UUID:
    generation_id, _ = app.request_generation(GenerationSpec(prompt=name))
    app.record_submitted(generation_id)
    app.record_started(generation_id, f"op-{name}", None, "MEDIA_GENERATION_STATUS_ACTIVE")
    app.record_completed(generation_id, "mg", f"{BASE}/{name}.mp4")
    return generation_id


def settled(keeper: VideoKeeper, app: VeoRelay, *ids: UUID) -> None:
    assert keeper.wait_for(lambda: all(app.get_generation(i).video_settled for i in ids), WAIT)


def retry_at(keeper: VideoKeeper, clock: FakeClock, generation_id: UUID, *dues: float) -> None:
    """Each next attempt is due at the given clock reading in turn: wait for it to be planned, then let it run."""
    for due in dues:
        assert keeper.wait_for(lambda due=due: keeper.waiting.get(generation_id) == due, WAIT)  # type: ignore[misc]
        clock.set(due)
        keeper.wake()


def video(content: bytes = VIDEO, status: int = 200, content_type: str = "video/mp4") -> httpx.Response:
    return httpx.Response(status, content=content, headers={"Content-Type": content_type})


def test_a_completion_is_downloaded_checked_and_recorded(
    app: VeoRelay, files: VideoFiles, mock: respx.MockRouter, make: MakeKeeper
) -> None:
    """A completion recorded while the keeper runs is stored under its sha256, and VideoStored says so."""
    mock.get("/fox.mp4").mock(return_value=video())
    keeper = make()
    keeper.start([], after=app.last_position())
    generation_id = completed(app, "fox")
    settled(keeper, app, generation_id)
    generation = app.get_generation(generation_id)
    sha = hashlib.sha256(VIDEO).hexdigest()
    assert (generation.video_sha256, generation.video_bytes, generation.video_content_type) == (
        sha,
        len(VIDEO),
        "video/mp4",
    )
    assert files.path_for(sha).read_bytes() == VIDEO
    assert list((files.directory / ".partial").iterdir()) == []


def test_the_backlog_is_taken_up_at_start_and_settled_videos_are_skipped(
    app: VeoRelay, files: VideoFiles, mock: respx.MockRouter, make: MakeKeeper
) -> None:
    """Completed rows without a file given at start are downloaded; one already stored is not fetched again;
    identical videos share one file."""
    route = mock.get(url__regex=r"/(a|b|c)\.mp4").mock(return_value=video())
    a, b, c = completed(app, "a"), completed(app, "b"), completed(app, "c")
    app.record_video_stored(c, "cd" * 32, 1, "video/mp4")
    keeper = make()
    keeper.start([a, b, c], after=app.last_position())
    settled(keeper, app, a, b)
    assert keeper.wait_for(lambda: keeper.running == 0 and not keeper.waiting, WAIT)
    assert route.call_count == 2
    assert app.get_generation(a).video_sha256 == app.get_generation(b).video_sha256
    assert len([p for p in files.directory.glob("*/*") if p.parent.name != ".partial"]) == 1


def test_failures_are_retried_with_growing_delays_on_the_clock(
    app: VeoRelay, clock: FakeClock, mock: respx.MockRouter, make: MakeKeeper
) -> None:
    """503, 503, then the video: the second attempt waits first_delay, the third twice that."""
    route = mock.get("/owl.mp4").mock(side_effect=[video(b"", 503), video(b"", 503), video()])
    keeper = make(first_delay=5.0, max_delay=300.0)
    generation_id = completed(app, "owl")
    keeper.start([generation_id], after=app.last_position())
    assert keeper.wait_for(lambda: keeper.waiting.get(generation_id) == 1005.0, WAIT)
    assert route.call_count == 1
    clock.advance(4.0)
    keeper.wake()
    assert keeper.waiting == {generation_id: 1005.0}
    clock.advance(1.0)
    keeper.wake()
    assert keeper.wait_for(lambda: keeper.waiting.get(generation_id) == 1015.0, WAIT)
    clock.advance(10.0)
    keeper.wake()
    settled(keeper, app, generation_id)
    assert route.call_count == 3
    assert app.get_generation(generation_id).video_sha256 == hashlib.sha256(VIDEO).hexdigest()


def test_an_expired_url_is_given_up_after_the_bounded_attempts(
    app: VeoRelay, clock: FakeClock, mock: respx.MockRouter, make: MakeKeeper
) -> None:
    """410 on every attempt: after `attempts` tries (delays capped at max_delay) VideoStoreFailed(video_expired)
    with a message naming the answer; the status stays completed and nothing more is fetched."""
    route = mock.get("/gone.mp4").mock(return_value=video(b"", 410))
    keeper = make(attempts=3, first_delay=100.0, max_delay=150.0)
    generation_id = completed(app, "gone")
    keeper.start([generation_id], after=app.last_position())
    retry_at(keeper, clock, generation_id, 1100.0, 1250.0)
    settled(keeper, app, generation_id)
    generation = app.get_generation(generation_id)
    assert (generation.status, generation.video_store_failure) == ("completed", VideoStoreFailure.EXPIRED)
    events = list(app.events.get(generation_id))
    assert "410" in events[-1].message  # type: ignore[attr-defined]
    assert "3 attempts" in events[-1].message  # type: ignore[attr-defined]
    assert keeper.wait_for(lambda: keeper.running == 0 and not keeper.waiting, WAIT)
    assert route.call_count == 3


def test_at_most_two_downloads_run_at_once(app: VeoRelay, mock: respx.MockRouter, make: MakeKeeper) -> None:
    """Five completions: two downloads start, the others wait until one ends."""
    release = threading.Event()
    changed = threading.Condition()
    now, most = [0], [0]

    def slow(request: httpx.Request) -> httpx.Response:
        with changed:
            now[0] += 1
            most[0] = max(most[0], now[0])
            changed.notify_all()
        release.wait(WAIT)
        with changed:
            now[0] -= 1
        return video()

    route = mock.get(url__regex=r"/v\d\.mp4").mock(side_effect=slow)
    ids = [completed(app, f"v{i}") for i in range(5)]
    keeper = make()
    keeper.start(ids, after=app.last_position())
    with changed:
        assert changed.wait_for(lambda: now[0] == 2, WAIT)
    assert (keeper.running, len(keeper.waiting)) == (2, 3)
    release.set()
    settled(keeper, app, *ids)
    assert (route.call_count, most[0]) == (5, 2)


def test_a_full_disk_is_counted_and_tried_again_later_without_using_an_attempt(
    app: VeoRelay,
    files: VideoFiles,
    clock: FakeClock,
    mock: respx.MockRouter,
    make: MakeKeeper,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ENOSPC while writing: a clear error in the log, store_errors counts it, the temporary file is removed,
    the generation stays completed and the download is tried again after write_error_delay (attempts=1 still
    lets it succeed)."""
    mock.get("/big.mp4").mock(return_value=video())
    original = PartialVideo.write
    full = [True]

    def write(self: PartialVideo, chunk: bytes) -> None:
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, chunk)

    monkeypatch.setattr(PartialVideo, "write", write)
    keeper = make(attempts=1, write_error_delay=60.0)
    generation_id = completed(app, "big")
    keeper.start([generation_id], after=app.last_position())
    assert keeper.wait_for(lambda: keeper.waiting.get(generation_id) == 1060.0, WAIT)
    assert keeper.store_errors == 1
    assert "No space left on device" in caplog.text
    assert list((files.directory / ".partial").iterdir()) == []
    assert not app.get_generation(generation_id).video_settled
    full[0] = False
    clock.advance(60.0)
    keeper.wake()
    settled(keeper, app, generation_id)
    assert app.get_generation(generation_id).video_bytes == len(VIDEO)


@pytest.mark.parametrize(("answer", "words"), [(video(content_type="text/html"), "text/html"), (video(b""), "empty")])
def test_an_answer_that_is_not_a_video_is_given_up(
    app: VeoRelay, mock: respx.MockRouter, make: MakeKeeper, answer: httpx.Response, words: str
) -> None:
    """A page instead of a video, or an empty body, is not stored: VideoStoreFailed(not_a_video)."""
    mock.get("/odd.mp4").mock(return_value=answer)
    keeper = make(attempts=1)
    generation_id = completed(app, "odd")
    keeper.start([generation_id], after=app.last_position())
    settled(keeper, app, generation_id)
    assert app.get_generation(generation_id).video_store_failure == VideoStoreFailure.NOT_A_VIDEO
    assert words in list(app.events.get(generation_id))[-1].message  # type: ignore[attr-defined]


def test_a_service_that_stays_down_is_waited_out_beyond_the_attempts(
    app: VeoRelay, clock: FakeClock, mock: respx.MockRouter, make: MakeKeeper
) -> None:
    """503 four times with `attempts` 2: the outage (under `outage_for`) is retried on, and the video kept."""
    route = mock.get("/lynx.mp4").mock(side_effect=[video(b"", 503)] * 4 + [video()])
    keeper = make(attempts=2, first_delay=10.0, max_delay=20.0, outage_for=100.0)
    generation_id = completed(app, "lynx")
    keeper.start([generation_id], after=app.last_position())
    retry_at(keeper, clock, generation_id, 1010.0, 1030.0, 1050.0, 1070.0)
    settled(keeper, app, generation_id)
    assert route.call_count == 5
    assert app.get_generation(generation_id).video_sha256 == hashlib.sha256(VIDEO).hexdigest()


def test_an_outage_longer_than_outage_for_is_given_up(
    app: VeoRelay, clock: FakeClock, mock: respx.MockRouter, make: MakeKeeper
) -> None:
    """429 on every attempt: tried past `attempts` while the outage is younger than `outage_for`, then given up
    as download_failed, naming the answer and the attempts."""
    route = mock.get("/hare.mp4").mock(return_value=video(b"", 429))
    keeper = make(attempts=2, first_delay=10.0, max_delay=20.0, outage_for=45.0)
    generation_id = completed(app, "hare")
    keeper.start([generation_id], after=app.last_position())
    retry_at(keeper, clock, generation_id, 1010.0, 1030.0, 1050.0)
    settled(keeper, app, generation_id)
    generation = app.get_generation(generation_id)
    assert (generation.status, generation.video_store_failure) == ("completed", VideoStoreFailure.DOWNLOAD_FAILED)
    message = list(app.events.get(generation_id))[-1].message  # type: ignore[attr-defined]
    assert "429" in message and "4 attempts" in message
    assert route.call_count == 4
