"""How the client commands show rows to people: one-line transitions, key/value blocks and rich tables."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

import msgspec
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from veo_client.results import BatchRow, HistoryPage, HistoryRow

__all__ = [
    "batch_summary",
    "clock_time",
    "history_view",
    "json_text",
    "mapping_lines",
    "outcome",
    "row_lines",
    "rows_table",
    "transition_line",
    "watch_view",
]

logger = logging.getLogger(__name__)

WIDE = 110
"""Console columns from which tables also show each job's result."""

_STATUS_STYLE = {"pending": "yellow", "processing": "cyan", "completed": "green", "failed": "red"}


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
        return moment


def outcome(row: HistoryRow) -> str:
    """The video URL of a completed job, the reason of a failed one, else the remote status."""
    if row.status == "completed":
        return row.video_url or ""
    if row.status == "failed":
        return f"{row.error_reason}: {row.error_message}" if row.error_message else str(row.error_reason)
    return row.remote_status or ""


def transition_line(row: HistoryRow) -> str:
    """`ID status detail`: one line per change a `--wait` shows."""
    detail = outcome(row)
    return f"{row.id}  {row.status}" + (f"  {detail}" if detail else "")


def row_lines(row: HistoryRow | BatchRow) -> str:
    """Every known field of a row, one `name: value` line each."""
    values = msgspec.structs.asdict(row)
    return "\n".join(f"{name:>20}: {value}" for name, value in values.items() if value is not None)


def mapping_lines(data: Mapping[str, Any], prefix: str = "") -> str:
    """Nested JSON values as `name: value` lines (`budget.rate: 10.0`)."""
    lines: list[str] = []
    for name, value in data.items():
        if isinstance(value, Mapping):
            lines.append(mapping_lines(value, f"{prefix}{name}."))
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            lines.append(f"{prefix}{name}: {shown}")
    return "\n".join(line for line in lines if line)


def _status(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def rows_table(
    rows: Iterable[HistoryRow],
    *,
    title: str | None = None,
    time_field: str = "updated_at",
    width: int = 80,
    zone: tzinfo | None = None,
) -> Table:
    """Time (in `zone`, default local), id, status, prompt and (when `width` allows) outcome; cells are cut."""
    wide = width >= WIDE
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, expand=True)
    table.add_column(time_field.removesuffix("_at"), no_wrap=True, width=8)
    table.add_column("id", no_wrap=True, width=36)
    table.add_column("status", no_wrap=True, width=10)
    table.add_column("prompt", no_wrap=True, overflow="ellipsis", ratio=1)
    if wide:
        table.add_column("result", no_wrap=True, overflow="ellipsis", ratio=2)
    for row in rows:
        moment = getattr(row, time_field)
        prompt = ("[upscale] " if row.job_type == "upscale" else "") + row.prompt
        cells: list[RenderableType] = [clock_time(moment, zone), row.id, _status(row.status), Text(prompt)]
        if wide:
            cells.append(Text(outcome(row) if row.status != "failed" else str(row.error_reason)))
        table.add_row(*cells)
    return table


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
        parts.append(Text(f"older: --before '{page.next}'", style="dim"))
    return Group(*parts)


def batch_summary(batch: BatchRow | None, total: int) -> str:
    """`3 completed, 0 failed (of 3)`."""
    completed = batch.completed if batch else 0
    failed = batch.failed if batch else 0
    return f"{completed} completed, {failed} failed (of {total})"


def watch_view(rows: Iterable[HistoryRow], batches: Iterable[BatchRow], position: int, width: int) -> RenderableType:
    """The `veo watch` screen: recent generations and running batches."""
    parts: list[RenderableType] = [rows_table(rows, title=f"generations (position {position})", width=width)]
    batch_list = list(batches)
    if batch_list:
        table = Table(title="batches", title_justify="left")
        for name in ("batch", "total", "pending", "processing", "completed", "failed"):
            table.add_column(name, justify="left" if name == "batch" else "right")
        for batch in batch_list:
            counts = (batch.total, batch.pending, batch.processing, batch.completed, batch.failed)
            table.add_row(batch.batch_id, *map(str, counts))
        parts.append(table)
    return Group(*parts)
