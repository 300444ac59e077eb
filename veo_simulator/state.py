"""Simulated Flow operations: their lifecycle over an injected wall clock, no I/O, no threads."""

from __future__ import annotations

import enum
import logging
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import msgspec

from veo_simulator.changes import ChangeSet

__all__ = [
    "ACTIVE_FRACTION",
    "FAIL_MARKER",
    "FAIL_UPSCALE_MARKER",
    "TERMINAL",
    "UNSAFE_MARKER",
    "UNSAFE_REASON",
    "CancelOutcome",
    "Clock",
    "Kind",
    "NewOperation",
    "Operation",
    "OperationBook",
    "Origin",
    "Status",
    "is_unsafe",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Kind = Literal["generate", "upscale"]
Origin = Literal["submit", "admin"]

ACTIVE_FRACTION = 0.2
UNSAFE_REASON = "PUBLIC_ERROR_UNSAFE_GENERATION"
UNSAFE_MARKER = "[unsafe]"
FAIL_MARKER = "[fail]"
FAIL_UPSCALE_MARKER = "[fail-upscale]"


class Status(enum.StrEnum):
    """Flow's ``MEDIA_GENERATION_STATUS_*`` values."""

    PENDING = "MEDIA_GENERATION_STATUS_PENDING"
    ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"
    SUCCESSFUL = "MEDIA_GENERATION_STATUS_SUCCESSFUL"
    FAILED = "MEDIA_GENERATION_STATUS_FAILED"
    CANCELLED = "MEDIA_GENERATION_STATUS_CANCELLED"


TERMINAL = frozenset({Status.SUCCESSFUL, Status.FAILED, Status.CANCELLED})


class CancelOutcome(enum.Enum):
    """What a cancel request did."""

    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"
    FINISHED = "finished"


def is_unsafe(prompt: str) -> bool:
    """A prompt the content filter refuses at submit (the ``[unsafe]`` marker)."""
    return UNSAFE_MARKER in prompt.lower()


class Operation(msgspec.Struct, kw_only=True):
    """One simulated generation or upscale; its outcome and completion instant are fixed at creation."""

    name: str
    media_generation_id: str
    scene_id: str
    kind: Kind
    origin: Origin
    project_id: str = ""
    workflow_id: str = ""
    batch_id: str = ""
    model: str = ""
    prompt: str = ""
    seed: int = 0
    aspect_ratio: str = "VIDEO_ASPECT_RATIO_LANDSCAPE"
    resolution: str = ""
    source_name: str = ""
    created_at: float
    active_at: float
    complete_at: float
    failure_reason: str | None = None
    cancelled_at: float | None = None
    first_seen_terminal_at: float | None = None
    ambiguous: str | None = None
    account: str = ""
    """The account that submitted it (``""`` for admin-made operations)."""

    @property
    def media_name(self) -> str:
        """The media id (the 2026 poll handle); Flow makes it equal to the operation name."""
        return self.name

    def status_at(self, now: float) -> Status:
        """The remote status at ``now``: PENDING, ACTIVE from ``active_at``, terminal from ``complete_at``."""
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return Status.CANCELLED
        if now >= self.complete_at:
            return Status.FAILED if self.failure_reason else Status.SUCCESSFUL
        if now >= self.active_at:
            return Status.ACTIVE
        return Status.PENDING

    @property
    def final_status(self) -> Status:
        """The terminal status this operation has or will have."""
        if self.cancelled_at is not None:
            return Status.CANCELLED
        return Status.FAILED if self.failure_reason else Status.SUCCESSFUL


@dataclass(frozen=True, slots=True)
class NewOperation:
    """The parameters of one operation to create (one request entry)."""

    scene_id: str
    kind: Kind = "generate"
    origin: Origin = "submit"
    project_id: str = ""
    batch_id: str = ""
    model: str = ""
    prompt: str = ""
    seed: int | None = None
    aspect_ratio: str = "VIDEO_ASPECT_RATIO_LANDSCAPE"
    resolution: str = ""
    source_name: str = ""
    account: str = ""


def _new_id() -> str:
    return str(uuid.uuid4())


class OperationBook:
    """All operations, by name and by media generation id."""

    def __init__(
        self,
        wall: Clock,
        rng: random.Random,
        lo: float,
        hi: float,
        fail: float = 0.0,
        new_id: Callable[[], str] = _new_id,
        changes: ChangeSet | None = None,
    ) -> None:
        self._wall = wall
        self._rng = rng
        self._lo = lo
        self._hi = hi
        self._fail = fail
        self._new_id = new_id
        self._changes = changes if changes is not None else ChangeSet()
        self._by_name: dict[str, Operation] = {}
        self._by_generation_id: dict[str, Operation] = {}

    def create(
        self,
        new: NewOperation,
        complete_at: float | None = None,
        *,
        lo: float | None = None,
        hi: float | None = None,
    ) -> Operation:
        """Create an operation now; it completes at ``complete_at`` or after a duration drawn in [lo, hi].

        Submitted operations turn ACTIVE after 20% of their duration; admin-made ones are ACTIVE at once.
        """
        now = self._wall()
        if complete_at is None:
            low = self._lo if lo is None else lo
            high = self._hi if hi is None else hi
            complete_at = now + self._rng.uniform(low, high)
        failing = self._rng.random() < self._fail
        marker = FAIL_MARKER if new.kind == "generate" else FAIL_UPSCALE_MARKER
        if marker in new.prompt.lower():
            failing = True
        name = self._new_id()
        generation_id = "CAUSJ" + uuid.UUID(self._new_id()).hex.upper()
        if new.kind == "upscale":
            generation_id += "_upsampled"
        operation = Operation(
            name=name,
            media_generation_id=generation_id,
            scene_id=new.scene_id,
            kind=new.kind,
            origin=new.origin,
            project_id=new.project_id,
            workflow_id=self._new_id(),
            batch_id=new.batch_id,
            model=new.model,
            prompt=new.prompt,
            seed=new.seed if new.seed is not None else self._rng.randint(1, 99999),
            aspect_ratio=new.aspect_ratio,
            resolution=new.resolution,
            source_name=new.source_name,
            created_at=now,
            active_at=now if new.origin == "admin" else now + ACTIVE_FRACTION * max(complete_at - now, 0.0),
            complete_at=max(complete_at, now),
            failure_reason=UNSAFE_REASON if failing else None,
            account=new.account,
        )
        self._add(operation)
        self._changes.operation(operation.name)
        return operation

    def get(self, name: str) -> Operation | None:
        """The operation with this name (= media id), or None."""
        return self._by_name.get(name)

    def find_media(self, media_id: str) -> Operation | None:
        """The operation whose media id or media generation id is ``media_id``, or None."""
        return self._by_name.get(media_id) or self._by_generation_id.get(media_id)

    def status(self, operation: Operation) -> Status:
        """The operation's status now."""
        return operation.status_at(self._wall())

    def cancel(self, name: str) -> CancelOutcome:
        """Cancel a running operation; finished ones cannot be cancelled."""
        operation = self._by_name.get(name)
        if operation is None:
            return CancelOutcome.NOT_FOUND
        now = self._wall()
        if operation.status_at(now) in TERMINAL:
            return CancelOutcome.FINISHED
        operation.cancelled_at = now
        self._changes.operation(name)
        return CancelOutcome.CANCELLED

    def forget(self, name: str) -> Operation | None:
        """Drop an operation (by name or media generation id) as if Flow had lost it; None when unknown."""
        operation = self.find_media(name)
        if operation is None:
            return None
        del self._by_name[operation.name]
        del self._by_generation_id[operation.media_generation_id]
        self._changes.forget(operation.name)
        return operation

    def observe(self, operation: Operation) -> Status:
        """The status a status check reports now; remembers when it was first reported terminal."""
        now = self._wall()
        status = operation.status_at(now)
        if status in TERMINAL and operation.first_seen_terminal_at is None:
            operation.first_seen_terminal_at = now
            self._changes.operation(operation.name)
        return status

    def mark_ambiguous(self, operation: Operation, fault: str) -> None:
        """Remember that the submission creating ``operation`` was answered ambiguously (with ``fault``)."""
        operation.ambiguous = fault
        self._changes.operation(operation.name)

    def all(self) -> list[Operation]:
        """Every operation, oldest first."""
        return sorted(self._by_name.values(), key=lambda op: op.created_at)

    def restore(self, operations: Iterable[Operation]) -> None:
        """Add operations loaded from a state file (not recorded as changes)."""
        for operation in operations:
            self._add(operation)

    def _add(self, operation: Operation) -> None:
        self._by_name[operation.name] = operation
        self._by_generation_id[operation.media_generation_id] = operation
