"""One process owns a SQLite store: an exclusive OS lock on a file beside it, held from start to stop.

Two relays on one store would both call Flow for the same jobs (twice the budget, at-most-once broken) and
fight over `server.json` and `simulator.json`. The lock is an OS lock (`flock`, `msvcrt.locking` on Windows), so
the OS drops it when the owner exits or dies: a crash never leaves the store locked. The lock file records its
owner (PID, and the address once it listens) for the message that refuses a second relay; it is opened without
truncation, so a refused process never erases that record. PostgreSQL stores take none: the cluster lease
decides which node calls Flow (`server.lease`), and several nodes share the store by design.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from server.store import StoreError, StoreLocation
from veo_protocol.local_server import private_dir

__all__ = ["LOCK_SUFFIX", "Owner", "StoreLock", "StoreLocked", "claim", "read_owner"]

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
"""The lock file is the event store's file name with this suffix (`events.sqlite.lock`)."""
WINDOWS_LOCK_OFFSET = 1 << 30
"""Windows locks are mandatory: the locked byte lies far past the owner record, which others must read."""


@dataclass(frozen=True)
class Owner:
    """Who holds a store's lock, as its lock file says (None: not recorded, or not yet)."""

    pid: int | None = None
    url: str | None = None

    def describe(self) -> str:
        """`PID 123, http://...` for messages."""
        if self.pid is None:
            return "its PID is not recorded yet"
        return f"PID {self.pid}, {self.url}" if self.url else f"PID {self.pid}, no address yet"


class StoreLocked(StoreError):
    """Another process owns the SQLite store: this one may neither write events nor call Flow on it."""

    def __init__(self, store: Path, owner: Owner) -> None:
        super().__init__(
            f"{store} is in use by another relay ({owner.describe()}): one process owns a store; "
            "stop that one first, or give this one another --data directory"
        )
        self.store = store
        self.owner = owner


class StoreLock:
    """A held lock on a store (see `claim`); `release` gives it back, and so does the OS when the process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        """Wrap a lock already taken on `fd`, an open descriptor of `path` (see `acquire`)."""
        self.path = path
        self._fd: int | None = fd
        self._owner = Owner(os.getpid())
        self._record()

    @classmethod
    def acquire(cls, store: Path) -> StoreLock:
        """Lock `store` (the event store's file) for this process, at once; StoreLocked if another holds it."""
        path = store.with_name(store.name + LOCK_SUFFIX)
        private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # never O_TRUNC: the owner's record must survive us
        try:
            if os.name == "posix":
                os.fchmod(fd, 0o600)  # a lock file left by an older version was 0644
            locked = _try_lock(fd)
        except BaseException:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            raise StoreLocked(store, read_owner(path))
        logger.debug("this process (%d) owns %s", os.getpid(), store)
        return cls(path, fd)

    def announce(self, url: str) -> None:
        """Record where this relay listens, so that a refused second one can name it."""
        self._owner = Owner(self._owner.pid, url)
        self._record()

    def release(self) -> None:
        """Give the store up (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def _record(self) -> None:
        """Write the owner record over the file's start, then cut what an older, longer record left."""
        if self._fd is None:
            return
        data = (json.dumps({"pid": self._owner.pid, "url": self._owner.url}) + "\n").encode()
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)
        os.ftruncate(self._fd, len(data))


def read_owner(path: Path) -> Owner:
    """The owner a lock file records (fields unknown when it is missing, empty or being written)."""
    try:
        record = json.loads(path.read_text())
        pid, url = record.get("pid"), record.get("url")
    except (OSError, ValueError, AttributeError):
        return Owner()
    return Owner(pid if isinstance(pid, int) else None, url if isinstance(url, str) else None)


def claim(location: StoreLocation) -> StoreLock | None:
    """Own a SQLite store (StoreLocked if another process does); None for PostgreSQL, which has the lease."""
    if location.postgres is not None:
        return None
    return StoreLock.acquire(location.events_path)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLOCK):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        # flock, not fcntl's record locks: it belongs to this open file, so a second claim in the same process
        # is refused too, and closing some other descriptor of the file does not drop it.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
