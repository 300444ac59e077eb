"""`veo mcp` without a relay: tool errors that say to start one, and the same session works once it runs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.server.relay_process import running_relay
from tests.veo_mcp.mcp_process import mcp_client, structured, text_of


def test_no_relay_is_a_tool_error_naming_veo_serve_and_the_session_recovers_when_it_starts(tmp_path: Path) -> None:
    """Before `veo serve` runs every tool (and reading a video resource) answers an error that says to start it;
    `veo mcp` keeps serving and the next call after the relay started succeeds; the token never appears in results
    or in its log."""
    data = tmp_path / "relay"
    data.mkdir()
    log = tmp_path / "mcp.log"

    async def scenario() -> None:
        async with mcp_client(data, log) as client:
            for name, arguments in [("queue_status", {}), ("generate_video", {"prompt": "a fox", "wait": True})]:
                down = await client.call_tool(name, arguments)
                assert down.is_error
                assert "veo serve" in text_of(down)
                assert "Traceback" not in text_of(down)
            with pytest.raises(MCPError, match="veo serve"):
                await client.read_resource("veo://videos/0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00", cache_mode="bypass")
            with running_relay(data) as relay:
                made = await client.call_tool("generate_video", {"prompt": "a fox", "wait": True})
                assert structured(made)["generations"][0]["status"] == "completed"
                assert relay.token not in text_of(made)
                token = relay.token
            after = await client.call_tool("list_generations", {})
            assert after.is_error
            assert "veo serve" in text_of(after)
        assert token not in log.read_text()

    asyncio.run(scenario())


def test_a_relay_lost_during_a_wait_is_an_error_naming_the_job_which_is_found_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """The relay stops while a tool waits: the call ends with an error that names the job and get_generation;
    once the relay is started again, the same session reads the job (whatever the restart made of it: the
    built-in simulator forgets its operations)."""
    data = tmp_path / "relay"
    data.mkdir()
    slow = ["--simulator-times", "600,600"]

    async def scenario() -> None:
        async with mcp_client(data, tmp_path / "mcp.log") as client:
            waiting = asyncio.Event()

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                waiting.set()

            with running_relay(data, args=slow):
                call = asyncio.create_task(
                    client.call_tool(
                        "generate_video", {"prompt": "a long night", "wait": True}, progress_callback=on_progress
                    )
                )
                await asyncio.wait_for(waiting.wait(), 60)
            lost = await asyncio.wait_for(call, 60)
            assert lost.is_error
            assert "get_generation" in text_of(lost)
            [job] = re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text_of(lost))
            with running_relay(data, args=slow):
                row = structured(await client.call_tool("get_generation", {"id": job}))
                assert (row["id"], row["prompt"]) == (job, "a long night")

    asyncio.run(scenario())
