"""Every finished video kept by the relay, end to end through the real server and the built-in simulator:
downloaded once, served byte for byte at `/videos/ID` with the `/ws` token and Range requests, and not
downloaded again after a restart."""

from __future__ import annotations

import asyncio
import errno
import re
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from actors.video_files import VIDEOS_DIR, PartialVideo, VideoFiles
from domain.generation import Generation
from domain.requests import GenerationSpec
from tests.e2e.harness import Relay, relay, run, videos_kept, wait_until
from veo_protocol import Generate, Upscale
from veo_simulator.admin import VIDEO_SIZE


async def kept(target: Relay, prompt: str) -> str:
    """Generate, and wait until its video is stored; the generation id."""
    peer = await target.connect()
    answer = await peer.ok(Generate, prompt=prompt)
    await peer.close()
    generation_id = str(answer.data["generation_id"])
    await videos_kept(target, generation_id)
    return generation_id


async def get(target: Relay, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.get(f"{target.http_url}{path}", headers=headers, timeout=30)


def test_a_finished_video_is_served_byte_for_byte_with_ranges(tmp_path: Path) -> None:
    """The stored video equals the simulator's bytes; the row says where and how big; ranges seek."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            generation_id = await kept(target, "a heron lands")
            bearer = f"Bearer {target.token}"
            await target.settled()
            row = target.system.history.get(target.system.db.reader(), generation_id)
            assert row is not None
            assert row.video_url is not None
            original = (await asyncio.to_thread(httpx.get, row.video_url, trust_env=False)).content
            assert len(original) == VIDEO_SIZE == row.video_bytes
            assert row.video_stored_at is not None
            assert row.status == "completed"

            whole = await get(target, f"/videos/{generation_id}", Authorization=bearer)
            assert (whole.status_code, whole.headers["content-type"]) == (200, "video/mp4")
            assert whole.content == original
            assert whole.headers["accept-ranges"] == "bytes"
            by_query = await get(target, f"/videos/{generation_id}?token={target.token}")
            assert by_query.content == original

            part = await get(target, f"/videos/{generation_id}", Authorization=bearer, Range="bytes=100-199")
            assert (part.status_code, part.headers["content-range"]) == (206, f"bytes 100-199/{VIDEO_SIZE}")
            assert part.content == original[100:200]
            tail = await get(target, f"/videos/{generation_id}", Authorization=bearer, Range="bytes=4000-")
            assert (tail.status_code, tail.content) == (206, original[4000:])
            last = await get(target, f"/videos/{generation_id}", Authorization=bearer, Range="bytes=-10")
            assert (last.status_code, last.content) == (206, original[-10:])
            past = await get(target, f"/videos/{generation_id}", Authorization=bearer, Range=f"bytes={VIDEO_SIZE}-")
            assert (past.status_code, past.headers["content-range"]) == (416, f"bytes */{VIDEO_SIZE}")

    run(scenario())


def test_videos_need_the_token_and_a_stored_video(tmp_path: Path) -> None:
    """401 without the token or with a wrong one; 404 for an unknown id, a malformed one, and a job whose video is
    not stored yet."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            generation_id = await kept(target, "a fox runs")
            bearer = f"Bearer {target.token}"
            assert (await get(target, f"/videos/{generation_id}")).status_code == 401
            assert (await get(target, f"/videos/{generation_id}", Authorization="Bearer wrong")).status_code == 401
            assert (await get(target, f"/videos/{generation_id}?token=wrong")).status_code == 401
            unknown = "00000000-0000-4000-8000-000000000000"
            assert (await get(target, f"/videos/{unknown}", Authorization=bearer)).status_code == 404
            assert (await get(target, "/videos/not-an-id", Authorization=bearer)).status_code == 404
            waiting, _ = target.system.app.request_generation(GenerationSpec(prompt="still waiting"))
            assert (await get(target, f"/videos/{waiting}", Authorization=bearer)).status_code == 404

    run(scenario())


def test_after_a_restart_nothing_is_downloaded_twice(tmp_path: Path) -> None:
    """A second start over the same data directory finds every video kept: no download, no new event, the file
    untouched, and it is still served."""

    async def first_run() -> tuple[str, Path, int]:
        async with relay(tmp_path) as target:
            generation_id = await kept(target, "a slow river")
            stored = target.system.stored_video(generation_id)
            assert stored is not None
            path = VideoFiles(tmp_path / VIDEOS_DIR).path_for(stored.sha256)
            return generation_id, path, path.stat().st_mtime_ns

    async def second_run(generation_id: str) -> None:
        async with relay(tmp_path) as target:
            system = target.system
            position = await target.settled()
            assert system.history.videos_to_keep(system.db.reader()) == []
            served = await get(target, f"/videos/{generation_id}", Authorization=f"Bearer {target.token}")
            assert (served.status_code, len(served.content)) == (200, VIDEO_SIZE)
            assert system.simulator is not None
            assert system.simulator.audit()["media_downloads"] == 0
            events = list(system.app.events.get(UUID(generation_id)))
            assert [type(e) for e in events].count(Generation.VideoStored) == 1
            assert target.store_position() == position

    generation_id, path, modified = run(first_run())
    run(second_run(generation_id))
    assert path.stat().st_mtime_ns == modified


def test_an_upscaled_video_is_kept_too(tmp_path: Path) -> None:
    """The upscale of a kept generation gets its own stored file, served at its own id."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            source_id = await kept(target, "a glacier calving")
            peer = await target.connect()
            answer = await peer.ok(Upscale, generation_id=source_id)
            await peer.close()
            upscale_id = str(answer.data["generation_id"])
            await videos_kept(target, upscale_id)
            source, upscale = (target.system.stored_video(i) for i in (source_id, upscale_id))
            assert source is not None
            assert upscale is not None
            assert upscale.sha256 != source.sha256
            served = await get(target, f"/videos/{upscale_id}", Authorization=f"Bearer {target.token}")
            assert served.content == VideoFiles(tmp_path / VIDEOS_DIR).path_for(upscale.sha256).read_bytes()

    run(scenario())


def test_a_full_disk_is_logged_and_counted_and_the_job_stays_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ENOSPC while a video is written: an error in the log naming the videos directory, the metric counts it,
    the row stays completed without a stored file (the keeper tries again later: tests/actors)."""

    def full(self: PartialVideo, chunk: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PartialVideo, "write", full)

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            answer = await peer.ok(Generate, prompt="a crowded beach")
            await peer.close()
            generation_id = str(answer.data["generation_id"])
            await wait_until(lambda: target.system.video_store_errors >= 1, 60, "the write error")
            await asyncio.to_thread(target.server.metrics.refresh)  # /metrics serves a snapshot up to 1 s old
            async with httpx.AsyncClient(trust_env=False) as http:
                text = (await http.get(f"{target.http_url}/metrics")).text
            assert re.search(r"^veo_video_store_errors_total [1-9]", text, flags=re.MULTILINE)
            generation = target.system.app.get_generation(UUID(generation_id))
            assert (generation.status, generation.video_settled) == ("completed", False)
            missing = await get(target, f"/videos/{generation_id}", Authorization=f"Bearer {target.token}")
            assert missing.status_code == 404

    run(scenario())
    assert "No space left on device" in caplog.text
    assert str(tmp_path / "videos") in caplog.text
