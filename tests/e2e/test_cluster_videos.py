"""Kept videos in a cluster: the leader keeps a finished video in the shared PostgreSQL database, and the node that
does not poll serves it at `/videos/ID`, whole and by ranges, byte for byte."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

import httpx

from server.bootstrap import Settings
from tests.e2e.harness import FAST_JOBS, run, serving, videos_kept
from veo_protocol import Generate
from veo_simulator.admin import VIDEO_SIZE


def test_a_video_kept_by_the_leader_is_served_by_the_node_that_does_not_poll(tmp_path: Path, postgres_url: str) -> None:
    """Requested on the follower (forwarded to the leader), kept by the leader, served by the follower."""

    async def scenario() -> None:
        leading = Settings(data_dir=tmp_path / "a", store=postgres_url, port=0, simulator=FAST_JOBS)
        following = Settings(data_dir=tmp_path / "b", store=postgres_url, port=0, run_poller=False)
        async with serving(leading) as leader, serving(following) as follower:
            assert leader.system.cluster is not None
            assert leader.system.cluster.ready.is_set()
            peer = await follower.connect()
            answer = await peer.ok(Generate, prompt="a lighthouse at dusk")
            await peer.close()
            generation_id = str(answer.data["generation_id"])
            await videos_kept(follower, generation_id)
            generation = follower.system.app.get_generation(UUID(generation_id))
            assert generation.video_sha256 is not None
            assert generation.video_url is not None
            assert not (tmp_path / "a" / "videos").exists()  # in the database, not on the leader's disk
            original = (await asyncio.to_thread(httpx.get, generation.video_url, trust_env=False)).content
            assert len(original) == VIDEO_SIZE == generation.video_bytes
            bearer = {"Authorization": f"Bearer {follower.token}"}
            async with httpx.AsyncClient(base_url=follower.http_url, headers=bearer, trust_env=False) as http:
                whole = await http.get(f"/videos/{generation_id}")
                part = await http.get(f"/videos/{generation_id}", headers={"Range": "bytes=1000-2999"})
                unknown = await http.get("/videos/00000000-0000-0000-0000-000000000000")
            assert (whole.status_code, whole.headers["content-type"], whole.content) == (200, "video/mp4", original)
            assert (part.status_code, part.headers["content-range"]) == (206, f"bytes 1000-2999/{VIDEO_SIZE}")
            assert part.content == original[1000:3000]
            assert unknown.status_code == 404

    run(scenario())
