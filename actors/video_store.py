"""Where kept videos live, as the VideoKeeper writes them and `/videos/ID` reads them: one small interface.

Two stores implement it: files under the data directory for a SQLite store (`actors.video_files`), and
fixed-size chunks in the shared database for a PostgreSQL one (`server.video_chunks`), so every node of a
cluster serves every video. Both are content-addressed by sha256 and make a video visible only once all of
its bytes are written and hashed: a reader never sees part of one.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

__all__ = ["PartialWrite", "StoredFile", "VideoStore", "VideoStoreError"]


class VideoStoreError(OSError):
    """The video store could not be written or read (a database that refused or dropped the connection).

    An OSError, like a full disk under the files store, so the keeper counts it and tries again later.
    """


class StoredFile:
    """A complete video in the store: its sha256 and size."""

    __slots__ = ("sha256", "size")

    def __init__(self, sha256: str, size: int) -> None:
        self.sha256 = sha256
        self.size = size


class PartialWrite(Protocol):
    """A video being written: nothing of it is visible until `commit`; leaving without one discards it."""

    size: int

    def write(self, chunk: bytes) -> None:
        """Append `chunk` (OSError when the store cannot take it)."""

    def commit(self) -> StoredFile:
        """Make the whole video visible under its sha256 (an identical video already there is kept)."""

    def __enter__(self) -> PartialWrite: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...


class VideoStore(Protocol):
    """A content-addressed store of kept videos."""

    @property
    def description(self) -> str:
        """Where the videos are, for messages (no password)."""

    def partial(self) -> PartialWrite:
        """A new video to write into (use as a context manager, then `commit`)."""

    def has(self, sha256: str, size: int) -> bool:
        """Whether the video with this sha256 is there whole (`size` bytes)."""

    def read(self, sha256: str, first: int, length: int) -> bytes:
        """`length` bytes of a stored video from byte `first` (OSError when they cannot all be read)."""

    def clear_partials(self) -> int:
        """Remove what interrupted writes left behind; how many were removed."""
