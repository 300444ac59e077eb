"""The work behind the client commands, once connected: follow jobs until they end, send a batch, show rows, and
resolve id prefixes before a command that takes ids (the click commands themselves are in veo_client.commands)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import click
from rich.console import Console

from domain.values import Status
from veo_client.batch_file import BatchFile
from veo_client.exits import EXIT_USAGE, exit_for_statuses
from veo_client.follow import follow_batch, ticking, typical_times_of
from veo_client.ids import resolve_ids
from veo_client.options import ClientOptions, run
from veo_client.relay_client import KEPT_WAIT_S, RelayClient, RelayError, convert_data
from veo_client.render import json_text, row_lines, rows_table, short_id, transition_line
from veo_client.results import BatchCreated, Created, HistoryRow, awaits_copy
from veo_client.words import is_active, status_word
from veo_protocol import BatchGenerate, Channel, Request

__all__ = [
    "batch_flow",
    "make_job",
    "run_with_ids",
    "show_row",
    "show_row_of",
    "show_statuses",
    "wait_for",
]

logger = logging.getLogger(__name__)


async def wait_for(client: RelayClient, options: ClientOptions, ids: Sequence[UUID]) -> int:
    """Show each job's changes until all are terminal; the exit code of their outcome (`exit_for_statuses`).

    A completed job's line waits (up to `KEPT_WAIT_S`) for the relay's copy of its video, so that it names the
    copy rather than a URL that needs the Gemini API key or expires.
    """
    final: dict[str, HistoryRow] = {}
    shown: dict[str, str] = {}
    typical = {} if options.as_json else await typical_times_of(client)

    def running() -> list[HistoryRow]:  # also called by the display's refresh thread: list() copies at once
        return [row for row in list(final.values()) if is_active(row)]

    with ticking(running, typical, show=not options.as_json) as say:

        def show(row: HistoryRow) -> None:
            if not options.as_json and shown.get(row.id) != status_word(row):
                shown[row.id] = status_word(row)
                say(transition_line(row, typical))

        async for row in client.wait_for_jobs(ids, kept_within=KEPT_WAIT_S):
            final[row.id] = row
            if not awaits_copy(row):
                show(row)
        for row in final.values():  # completed without a copy within the wait: its line gives the video URL
            show(row)
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


async def batch_flow(
    client: RelayClient, options: ClientOptions, prompts: BatchFile, request: BatchGenerate, wait: bool
) -> int:
    """Send a batch (a refused prompt is named by its line of the file); with `wait`, follow its jobs to the end and
    sum them up; the exit code of their outcome (`exit_for_statuses`)."""
    typical = {} if options.as_json or not wait else await typical_times_of(client)
    if wait:
        await client.subscribe([Channel.GENERATION_STATUS])
    try:
        data = await client.request(request)
    except RelayError as exc:
        raise prompts.located(exc) from None
    made = convert_data(data, BatchCreated, "batch_generate")
    if not wait:
        click.echo(json_text(data) if options.as_json else "\n".join(map(str, [made.batch_id, *made.generation_ids])))
        return 0
    final = await follow_batch(client, made, typical, show=not options.as_json)
    rows = [final[str(i)] for i in made.generation_ids]
    if options.as_json:
        click.echo(json_text(rows))
    else:
        words = Counter(status_word(row) for row in rows)
        cancelled = f", {words['cancelled']} cancelled" if words["cancelled"] else ""
        click.echo(f"batch {short_id(str(made.batch_id))}: {words['done']} done, {words['failed']} failed{cancelled}")
        for row in rows:
            if row.status != Status.COMPLETED:
                click.echo(transition_line(row, typical))
    return exit_for_statuses(row.status for row in rows)


def run_with_ids(
    options: ClientOptions, refs: Sequence[UUID | str], work: Callable[[RelayClient, list[UUID]], Awaitable[int]]
) -> None:
    """`run` the work with the ids that `refs` name (prefixes looked up first; an unknown or ambiguous one exits 2)."""

    async def resolved(client: RelayClient) -> int:
        return await work(client, await resolve_ids(client, refs))

    run(options, resolved)


Note = Callable[[HistoryRow], str | None]
"""What more to tell on stderr about the row a request answered (None: nothing)."""


async def show_row(client: RelayClient, options: ClientOptions, request: Request, note: Note | None = None) -> int:
    """Send a request whose data is a row, and print the row (and the `note` about it, on stderr)."""
    data = await client.request(request)
    row = convert_data(data, HistoryRow, "the request")
    click.echo(json_text(data) if options.as_json else row_lines(row))
    said = note(row) if note is not None else None
    if said:
        click.echo(f"veo: {said}", err=True)
    return 0


async def show_statuses(client: RelayClient, options: ClientOptions, ids: Sequence[UUID]) -> int:
    """Several jobs' rows as a table (or JSON); 2 when any id is unknown (named on stderr)."""
    rows = [row async for _, found, _ in client.statuses(ids) for row in found]
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


def show_row_of(
    options: ClientOptions, ref: UUID | str, make: Callable[[UUID], Request], note: Note | None = None
) -> None:
    """`run` the request `make` builds for the job `ref` names, and print the row it answers (and the `note`)."""

    async def work(client: RelayClient, ids: list[UUID]) -> int:
        return await show_row(client, options, make(ids[0]), note)

    run_with_ids(options, [ref], work)
