"""What the MCP tools answer: the JSON schemas of their structured results, and the short text beside them.

The schemas are pydantic models because the SDK publishes a tool's `outputSchema` from its result type and checks
each structured result against it. A generation is the relay's history row (CONTRACT §2) field for field, plus
`kept_video_url`; the models only describe it for a model reading the schema, the values are the relay's own.

Kept videos: a row whose video the relay stored (`video_stored_at`) carries `kept_video_url`, the relay's own
`GET /videos/{id}` address, and its summary names the MCP resource `veo://videos/{id}` (`veo_mcp.videos`). The
address never carries the token: whoever fetches it adds the client token itself.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field

from domain.values import Status
from veo_client.results import HistoryRow
from veo_mcp.videos import video_uri

__all__ = [
    "Generation",
    "GenerationPage",
    "Jobs",
    "QueueState",
    "VideoAddress",
    "generation_content",
    "jobs_summary",
    "kept_video_url",
    "row_summary",
    "rows_content",
    "tool_result",
]

logger = logging.getLogger(__name__)

_NOT_FINISHED = (Status.PENDING, Status.PROCESSING)

VideoAddress = Callable[[str], str]
"""The relay's HTTP address of a path, `/videos/ID` (`RelayClient.http_url`: no query, so no token)."""


class Generation(BaseModel):
    """One generation (or upscale) as the relay records it; unknown values are null, times are ISO-8601 UTC."""

    id: str = Field(description="The generation id (a UUID): pass it to the other tools.")
    job_type: str = Field(description="`generation` or `upscale`.")
    status: str = Field(description="pending, processing, completed, failed or cancelled; the last three are final.")
    remote_status: str | None = Field(default=None, description="Flow's last status word.")
    prompt: str
    model: str
    aspect_ratio: str
    seed: int | None = None
    priority: str
    profile_id: str | None = Field(
        default=None, description="The account that runs it (null: the pool has not chosen one yet)."
    )
    scene_id: str | None = None
    operation_name: str | None = None
    media_generation_id: str | None = None
    video_url: str | None = Field(default=None, description="Where the finished video can be fetched.")
    video_sha256: str | None = Field(default=None, description="The sha256 of the copy the relay kept, once stored.")
    video_bytes: int | None = Field(default=None, description="The kept copy's size in bytes.")
    video_stored_at: str | None = Field(default=None, description="When the relay stored its copy.")
    kept_video_url: str | None = Field(
        default=None,
        description=(
            "The relay's stored copy over HTTP, once video_stored_at is set; fetching it needs the relay's client "
            "token (header `Authorization: Bearer TOKEN`). Also readable as the MCP resource veo://videos/{id}."
        ),
    )
    source_generation_id: str | None = Field(default=None, description="For an upscale: the generation upscaled.")
    retry_of: str | None = Field(default=None, description="For a retry: the generation it repeats.")
    batch_id: str | None = None
    error_reason: str | None = Field(default=None, description="Why it failed (`cancelled` when cancelled).")
    error_message: str | None = Field(default=None, description="The failure in a plain sentence.")
    created_at: str
    started_at: str | None = None
    updated_at: str
    completed_at: str | None = None


class Jobs(BaseModel):
    """The generations a command made; with `wait`, their final rows."""

    generation_ids: list[str] = Field(description="The new generations' ids, in prompt order.")
    batch_id: str | None = Field(default=None, description="The batch, for generate_videos.")
    created: bool = Field(
        default=True, description="False when the request was a repeat and the existing job is answered."
    )
    finished: bool = Field(description="True when every job has ended (completed, failed or cancelled).")
    generations: list[Generation] = Field(
        default_factory=list, description="The jobs' rows: final with `wait`, else empty (read them later)."
    )


class GenerationPage(BaseModel):
    """A page of history, newest first."""

    generations: list[Generation]
    next: str | None = Field(description="Pass as `before` for the next (older) page; null on the last page.")


class QueueState(BaseModel):
    """The relay's queue and request budget (more fields may appear)."""

    model_config = ConfigDict(extra="allow")

    queued: int = Field(default=0, description="Jobs waiting for their turn.")
    waiting_token: int = Field(default=0, description="Jobs waiting for a reCAPTCHA token from a provider.")
    submitting: int = 0
    pending: int = Field(default=0, description="Accepted by Flow or the Gemini API, not running yet.")
    processing: int = 0
    in_flight: int = Field(default=0, description="Calls to Flow or the Gemini API under way.")
    requests_last_second: int = 0


def tool_result(text: str, structured: Any) -> CallToolResult:
    """A tool's answer: a short sentence for the model to read, and the structured content its schema describes."""
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def kept_video_url(row: HistoryRow, address: VideoAddress) -> str | None:
    """Where the relay serves its stored copy of the row's video; None until it has stored one."""
    return address(f"/videos/{row.id}") if row.video_stored_at else None


def generation_content(row: HistoryRow, address: VideoAddress) -> dict[str, Any]:
    """One row as the plain JSON values of structured content, with the address of the kept video."""
    content: dict[str, Any] = msgspec.to_builtins(row)
    content["kept_video_url"] = kept_video_url(row, address)
    return content


def rows_content(rows: Sequence[HistoryRow], address: VideoAddress) -> list[dict[str, Any]]:
    """Rows as the plain JSON values of structured content."""
    return [generation_content(row, address) for row in rows]


def row_summary(row: HistoryRow, address: VideoAddress) -> str:
    """One line for one generation: its id, status, and why it failed or where its video is."""
    line = f"{row.id}: {row.status}"
    kept = kept_video_url(row, address)
    if kept:
        line += f", kept by the relay at {kept} (resource {video_uri(row.id)})"
    elif row.status == Status.COMPLETED and row.video_url:
        line += f", video at {row.video_url}"
    elif row.status in (Status.FAILED, Status.CANCELLED) and (row.error_message or row.error_reason):
        line += f" ({row.error_message or row.error_reason})"
    elif row.status in _NOT_FINISHED:
        line += f" ({row.prompt[:60]!r})"
    return line


def jobs_summary(ids: Sequence[str], rows: Sequence[HistoryRow], address: VideoAddress) -> str:
    """What a command made: the ids and, for final rows, how they ended."""
    if not rows:
        noun = "generation" if len(ids) == 1 else "generations"
        return f"Queued {len(ids)} {noun}: {', '.join(ids)}. Follow with get_generation (or call again with wait)."
    counts = Counter(row.status for row in rows)
    head = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    return "\n".join([f"{len(rows)} finished: {head}.", *(row_summary(row, address) for row in rows)])
