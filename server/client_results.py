"""What the relay answers, as a client reads it: typed `data` of results, and the row a delta carries.

Rows are the contract's own Structs (`HistoryRow`, `BatchRow`); the rest are the small `data` objects of
the command and subscription results (CONTRACT §4). Convert a result's `data` with `RelayClient.fetch`.
"""

from __future__ import annotations

import logging
from uuid import UUID

import msgspec

from projections.history import BATCH_CHANNEL
from projections.rows import BatchRow, HistoryRow
from server.protocol import DeltaMessage

__all__ = [
    "BatchCreated",
    "BatchRow",
    "Created",
    "HistoryGroup",
    "HistoryPage",
    "HistoryRow",
    "Retried",
    "Subscribed",
    "is_terminal_status",
    "row_of",
]

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"completed", "failed"})


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
    if delta.channel == BATCH_CHANNEL:
        return msgspec.convert(delta.data, BatchRow)
    return msgspec.convert(delta.data, HistoryRow)


def is_terminal_status(status: str) -> bool:
    """Completed and failed are final."""
    return status in TERMINAL
