"""`veo mcp` started as an MCP host starts it, driven by the SDK's own client over stdio."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from mcp import Client, StdioServerParameters
from mcp.client.client import ConnectMode
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from tests.server.relay_process import ROOT, VEO, client_env

T = TypeVar("T")
CALL_TIMEOUT = 90.0


@asynccontextmanager
async def mcp_client(data: Path, errlog: Path, mode: ConnectMode = "auto") -> AsyncIterator[Client]:
    """A connected MCP client of `veo mcp --data DATA`; the server's standard error goes to `errlog`.

    `mode` "legacy" speaks the initialize handshake of the hosts of 2025 instead of the newest protocol."""
    params = StdioServerParameters(command=str(VEO), args=["mcp", "--data", str(data)], env=client_env(), cwd=ROOT)
    with errlog.open("a") as log:
        async with Client(stdio_client(params, errlog=log), mode=mode) as client:
            yield client


class SharedClient:
    """One `veo mcp` session held open on an event loop of its own thread, for a module's tests to share:
    starting `veo mcp` (the MCP SDK's imports) costs more than most of their calls."""

    def __init__(self, data: Path, errlog: Path, mode: ConnectMode = "auto") -> None:
        self.errlog = errlog
        self._client: Client | None = None
        self._opened = threading.Event()
        self._stop = asyncio.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-client-loop", daemon=True)
        self._thread.start()
        self._held = asyncio.run_coroutine_threadsafe(self._hold(data, errlog, mode), self._loop)

    async def _hold(self, data: Path, errlog: Path, mode: ConnectMode) -> None:
        async with mcp_client(data, errlog, mode) as client:
            self._client = client
            self._opened.set()
            await self._stop.wait()

    def run(self, body: Callable[[Client], Coroutine[Any, Any, T]]) -> T:
        """Run `body` with the session's client on its loop; its result (or its exception)."""
        if not self._opened.wait(CALL_TIMEOUT) or self._client is None:
            self._held.result(0)  # raises why the session did not open
            raise AssertionError(f"veo mcp did not start within {CALL_TIMEOUT} s")
        return asyncio.run_coroutine_threadsafe(body(self._client), self._loop).result(CALL_TIMEOUT)

    def close(self) -> None:
        """End the session (`veo mcp` exits with its standard input), then the loop."""
        self._loop.call_soon_threadsafe(self._stop.set)
        try:
            self._held.result(CALL_TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT)
            self._loop.close()


class Sessions:
    """A module's shared `veo mcp` sessions on one relay's data directory, one per handshake mode, each started
    when a test first asks for it; `sessions()` is the default mode's."""

    def __init__(self, data: Path, logs: Path) -> None:
        self.data = data
        self.logs = logs
        self._opened: dict[str, SharedClient] = {}

    def __call__(self, mode: ConnectMode = "auto") -> SharedClient:
        if mode not in self._opened:
            self._opened[mode] = SharedClient(self.data, self.logs / f"{mode}.log", mode)
        return self._opened[mode]

    def close(self) -> None:
        """End every session started."""
        for shared in self._opened.values():
            shared.close()


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
