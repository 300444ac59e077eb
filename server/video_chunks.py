"""Kept videos in the shared PostgreSQL database, in fixed-size chunks, so every node of a cluster serves them.

The chunks implementation of `actors.video_store.VideoStore`, for PostgreSQL stores. A video is rows of
`veo_video_chunks(sha256, n, data)`: chunk `n` holds bytes `n * CHUNK` up to `(n + 1) * CHUNK` (the last one
fewer), so a range reads only the rows it needs, and of those only the bytes it needs. A download writes its
chunks inside one transaction under a provisional key and, once every byte is in and hashed, renames them to
the sha256 and commits: until then no other session sees them, and a writer that dies (or a node that loses
its lease and stops its keeper) leaves nothing behind. Identical videos share their chunks. The table belongs
to the relay, not to a read model: `veo rebuild` leaves it alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from actors.video_store import StoredFile, VideoStoreError
from projections.postgres import create_table

__all__ = ["CHUNK", "ChunkUpload", "VideoChunks"]

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
"""Bytes per chunk row (every chunk but a video's last is this long)."""
_VIDEO_LOCKS = 0x7665_6F76
"""The first key of the two-key advisory locks that serialize commits of one sha256 ("veov")."""
_TABLE = (
    "CREATE TABLE IF NOT EXISTS veo_video_chunks (sha256 TEXT NOT NULL, n INTEGER NOT NULL, data BYTEA NOT NULL, "
    "PRIMARY KEY (sha256, n))"
)
_SUMMARY = "SELECT count(*), coalesce(sum(octet_length(data)), 0), max(n) FROM veo_video_chunks WHERE sha256 = %s"
_SLICES = (
    "SELECT n, substring(data FROM start + 1 FOR stop - start) FROM ("
    "SELECT n, data, greatest(%(first)s - n::bigint * %(chunk)s, 0)::int AS start, "
    "least(%(end)s - n::bigint * %(chunk)s, %(chunk)s)::int AS stop "
    "FROM veo_video_chunks WHERE sha256 = %(sha256)s AND n BETWEEN %(low)s AND %(high)s) AS wanted ORDER BY n"
)


class ChunkUpload:
    """A video being written into the database: chunks go in under a provisional key in an open transaction."""

    def __init__(self, chunks: VideoChunks) -> None:
        self._chunks = chunks
        self._key = f"partial-{uuid.uuid4().hex}"
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self._next = 0
        self._conn = chunks.connect()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append `chunk`, sending each full CHUNK to the database (VideoStoreError when it refuses)."""
        self._buffer += chunk
        self._hash.update(chunk)
        self.size += len(chunk)
        while len(self._buffer) >= CHUNK:
            self._put(bytes(self._buffer[:CHUNK]))
            del self._buffer[:CHUNK]

    def _put(self, data: bytes) -> None:
        try:
            self._conn.execute(
                "INSERT INTO veo_video_chunks (sha256, n, data) VALUES (%s, %s, %s)", (self._key, self._next, data)
            )
        except psycopg.Error as exc:
            raise VideoStoreError(f"cannot write to {self._chunks.description}: {exc}") from exc
        self._next += 1

    def commit(self) -> StoredFile:
        """Rename the chunks to the content's sha256 and commit (an identical video already there is kept)."""
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        sha256 = self._hash.hexdigest()
        conn = self._conn
        try:
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_VIDEO_LOCKS, sha256))
            if _whole(conn.execute(_SUMMARY, (sha256,)).fetchone(), self.size):
                conn.rollback()  # the same bytes are stored already: drop this copy
            else:
                conn.execute("DELETE FROM veo_video_chunks WHERE sha256 = %s", (sha256,))  # a damaged earlier copy
                conn.execute("UPDATE veo_video_chunks SET sha256 = %s WHERE sha256 = %s", (sha256, self._key))
                conn.commit()
        except psycopg.Error as exc:
            raise VideoStoreError(f"cannot store the video in {self._chunks.description}: {exc}") from exc
        return StoredFile(sha256, self.size)

    def __enter__(self) -> ChunkUpload:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with contextlib.suppress(psycopg.Error):
            self._conn.rollback()  # after a commit there is nothing left to roll back
        with contextlib.suppress(psycopg.Error):
            self._conn.close()


class VideoChunks:
    """The kept videos of a PostgreSQL store: written on a connection of their own per upload, read on `reader`
    (the calling thread's autocommit connection, such as the read model's)."""

    def __init__(
        self, conninfo: Mapping[str, Any], reader: Callable[[], psycopg.Connection[Any]], description: str
    ) -> None:
        self._conninfo = dict(conninfo)
        self._reader = reader
        self.description = description

    @classmethod
    def open(
        cls, conninfo: Mapping[str, Any], reader: Callable[[], psycopg.Connection[Any]], description: str
    ) -> VideoChunks:
        """The store, its table created if the database has none yet."""
        chunks = cls(conninfo, reader, description)
        with chunks.connect() as conn:
            conn.autocommit = True
            create_table(conn, _TABLE)
        return chunks

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection for one upload (its own transaction; VideoStoreError when it cannot be opened)."""
        try:
            return psycopg.connect(row_factory=tuple_row, **self._conninfo)
        except psycopg.Error as exc:
            raise VideoStoreError(f"cannot connect to {self.description}: {exc}") from exc

    def partial(self) -> ChunkUpload:
        """A new video to write (use as a context manager, then `commit`)."""
        return ChunkUpload(self)

    def has(self, sha256: str, size: int) -> bool:
        """Whether every chunk of the video is there and they add up to `size` bytes."""
        try:
            return _whole(self._reader().execute(_SUMMARY, (sha256,)).fetchone(), size)
        except psycopg.Error as exc:
            logger.error("cannot look up the video %s in %s: %s", sha256, self.description, exc)
            return False

    def read(self, sha256: str, first: int, length: int) -> bytes:
        """`length` bytes from byte `first`, reading only the chunks (and the parts of them) the range covers."""
        if length <= 0:
            return b""
        end = first + length
        low, high = first // CHUNK, (end - 1) // CHUNK
        try:
            wanted = {"first": first, "end": end, "chunk": CHUNK, "sha256": sha256, "low": low, "high": high}
            rows = self._reader().execute(_SLICES, wanted).fetchall()
        except psycopg.Error as exc:
            raise VideoStoreError(f"cannot read the video {sha256} from {self.description}: {exc}") from exc
        body = b"".join(bytes(data) for _, data in rows)
        if [n for n, _ in rows] != list(range(low, high + 1)) or len(body) != length:
            raise VideoStoreError(f"the video {sha256} in {self.description} is missing chunks")
        return body

    def clear_partials(self) -> int:
        """Nothing to clear: an upload that did not commit was rolled back with its session (always 0)."""
        return 0


def _whole(summary: tuple[Any, ...] | None, size: int) -> bool:
    """Whether (chunk count, bytes, last chunk number) describe a whole video of `size` bytes."""
    if summary is None:
        return False
    count, total, last = summary
    return bool(size > 0 and total == size and count == math.ceil(size / CHUNK) and last == count - 1)
