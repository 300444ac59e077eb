"""Client views that follow deltas: a batch's progress bar and the live `veo watch` table.

Both start from a snapshot and apply only the deltas after the snapshot's position (the subscription
was made before), so the screen is never behind and never shows a change twice.
"""

from __future__ import annotations

import logging

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from veo_client.relay_client import AUTO_ID, RelayClient, RelayError, convert_data
from veo_client.render import batch_summary, json_text, watch_view
from veo_client.results import BatchCreated, BatchRow, HistoryPage, HistoryRow, row_of
from veo_protocol import Channel, GetBatch, GetHistory

__all__ = ["follow_batch", "watch_deltas"]

logger = logging.getLogger(__name__)

BATCHES_SHOWN = 5


async def _batch_snapshot(client: RelayClient, made: BatchCreated, subscribed_at: int) -> tuple[BatchRow | None, int]:
    """The batch row and its position; before the projection has it, nothing and the subscription's position."""
    try:
        result = await client.call(GetBatch(id=AUTO_ID, batch_id=made.batch_id))
    except RelayError as exc:
        if exc.code != "not_found":
            raise
        return None, subscribed_at
    return convert_data(result.data, BatchRow, "get_batch"), result.position


async def follow_batch(client: RelayClient, made: BatchCreated, subscribed_at: int, *, show: bool) -> BatchRow | None:
    """Follow `batch:progress` (subscribed at `subscribed_at`) until every job of the batch is done."""
    total = len(made.generation_ids)
    batch, position = await _batch_snapshot(client, made, subscribed_at)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[summary]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True, highlight=False),
        disable=not show,
    )
    with progress:
        task = progress.add_task(f"batch {str(made.batch_id)[:8]}", total=total, summary=batch_summary(batch, total))
        while batch is None or batch.finished < total:
            progress.update(
                task,
                completed=batch.finished if batch else 0,
                summary=batch_summary(batch, total),
            )
            delta = await client.next_delta()
            if delta.channel != Channel.BATCH_PROGRESS or delta.position <= position:
                continue
            row = convert_data(delta.data, BatchRow, "a batch:progress delta")
            if row.batch_id == str(made.batch_id):
                batch, position = row, delta.position
        progress.update(task, completed=total, summary=batch_summary(batch, total))
    return batch


async def watch_deltas(client: RelayClient, limit: int, after: int | None, *, as_json: bool) -> int:
    """`veo watch`: JSON Lines of deltas, or a table of the latest jobs updated in place; runs until Ctrl-C."""
    channels = list(Channel)
    if as_json:
        subscribed = await client.subscribe(channels, after=after)
        if after is not None and not subscribed.resumed:
            click.echo(f"veo: position {after} is no longer kept; live from {subscribed.position}", err=True)
        click.echo(f"watching from position {subscribed.position} (Ctrl-C to stop)", err=True)
        async for delta in client.deltas():
            click.echo(json_text(delta))
        return 0
    result = await client.call(GetHistory(id=AUTO_ID, limit=limit))
    subscribed = await client.subscribe(channels, after=result.position)
    if not subscribed.resumed:  # the snapshot is older than the journal keeps: read it again, now subscribed
        result = await client.call(GetHistory(id=AUTO_ID, limit=limit))
    page = convert_data(result.data, HistoryPage, "get_history")
    rows = {row.id: row for group in page.groups for row in group.items}
    batches: dict[str, BatchRow] = {}
    position = result.position
    click.echo(f"watching from position {position} (Ctrl-C to stop)", err=True)

    console = Console(highlight=False)

    def view() -> RenderableType:
        latest = sorted(rows.values(), key=lambda r: (r.updated_at, r.id), reverse=True)[:limit]
        if len(rows) > 4 * limit:
            for stale in set(rows) - {r.id for r in latest}:
                del rows[stale]
        shown = sorted(batches.values(), key=lambda b: b.updated_at, reverse=True)[:BATCHES_SHOWN]
        return watch_view(latest, shown, position, console.width)

    with Live(view(), console=console, refresh_per_second=4) as live:
        async for delta in client.deltas():
            if delta.position <= result.position:
                continue
            row = row_of(delta)
            if isinstance(row, HistoryRow):
                rows[row.id] = row
            else:
                batches[row.batch_id] = row
            position = max(position, delta.position)
            live.update(view())
    return 0
