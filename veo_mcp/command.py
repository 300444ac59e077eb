"""`veo mcp`: the relay's tools for AI assistants and agents, as an MCP server on stdin/stdout.

The host (a desktop assistant, an IDE, an agent framework) starts this command and speaks MCP over its standard
input and output; logs go to standard error only. The relay is found as the client commands find it.
"""

from __future__ import annotations

import logging

import click

from veo_client.options import ClientOptions, relay_options
from veo_mcp.link import RelayLink
from veo_mcp.tools import build_server

__all__ = ["mcp"]

logger = logging.getLogger(__name__)


@click.command("mcp")
@relay_options
def mcp(options: ClientOptions) -> None:
    """Serve the relay's tools to AI assistants over MCP (stdio): generate, follow, list, cancel, upscale.

    Add `veo mcp` to an MCP host's configuration (docs/MCP.md). It needs a running relay (`veo serve`), reached
    through the websocket protocol with the client token; it keeps serving while the relay is down and uses it
    again once it is back.
    """
    link = RelayLink(options)
    logger.info("veo mcp: serving on stdio")
    build_server(link).run("stdio")
