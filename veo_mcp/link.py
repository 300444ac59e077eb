"""How `veo mcp` reaches the relay: a websocket connection per tool call, and every failure said as what to do.

Each call finds the relay afresh, as the client commands do (`--url`, `--token`, else the `server.json` and
`token` a local `veo serve` wrote), so a relay that stopped and came back, even on another port, serves the next
call: there is no connection to repair. The errors say what to do next in words a model can act on, and never
carry a token (a `?token=` in an address is cut from them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import click
from mcp.server.mcpserver.exceptions import ToolError

from veo_client.options import NO_SERVER, ClientOptions
from veo_client.relay_client import ClientError, RelayClient, RelayError, RelayUnavailable
from veo_protocol import ErrorCode

__all__ = ["RelayLink", "relay_error_text", "unavailable_text"]

logger = logging.getLogger(__name__)

_QUERY = re.compile(r"(\b(?:wss?|https?)://[^\s?#]+)\?\S*?(?=[:,.;)]?(?:\s|$))")
_BUSY = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.OVERLOADED})


class RelayLink:
    """Where the relay is and how to authenticate; `async with link.client() as client:` for one tool call."""

    def __init__(self, options: ClientOptions) -> None:
        self._options = options

    @asynccontextmanager
    async def client(self) -> AsyncIterator[RelayClient]:
        """A connected client for one call; a ToolError saying what to do when the relay is absent or refuses."""
        try:
            client = self._options.client()
            async with client:
                yield client
        except ToolError as exc:  # said by a tool, perhaps quoting the relay's address
            raise ToolError(self.redact(str(exc))) from None
        except (click.BadParameter, ClientError) as exc:
            raise ToolError(self.failure_text(exc)) from None

    def failure_text(self, exc: click.BadParameter | ClientError) -> str:
        """What to say, without the token, when the relay cannot be found, reached, or read (tools and resources)."""
        if isinstance(exc, click.BadParameter):
            return self.redact(f"veo mcp was given a bad relay address: {exc.message}")
        if isinstance(exc, RelayUnavailable):
            logger.warning("relay unavailable: %s", self.redact(str(exc)))
            return self.redact(unavailable_text(str(exc)))
        if isinstance(exc, RelayError):
            return self.redact(relay_error_text(exc))
        logger.warning("unexpected reply: %s", self.redact(str(exc)))
        return self.redact(f"The relay answered something veo mcp cannot read: {exc}")

    def http_client(self) -> RelayClient:
        """A client not connected, for the relay's HTTP routes (its `http_url` and `token`).

        RelayUnavailable when no relay is known, click.BadParameter for a bad address (as `client` meets them).
        """
        return self._options.client()

    def redact(self, text: str) -> str:
        """`text` without the token: an address's query (`?token=…`) is cut, and a token given is masked."""
        text = _QUERY.sub(r"\1", text)
        token = self._options.token
        return text.replace(token, "***") if token else text


def unavailable_text(reason: str) -> str:
    """What to do when the relay cannot be reached or refused the connection."""
    if reason == NO_SERVER:
        return (
            "No veo-relay server is running, and these tools need one: start it with `veo serve` (or point veo mcp "
            "at a running relay with --url/VEO_URL and --token/VEO_TOKEN), then call the tool again."
        )
    return (
        f"veo-relay is not reachable ({reason}). Start it with `veo serve` if it is not running, or check veo mcp's "
        "--url and --token; then call the tool again. Jobs it already accepted keep running there."
    )


def relay_error_text(exc: RelayError) -> str:
    """The relay's refusal in its own words, with what to do about it."""
    said = str(exc)
    if exc.code == ErrorCode.NOT_FOUND:
        return f"{said}. Check the id: list_generations shows the recent generations and their ids."
    if exc.code == ErrorCode.CONFLICT:
        return f"{said}. Read its current state with get_generation before trying again."
    if exc.code in _BUSY:
        return f"The relay is busy ({exc.code}): {said}. Wait a few seconds, then call the tool again."
    if exc.code == ErrorCode.INTERNAL:
        return (
            f"The relay hit an internal fault ({said}); the command may or may not have taken effect: "
            "check list_generations before repeating it."
        )
    return f"The relay refused the request: {said}."
