"""The client commands of `veo`: submit, batch, upscale, status, history, watch, refresh, cancel, retry, queue.

Each speaks to a running relay over its websocket (`RelayClient`). The address and token default to what a
local `veo serve` left in the data directory (`server.json` and `token`). `--json` prints the `data` of the
result as one JSON document (`watch --json`: JSON Lines of deltas). `--wait` subscribes first, then sends
the command, reads a snapshot and follows the deltas after its position: it never polls.

Exit codes (veo_client.exits): 0 success; 1 a job failed (with --wait); 2 usage error (bad arguments,
or the server refused the request: bad_message, not_found, conflict); 3 server unreachable or refused;
4 a job was cancelled (with --wait, and none failed).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, TextIO
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console

from domain.values import AspectRatio, Priority, Resolution
from veo_client.batch_file import read_batch_file
from veo_client.exits import EXIT_USAGE, fail
from veo_client.flows import batch_flow, make_job, run_with_ids, show_row, show_row_of, show_statuses
from veo_client.follow import watch_deltas
from veo_client.ids import GENERATION_ID
from veo_client.options import ClientOptions, client_options, generation_options, run
from veo_client.queue_view import queue_text
from veo_client.relay_client import AUTO_ID, RelayClient, convert_data
from veo_client.render import history_view, json_text
from veo_client.results import HistoryPage
from veo_client.visible import visible_lines
from veo_client.words import cancel_text
from veo_protocol import (
    MAX_BATCH_PROMPTS,
    BatchGenerate,
    Cancel,
    Channel,
    Generate,
    GetHistory,
    GetStatus,
    QueueStatus,
    Refresh,
    Retry,
    Upscale,
)

__all__ = ["batch", "cancel", "history", "queue", "refresh", "retry", "status", "submit", "upscale", "watch"]

logger = logging.getLogger(__name__)


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None  # the server knows it (it answered); show local times


def _enum(kind: type[AspectRatio] | type[Priority], value: str | None) -> Any:
    return kind(value) if value is not None else None


# --- commands that make jobs ------------------------------------------------------------------------


@click.command()
@click.argument("prompt")
@generation_options
@click.option("--wait", is_flag=True, help="Follow the job until it ends (exit 1: failed, 4: cancelled).")
@client_options
def submit(options: ClientOptions, prompt: str, wait: bool, **spec: Any) -> None:
    """Generate one video from PROMPT; prints its generation id."""
    request = Generate(
        id=AUTO_ID,
        prompt=prompt,
        profile_id=spec["profile"],
        model=spec["model"],
        aspect_ratio=_enum(AspectRatio, spec["aspect_ratio"]),
        seed=spec["seed"],
        priority=_enum(Priority, spec["priority"]),
        request_key=spec["request_key"],
    )
    run(options, lambda client: make_job(client, options, request, [Channel.GENERATION_STATUS], wait))


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--delay", type=click.FloatRange(0, 60), default=0.5, show_default=True, help="Seconds between jobs.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show progress until every job is done.")
@generation_options
@client_options
def batch(options: ClientOptions, file: TextIO, delay: float, wait: bool, **spec: Any) -> None:
    """Generate one video per line of FILE (`-` for stdin; blank lines are skipped), with a progress bar."""
    prompts = read_batch_file(file.name, file)
    if not prompts.prompts:
        fail(f"{file.name} has no prompts (one prompt per line)", EXIT_USAGE)
    if len(prompts.prompts) > MAX_BATCH_PROMPTS:
        fail(f"{file.name} has {len(prompts.prompts):,} prompts; a batch takes at most {MAX_BATCH_PROMPTS:,}")
    request = BatchGenerate(
        id=AUTO_ID,
        prompts=prompts.prompts,
        delay_ms=round(delay * 1000),
        profile_id=spec["profile"],
        model=spec["model"],
        aspect_ratio=_enum(AspectRatio, spec["aspect_ratio"]),
        seed=spec["seed"],
        priority=_enum(Priority, spec["priority"]),
        request_key=spec["request_key"],
    )
    run(options, lambda client: batch_flow(client, options, prompts, request, wait))


@click.command()
@click.argument("generation_id", type=GENERATION_ID)
@click.option("--resolution", type=click.Choice([r.value for r in Resolution]), default="1080p", show_default=True)
@click.option("--request-key", default=None, help="Idempotency key: a repeated key is not paid twice.")
@click.option("--wait", is_flag=True, help="Follow the upscale until it ends (exit 1: failed, 4: cancelled).")
@client_options
def upscale(
    options: ClientOptions, generation_id: UUID | str, resolution: str, request_key: str | None, wait: bool
) -> None:
    """Upscale a completed generation's video; prints the upscale's generation id.

    GENERATION_ID may be the first characters of an id (such as the 8 that tables show) when no other id starts
    with them.
    """

    async def work(client: RelayClient, ids: list[UUID]) -> int:
        request = Upscale(id=AUTO_ID, generation_id=ids[0], resolution=Resolution(resolution), request_key=request_key)
        return await make_job(client, options, request, [Channel.UPSCALE_STATUS], wait)

    run_with_ids(options, [generation_id], work)


@click.command()
@click.argument("generation_id", type=GENERATION_ID)
@click.option("--wait", is_flag=True, help="Follow the new job until it ends (exit 1: failed, 4: cancelled).")
@client_options
def retry(options: ClientOptions, generation_id: UUID | str, wait: bool) -> None:
    """Make a new generation with a failed one's parameters; prints the new id.

    GENERATION_ID may be the first characters of an id (such as the 8 that tables show) when no other id starts
    with them.
    """
    channels = [Channel.GENERATION_STATUS, Channel.UPSCALE_STATUS]

    async def work(client: RelayClient, ids: list[UUID]) -> int:
        return await make_job(client, options, Retry(id=AUTO_ID, generation_id=ids[0]), channels, wait)

    run_with_ids(options, [generation_id], work)


# --- commands that read or change one job -----------------------------------------------------------


@click.command()
@click.argument("generation_ids", nargs=-1, required=True, type=GENERATION_ID)
@client_options
def status(options: ClientOptions, generation_ids: tuple[UUID | str, ...]) -> None:
    """Show generations' rows (exit 2 when any id is unknown).

    GENERATION_IDS may be the first characters of an id (such as the 8 that tables show) when no other id starts
    with them.
    """

    async def work(client: RelayClient, ids: list[UUID]) -> int:
        if len(ids) == 1:
            return await show_row(client, options, GetStatus(id=AUTO_ID, generation_id=ids[0]))
        return await show_statuses(client, options, ids)

    run_with_ids(options, generation_ids, work)


@click.command()
@click.argument("generation_id", type=GENERATION_ID)
@client_options
def refresh(options: ClientOptions, generation_id: UUID | str) -> None:
    """Check a job's status with its service now (through the request budget) and show its row.

    GENERATION_ID may be the first characters of an id (such as the 8 that tables show) when no other id starts
    with them.
    """

    show_row_of(options, generation_id, lambda job: Refresh(id=AUTO_ID, generation_id=job))


@click.command()
@click.argument("generation_id", type=GENERATION_ID)
@client_options
def cancel(options: ClientOptions, generation_id: UUID | str) -> None:
    """Cancel a job that is not finished (exit 2 when it already is).

    A job whose submission is on its way is cancelled when the submission's answer arrives: until then its row
    reads queued, and `veo` says so.

    GENERATION_ID may be the first characters of an id (such as the 8 that tables show) when no other id starts
    with them.
    """

    show_row_of(options, generation_id, lambda job: Cancel(id=AUTO_ID, generation_id=job), note=cancel_text)


# --- overviews --------------------------------------------------------------------------------------


@click.command()
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Rows per page.")
@click.option("--tz", default=None, help="IANA time zone that groups rows by day (default: the server's).")
@click.option("--before", default=None, metavar="CURSOR", help="The page before this cursor (from a previous page).")
@client_options
def history(options: ClientOptions, limit: int, tz: str | None, before: str | None) -> None:
    """Recent generations, newest first, grouped by day."""

    async def work(client: RelayClient) -> int:
        data = await client.request(GetHistory(id=AUTO_ID, limit=limit, tz=tz, before=before))
        page = convert_data(data, HistoryPage, "get_history")
        if options.as_json:
            click.echo(json_text(data))
        else:
            console = Console(highlight=False)
            console.print(history_view(page, console.width, _zone(tz)))
        return 0

    run(options, work)


@click.command()
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="Rows shown.")
@click.option("--after", type=click.IntRange(0), default=None, help="With --json: resume after this position.")
@client_options
def watch(options: ClientOptions, limit: int, after: int | None) -> None:
    """A live table of jobs and batches, updated in place (--json: JSON Lines of deltas); Ctrl-C ends it."""
    run(options, lambda client: watch_deltas(client, limit, after, as_json=options.as_json), interrupted=0)


@click.command()
@client_options
def queue(options: ClientOptions) -> None:
    """The relay's queue, request budget and paused profiles."""

    async def work(client: RelayClient) -> int:
        data = await client.request(QueueStatus(id=AUTO_ID))
        state = convert_data(data, dict[str, Any], "queue_status")
        click.echo(json_text(data) if options.as_json else visible_lines(queue_text(state, datetime.now(UTC))))
        return 0

    run(options, work)
