"""The kept videos on disk: one file per content, named by its sha256, written privately and renamed into place.

The files implementation of `actors.video_store.VideoStore`, for SQLite stores. A download goes to a private
temporary file beside the store (same file system, so the rename is atomic);
only a complete, checked file is renamed to its sha256 name, so a reader never sees a partial video and a
crash leaves at most a stray temporary file (removed at the next start). Identical videos share one file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from actors.video_store import StoredFile

__all__ = ["VIDEOS_DIR", "PartialVideo", "VideoFiles"]

logger = logging.getLogger(__name__)

VIDEOS_DIR = "videos"
"""The kept videos' directory under the data directory."""
_PARTIAL_DIR = ".partial"


class PartialVideo:
    """A download in progress: bytes go to a private temporary file and into the running sha256."""

    def __init__(self, files: VideoFiles) -> None:
        self._files = files
        partial = files.directory / _PARTIAL_DIR
        partial.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=partial, prefix="video-", suffix=".part")  # mode 0600
        self._path = Path(name)
        self._file: BinaryIO = os.fdopen(descriptor, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append `chunk` (an OSError such as ENOSPC propagates; the temporary file is removed on exit)."""
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def commit(self) -> StoredFile:
        """Flush to disk and rename into the store under the content's sha256 (an existing copy is kept)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha256 = self._hash.hexdigest()
        target = self._files.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path, target)
        return StoredFile(sha256, self.size)

    def __enter__(self) -> PartialVideo:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self._file.closed:
            with contextlib.suppress(OSError):
                self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()


class VideoFiles:
    """The content-addressed video store under a directory (`DATA_DIR/videos`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def description(self) -> str:
        """The directory, for messages."""
        return str(self.directory)

    def path_for(self, sha256: str) -> Path:
        """Where the video with this sha256 lives (two-character fan-out keeps directories small)."""
        if not _is_sha256(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.directory / sha256[:2] / sha256

    def has(self, sha256: str, size: int) -> bool:
        """Whether the file for this content is present with the expected size."""
        try:
            return self.path_for(sha256).stat().st_size == size
        except OSError:
            return False

    def read(self, sha256: str, first: int, length: int) -> bytes:
        """`length` bytes of the video from byte `first` (OSError when the file is gone or shorter)."""
        with self.path_for(sha256).open("rb") as file:
            file.seek(first)
            body = file.read(length)
        if len(body) != length:
            raise OSError(f"the video {sha256} is shorter than expected")
        return body

    def partial(self) -> PartialVideo:
        """A new private temporary file to download into (use as a context manager, then `commit`)."""
        return PartialVideo(self)

    def stored(self) -> Iterator[tuple[str, int]]:
        """(sha256, size) of every video file in the store (what `veo migrate` copies into a database)."""
        for path in sorted(self.directory.glob("??/*")):
            name = path.name
            if path.parent.name == name[:2] and _is_sha256(name) and path.is_file():
                yield name, path.stat().st_size

    def clear_partials(self) -> int:
        """Remove temporary files a crash left behind; how many were removed."""
        removed = 0
        for stray in (self.directory / _PARTIAL_DIR).glob("video-*.part"):
            with contextlib.suppress(OSError):
                stray.unlink()
                removed += 1
        return removed


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
