"""Simulated Gemini API operations and their video files, over an injected wall clock (no I/O, no threads)."""

from __future__ import annotations

import logging
import random
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import msgspec

from veo_simulator.changes import ChangeSet
from veo_simulator.state import FAIL_MARKER, UNSAFE_MARKER, Clock

__all__ = ["FILE_TTL_S", "GeminiBook", "GeminiOperation", "NewGeminiOperation", "Outcome"]

logger = logging.getLogger(__name__)

Outcome = Literal["video", "error", "filtered"]
FILE_TTL_S = 2 * 24 * 3600.0
"""How long generated videos stay downloadable: "kept on the server for 2 days" (flow-api.md §6)."""
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_LENGTH = 12


class GeminiOperation(msgspec.Struct, kw_only=True):
    """One ``predictLongRunning`` operation; its outcome and completion instant are fixed at creation."""

    id: str
    model: str
    key: str
    """The label of the key that created it (never the key itself)."""
    prompt: str = ""
    aspect_ratio: str = "16:9"
    duration_s: int = 8
    resolution: str = "720p"
    samples: int = 1
    created_at: float
    complete_at: float
    outcome: Outcome = "video"
    files: list[str] = []
    first_seen_done_at: float | None = None
    ambiguous: str | None = None
    """The fault its ``predictLongRunning`` was answered with after it was created (``500``, ``timeout``,
    ``malformed``), or None."""

    @property
    def name(self) -> str:
        """``models/{model}/operations/{id}``, as the API names it."""
        return f"models/{self.model}/operations/{self.id}"

    def done_at(self, now: float) -> bool:
        """Whether the operation has finished at ``now``."""
        return now >= self.complete_at


@dataclass(frozen=True, slots=True)
class NewGeminiOperation:
    """A validated request: what one operation is asked to make."""

    model: str
    key: str
    prompt: str
    aspect_ratio: str = "16:9"
    duration_s: int = 8
    resolution: str = "720p"
    samples: int = 1


class GeminiBook:
    """All Gemini operations by id, and their files by file id.

    Durations are drawn in [lo, hi]; an operation ends with an error with probability ``fail`` (or
    ``[fail]`` in the prompt), safety-filtered with probability ``filtered`` (or ``[unsafe]``), else
    with one video file per sample, downloadable for ``file_ttl_s`` after completion.
    """

    def __init__(
        self,
        wall: Clock,
        rng: random.Random,
        lo: float,
        hi: float,
        fail: float = 0.0,
        filtered: float = 0.0,
        file_ttl_s: float = FILE_TTL_S,
        changes: ChangeSet | None = None,
    ) -> None:
        self._wall = wall
        self._rng = rng
        self._lo = lo
        self._hi = hi
        self._fail = fail
        self._filtered = filtered
        self.file_ttl_s = file_ttl_s
        self._changes = changes if changes is not None else ChangeSet()
        self._by_id: dict[str, GeminiOperation] = {}
        self._by_file: dict[str, GeminiOperation] = {}

    def create(self, new: NewGeminiOperation) -> GeminiOperation:
        """Create an operation now; its outcome and completion instant are drawn here."""
        now = self._wall()
        complete_at = now + self._rng.uniform(self._lo, self._hi)
        draw = self._rng.random()
        prompt = new.prompt.lower()
        outcome: Outcome = "video"
        if FAIL_MARKER in prompt or draw < self._fail:
            outcome = "error"
        elif UNSAFE_MARKER in prompt or draw < self._fail + self._filtered:
            outcome = "filtered"
        files = [self._new_id() for _ in range(new.samples)] if outcome == "video" else []
        operation = GeminiOperation(
            id=self._new_id(),
            model=new.model,
            key=new.key,
            prompt=new.prompt,
            aspect_ratio=new.aspect_ratio,
            duration_s=new.duration_s,
            resolution=new.resolution,
            samples=new.samples,
            created_at=now,
            complete_at=complete_at,
            outcome=outcome,
            files=files,
        )
        self._add(operation)
        self._changes.gemini_operation(operation.id)
        return operation

    def get(self, operation_id: str) -> GeminiOperation | None:
        """The operation with this id, or None."""
        return self._by_id.get(operation_id)

    def observe(self, operation: GeminiOperation) -> bool:
        """Whether it is done now; remembers when it was first reported done."""
        now = self._wall()
        done = operation.done_at(now)
        if done and operation.first_seen_done_at is None:
            operation.first_seen_done_at = now
            self._changes.gemini_operation(operation.id)
        return done

    def mark_ambiguous(self, operation: GeminiOperation, fault: str) -> None:
        """Remember that the call creating ``operation`` was answered ambiguously (with ``fault``)."""
        operation.ambiguous = fault
        self._changes.gemini_operation(operation.id)

    def file(self, file_id: str) -> GeminiOperation | None:
        """The operation whose finished video ``file_id`` is, while it has not expired; else None."""
        operation = self._by_file.get(file_id)
        now = self._wall()
        if operation is None or not operation.done_at(now) or now >= operation.complete_at + self.file_ttl_s:
            return None
        return operation

    def all(self) -> list[GeminiOperation]:
        """Every operation, oldest first."""
        return sorted(self._by_id.values(), key=lambda op: op.created_at)

    def restore(self, operations: Iterable[GeminiOperation]) -> None:
        """Add operations loaded from a state file (not recorded as changes)."""
        for operation in operations:
            self._add(operation)

    def _add(self, operation: GeminiOperation) -> None:
        self._by_id[operation.id] = operation
        for file_id in operation.files:
            self._by_file[file_id] = operation

    def _new_id(self) -> str:
        while True:
            candidate = "".join(self._rng.choices(_ID_ALPHABET, k=_ID_LENGTH))
            if candidate not in self._by_id and candidate not in self._by_file:
                return candidate
