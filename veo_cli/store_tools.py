"""`veo replay` and `veo rebuild`: the event store's timeline and the read models' rebuild, run on the store directly
(safe beside a running server)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import click
import msgspec
from rich.console import Console

from domain.errors import GenerationNotFound
from projections.analytics import AnalyticsView
from projections.history import HistoryView
from projections.rebuild import rebuild as rebuild_views
from projections.rows import HistoryRow
from projections.tracking import TrackedView
from server.replay import parse_moment, state_at, timeline
from veo_cli.store_options import data_options, existing_store
from veo_client.exits import EXIT_FAILED, fail
from veo_client.render import row_lines, rows_table
from veo_client.results import HistoryRow as ClientRow
from veo_client.visible import visible_lines

__all__ = ["rebuild", "replay"]

logger = logging.getLogger(__name__)

VIEW_CLASSES: dict[str, list[type[TrackedView]]] = {
    "history": [HistoryView],
    "analytics": [AnalyticsView],
    "all": [HistoryView, AnalyticsView],
}


@click.command()
@click.argument("generation_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of text.")
@click.option(
    "--at",
    "at",
    metavar="TIME",
    help="Show the state as it was at this ISO-8601 time; a time without Z or an offset is read as UTC.",
)
@data_options
def replay(generation_id: str | None, as_json: bool, at: str | None, data_dir: Path | None, store: str | None) -> None:
    """Print the event timeline of one generation, or of the whole store; --at shows past state.

    With --at, one generation's state is its known fields, and the whole store's a table; times are UTC.
    """
    target: UUID | None = None
    if generation_id is not None:
        try:
            target = UUID(generation_id)
        except ValueError:
            fail(f"{generation_id!r} is not a generation id (a UUID such as 3f0c...-...)")
    moment = None
    if at is not None:
        try:
            moment = parse_moment(at)
        except ValueError as exc:
            fail(f"--at: {exc}")
    location = existing_store(data_dir, store)
    app = location.open_app()
    try:
        if moment is not None:
            rows = state_at(app, moment, target)
            if target is not None and not rows:
                fail(f"generation {target} did not exist yet at {at}", code=EXIT_FAILED)
            whole_store = target is None
            _show_state(rows, moment, as_json=as_json, whole_store=whole_store, naive=_without_zone(at or ""))
            return
        for entry, _ in timeline(app, target):
            click.echo(entry.to_json().decode() if as_json else visible_lines(entry.to_text()))
    except GenerationNotFound:
        fail(f"no generation {target} in {location.description}", code=EXIT_FAILED)
    finally:
        app.close()


def _show_state(rows: list[HistoryRow], moment: datetime, *, as_json: bool, whole_store: bool, naive: bool) -> None:
    """JSON Lines of the rows; or, for people, the moment (in UTC) and one generation's known fields, or a table of
    the whole store."""
    if as_json:
        for row in rows:
            click.echo(msgspec.json.encode(row).decode())
        return
    read_as = " (a time without Z or an offset is read as UTC)" if naive else ""
    click.echo(f"state at {moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC{read_as}")
    shown = msgspec.convert(msgspec.to_builtins(rows), list[ClientRow])
    if not whole_store:
        click.echo(row_lines(shown[0]))
    elif not shown:
        click.echo("no generations yet")
    else:
        console = Console(highlight=False)
        title = f"{len(shown):,} generation{'s' if len(shown) != 1 else ''} (times in UTC)"
        console.print(rows_table(shown, title=title, width=console.width, zone=UTC))


def _without_zone(text: str) -> bool:
    """Whether an ISO-8601 time names no zone (then it is read as UTC)."""
    try:
        return datetime.fromisoformat(text).tzinfo is None
    except ValueError:
        return False


@click.command()
@click.argument("view", type=click.Choice(sorted(VIEW_CLASSES)), default="all")
@data_options
def rebuild(view: str, data_dir: Path | None, store: str | None) -> None:
    """Rebuild read models from position 0 (built aside, swapped in atomically; safe while serving)."""
    location = existing_store(data_dir, store)
    app = location.open_app()
    db = location.open_read_model()
    try:
        report = rebuild_views(app, db, VIEW_CLASSES[view])
    finally:
        db.close()
        app.close()
    click.echo(
        f"rebuilt {', '.join(report.views)}: {report.events:,} events up to position {report.position} "
        f"in {report.seconds:.2f} s ({report.events_per_second:,.0f} events/s)"
    )
