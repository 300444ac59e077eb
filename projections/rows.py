"""The history row and the batch row, and how each domain event changes them (pure functions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from domain.values import ACTIVE_REMOTE_STATUS, Status, status_after_failure

__all__ = [
    "BATCH_COLUMNS",
    "HISTORY_COLUMNS",
    "BatchRow",
    "HistoryRow",
    "apply_event",
    "iso_ms",
    "status_after",
]


class HistoryRow(msgspec.Struct, kw_only=True):
    """One row of `veo3_video_generations` (CONTRACT §2); unknown values are null."""

    id: str
    job_type: str
    status: str
    remote_status: str | None = None
    prompt: str
    model: str
    aspect_ratio: str
    seed: int | None = None
    priority: str
    profile_id: str | None = None
    """The account actually used: the pinned profile, or for a pool job the account of its latest submission
    (null until the pool has chosen one)."""
    scene_id: str | None = None
    operation_name: str | None = None
    media_generation_id: str | None = None
    video_url: str | None = None
    video_sha256: str | None = None
    video_bytes: int | None = None
    video_stored_at: str | None = None
    source_generation_id: str | None = None
    retry_of: str | None = None
    batch_id: str | None = None
    error_reason: str | None = None
    error_message: str | None = None
    created_at: str
    started_at: str | None = None
    updated_at: str
    completed_at: str | None = None


class BatchRow(msgspec.Struct, kw_only=True):
    """One row of `veo3_batches` (the `batch:progress` channel)."""

    batch_id: str
    total: int = 0
    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    created_at: str
    updated_at: str


HISTORY_COLUMNS: tuple[str, ...] = HistoryRow.__struct_fields__
BATCH_COLUMNS: tuple[str, ...] = BatchRow.__struct_fields__


def iso_ms(moment: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a `Z`, as every row time is written."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_after(current: str, remote_status: str | None) -> str:
    """The client status once Flow reports `remote_status` (processing is sticky once reached)."""
    if current == Status.PENDING and remote_status == ACTIVE_REMOTE_STATUS:
        return Status.PROCESSING
    return current


def _requested(row: HistoryRow | None, event: Any, at: str, generation_id: str) -> HistoryRow:
    return HistoryRow(
        id=generation_id,
        job_type=event.job_type,
        status=Status.PENDING,
        prompt=event.prompt,
        model=event.model,
        aspect_ratio=event.aspect_ratio,
        seed=event.seed,
        priority=event.priority,
        profile_id=event.profile_id,
        scene_id=event.scene_id,
        source_generation_id=event.source_generation_id,
        retry_of=event.retry_of,
        batch_id=event.batch_id,
        created_at=at,
        updated_at=at,
    )


def _submitted(row: HistoryRow, event: Any, at: str, generation_id: str) -> HistoryRow:
    if event.account is not None:
        row.profile_id = event.account
    if event.model is not None:
        row.model = event.model
    row.updated_at = at
    return row


def _deferred(row: HistoryRow, event: Any, at: str, generation_id: str) -> HistoryRow:
    row.updated_at = at
    return row


def _started(row: HistoryRow, event: Any, at: str, generation_id: str) -> HistoryRow:
    row.operation_name = event.operation_name
    row.remote_status = event.remote_status
    row.status = status_after(row.status, event.remote_status)
    row.started_at = at
    row.updated_at = at
    return row


def _progressed(row: HistoryRow, event: Any, at: str, generation_id: str) -> HistoryRow:
    row.remote_status = event.remote_status
    row.status = status_after(row.status, event.remote_status)
    row.updated_at = at
    return row


def _completed(row: HistoryRow, event: Any, at: str, generation_id: str) -> HistoryRow:
    row.status = Status.COMPLETED
    row.remote_status = event.remote_status
    row.media_generation_id = event.media_generation_id
    row.video_url = event.video_url
    row.completed_at = at
    row.updated_at = at
    return row


def _failed(row: HistoryRow, event: Any, at: str, generation_id: str) -> HistoryRow:
    row.status = status_after_failure(event.error_reason)
    row.remote_status = event.remote_status
    row.error_reason = event.error_reason
    row.error_message = event.error_message
    row.completed_at = at
    row.updated_at = at
    return row


def _video_stored(row: HistoryRow, event: Any, at: str, generation_id: str) -> HistoryRow:
    row.video_sha256 = event.sha256
    row.video_bytes = event.size
    row.video_stored_at = at
    row.updated_at = at
    return row


def _video_store_failed(row: HistoryRow, event: Any, at: str, generation_id: str) -> HistoryRow:
    row.updated_at = at
    return row


_HANDLERS: dict[str, Callable[[Any, Any, str, str], HistoryRow]] = {
    "Requested": _requested,
    "Submitted": _submitted,
    "Deferred": _deferred,
    "Started": _started,
    "Progressed": _progressed,
    "Completed": _completed,
    "Failed": _failed,
    "VideoStored": _video_stored,
    "VideoStoreFailed": _video_store_failed,
}


def apply_event(row: HistoryRow | None, kind: str, data: Any, at: str, generation_id: str) -> HistoryRow:
    """The row after an event of `kind` with fields `data` recorded `at` (mutated in place when it exists)."""
    handler = _HANDLERS[kind]
    if row is None and handler is not _requested:
        msg = f"{kind} for {generation_id} arrived before its Requested event"
        raise LookupError(msg)
    return handler(row, data, at, generation_id)
