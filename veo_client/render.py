"""How the client commands show rows to people: one-line transitions, key/value blocks and rich tables."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo

import msgspec
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from veo_client.results import BatchRow, HistoryPage, HistoryRow
from veo_client.visible import visible, visible_cell
from veo_client.words import (
    Typical,
    duration,
    elapsed_seconds,
    is_active,
    reason_text,
    status_word,
    typical_text,
)

__all__ = [
    "clock_time",
    "elapsed_text",
    "history_view",
    "json_text",
    "outcome",
    "row_lines",
    "rows_table",
    "short_id",
    "transition_line",
    "watch_view",
]

logger = logging.getLogger(__name__)

WIDE = 110
"""Console columns from which tables also show each job's result."""

_WORD_STYLE = {
    "queued": "yellow",
    "submitted": "yellow",
    "rendering": "cyan",
    "done": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def json_text(data: object) -> str:
    """One compact JSON document (Structs, UUIDs and plain values alike)."""
    return msgspec.json.encode(data).decode()


def clock_time(moment: str | None, zone: tzinfo | None = None) -> str:
    """`HH:MM:SS` of a row time in `zone` (default: local time)."""
    if not moment:
        return ""
    try:
        return datetime.fromisoformat(moment).astimezone(zone).strftime("%H:%M:%S")
    except ValueError:
        return visible(moment)


def outcome(row: HistoryRow) -> str:
    """Where a finished job's video is, why one failed or was cancelled, else nothing (control characters escaped).

    A video the relay kept is named by the command that saves it, for both backends: the Gemini API's URL cannot
    be opened without the API key, and Flow's expires within hours. Otherwise the backend's URL.
    """
    if is_active(row):
        return ""
    if row.error_reason or row.error_message:
        return visible(reason_text(row))
    if row.video_stored_at:
        return f"kept by the relay: veo get {visible(short_id(row.id))}"
    return visible(row.video_url or "")


def elapsed_text(row: HistoryRow, typical: Typical, now: datetime | None = None) -> str:
    """`12 s (usually about 50 s)` while a job runs, `42 s` once it is finished."""
    took = duration(elapsed_seconds(row, now))
    usual = typical_text(row, typical) if is_active(row) else ""
    return f"{took} ({usual})" if usual else took


def transition_line(row: HistoryRow, typical: Typical) -> str:
    """`ID  word  elapsed  detail`: one line per change a `--wait` shows (`rendering  12 s (usually about 50 s)`)."""
    detail = outcome(row)
    line = f"{visible(row.id)}  {status_word(row):<9}  {elapsed_text(row, typical)}"
    return line + (f"  {detail}" if detail else "")


def row_lines(row: HistoryRow | BatchRow) -> str:
    """Every known field of a row, one `name: value` line each (control characters escaped); a job's status in plain
    words, not Flow's."""
    values = msgspec.structs.asdict(row)
    if isinstance(row, HistoryRow):
        values["status"] = status_word(row)
        del values["remote_status"]
    return "\n".join(f"{name:>20}: {visible(str(value))}" for name, value in values.items() if value is not None)


def short_id(full: str) -> str:
    """The first 8 characters of an id: what tables show, and a prefix every command accepts."""
    return full[:8]


def _word(row: HistoryRow) -> Text:
    word = status_word(row)
    return visible_cell(word, _WORD_STYLE.get(word, ""))


def _jobs_table(
    rows: Iterable[HistoryRow],
    title: str | None,
    columns: Sequence[tuple[str, int]],
    cells_of: Callable[[HistoryRow], list[RenderableType]],
    width: int,
) -> Table:
    """A table of jobs: the given leading columns, then the prompt and (when `width` allows) the outcome."""
    wide = width >= WIDE
    table = Table(
        title=visible_cell(title) if title else None,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=True,
    )
    for name, size in columns:
        table.add_column(name, no_wrap=True, width=size)
    table.add_column("prompt", no_wrap=True, overflow="ellipsis", ratio=1)
    if wide:
        table.add_column("result", no_wrap=True, overflow="ellipsis", ratio=2)
    for row in rows:
        prompt = ("[upscale] " if row.job_type == "upscale" else "") + row.prompt
        cells = [*cells_of(row), visible_cell(prompt)]
        if wide:
            cells.append(Text(outcome(row)))
        table.add_row(*cells)
    return table


def rows_table(
    rows: Iterable[HistoryRow],
    *,
    title: str | None = None,
    time_field: str = "updated_at",
    width: int = 80,
    zone: tzinfo | None = None,
) -> Table:
    """Time (in `zone`, default local), id, status word, prompt and (when `width` allows) outcome; cells are cut."""
    columns = [(time_field.removesuffix("_at"), 8), ("id", 36), ("status", 9)]
    return _jobs_table(
        rows,
        title,
        columns,
        lambda row: [Text(clock_time(getattr(row, time_field), zone)), visible_cell(row.id), _word(row)],
        width,
    )


def history_view(page: HistoryPage, width: int, zone: tzinfo | None) -> RenderableType:
    """One table per day (in `zone`, default local), newest first, and the cursor of the next page."""
    parts: list[RenderableType] = [
        rows_table(
            group.items, title=f"{group.date} ({len(group.items)})", time_field="created_at", width=width, zone=zone
        )
        for group in page.groups
    ]
    if not parts:
        parts.append(Text("no generations yet"))
    if page.next:
        parts.append(visible_cell(f"older: --before '{page.next}'", "dim"))
    return Group(*parts)


def watch_view(
    rows: Iterable[HistoryRow], batches: Iterable[BatchRow], typical: Typical, now: datetime, width: int
) -> RenderableType:
    """The `veo watch` screen: the latest jobs in plain words with their times, and running batches."""
    row_list = list(rows)
    parts: list[RenderableType] = [
        _jobs_table(
            row_list,
            "latest jobs",
            [("id", 8), ("status", 9), ("time", 30)],
            lambda row: [visible_cell(short_id(row.id)), _word(row), Text(elapsed_text(row, typical, now))],
            width,
        )
        if row_list
        else Text("no jobs yet: waiting for the first one")
    ]
    batch_list = list(batches)
    if batch_list:
        table = Table(title="batches", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for name in ("batch", "jobs", "waiting", "rendering", "done", "failed"):
            table.add_column(name, justify="left" if name == "batch" else "right")
        for batch in batch_list:
            counts = (batch.total, batch.pending, batch.processing, batch.completed, batch.failed)
            table.add_row(visible_cell(short_id(batch.batch_id)), *(Text(str(count)) for count in counts))
        parts.append(table)
    return Group(*parts)
