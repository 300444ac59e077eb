"""`veo serve` (the relay) and `veo simulator` (the Flow simulator on its own)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from actors.profiles import ProfilesError
from server.bootstrap import Settings
from server.service import run_service
from server.store import StoreConfigError, StoreError
from server.store_lock import StoreLocked
from veo_cli.store_options import data_options
from veo_client.exits import EXIT_FAILED, fail
from veo_protocol.local_server import default_data_dir
from veo_simulator import SimulatorConfig
from veo_simulator import main as simulator_main
from veo_simulator.errors import ConfigError

__all__ = ["serve", "simulator"]

logger = logging.getLogger(__name__)


def _simulator_config(times: str | None, require_captcha: bool) -> SimulatorConfig:
    if not times:
        return SimulatorConfig(require_captcha=require_captcha)
    try:
        low, high = (float(part) for part in times.split(","))
        return SimulatorConfig(lo=low, hi=high, require_captcha=require_captcha)
    except (ValueError, ConfigError) as exc:
        fail(f"--simulator-times {times!r}: expected LO,HI seconds with 0 <= LO <= HI ({exc})")


def _listed(variable: str) -> tuple[str, ...]:
    """A comma-separated environment variable's items."""
    return tuple(item.strip() for item in os.environ.get(variable, "").split(",") if item.strip())


@click.command()
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
@click.option(
    "--lost-after",
    envvar="VEO_LOST_AFTER",
    type=click.FloatRange(0, None, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds a job may be missing from Flow's status answers that report others before it fails as lost.",
)
@click.option("--allow-origin", "allow_origins", multiple=True, help="Extra browser origin allowed (repeatable).")
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="Extra host name the server answers to, besides localhost and its address (repeatable).",
)
@click.option(
    "--client-sessions",
    envvar="VEO_CLIENT_SESSIONS",
    is_flag=True,
    help="Let the client token provide_session too (by default only the provider token may).",
)
@click.option(
    "--keep-videos",
    envvar="VEO_KEEP_VIDEOS",
    type=click.Choice(["yes", "no"]),
    default="yes",
    show_default=True,
    help="Download every finished video into the data directory (on PostgreSQL: the database) and serve it at "
    "/videos/ID.",
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
    lost_after: float,
    allow_origins: tuple[str, ...],
    allow_hosts: tuple[str, ...],
    client_sessions: bool,
    keep_videos: str,
    simulator_times: str | None,
    simulator_captcha: bool,
) -> None:
    """Run the relay: event store, projections, PollerActor and the websocket server."""
    origins = allow_origins or _listed("VEO_ALLOW_ORIGINS")
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
        lost_after=lost_after,
        allow_origins=origins,
        allow_hosts=allow_hosts or _listed("VEO_ALLOW_HOSTS"),
        client_sessions=client_sessions,
        keep_videos=keep_videos == "yes",
        simulator=_simulator_config(simulator_times, simulator_captcha),
    )
    try:
        code = asyncio.run(run_service(settings, click.echo))
    except (StoreLocked, StoreConfigError) as exc:  # another relay owns the store, or --store is wrong: usage errors
        fail(str(exc))
    except (StoreError, ProfilesError, OSError) as exc:
        fail(str(exc), code=EXIT_FAILED)
    sys.exit(code)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.pass_context
def simulator(ctx: click.Context) -> None:
    """Run the Flow simulator on loopback (`veo simulator --help` for its options)."""
    sys.exit(simulator_main(list(ctx.args)))
