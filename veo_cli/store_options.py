"""The options of every command that opens the store directly (`--data`, `--store`), and the store they name."""

from __future__ import annotations

from pathlib import Path

import click

from server.store import StoreError, StoreLocation, locate
from veo_client.exits import fail
from veo_protocol.local_server import default_data_dir

__all__ = ["data_options", "existing_store"]


def data_options(func: click.decorators.FC) -> click.decorators.FC:
    """`--data` and `--store`, shared by every command that opens the store."""
    func = click.option(
        "--store",
        envvar="VEO_STORE",
        default=None,
        metavar="URL",
        help="Event store: a file path, sqlite:///path or postgresql://user:pass@host:port/db "
        "with libpq options after ? (e.g. ?sslmode=verify-full&sslrootcert=FILE) "
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
