"""`veo mcp` without a relay: tool errors that say to start one, and the same session works once it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.server.relay_process import running_relay
from tests.veo_mcp.mcp_process import mcp_client, structured, text_of


def test_no_relay_is_a_tool_error_naming_veo_serve_and_the_session_recovers_when_it_starts(tmp_path: Path) -> None:
    """Before `veo serve` runs every tool answers an error that says to start it; `veo mcp` keeps serving and
    the next call after the relay started succeeds; the token never appears in results or in its log."""
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
