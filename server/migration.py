"""Copying a SQLite event store to PostgreSQL with its positions, verifying the copy, building the read models.

The copy keeps every event's notification id (its position: clients' `after` values and the delta
journal stay valid), then moves the target's id sequence past the last one. It runs in one transaction
that holds the target's insert lock, after checking that the target holds no events. The source is read
in one read transaction, so a relay still writing to it cannot make the copy inconsistent (what it
writes later is not copied: stop it first). Verification reads both stores again and compares counts,
the last position, and a SHA-256 of (id, originator, version, topic, state) per page of positions.
Last, the kept video files of the data directory are copied into the database's chunks (`server.video_chunks`),
each checked against the sha256 it is named by, so every node of the new cluster serves them.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from uuid import UUID

from actors.video_files import VideoFiles
from actors.video_store import VideoStore
from projections.analytics import AnalyticsView
from projections.history import HistoryView
from projections.rebuild import RebuildReport, rebuild
from server.store import StoreError, StoreLocation

__all__ = [
    "CopyMismatch",
    "MigrationError",
    "MigrationReport",
    "NotMigratable",
    "TargetNotEmpty",
    "Verification",
    "VideoCopy",
    "copy_videos",
    "migrate",
    "verify",
]

logger = logging.getLogger(__name__)

PAGE = 10_000
"""Positions per checksum page (a mismatch is reported as the page's position range)."""
_SOURCE_SELECT = "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
_Row = tuple[int, str, int, str, bytes]


class MigrationError(StoreError):
    """The copy could not be made or does not match its source.

    NotMigratable: the source is not a SQLite store or the target not a PostgreSQL one.
    TargetNotEmpty: the target already holds events.
    CopyMismatch: the copy, read back, differs from its source.
    """


class NotMigratable(MigrationError):
    """Migration goes from a SQLite store to a PostgreSQL one."""


class TargetNotEmpty(MigrationError):
    """The target already holds events: migrating into it would mix two histories."""


class CopyMismatch(MigrationError):
    """The copy read back differs from its source."""


@dataclass(frozen=True)
class Verification:
    """What was compared between the source and the copy."""

    events: int
    max_position: int
    pages: int


@dataclass(frozen=True)
class VideoCopy:
    """The kept video files copied into the target's video store."""

    videos: int
    size: int
    """Bytes copied."""
    damaged: tuple[str, ...]
    """Files whose bytes do not hash to the sha256 they are named by: not copied."""


@dataclass(frozen=True)
class MigrationReport:
    """What a migration did."""

    verification: Verification
    copy_seconds: float
    rebuild: RebuildReport
    videos: VideoCopy | None = None


def _digest_rows(rows: Iterable[_Row]) -> Iterator[tuple[int, int, int, str]]:
    """(page, rows in page, last position, sha256) per page of positions, for rows in position order."""
    page, count, last, digest = -1, 0, 0, hashlib.sha256()
    for position, originator, version, topic, state in rows:
        current = (position - 1) // PAGE
        if current != page:
            if count:
                yield page, count, last, digest.hexdigest()
            page, count, digest = current, 0, hashlib.sha256()
        topic_bytes = topic.encode()
        digest.update(struct.pack(">qq16sI", position, version, UUID(originator).bytes, len(topic_bytes)))
        digest.update(topic_bytes)
        digest.update(struct.pack(">I", len(state)))
        digest.update(state)
        count += 1
        last = position
    if count:
        yield page, count, last, digest.hexdigest()


def _source_rows(conn: sqlite3.Connection) -> Iterator[_Row]:
    cursor = conn.execute(f"{_SOURCE_SELECT} ORDER BY rowid")
    while batch := cursor.fetchmany(PAGE):
        yield from batch


def _open_source(location: StoreLocation) -> sqlite3.Connection:
    if location.postgres is not None:
        raise NotMigratable(f"the source must be a SQLite store, not {location.description}")
    location.check_exists()
    return sqlite3.connect(f"file:{location.events_path}?mode=ro", uri=True, isolation_level=None)


def migrate(source: StoreLocation, target: StoreLocation, videos: VideoFiles | None = None) -> MigrationReport:
    """Copy `source` (SQLite) into the empty PostgreSQL `target`, verify it, build its read models, and copy the
    kept `videos` (the source's data directory's) into the target's chunks."""
    postgres = target.postgres
    if postgres is None:
        raise NotMigratable(f"the target must be a PostgreSQL store (postgresql://...), not {target.description}")
    source_conn = _open_source(source)
    try:
        postgres.connect_check()
        app = target.open_app()  # creates the event store's tables
        try:
            started = time.perf_counter()
            _copy(source_conn, target)
            copy_seconds = time.perf_counter() - started
            verification = verify(source, target)
            db = target.open_read_model()
            try:
                report = rebuild(app, db, [HistoryView, AnalyticsView])
                copied = None
                if videos is not None:
                    from server.video_chunks import VideoChunks  # noqa: PLC0415 - imports psycopg

                    conninfo = postgres.conninfo()
                    copied = copy_videos(
                        videos, VideoChunks.open(conninfo, lambda: db.reader().raw, postgres.description)
                    )
            finally:
                db.close()
        finally:
            app.close()
    finally:
        source_conn.close()
    logger.info("migrated %d events to %s", verification.events, postgres.description)
    return MigrationReport(verification, copy_seconds, report, copied)


def copy_videos(files: VideoFiles, target: VideoStore, piece: int = 1024 * 1024) -> VideoCopy:
    """Copy every video file into `target` (those already there whole are skipped), checking each one's sha256."""
    count, size, damaged = 0, 0, []
    for sha256, length in files.stored():
        if target.has(sha256, length):
            continue
        digest = hashlib.sha256()
        with target.partial() as upload:
            for first in range(0, length, piece):
                data = files.read(sha256, first, min(piece, length - first))
                digest.update(data)
                upload.write(data)
            if digest.hexdigest() != sha256:  # leaving without a commit discards the upload
                logger.error("the kept video file %s does not hash to its name: not copied", sha256)
                damaged.append(sha256)
                continue
            upload.commit()
        count, size = count + 1, size + length
    return VideoCopy(count, size, tuple(damaged))


def _copy(source: sqlite3.Connection, target: StoreLocation) -> None:
    import psycopg  # noqa: PLC0415 - psycopg (and libpq) are needed only for PostgreSQL stores
    from psycopg import sql  # noqa: PLC0415

    assert target.postgres is not None
    table = sql.Identifier(*target.postgres.events_table)
    with psycopg.connect(**target.postgres.conninfo()) as conn, conn.transaction():
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
        found = conn.execute(sql.SQL("SELECT count(*), max(notification_id) FROM {}").format(table)).fetchone()
        if found is not None and found[0]:
            msg = (
                f"{target.postgres.description} already holds {found[0]:,} events (up to position {found[1]}): "
                "migrate into an empty database"
            )
            raise TargetNotEmpty(msg)
        source.execute("BEGIN")  # one snapshot of the source for the whole copy
        try:
            statement = sql.SQL(
                "COPY {} (notification_id, originator_id, originator_version, topic, state) FROM STDIN"
            ).format(table)
            last = 0
            with conn.cursor() as cursor, cursor.copy(statement) as copy:
                for position, originator, version, topic, state in _source_rows(source):
                    copy.write_row((position, UUID(originator), version, topic, state))
                    last = position
        finally:
            source.execute("COMMIT")
        if last:
            conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                (".".join(target.postgres.events_table), last),
            )


def _target_rows(target: StoreLocation) -> Iterator[_Row]:
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    assert target.postgres is not None
    table = sql.Identifier(*target.postgres.events_table)
    statement = sql.SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state FROM {} ORDER BY notification_id"
    ).format(table)
    with (
        psycopg.connect(**target.postgres.conninfo()) as conn,
        conn.transaction(),
        conn.cursor(name="veo_migrate_verify") as cursor,  # server-side: the copy is not loaded at once
    ):
        cursor.itersize = PAGE
        cursor.execute(statement)
        for position, originator, version, topic, state in cursor:
            yield position, originator, version, topic, bytes(state)


def verify(source: StoreLocation, target: StoreLocation) -> Verification:
    """Compare the copy with its source: counts, the last position, and each page's checksum."""
    source_conn = _open_source(source)
    try:
        source_conn.execute("BEGIN")
        expected = list(_digest_rows(_source_rows(source_conn)))
        source_conn.execute("COMMIT")
    finally:
        source_conn.close()
    found = list(_digest_rows(_target_rows(target)))
    source_events, copy_events = sum(p[1] for p in expected), sum(p[1] for p in found)
    source_max, copy_max = (expected[-1][2] if expected else 0), (found[-1][2] if found else 0)
    if (source_events, source_max) != (copy_events, copy_max):
        msg = (
            f"the copy holds {copy_events:,} events up to position {copy_max}, "
            f"the source {source_events:,} up to {source_max}"
        )
        raise CopyMismatch(msg)
    for mine, theirs in zip(expected, found, strict=True):
        if mine != theirs:
            low, high = mine[0] * PAGE + 1, (mine[0] + 1) * PAGE
            raise CopyMismatch(f"the copy differs from the source between positions {low} and {high}")
    return Verification(events=source_events, max_position=source_max, pages=len(expected))
