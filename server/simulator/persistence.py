"""The ``--state`` file: operations and auth survive the simulator's own restart."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from server.simulator.auth import AuthState
from server.simulator.errors import StateFileError
from server.simulator.state import Operation

__all__ = ["Persister", "StateFile", "StateSnapshot"]

logger = logging.getLogger(__name__)

_VERSION = 1


class StateSnapshot(msgspec.Struct, kw_only=True):
    """Everything the state file holds."""

    version: int = _VERSION
    operations: list[Operation] = []
    auth: AuthState = msgspec.field(default_factory=AuthState)
    generate_calls_per_scene: dict[str, int] = {}
    credits: int | None = None


class StateFile:
    """Reads and atomically writes (temporary file + ``os.replace``) one JSON state file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> StateSnapshot | None:
        """The saved state, None when there is no file yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateFileError(f"cannot read state file {self.path}: {exc.strerror}") from exc
        try:
            snapshot = msgspec.json.decode(raw, type=StateSnapshot)
        except msgspec.DecodeError as exc:
            raise StateFileError(f"state file {self.path} is not a simulator state: {exc}") from exc
        if snapshot.version != _VERSION:
            raise StateFileError(f"state file {self.path} has version {snapshot.version}, expected {_VERSION}")
        return snapshot

    def save(self, snapshot: StateSnapshot) -> None:
        """Write the state so that a reader sees either the old or the new file, never a mix."""
        data = msgspec.json.encode(snapshot)
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StateFileError(f"cannot write state file {self.path}: {exc.strerror}") from exc


class Persister:
    """Saves a snapshot shortly after changes (debounced) on its own thread, and once more on stop."""

    def __init__(self, file: StateFile, snapshot: Callable[[], StateSnapshot], debounce_s: float = 0.2) -> None:
        self._file = file
        self._snapshot = snapshot
        self._debounce_s = debounce_s
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator-persister", daemon=True)

    def start(self) -> None:
        """Start the saving thread."""
        self._thread.start()

    def mark_dirty(self) -> None:
        """Something changed: save soon."""
        self._dirty.set()

    def stop(self) -> None:
        """Stop the thread and save the final state."""
        self._stopping.set()
        self._dirty.set()
        if self._thread.is_alive():
            self._thread.join()
        self._save()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.wait(self._debounce_s):
                return
            self._dirty.clear()
            self._save()

    def _save(self) -> None:
        try:
            self._file.save(self._snapshot())
        except StateFileError:
            logger.exception("simulator state not saved")
