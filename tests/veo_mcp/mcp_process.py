"""`veo mcp` started as an MCP host starts it, driven by the SDK's own client over stdio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.client import ConnectMode
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from tests.server.relay_process import ROOT, VEO, client_env


@asynccontextmanager
async def mcp_client(data: Path, errlog: Path, mode: ConnectMode = "auto") -> AsyncIterator[Client]:
    """A connected MCP client of `veo mcp --data DATA`; the server's standard error goes to `errlog`.

    `mode` "legacy" speaks the initialize handshake of the hosts of 2025 instead of the newest protocol."""
    params = StdioServerParameters(command=str(VEO), args=["mcp", "--data", str(data)], env=client_env(), cwd=ROOT)
    with errlog.open("a") as log:
        async with Client(stdio_client(params, errlog=log), mode=mode) as client:
            yield client


def text_of(result: CallToolResult) -> str:
    """The text blocks of a tool result, joined."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def everything_said(result: CallToolResult) -> str:
    """A result's text and structured content as one string (to look for what must never be in it)."""
    return text_of(result) + json.dumps(result.structured_content)


def structured(result: CallToolResult) -> dict[str, Any]:
    """A successful result's structured content."""
    assert not result.is_error, text_of(result)
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content
