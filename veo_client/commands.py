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
from collections.abc import Sequence
from typing import Any, TextIO
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console

from domain.values import AspectRatio, Priority, Resolution
from veo_client.exits import EXIT_USAGE, exit_for_statuses, fail
from veo_client.follow import follow_batch, watch_deltas
from veo_client.options import ClientOptions, client_options, generation_options, run
from veo_client.relay_client import AUTO_ID, RelayClient, convert_data
from veo_client.render import history_view, json_text, mapping_lines, row_lines, rows_table, transition_line
from veo_client.results import BatchCreated, Created, HistoryPage, HistoryRow
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
    Request,
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


async def wait_for(client: RelayClient, options: ClientOptions, ids: Sequence[UUID]) -> int:
    """Show each job's changes until all are terminal; the exit code of their outcome (`exit_for_statuses`)."""
    final: dict[str, HistoryRow] = {}
    shown: dict[str, tuple[str, str | None]] = {}
    async for row in client.wait_for_jobs(ids):
        final[row.id] = row
        if not options.as_json and shown.get(row.id) != (row.status, row.remote_status):
            shown[row.id] = (row.status, row.remote_status)
            click.echo(transition_line(row))
    if options.as_json:
        rows = [final[str(i)] for i in ids]
        click.echo(json_text(rows[0] if len(rows) == 1 else rows))
    return exit_for_statuses(row.status for row in final.values())


async def make_job(
    client: RelayClient, options: ClientOptions, request: Request, channels: list[Channel], wait: bool
) -> int:
    """Send a command that makes one job; with `wait`, follow it (subscribed before the command)."""
    if wait:
        await client.subscribe(channels)
    data = await client.request(request)
    made = convert_data(data, Created, "the command")
    if not wait:
        if options.as_json:
            click.echo(json_text(data))
        else:
            click.echo(str(made.generation_id))
            if not made.created:
                click.echo("(that request key was already used: this is the existing job)", err=True)
        return 0
    return await wait_for(client, options, [made.generation_id])


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
    prompts = [line.strip() for line in file if line.strip()]
    if not prompts:
        fail(f"{file.name} has no prompts (one prompt per line)", EXIT_USAGE)
    if len(prompts) > MAX_BATCH_PROMPTS:
        fail(f"{file.name} has {len(prompts):,} prompts; a batch takes at most {MAX_BATCH_PROMPTS:,}", EXIT_USAGE)
    request = BatchGenerate(
        id=AUTO_ID,
        prompts=prompts,
        delay_ms=round(delay * 1000),
        profile_id=spec["profile"],
        model=spec["model"],
        aspect_ratio=_enum(AspectRatio, spec["aspect_ratio"]),
        seed=spec["seed"],
        priority=_enum(Priority, spec["priority"]),
        request_key=spec["request_key"],
    )
    run(options, lambda client: _batch(client, options, request, wait))


async def _batch(client: RelayClient, options: ClientOptions, request: BatchGenerate, wait: bool) -> int:
    subscribed = await client.subscribe([Channel.BATCH_PROGRESS]) if wait else None
    data = await client.request(request)
    made = convert_data(data, BatchCreated, "batch_generate")
    if subscribed is None:
        click.echo(json_text(data) if options.as_json else "\n".join(map(str, [made.batch_id, *made.generation_ids])))
        return 0
    await follow_batch(client, made, subscribed.position, show=not options.as_json)
    rows = await _statuses(client, made.generation_ids)
    failed = [row for row in rows if row.status == "failed"]
    if options.as_json:
        click.echo(json_text(rows))
    else:
        click.echo(f"batch {made.batch_id}: {len(rows) - len(failed)} completed, {len(failed)} failed")
        for row in failed:
            click.echo(transition_line(row))
    return exit_for_statuses(row.status for row in rows)


async def _statuses(client: RelayClient, ids: Sequence[UUID]) -> list[HistoryRow]:
    return [row async for _, rows, _ in client.statuses(ids) for row in rows]


@click.command()
@click.argument("generation_id", type=click.UUID)
@click.option("--resolution", type=click.Choice([r.value for r in Resolution]), default="1080p", show_default=True)
@click.option("--request-key", default=None, help="Idempotency key: a repeated key is not paid twice.")
@click.option("--wait", is_flag=True, help="Follow the upscale until it ends (exit 1: failed, 4: cancelled).")
@client_options
def upscale(options: ClientOptions, generation_id: UUID, resolution: str, request_key: str | None, wait: bool) -> None:
    """Upscale a completed generation's video; prints the upscale's generation id."""
    request = Upscale(
        id=AUTO_ID, generation_id=generation_id, resolution=Resolution(resolution), request_key=request_key
    )
    run(options, lambda client: make_job(client, options, request, [Channel.UPSCALE_STATUS], wait))


@click.command()
@click.argument("generation_id", type=click.UUID)
@click.option("--wait", is_flag=True, help="Follow the new job until it ends (exit 1: failed, 4: cancelled).")
@client_options
def retry(options: ClientOptions, generation_id: UUID, wait: bool) -> None:
    """Make a new generation with a failed one's parameters; prints the new id."""
    request = Retry(id=AUTO_ID, generation_id=generation_id)
    channels = [Channel.GENERATION_STATUS, Channel.UPSCALE_STATUS]
    run(options, lambda client: make_job(client, options, request, channels, wait))


# --- commands that read or change one job -----------------------------------------------------------


async def show_row(client: RelayClient, options: ClientOptions, request: Request) -> int:
    """Send a request whose data is a row, and print the row."""
    data = await client.request(request)
    row = convert_data(data, HistoryRow, "the request")
    click.echo(json_text(data) if options.as_json else row_lines(row))
    return 0


@click.command()
@click.argument("generation_ids", nargs=-1, required=True, type=click.UUID)
@client_options
def status(options: ClientOptions, generation_ids: tuple[UUID, ...]) -> None:
    """Show generations' rows (exit 2 when any id is unknown)."""
    if len(generation_ids) == 1:
        request = GetStatus(id=AUTO_ID, generation_id=generation_ids[0])
        run(options, lambda client: show_row(client, options, request))
    else:
        run(options, lambda client: _statuses_of(client, options, generation_ids))


async def _statuses_of(client: RelayClient, options: ClientOptions, ids: Sequence[UUID]) -> int:
    rows = await _statuses(client, ids)
    if options.as_json:
        click.echo(json_text(rows))
    else:
        console = Console(highlight=False)
        console.print(rows_table(rows, width=console.width))
    missing = sorted({str(i) for i in ids} - {row.id for row in rows})
    if missing:
        click.echo(f"veo: not found: {', '.join(missing)}", err=True)
        return EXIT_USAGE
    return 0


@click.command()
@click.argument("generation_id", type=click.UUID)
@client_options
def refresh(options: ClientOptions, generation_id: UUID) -> None:
    """Check a job's status on Flow now (through the request budget) and show its row."""
    run(options, lambda client: show_row(client, options, Refresh(id=AUTO_ID, generation_id=generation_id)))


@click.command()
@click.argument("generation_id", type=click.UUID)
@client_options
def cancel(options: ClientOptions, generation_id: UUID) -> None:
    """Cancel a job that is not finished (exit 2 when it already is)."""
    run(options, lambda client: show_row(client, options, Cancel(id=AUTO_ID, generation_id=generation_id)))


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
        click.echo(json_text(data) if options.as_json else mapping_lines(state))
        return 0

    run(options, work)
