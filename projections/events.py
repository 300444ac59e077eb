"""Stored generation events decoded for the read models, fast.

Projections read every event ever recorded on a rebuild, so they decode the stored JSON straight into
msgspec Structs instead of building full domain event objects (about 5x cheaper). Anything the fast path
does not know (another topic, an upcast class version, a compressed or enciphered store) goes through the
application's own mapper, so the result is the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain.application import VeoRelay
from domain.generation import Generation
from domain.values import SUCCESSFUL_REMOTE_STATUS
from projections.rows import iso_ms

__all__ = ["ViewEvent", "read_events", "row_time"]


class _Stamp(msgspec.Struct):
    data: str = msgspec.field(name="_data_")


class _Requested(msgspec.Struct):
    timestamp: _Stamp
    job_type: str
    prompt: str
    model: str
    aspect_ratio: str
    seed: int
    priority: str
    profile_id: str | None
    scene_id: str
    batch_id: str | None = None
    source_generation_id: str | None = None
    source_media_id: str | None = None
    resolution: str | None = None
    retry_of: str | None = None
    batch_size: int | None = None


class _Submitted(msgspec.Struct):
    timestamp: _Stamp
    attempt: int
    account: str | None = None  # absent from events recorded before accounts were pooled
    model: str | None = None  # absent from events recorded before the model used was kept


class _Deferred(msgspec.Struct):
    timestamp: _Stamp
    reason: str
    message: str


class _Started(msgspec.Struct):
    timestamp: _Stamp
    operation_name: str
    media_name: str | None = None
    remote_status: str | None = None


class _Progressed(msgspec.Struct):
    timestamp: _Stamp
    remote_status: str


class _Completed(msgspec.Struct):
    timestamp: _Stamp
    media_generation_id: str | None = None
    video_url: str | None = None
    remote_status: str = SUCCESSFUL_REMOTE_STATUS


class _Failed(msgspec.Struct):
    timestamp: _Stamp
    error_reason: str
    error_message: str
    remote_status: str | None = None


class _VideoStored(msgspec.Struct):
    timestamp: _Stamp
    sha256: str
    size: int
    content_type: str


class _VideoStoreFailed(msgspec.Struct):
    timestamp: _Stamp
    reason: str
    message: str


_CLASSES: dict[str, tuple[str, type[Any]]] = {
    cls.__qualname__.rsplit(".", 1)[-1]: (f"{cls.__module__}:{cls.__qualname__}", state)
    for cls, state in (
        (Generation.Requested, _Requested),
        (Generation.Submitted, _Submitted),
        (Generation.Deferred, _Deferred),
        (Generation.Started, _Started),
        (Generation.Progressed, _Progressed),
        (Generation.Completed, _Completed),
        (Generation.Failed, _Failed),
        (Generation.VideoStored, _VideoStored),
        (Generation.VideoStoreFailed, _VideoStoreFailed),
    )
}
_DECODERS: dict[str, tuple[str, msgspec.json.Decoder[Any]]] = {
    topic: (kind, msgspec.json.Decoder(state)) for kind, (topic, state) in _CLASSES.items()
}


def row_time(iso: str) -> str:
    """An event's ISO timestamp as a row time: UTC, milliseconds, `Z`."""
    if iso.endswith("+00:00"):
        if len(iso) == 32:  # 2026-11-25T00:06:43.324061+00:00
            return iso[:23] + "Z"
        if len(iso) == 25:  # 2026-11-25T00:06:43+00:00 (no fraction when microsecond == 0)
            return iso[:19] + ".000Z"
    return iso_ms(datetime.fromisoformat(iso))


@dataclass(slots=True)
class ViewEvent:
    """What a read model needs of one recorded event."""

    position: int
    kind: str
    generation_id: str
    at: str
    data: Any


def _dashed(originator_id: str) -> str:
    """A UUID's canonical form from the SQLite recorder's 32-hex-digit text (or PostgreSQL's own text)."""
    h = originator_id
    if len(h) == 32:
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if len(h) == 36 and h[8] == "-" and h.islower():  # PostgreSQL's uuid as text is already canonical
        return h
    return str(UUID(h))


def _slow(app: VeoRelay, position: int, topic: str, state: bytes, originator_id: str) -> ViewEvent | None:
    notification = Notification(
        id=position, originator_id=UUID(originator_id), originator_version=0, topic=topic, state=state
    )
    event: Any = app.mapper.to_domain_event(notification)
    kind = type(event).__qualname__.rsplit(".", 1)[-1]
    if kind not in _CLASSES:
        return None
    return ViewEvent(position, kind, str(event.originator_id), iso_ms(event.timestamp), event)


def _select(app: VeoRelay, after: int, limit: int) -> list[tuple[int, str, str, bytes]]:
    """(position, originator id, topic, state) of the next `limit` notifications after `after`."""
    recorder = app.recorder
    if type(recorder).__module__ == "eventsourcing.postgres":  # without importing psycopg when not in use
        from projections.postgres import select_stored  # noqa: PLC0415

        return select_stored(recorder, after, limit)
    if isinstance(recorder, SQLiteApplicationRecorder):
        # The public select_notifications builds a UUID and a dataclass per row; this reads the same
        # columns of the recorder's own table about three times faster.
        statement = f"SELECT rowid, originator_id, topic, state FROM {recorder.events_table_name} "
        statement += "WHERE rowid > ? ORDER BY rowid LIMIT ?"
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (after, limit))
            return [(row[0], row[1], row[2], row[3]) for row in cursor.fetchall()]
    notifications = recorder.select_notifications(start=after + 1, limit=limit)
    return [(n.id, UUID(str(n.originator_id)).hex, n.topic, n.state) for n in notifications]


def read_events(app: VeoRelay, after: int, limit: int) -> tuple[list[ViewEvent], int]:
    """Generation events among the next `limit` notifications after `after`, and the last position read."""
    rows = _select(app, after, limit)
    if not rows:
        return [], after
    fast = app.mapper.compressor is None and app.mapper.cipher is None
    decoded: list[ViewEvent] = []
    names: dict[str, str] = {}
    for position, originator_id, topic, state in rows:
        entry = _DECODERS.get(topic) if fast else None
        if entry is not None and b'"class_version"' not in state:
            kind, decoder = entry
            data = decoder.decode(state)
            name = names.get(originator_id)
            if name is None:
                name = names[originator_id] = _dashed(originator_id)
            iso = data.timestamp.data
            at = iso[:23] + "Z" if len(iso) == 32 and iso.endswith("+00:00") else row_time(iso)  # row_time, inlined
            decoded.append(ViewEvent(position, kind, name, at, data))
            continue
        view_event = _slow(app, position, topic, state, originator_id)
        if view_event is not None:
            decoded.append(view_event)
    return decoded, rows[-1][0]
