"""The videos the relay kept, as MCP resources: `veo://videos/{id}` is the stored video of generation `id`.

Reading one fetches `GET /videos/{id}` from the relay with the client token (`veo_client.download`, the code
`veo get` uses) and answers the bytes as a blob; the token stays between `veo mcp` and the relay. A video not
stored yet, or an unknown id, is an MCP error that says how to find out which.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any
from uuid import UUID

import click
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from veo_client.download import NotStored, download_video
from veo_client.relay_client import ClientError
from veo_mcp.link import RelayLink

__all__ = ["VIDEO_MIME_TYPE", "VIDEO_TEMPLATE", "register_videos", "video_uri"]

logger = logging.getLogger(__name__)

VIDEO_TEMPLATE = "veo://videos/{id}"
VIDEO_MIME_TYPE = "video/mp4"
"""The type the relay stores Flow's videos as (docs/PROTOCOL.md, Kept videos over HTTP)."""

_DESCRIPTION = (
    "A finished video the relay kept, by generation id: the MP4 bytes. Available once the generation's row has "
    "video_stored_at (get_generation); before that, or for an unknown id, reading it is an error."
)


def video_uri(generation_id: str) -> str:
    """The resource address of a generation's kept video."""
    return VIDEO_TEMPLATE.format(id=generation_id)


def register_videos(server: MCPServer[Any], link: RelayLink) -> None:
    """Add the `veo://videos/{id}` resource template to `server`, read through `link`."""

    async def kept_video(id: str) -> bytes:
        return await read_video(link, id)

    server.resource(
        VIDEO_TEMPLATE, name="kept_video", title="Kept video", description=_DESCRIPTION, mime_type=VIDEO_MIME_TYPE
    )(kept_video)


async def read_video(link: RelayLink, ref: str) -> bytes:
    """The stored video of generation `ref`, fetched from the relay; a ResourceError that says what to do."""
    try:
        generation_id = UUID(ref)
    except ValueError:
        raise ResourceNotFoundError(f"{ref!r} is not a generation id (a UUID): list_generations shows them") from None
    try:
        client = link.http_client()
        with tempfile.TemporaryDirectory(prefix="veo-mcp-") as folder:
            target = Path(folder) / f"{generation_id}.mp4"
            await download_video(client, generation_id, target)
            return target.read_bytes()
    except NotStored:
        raise ResourceNotFoundError(
            f"The relay has no stored video for {generation_id}: the id is unknown, or the video is not finished or "
            "not stored yet. get_generation tells which; video_stored_at is set once the relay keeps it."
        ) from None
    except (click.BadParameter, ClientError) as exc:
        raise ResourceError(link.failure_text(exc)) from None
