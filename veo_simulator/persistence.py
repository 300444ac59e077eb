"""The ``--state`` file: operations and auth survive the simulator's own restart; saves append what changed."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from veo_simulator.accounts import Account
from veo_simulator.auth import AuthState
from veo_simulator.errors import StateFileError
from veo_simulator.gemini_state import GeminiOperation
from veo_simulator.state import Operation

__all__ = ["Persister", "StateFile", "StateSnapshot"]

logger = logging.getLogger(__name__)

_VERSION = 1


class StateSnapshot(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One record of the state file: everything (a snapshot) or what changed since the record before."""

    version: int = _VERSION
    operations: list[Operation] = []
    auth: AuthState = msgspec.field(default_factory=AuthState)
    generate_calls_per_scene: dict[str, int] = {}
    forgotten: list[str] = []
    """Operations dropped since the record before (they are left out of full snapshots)."""
    accounts: list[Account] = []
    """Accounts' limiter state and figures (blocks and quotas survive a restart)."""
    gemini_operations: list[GeminiOperation] = []
    """Gemini API operations created or changed (their files are derived from them)."""


class _Fold:
    """Records applied in order: later operations, sessions, counts and accounts replace earlier ones."""

    def __init__(self) -> None:
        self.operations: dict[str, Operation] = {}
        self.sessions: dict[str, str] = {}
        self.expired: dict[str, None] = {}
        self.captcha_seen: dict[str, None] = {}
        self.calls: dict[str, int] = {}
        self.accounts: dict[str, Account] = {}
        self.gemini: dict[str, GeminiOperation] = {}

    def apply(self, record: StateSnapshot) -> None:
        self.operations.update((op.name, op) for op in record.operations)
        for name in record.forgotten:
            self.operations.pop(name, None)
        self.sessions.update(record.auth.sessions)
        self.expired.update(dict.fromkeys(record.auth.expired))
        self.captcha_seen.update(dict.fromkeys(record.auth.captcha_seen))
        self.calls.update(record.generate_calls_per_scene)
        self.accounts.update((account.id, account) for account in record.accounts)
        self.gemini.update((op.id, op) for op in record.gemini_operations)

    def snapshot(self) -> StateSnapshot:
        auth = AuthState(sessions=self.sessions, expired=list(self.expired), captcha_seen=list(self.captcha_seen))
        operations = sorted(self.operations.values(), key=lambda op: op.created_at)
        return StateSnapshot(
            operations=operations,
            auth=auth,
            generate_calls_per_scene=self.calls,
            accounts=list(self.accounts.values()),
            gemini_operations=sorted(self.gemini.values(), key=lambda op: op.created_at),
        )


class StateFile:
    """The state file as a journal: JSON lines, each a ``StateSnapshot`` record.

    ``rewrite`` replaces the file atomically (temporary file + ``os.replace``) with one full snapshot;
    ``append`` adds a record of what changed since, so a save costs what changed, not everything the
    simulator ever held. A torn last line (the process died while appending) is ignored on load.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def load(self) -> StateSnapshot | None:
        """The saved state (every record applied in order), None when there is no file yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateFileError(f"cannot read state file {self.path}: {exc.strerror}") from exc
        lines = raw.split(b"\n")
        fold = _Fold()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = msgspec.json.decode(line, type=StateSnapshot)
            except msgspec.DecodeError as exc:
                if number == len(lines) and number > 1:
                    logger.warning("state file %s: ignoring a torn last line (%d bytes)", self.path, len(line))
                    break
                raise StateFileError(f"state file {self.path} line {number} is not a simulator state: {exc}") from exc
            if record.version != _VERSION:
                raise StateFileError(
                    f"state file {self.path} line {number} has version {record.version}, expected {_VERSION}"
                )
            fold.apply(record)
        return fold.snapshot()

    def rewrite(self, snapshot: StateSnapshot) -> None:
        """Replace the file with ``snapshot`` so that a reader sees either the old or the new file, never a mix."""
        self.close()
        data = msgspec.json.encode(snapshot) + b"\n"
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
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise StateFileError(f"cannot write state file {self.path}: {exc.strerror}") from exc

    def append(self, record: StateSnapshot) -> None:
        """Add ``record`` as the file's last line (after ``rewrite``), durably."""
        if self._fd is None:
            raise StateFileError(f"state file {self.path} is not open for appending (rewrite it first)")
        data = memoryview(msgspec.json.encode(record) + b"\n")
        try:
            while data:
                data = data[os.write(self._fd, data) :]
            os.fsync(self._fd)
        except OSError as exc:
            self.close()
            raise StateFileError(f"cannot append to state file {self.path}: {exc.strerror}") from exc

    def close(self) -> None:
        """Stop appending (``rewrite`` opens the file again)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


class Persister:
    """Saves shortly after changes (debounced) on its own thread, and once more on stop.

    The first save after start rewrites the whole file (``full``), later ones append ``changes``;
    after a failed save the next one rewrites the whole file again, so nothing a failure dropped is lost.
    """

    def __init__(
        self,
        file: StateFile,
        full: Callable[[], StateSnapshot],
        changes: Callable[[], StateSnapshot | None],
        debounce_s: float = 0.2,
    ) -> None:
        self._file = file
        self._full = full
        self._changes = changes
        self._debounce_s = debounce_s
        self._rewrite = True
        self._failing = False
        self._saving = threading.Lock()
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator-persister", daemon=True)

    def start(self) -> None:
        """Start the saving thread; it rewrites the file soon."""
        self._dirty.set()
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
        self.save()
        self._file.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.wait(self._debounce_s):
                return
            self._dirty.clear()
            self.save()

    def save(self) -> None:
        """Save now, on the caller's thread: the whole state after start or a failure, else what changed."""
        with self._saving:
            try:
                if self._rewrite:
                    self._file.rewrite(self._full())
                    self._rewrite = False
                elif (record := self._changes()) is not None:
                    self._file.append(record)
            except StateFileError as error:
                self._rewrite = True
                if not self._failing:  # once per outage, not five times a second while the disk stays full
                    logger.error("simulator state not saved (retrying while it fails): %s", error)
                self._failing = True
                return
            if self._failing:
                logger.warning("simulator state saved again")
                self._failing = False
