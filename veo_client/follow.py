"""Client views that follow deltas: a batch's progress bar and the live `veo watch` table, in plain status words.

Both start from a snapshot and apply only the deltas after the snapshot's position (the subscription
was made before), so the screen is never behind and never shows a change twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from veo_client.relay_client import AUTO_ID, RelayClient, convert_data
from veo_client.render import elapsed_text, json_text, short_id, watch_view
from veo_client.results import BatchCreated, BatchRow, HistoryPage, HistoryRow, row_of
from veo_client.visible import visible
from veo_client.words import Typical, is_active, status_word, typical_text, typical_times
from veo_protocol import Channel, GetAnalytics, GetHistory

__all__ = ["follow_batch", "ticking", "typical_times_of", "watch_deltas"]

logger = logging.getLogger(__name__)

BATCHES_SHOWN = 5
_WORD_ORDER = ("queued", "submitted", "rendering", "done", "failed", "cancelled")


async def typical_times_of(client: RelayClient) -> dict[tuple[str, str], float]:
    """The usual completion times the relay has seen so far, by model and job type."""
    return typical_times(await client.request(GetAnalytics(id=AUTO_ID)))


def _counts(rows: Iterable[HistoryRow]) -> str:
    """`2 done, 1 rendering, 3 queued`: how many jobs say each word, in the order a job goes through them."""
    words = Counter(status_word(row) for row in rows)
    order = [*_WORD_ORDER, *sorted(set(words) - set(_WORD_ORDER))]
    return ", ".join(f"{words[word]} {word}" for word in order if words[word])


async def follow_batch(
    client: RelayClient, made: BatchCreated, typical: Typical, *, show: bool
) -> dict[str, HistoryRow]:
    """Each job of a batch until all are finished (subscribed to their channel before the batch was sent), with a
    progress bar of the jobs' status words, the time so far and the usual time; the final rows by id."""
    total = len(made.generation_ids)
    rows: dict[str, HistoryRow] = {}
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
        task = progress.add_task(f"batch {short_id(str(made.batch_id))}", total=total, summary="")
        async for row in client.wait_for_jobs(made.generation_ids):
            rows[row.id] = row
            usual = typical_text(row, typical) if any(is_active(r) for r in rows.values()) else ""
            summary = _counts(rows.values()) + (f" ({usual})" if usual else "")
            progress.update(task, completed=sum(not is_active(r) for r in rows.values()), summary=summary)
    return rows


@contextlib.contextmanager
def ticking(active: Callable[[], list[HistoryRow]], typical: Typical, *, show: bool) -> Iterator[Callable[[str], None]]:
    """A way to print lines; with `show`, on a terminal, also one line per running job below them, its time counting
    up (gone at the end). Printed through the live display so that the two never overwrite each other."""
    console = Console(highlight=False)
    if not show or not console.is_terminal:
        yield click.echo
        return

    def view() -> RenderableType:
        now = datetime.now(UTC)
        lines = [
            f"{visible(short_id(row.id))}  {status_word(row)}  {elapsed_text(row, typical, now)}" for row in active()
        ]
        return Text("\n".join(lines), style="dim")

    with Live(console=console, get_renderable=view, transient=True, refresh_per_second=2) as live:
        yield lambda line: live.console.print(line, markup=False, soft_wrap=True)


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
    typical = await typical_times_of(client)
    click.echo("watching the relay's jobs (Ctrl-C to stop)", err=True)

    console = Console(highlight=False)

    def latest() -> list[HistoryRow]:
        return sorted(rows.values(), key=lambda r: (r.updated_at, r.id), reverse=True)[:limit]

    def view() -> RenderableType:  # also called by Live's refresh thread: sorted() copies before it sorts
        shown = sorted(batches.values(), key=lambda b: b.updated_at, reverse=True)[:BATCHES_SHOWN]
        return watch_view(latest(), shown, typical, datetime.now(UTC), console.width)

    with Live(console=console, refresh_per_second=2, get_renderable=view):  # redrawn as time passes, too
        async for delta in client.deltas():
            if delta.position <= result.position:
                continue
            row = row_of(delta)
            if isinstance(row, HistoryRow):
                if not is_active(row):  # its time now counts in the usual times
                    typical = await typical_times_of(client)
                rows[row.id] = row
                if len(rows) > 4 * limit:
                    kept = {r.id for r in latest()}
                    for stale in set(rows) - kept:
                        del rows[stale]
            else:
                batches[row.batch_id] = row
    return 0
