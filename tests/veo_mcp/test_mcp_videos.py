"""Kept videos through `veo mcp`: the `/videos/ID` address in tool results (without the token) and the
`veo://videos/{id}` resource, against a real relay that keeps videos, driven over stdio by the SDK's client."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import msgspec
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, BlobResourceContents

from tests.server.relay_process import RelayProcess, running_relay
from tests.veo_mcp.mcp_process import Sessions, everything_said, structured, text_of
from veo_client.results import HistoryRow
from veo_mcp.results import generation_content, row_summary

UNKNOWN = "0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00"


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    with running_relay(tmp_path_factory.mktemp("relay")) as process:
        yield process


@pytest.fixture(scope="module")
def session(relay: RelayProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sessions]:
    sessions = Sessions(relay.data, tmp_path_factory.mktemp("mcp"))
    yield sessions
    sessions.close()


def served(relay: RelayProcess, address: str) -> httpx.Response:
    """What the relay serves at a kept video's address, with the client token."""
    return httpx.get(address, headers={"Authorization": f"Bearer {relay.token}"}, trust_env=False)


def test_a_kept_video_has_its_address_in_results_and_is_a_resource(relay: RelayProcess, session: Sessions) -> None:
    """Once stored, the row carries the relay's /videos/ID address (no token), and reading veo://videos/ID answers
    exactly the bytes that address serves, as a video/mp4 blob. A wait for the job answers it stored already
    (it answered at completion, with only the backend's URL: on the Gemini API one that needs the key)."""

    async def scenario(client: Client) -> None:
        made = await client.call_tool("generate_video", {"prompt": "a kept lighthouse", "wait": True})
        [row] = structured(made)["generations"]
        generation_id, address = row["id"], row["kept_video_url"]
        assert address == f"{relay.url.rstrip('/')}/videos/{generation_id}"
        assert f"kept by the relay at {address}" in text_of(made)
        answer = await client.call_tool("get_generation", {"id": generation_id})
        assert address in text_of(answer)
        assert f"veo://videos/{generation_id}" in text_of(answer)
        listed = await client.call_tool("list_generations", {"limit": 1})
        assert structured(listed)["generations"][0]["kept_video_url"] == address
        assert relay.token not in everything_said(answer) + everything_said(listed)

        response = served(relay, address)
        assert response.status_code == 200
        assert httpx.get(address, trust_env=False).status_code == 401, "the address alone is not enough"

        read = await client.read_resource(f"veo://videos/{generation_id}", cache_mode="bypass")
        [content] = read.contents
        assert isinstance(content, BlobResourceContents)
        assert content.mime_type == "video/mp4"
        assert base64.b64decode(content.blob) == response.content
        assert len(response.content) == row["video_bytes"]

    session().run(scenario)
    assert relay.token not in session().errlog.read_text()


def test_the_video_template_is_listed_with_its_mime_type(session: Sessions) -> None:
    async def scenario(client: Client) -> None:
        templates = (await client.list_resource_templates()).resource_templates
        [video] = [t for t in templates if t.uri_template == "veo://videos/{id}"]
        assert video.mime_type == "video/mp4"
        assert video.description and "video_stored_at" in video.description

    session().run(scenario)


def test_only_a_stored_video_has_an_address() -> None:
    """A completed row without video_stored_at (the keeper has not stored it, or gave up) has no address; the
    summary points at Flow's link instead."""
    row = HistoryRow(
        id=UNKNOWN,
        job_type="generation",
        status="completed",
        prompt="p",
        model="m",
        aspect_ratio="landscape",
        priority="normal",
        video_url="https://flow.example/v.mp4",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )

    def address(path: str) -> str:
        return f"http://127.0.0.1:8765{path}"

    assert generation_content(row, address)["kept_video_url"] is None
    assert row_summary(row, address) == f"{UNKNOWN}: completed, video at https://flow.example/v.mp4"
    kept = msgspec.structs.replace(row, video_stored_at="2026-01-01T00:01:00Z")
    assert generation_content(kept, address)["kept_video_url"] == f"http://127.0.0.1:8765/videos/{UNKNOWN}"
    assert f"veo://videos/{UNKNOWN}" in row_summary(kept, address)


def test_an_unknown_or_malformed_id_is_a_clear_resource_error(session: Sessions) -> None:
    async def scenario(client: Client) -> None:
        with pytest.raises(MCPError, match="get_generation") as unknown:
            await client.read_resource(f"veo://videos/{UNKNOWN}", cache_mode="bypass")
        assert UNKNOWN in unknown.value.message
        assert unknown.value.code == INVALID_PARAMS
        with pytest.raises(MCPError, match="not a generation id"):
            await client.read_resource("veo://videos/not-an-id", cache_mode="bypass")

    session().run(scenario)
    assert "Traceback" not in session().errlog.read_text()
