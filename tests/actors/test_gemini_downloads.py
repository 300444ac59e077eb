"""Kept videos of Gemini API profiles: fetched with the key in a header, redirects followed without it, and each
request to the API host counted in the budget (a reservation); other accounts keep the plain fetch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import respx

from actors.clock import FakeClock
from actors.gemini import GeminiClient
from actors.gemini_downloads import gemini_fetches
from actors.profiles import Profile
from actors.video_files import VideoFiles
from actors.video_keeper import KeeperSettings, VideoKeeper, plain_fetch
from domain.application import VeoRelay
from domain.requests import GenerationSpec
from server.store import locate

API = "https://gemini.test"
KEY = "AIzaSyA-keeper-secret-key-0123456789"
URI = f"{API}/v1beta/files/f1:download?alt=media"
STORAGE = "https://storage.test/f1.mp4?sig=abc"
VIDEO = b"\x00\x00\x00\x18ftypmp42" * 64


@pytest.fixture
def app(tmp_path: Path) -> Iterator[VeoRelay]:
    application = locate(tmp_path, None).open_app()
    yield application
    application.close()


def completed(app: VeoRelay, profile_id: str, url: str) -> UUID:
    generation_id, _ = app.request_generation(GenerationSpec(prompt="p", profile_id=profile_id))
    app.record_submitted(generation_id, profile_id)
    app.record_started(generation_id, "models/m/operations/o", None, "MEDIA_GENERATION_STATUS_ACTIVE")
    app.record_completed(generation_id, "models/m/operations/o", url)
    return generation_id


def test_a_gemini_video_is_kept_with_the_key_and_counted_in_the_budget(app: VeoRelay, tmp_path: Path) -> None:
    profiles = {
        "g": Profile(name="g", backend="gemini", api_key=KEY, base_url=API),
        "f": Profile(name="f", project_id="p", bearer_token="ya29.x"),
    }
    reservations: list[None] = []

    def reserve() -> bool:
        reservations.append(None)
        return True

    with respx.mock(assert_all_called=True) as router, httpx.Client() as http:
        api = router.get(URI).respond(302, headers={"location": STORAGE})
        storage = router.get(STORAGE).respond(200, content=VIDEO, headers={"content-type": "video/mp4"})
        flow_video = router.get("https://flow.test/v.mp4").respond(
            200, content=b"flow", headers={"content-type": "video/mp4"}
        )
        files = VideoFiles(tmp_path / "videos")
        keeper = VideoKeeper(
            app,
            plain_fetch(http),
            files,
            KeeperSettings(),
            FakeClock(0.0),
            by_account=gemini_fetches(GeminiClient(http), profiles, reserve),
        )
        gemini_id = completed(app, "g", URI)
        flow_id = completed(app, "f", "https://flow.test/v.mp4")
        keeper.start([gemini_id, flow_id], after=app.last_position())
        try:
            assert keeper.wait_for(lambda: all(app.get_generation(i).video_settled for i in (gemini_id, flow_id)), 20.0)
        finally:
            keeper.stop()
    generation = app.get_generation(gemini_id)
    assert generation.video_sha256 == hashlib.sha256(VIDEO).hexdigest()
    assert files.path_for(generation.video_sha256).read_bytes() == VIDEO
    assert api.calls.last.request.headers["x-goog-api-key"] == KEY
    assert "x-goog-api-key" not in storage.calls.last.request.headers
    assert "x-goog-api-key" not in flow_video.calls.last.request.headers
    assert len(reservations) == 1  # the API host only: neither the storage host nor Flow's URL
    assert generation.video_url == URI
    for event in app.events.get(gemini_id):
        assert KEY not in repr(event)
