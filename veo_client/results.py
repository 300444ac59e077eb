"""What the relay answers, as a client reads it: typed `data` of results, and the row a delta carries.

Rows are the contract's history and batch rows (CONTRACT §2) as the client reads them; the rest are the small
`data` objects of the command and subscription results (CONTRACT §4).
Convert a result's `data` with `RelayClient.fetch`.
"""

from __future__ import annotations

import logging
from uuid import UUID

import msgspec

from domain.values import TERMINAL_STATUSES, Status
from veo_protocol import Channel, DeltaMessage

__all__ = [
    "BatchCreated",
    "BatchRow",
    "Created",
    "HistoryGroup",
    "HistoryPage",
    "HistoryRow",
    "Retried",
    "Subscribed",
    "awaits_copy",
    "is_terminal_status",
    "row_of",
]

logger = logging.getLogger(__name__)


class HistoryRow(msgspec.Struct, kw_only=True):
    """One generation's row (CONTRACT §2) as a delta or a read carries it; unknown values are null."""

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
    """One batch's progress (the `batch:progress` channel)."""

    batch_id: str
    total: int = 0
    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    created_at: str
    updated_at: str

    @property
    def finished(self) -> int:
        """How many of its jobs are terminal (completed, failed or cancelled)."""
        return self.completed + self.failed + self.cancelled


class Created(msgspec.Struct, frozen=True, kw_only=True):
    """`generate` and `upscale`: the generation's id; `created` is false when the request key already existed."""

    generation_id: UUID
    created: bool = True


class BatchCreated(msgspec.Struct, frozen=True, kw_only=True):
    """`batch_generate`: the batch's id and its generations' ids, in prompt order."""

    batch_id: UUID
    generation_ids: list[UUID] = msgspec.field(default_factory=list)


class Retried(msgspec.Struct, frozen=True, kw_only=True):
    """`retry`: the new generation's id."""

    generation_id: UUID


class Subscribed(msgspec.Struct, frozen=True, kw_only=True):
    """`subscribe`: the channels now followed, the position deltas follow, and whether `after` was honoured."""

    channels: list[str] = msgspec.field(default_factory=list)
    position: int = 0
    resumed: bool = False


class HistoryGroup(msgspec.Struct, frozen=True, kw_only=True):
    """One day of history (in the asked time zone), newest first."""

    date: str
    items: list[HistoryRow] = msgspec.field(default_factory=list)


class HistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """`get_history`: groups by day, and the cursor of the next (older) page or None."""

    groups: list[HistoryGroup] = msgspec.field(default_factory=list)
    next: str | None = None


def row_of(delta: DeltaMessage) -> HistoryRow | BatchRow:
    """The row a delta carries: a batch row on `batch:progress`, else a generation row."""
    if delta.channel == Channel.BATCH_PROGRESS:
        return msgspec.convert(delta.data, BatchRow)
    return msgspec.convert(delta.data, HistoryRow)


def is_terminal_status(status: str) -> bool:
    """Completed, failed and cancelled are final."""
    return status in TERMINAL_STATUSES


def awaits_copy(row: HistoryRow) -> bool:
    """A completed job with a video the relay has not stored (yet): a relay that keeps videos (the default)
    stores it moments after completion, and its row then says so (`video_stored_at`)."""
    return row.status == Status.COMPLETED and row.video_url is not None and row.video_stored_at is None
