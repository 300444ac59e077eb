"""`veo migrate --to postgresql://...`: move a SQLite store (events with their positions) to PostgreSQL.

The kept video files of the data directory are copied into the database too (every node of a cluster serves
them from there); the files stay where they were.

Exit codes: 0 copied and verified; 1 the copy did not verify; 2 usage error (no source store, the source
is not SQLite, the target is not PostgreSQL or already holds events); 3 the target cannot be reached.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from actors.video_files import VIDEOS_DIR, VideoFiles
from server.migration import CopyMismatch, migrate
from server.store import StoreError, StoreUnreachable, locate, redacted
from veo_cli.store_options import data_options
from veo_client.exits import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, fail
from veo_protocol.local_server import default_data_dir

__all__ = ["migrate_command"]

logger = logging.getLogger(__name__)


@click.command(name="migrate")
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="URL",
    help="The PostgreSQL database to copy into: postgresql://user:pass@host:port/db (must hold no events).",
)
@data_options
def migrate_command(target_url: str, data_dir: Path | None, store: str | None) -> None:
    """Copy the SQLite event store (events and positions) to PostgreSQL, verify it, build its read models.

    The kept videos of the data directory are copied into the database too, where every node serves them.

    Stop `veo serve` on the source first: events it records after the copy starts are not copied.
    """
    data = data_dir or default_data_dir()
    videos = Path(data).expanduser() / VIDEOS_DIR
    try:
        source = locate(data, store)
        target = locate(data, target_url)
        if target.postgres is None:
            fail(f"--to {redacted(target_url)!r}: the target must be postgresql://user:pass@host:port/db")
        report = migrate(source, target, VideoFiles(videos))
    except StoreUnreachable as exc:
        fail(str(exc), code=EXIT_UNAVAILABLE)
    except CopyMismatch as exc:
        fail(f"the copy did not verify: {exc}", code=EXIT_FAILED)
    except StoreError as exc:
        fail(str(exc), code=EXIT_USAGE)
    checked = report.verification
    click.echo(
        f"copied {checked.events:,} events (positions up to {checked.max_position}) from {source.description} "
        f"to {target.description} in {report.copy_seconds:.2f} s"
    )
    click.echo(f"verified: event count, last position, {checked.pages} page checksum(s) match")
    click.echo(
        f"rebuilt {', '.join(report.rebuild.views)} up to position {report.rebuild.position} "
        f"in {report.rebuild.seconds:.2f} s"
    )
    copied = report.videos
    if copied is not None:
        click.echo(
            f"copied {copied.videos:,} kept video(s) ({copied.size:,} bytes) from {videos} into the database, "
            "where every node serves them; the files in that directory are no longer read"
        )
        if copied.damaged:
            click.echo(
                f"not copied: {len(copied.damaged)} video file(s) in {videos} whose bytes do not match their name "
                f"({', '.join(copied.damaged)})",
                err=True,
            )
    click.echo(f"serve it with: veo serve --store {redacted(target_url)}")
