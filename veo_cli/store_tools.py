"""`veo replay` and `veo rebuild`: the event store's timeline and the read models' rebuild, run on the store directly
(safe beside a running server)."""

from __future__ import annotations

import logging
from pathlib import Path
from uuid import UUID

import click
import msgspec

from domain.errors import GenerationNotFound
from projections.analytics import AnalyticsView
from projections.history import HistoryView
from projections.rebuild import rebuild as rebuild_views
from projections.tracking import TrackedView
from server.replay import parse_moment, state_at, timeline
from veo_cli.store_options import data_options, existing_store
from veo_client.exits import EXIT_FAILED, fail

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
@click.option("--at", "at", metavar="TIME", help="Show the state as it was at this ISO-8601 time.")
@data_options
def replay(generation_id: str | None, as_json: bool, at: str | None, data_dir: Path | None, store: str | None) -> None:
    """Print the event timeline of one generation, or of the whole store; --at shows past state."""
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
            for row in rows:
                click.echo(_row_text(row, as_json))
            return
        for entry, _ in timeline(app, target):
            click.echo(entry.to_json().decode() if as_json else entry.to_text())
    except GenerationNotFound:
        fail(f"no generation {target} in {location.description}", code=EXIT_FAILED)
    finally:
        app.close()


def _row_text(row: object, as_json: bool) -> str:
    if as_json:
        return msgspec.json.encode(row).decode()
    data = msgspec.to_builtins(row)
    return "\n".join(f"{key:>21}: {value}" for key, value in data.items()) + "\n"


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
