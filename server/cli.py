"""The `veo` command line: the service (`serve`, `simulator`) and the store tools (`replay`, `rebuild`).

Exit codes: 0 success, 1 a job failed or a command failed at run time, 2 usage error (including a
missing or corrupt store), 3 server unreachable or refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn
from uuid import UUID

import click
import msgspec
import platformdirs

from actors.profiles import ProfilesError
from domain.errors import GenerationNotFound
from projections.analytics import AnalyticsView
from projections.history import HistoryView
from projections.rebuild import rebuild as rebuild_views
from projections.tracking import TrackedView
from server.bootstrap import Settings
from server.priority import PRIORITIES
from server.replay import parse_moment, state_at, timeline
from server.service import run_service
from server.simulator import SimulatorConfig
from server.simulator.errors import ConfigError
from server.store import StoreError, StoreLocation, locate

__all__ = ["main"]

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
VIEW_CLASSES: dict[str, list[type[TrackedView]]] = {
    "history": [HistoryView],
    "analytics": [AnalyticsView],
    "all": [HistoryView, AnalyticsView],
}


def default_data_dir() -> Path:
    """The user data directory of veo-relay (platformdirs)."""
    return platformdirs.user_data_path("veo-relay")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print `veo: message` to stderr and exit with `code`."""
    click.echo(f"veo: {message}", err=True)
    sys.exit(code)


def data_options(func: click.decorators.FC) -> click.decorators.FC:
    """`--data` and `--store`, shared by every command that opens the store."""
    func = click.option(
        "--store",
        envvar="VEO_STORE",
        default=None,
        metavar="URL",
        help="Event store: a file path, sqlite:///path or postgresql://user:pass@host:port/db "
        "(default: events.sqlite in the data directory).",
    )(func)
    return click.option(
        "--data",
        "data_dir",
        envvar="VEO_DATA",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory (default: the user data directory of veo-relay).",
    )(func)


def existing_store(data_dir: Path | None, store: str | None) -> StoreLocation:
    """The configured store, refusing one that is missing or corrupt."""
    try:
        location = locate(data_dir or default_data_dir(), store)
        location.check_exists()
    except StoreError as exc:
        fail(str(exc))
    return location


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """veo-relay: drive Google Flow (Veo 3) generations under a strict request budget."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # websockets' debug lines quote the start of every frame, reCAPTCHA tokens and session cookies included
    logging.getLogger("websockets").setLevel(max(level, logging.INFO))


@cli.command()
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
                fail(f"generation {target} did not exist yet at {at}", code=1)
            for row in rows:
                click.echo(_row_text(row, as_json))
            return
        for entry, _ in timeline(app, target):
            click.echo(entry.to_json().decode() if as_json else entry.to_text())
    except GenerationNotFound:
        fail(f"no generation {target} in {location.description}", code=1)
    finally:
        app.close()


def _row_text(row: object, as_json: bool) -> str:
    if as_json:
        return msgspec.json.encode(row).decode()
    data = msgspec.to_builtins(row)
    return "\n".join(f"{key:>21}: {value}" for key, value in data.items()) + "\n"


@cli.command()
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


def _simulator_config(times: str | None, require_captcha: bool) -> SimulatorConfig:
    if not times:
        return SimulatorConfig(require_captcha=require_captcha)
    try:
        low, high = (float(part) for part in times.split(","))
        return SimulatorConfig(lo=low, hi=high, require_captcha=require_captcha)
    except (ValueError, ConfigError) as exc:
        fail(f"--simulator-times {times!r}: expected LO,HI seconds with 0 <= LO <= HI ({exc})")


@cli.command()
@data_options
@click.option("--host", envvar="VEO_HOST", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", envvar="VEO_PORT", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--token", envvar="VEO_TOKEN", default=None, help="Client token (default: generated once, kept).")
@click.option(
    "--profiles",
    envvar="VEO_PROFILES",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Flow profiles (TOML). Without it the built-in Flow simulator is used.",
)
@click.option("--flow-url", envvar="VEO_FLOW_URL", default=None, help="Flow API base URL.")
@click.option("--labs-url", envvar="VEO_LABS_URL", default=None, help="labs.google base URL.")
@click.option("--rate", envvar="VEO_RATE", type=click.FloatRange(0.1, 100), default=10.0, show_default=True)
@click.option("--check-batch", envvar="VEO_CHECK_BATCH", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--deadline", envvar="VEO_DEADLINE", type=click.FloatRange(1, None), default=3600.0, show_default=True)
@click.option("--allow-origin", "allow_origins", multiple=True, help="Extra browser origin allowed (repeatable).")
@click.option(
    "--background-priority",
    envvar="VEO_BACKGROUND_PRIORITY",
    type=click.Choice(PRIORITIES),
    default="idle",
    show_default=True,
    help="idle: background threads yield the CPU to the one answering clients; normal: as the OS starts them.",
)
@click.option("--simulator-times", envvar="VEO_SIMULATOR_TIMES", default=None, hidden=True)
@click.option("--simulator-captcha", envvar="VEO_SIMULATOR_CAPTCHA", is_flag=True, hidden=True)
def serve(
    data_dir: Path | None,
    store: str | None,
    host: str,
    port: int,
    token: str | None,
    profiles: Path | None,
    flow_url: str | None,
    labs_url: str | None,
    rate: float,
    check_batch: int,
    deadline: float,
    allow_origins: tuple[str, ...],
    background_priority: str,
    simulator_times: str | None,
    simulator_captcha: bool,
) -> None:
    """Run the relay: event store, projections, PollerActor and the websocket server."""
    origins = allow_origins or tuple(o for o in os.environ.get("VEO_ALLOW_ORIGINS", "").split(",") if o)
    settings = Settings(
        data_dir=(data_dir or default_data_dir()).expanduser().resolve(),
        store=store,
        host=host,
        port=port,
        token=token,
        profiles=profiles,
        flow_url=flow_url,
        labs_url=labs_url,
        rate=rate,
        check_batch=check_batch,
        deadline=deadline,
        allow_origins=origins,
        background_priority=background_priority,
        simulator=_simulator_config(simulator_times, simulator_captcha),
    )
    try:
        code = asyncio.run(run_service(settings, click.echo))
    except (StoreError, ProfilesError, OSError) as exc:
        fail(str(exc), code=1)
    sys.exit(code)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.pass_context
def simulator(ctx: click.Context) -> None:
    """Run the Flow simulator on loopback (`veo simulator --help` for its options)."""
    from server.simulator import main as simulator_main  # noqa: PLC0415 - keeps `veo replay` light

    sys.exit(simulator_main(list(ctx.args)))


def main() -> None:
    """Console entry point."""
    cli(prog_name="veo")


import server.client_cli  # noqa: E402, F401 - registers the client commands (submit, batch, watch, ...)
from server import migrate_cli  # noqa: E402, F401 - registers `veo migrate`
