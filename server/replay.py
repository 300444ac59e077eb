"""`veo replay`: the event timeline of one generation or the whole store, and state as of a moment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.application import VeoRelay
from domain.errors import GenerationNotFound
from domain.generation import Generation
from projections.rows import HistoryRow, apply_event, iso_ms

__all__ = ["TimelineEntry", "parse_moment", "state_at", "timeline"]

_SKIP = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
_PAGE = 1000


@dataclass(frozen=True)
class TimelineEntry:
    """One recorded event, as replay shows it."""

    position: int | None
    version: int
    generation_id: str
    event: str
    recorded_at: str
    data: dict[str, Any]

    def to_json(self) -> bytes:
        """One JSON Lines record."""
        return msgspec.json.encode(
            {
                "position": self.position,
                "version": self.version,
                "generation_id": self.generation_id,
                "event": self.event,
                "recorded_at": self.recorded_at,
                "data": self.data,
            }
        )

    def to_text(self) -> str:
        """One human-readable line."""
        where = f"#{self.position}" if self.position is not None else f"v{self.version}"
        fields = "  ".join(f"{k}={_short(v)}" for k, v in self.data.items() if v is not None)
        return f"{where:>8}  {self.recorded_at}  {self.generation_id}  {self.event:<10}  {fields}"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_moment(text: str) -> datetime:
    """An ISO-8601 instant; a time without offset is UTC. ValueError names the expected form."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        msg = f"{text!r} is not an ISO-8601 time such as 2026-11-24T18:30:00Z"
        raise ValueError(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _entry(event: Any, position: int | None) -> TimelineEntry:
    data = {k: (str(v) if isinstance(v, UUID) else v) for k, v in vars(event).items() if k not in _SKIP}
    data.pop("generation_id", None)
    return TimelineEntry(
        position=position,
        version=event.originator_version,
        generation_id=str(event.originator_id),
        event=type(event).__qualname__.rsplit(".", 1)[-1],
        recorded_at=iso_ms(event.timestamp),
        data=data,
    )


def timeline(app: VeoRelay, generation_id: UUID | None = None) -> Iterator[tuple[TimelineEntry, Any]]:
    """(entry, domain event) for every event of one generation, or of the whole store in position order."""
    if generation_id is not None:
        events = list(app.events.get(generation_id))
        if not events:
            raise GenerationNotFound(generation_id)
        for event in events:
            yield _entry(event, None), event
        return
    position = 0
    while notifications := app.recorder.select_notifications(start=position + 1, limit=_PAGE):
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            yield _entry(event, notification.id), event
        position = notifications[-1].id


def state_at(app: VeoRelay, moment: datetime, generation_id: UUID | None = None) -> list[HistoryRow]:
    """The history rows as they were at `moment` (folded with the projection's own functions)."""
    rows: dict[str, HistoryRow] = {}
    for entry, event in timeline(app, generation_id):
        if not isinstance(event, Generation.Event):  # an account's lessons (domain.account) make no row
            continue
        recorded = event.timestamp.replace(microsecond=event.timestamp.microsecond // 1000 * 1000)
        if recorded > moment:  # compared at the millisecond precision that timelines print
            if generation_id is not None:
                break
            continue
        rows[entry.generation_id] = apply_event(
            rows.get(entry.generation_id), entry.event, event, entry.recorded_at, entry.generation_id
        )
    return list(rows.values())
