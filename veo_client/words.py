"""The plain words the CLI shows for a job's state and its times: "rendering, 12 s (usually about 50 s)".

People read `queued`, `submitted`, `rendering`, `done`, `failed` and `cancelled`, never Flow's
`MEDIA_GENERATION_STATUS_*` (the JSON output keeps every field as the relay sends it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.values import Status
from veo_client.results import HistoryRow

__all__ = [
    "CANCEL_REQUESTED",
    "Typical",
    "cancel_text",
    "duration",
    "elapsed_seconds",
    "is_active",
    "reason_text",
    "status_word",
    "typical_text",
    "typical_times",
]

logger = logging.getLogger(__name__)

_WORDS: dict[str, str] = {Status.PROCESSING: "rendering", Status.COMPLETED: "done", Status.FAILED: "failed"}

CANCEL_REQUESTED = "cancel requested; the submission in flight will be cancelled when its answer arrives"

Typical = Mapping[tuple[str, str], float]
"""The median seconds from accepted to done, by (model, job type), as `get_analytics` reports them."""


def status_word(row: HistoryRow) -> str:
    """`queued` (not accepted by Flow yet), `submitted` (accepted), `rendering`, `done`, `failed`, `cancelled`."""
    if row.status == Status.PENDING:
        return "submitted" if row.operation_name else "queued"
    return _WORDS.get(row.status, row.status)


def cancel_text(row: HistoryRow) -> str | None:
    """What the row a `cancel` answered means when the job is not cancelled yet: its submission was in flight and
    the relay records the cancel once that answer arrives (the row stays `pending` until then); None otherwise."""
    return CANCEL_REQUESTED if is_active(row) else None


def reason_text(row: HistoryRow) -> str:
    """Why a job failed, in the relay's plain sentence (its reason code when it gave none)."""
    return row.error_message or row.error_reason or "no reason given"


def duration(seconds: float) -> str:
    """`7 s`, `2 min 5 s`, `1 h 3 min`: rounded to what a person reads."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _instant(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def is_active(row: HistoryRow) -> bool:
    """Queued, submitted or rendering: not finished in any way."""
    return row.status in (Status.PENDING, Status.PROCESSING)


def elapsed_seconds(row: HistoryRow, now: datetime | None = None) -> float:
    """Seconds since the job was requested: until `now` while it runs (given), else until its row last changed."""
    end = now if now is not None and is_active(row) else _instant(row.completed_at or row.updated_at)
    return (end - _instant(row.created_at)).total_seconds()


def typical_times(analytics: Any) -> dict[tuple[str, str], float]:
    """The completion-time medians of a `get_analytics` answer (empty when it has none)."""
    stats = analytics.get("completion", []) if isinstance(analytics, Mapping) else []
    return {
        (str(s["model"]), str(s["job_type"])): float(s["p50"])
        for s in stats
        if isinstance(s, Mapping) and isinstance(s.get("p50"), int | float)
    }


def typical_text(row: HistoryRow, typical: Typical) -> str:
    """`usually about 50 s` for the row's model and job type, or nothing when no job of that kind finished yet."""
    seconds = typical.get((row.model, row.job_type))
    return f"usually about {duration(seconds)}" if seconds is not None else ""
