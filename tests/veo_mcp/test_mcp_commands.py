"""Cancelling and retrying through `veo mcp`, on a relay whose simulated videos take ten minutes (so a job is
still running whenever the test acts on it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.server.relay_process import running_relay
from tests.veo_mcp.mcp_process import mcp_client, structured, text_of


def test_cancel_then_retry_then_cancel_again_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """A running job is cancelled (its row says so), retried as a new job linked to it, and a second cancel
    of the ended job is a tool error that points at get_generation."""

    async def scenario(data: Path) -> None:
        async with mcp_client(data, tmp_path / "mcp.log") as client:
            made = structured(await client.call_tool("generate_video", {"prompt": "a slow sunset"}))
            assert made["finished"] is False
            assert made["generations"] == []
            [job] = made["generation_ids"]
            cancelled = structured(await client.call_tool("cancel_generation", {"id": job}))
            assert (cancelled["id"], cancelled["status"], cancelled["error_reason"]) == (job, "cancelled", "cancelled")
            retried = structured(await client.call_tool("retry_generation", {"id": job}))
            [again] = retried["generation_ids"]
            row = structured(await client.call_tool("get_generation", {"id": again}))
            assert (row["retry_of"], row["prompt"]) == (job, "a slow sunset")
            structured(await client.call_tool("cancel_generation", {"id": again}))
            refused = await client.call_tool("cancel_generation", {"id": job})
            assert refused.is_error
            assert "get_generation" in text_of(refused)
            # a cancel that meets its job mid-submission is recorded when Flow's answer arrives
            for _ in range(200):
                listed = structured(await client.call_tool("list_generations", {"status": "cancelled"}))
                if len(listed["generations"]) == 2:
                    break
                await asyncio.sleep(0.05)
            assert {r["id"] for r in listed["generations"]} == {job, again}

    data = tmp_path / "relay"
    data.mkdir()
    with running_relay(data, args=["--simulator-times", "600,600"]):
        asyncio.run(scenario(data))
