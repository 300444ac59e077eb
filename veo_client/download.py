"""`veo get ID [-o FILE]`: save a kept video from the relay's `/videos/ID` over HTTP, with the client token.

The relay answers ranges of at most a few MiB, so the video is fetched range by range into a temporary file
beside FILE, which is renamed into place once complete: neither side holds a big video in memory, and an
interrupted download leaves no partial FILE behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from pathlib import Path
from uuid import UUID

import click
import httpx

from veo_client.exits import EXIT_USAGE, say_why
from veo_client.flows import run_with_ids
from veo_client.ids import GENERATION_ID
from veo_client.options import ClientOptions, client_options
from veo_client.relay_client import ClientError, RelayClient, RelayUnavailable
from veo_client.render import json_text

__all__ = ["NotStored", "download_video", "get"]

logger = logging.getLogger(__name__)

_TOTAL = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


class NotStored(ClientError):
    """The relay has no stored video for the id (unknown, not finished, or not downloaded yet)."""


async def download_video(client: RelayClient, generation_id: UUID, target: Path) -> int:
    """Save the video of `generation_id` to `target` (replacing it); its size in bytes."""
    url = client.http_url(f"/videos/{generation_id}")
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    partial = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            async with httpx.AsyncClient(timeout=_TIMEOUT, trust_env=False) as http:
                written, total = 0, None
                while total is None or written < total:
                    response = await http.get(url, headers={**headers, "Range": f"bytes={written}-"})
                    total = _received(response, written, generation_id)
                    file.write(response.content)
                    written += len(response.content)
        partial.replace(target)
    except httpx.TransportError as exc:
        raise RelayUnavailable(f"cannot reach veo-relay at {url}: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return written


def _received(response: httpx.Response, offset: int, generation_id: UUID) -> int:
    """The video's total size from an answer to a range starting at `offset` (or the whole file's 200)."""
    if response.status_code == 404:
        raise NotStored(f"the relay has no stored video for {generation_id} (not finished, or not stored yet)")
    if response.status_code == 401:
        raise RelayUnavailable("the relay refused the token for /videos (HTTP 401): pass --token or VEO_TOKEN")
    if response.status_code == 200 and offset == 0:
        return len(response.content)
    match = _TOTAL.fullmatch(response.headers.get("Content-Range", ""))
    if response.status_code != 206 or match is None or int(match[1]) != offset or not response.content:
        raise ClientError(f"unexpected answer from the relay for video {generation_id}: HTTP {response.status_code}")
    return int(match[3])


@click.command()
@click.argument("ref", metavar="ID", type=GENERATION_ID)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Where to save it (default: ID.mp4 in the current directory).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@client_options
def get(options: ClientOptions, ref: UUID | str, output: Path | None, force: bool) -> None:
    """Save a finished video the relay kept to FILE (exit 2 when it is not stored yet)."""

    async def work(client: RelayClient, ids: list[UUID]) -> int:
        generation_id = ids[0]
        target = output or Path(f"{generation_id}.mp4")
        if target.exists() and not force:
            say_why(f"{target} exists; pass --force to replace it")
            return EXIT_USAGE
        try:
            size = await download_video(client, generation_id, target)
        except NotStored as exc:
            say_why(str(exc))
            return EXIT_USAGE
        if options.as_json:
            click.echo(json_text({"generation_id": str(generation_id), "path": str(target), "bytes": size}))
        else:
            click.echo(f"{target} ({size} bytes)")
        return 0

    run_with_ids(options, [ref], work)
