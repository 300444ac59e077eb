"""The relay's commands and reads as MCP tools: typed arguments, a structured result and a one-line summary each.

Every tool is one request (or a command and a wait) over the websocket protocol (docs/PROTOCOL.md); the relay
stays the one owner of all calls to Flow. A tool's docstring is the description the model reads.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from domain.values import MAX_PROMPT_CHARS, MAX_SEED, AspectRatio, Channel, Resolution, Status
from veo_client.queue_view import queue_text
from veo_client.relay_client import AUTO_ID
from veo_client.results import BatchCreated, Created, HistoryPage, HistoryRow, Retried
from veo_client.words import cancel_text
from veo_mcp.follow import Report, follow_jobs
from veo_mcp.link import RelayLink
from veo_mcp.results import (
    Generation,
    GenerationPage,
    Jobs,
    QueueState,
    VideoAddress,
    generation_content,
    jobs_summary,
    row_summary,
    rows_content,
    tool_result,
)
from veo_mcp.videos import register_videos
from veo_protocol import (
    BatchGenerate,
    Cancel,
    Generate,
    GetHistory,
    GetStatus,
    QueueStatus,
    Request,
    Retry,
    Upscale,
)
from veo_protocol.requests import MAX_BATCH_PROMPTS, MAX_HISTORY_LIMIT

__all__ = ["RelayTools", "build_server"]

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Tools of veo-relay, a local service that makes Veo 3 videos on Google Flow or the Gemini API under a strict "
    "request budget. "
    "A video takes one to a few minutes: call generate_video or generate_videos with wait=true to be told as jobs "
    "move and get their final rows, or without wait and read them later with get_generation. Ids are UUIDs. "
    "A finished video the relay kept (video_stored_at set) is the resource veo://videos/{id}."
)

Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="What the video shows.")]
Shape = Annotated[AspectRatio | None, Field(description="The video's shape (default landscape).")]
ModelKey = Annotated[str | None, Field(description="A Flow model key such as veo_3_1_t2v_fast (default: the relay's).")]
Seed = Annotated[int | None, Field(ge=0, le=MAX_SEED, description="Seed for a repeatable result (default random).")]
Profile = Annotated[str | None, Field(description="The account profile to use (default: the relay's account pool).")]
Wait = Annotated[
    bool, Field(description="Wait until the jobs end, with progress notifications, and answer their final rows.")
]
GenerationId = Annotated[UUID, Field(description="A generation id from an earlier result.")]

_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_COMMAND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


class RelayTools:
    """The tools, each a method; `register` adds them to an MCP server."""

    def __init__(self, link: RelayLink) -> None:
        self._link = link

    def register(self, server: MCPServer[Any]) -> None:
        """Add every tool to `server`."""
        for command in (self.generate_video, self.generate_videos, self.retry_generation, self.upscale_video):
            server.add_tool(command, annotations=_COMMAND)
        server.add_tool(
            self.cancel_generation,
            annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True, open_world_hint=True),
        )
        for read in (self.get_generation, self.list_generations, self.queue_status):
            server.add_tool(read, annotations=_READ_ONLY)

    async def generate_video(
        self,
        prompt: Prompt,
        ctx: Context[Any, Any],
        aspect_ratio: Shape = None,
        model: ModelKey = None,
        seed: Seed = None,
        profile_id: Profile = None,
        wait: Wait = False,
    ) -> Annotated[CallToolResult, Jobs]:
        """Generate one video from a text prompt (Veo 3 on Flow or the Gemini API, through the relay's queue, budget).

        Answers the new generation's id at once; with wait=true, progress notifications while it renders and its
        final row (status completed with a video_url, or failed/cancelled with the reason).
        """
        request = Generate(
            id=AUTO_ID,
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            model=model,
            seed=seed,
            profile_id=profile_id,
        )
        return await self._make_one(request, Channel.GENERATION_STATUS, ctx, wait)

    async def generate_videos(
        self,
        prompts: Annotated[
            list[Prompt],
            Field(min_length=1, max_length=MAX_BATCH_PROMPTS, description="One prompt per video, in order."),
        ],
        ctx: Context[Any, Any],
        aspect_ratio: Shape = None,
        model: ModelKey = None,
        seed: Seed = None,
        profile_id: Profile = None,
        wait: Wait = False,
    ) -> Annotated[CallToolResult, Jobs]:
        """Generate several videos as one batch, one per prompt, with the same options for all.

        Answers the batch id and the generations' ids (in prompt order); with wait=true, progress notifications
        as the jobs move and every job's final row.
        """
        request = BatchGenerate(
            id=AUTO_ID,
            prompts=prompts,
            aspect_ratio=aspect_ratio,
            model=model,
            seed=seed,
            profile_id=profile_id,
        )
        async with self._link.client() as client:
            if wait:
                await client.subscribe([Channel.GENERATION_STATUS])
            made = await client.fetch(request, BatchCreated)
            ids = [str(i) for i in made.generation_ids]
            rows = await follow_jobs(client, made.generation_ids, _reporter(ctx)) if wait else []
        return _jobs(ids, rows, client.http_url, batch_id=str(made.batch_id))

    async def get_generation(self, id: GenerationId) -> Annotated[CallToolResult, Generation]:
        """Read one generation's current row: status, prompt, options, video_url once completed, error if failed."""
        return await self._row(GetStatus(id=AUTO_ID, generation_id=id))

    async def list_generations(
        self,
        limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_LIMIT, description="Rows per page.")] = 20,
        before: Annotated[str | None, Field(description="The `next` of the previous page, for older rows.")] = None,
        status: Annotated[Status | None, Field(description="Only generations with this status.")] = None,
    ) -> Annotated[CallToolResult, GenerationPage]:
        """List recent generations, newest first, optionally only those with one status (e.g. completed)."""
        async with self._link.client() as client:
            page = await client.fetch(GetHistory(id=AUTO_ID, limit=limit, before=before, status=status), HistoryPage)
        rows = [row for group in page.groups for row in group.items]
        lines = [
            f"{len(rows)} generation{'s' if len(rows) != 1 else ''}"
            + (", more with before=next." if page.next else ".")
        ]
        return tool_result(
            "\n".join([*lines, *(row_summary(row, client.http_url) for row in rows)]),
            {"generations": rows_content(rows, client.http_url), "next": page.next},
        )

    async def cancel_generation(self, id: GenerationId) -> Annotated[CallToolResult, Generation]:
        """Cancel a generation that has not ended; answers its row (status cancelled). Ended ones cannot be.

        A cancel that meets the job while its submission is on its way answers the row still pending: the relay
        cancels it when the submission's answer arrives (read it again with get_generation).
        """
        async with self._link.client() as client:
            row = await client.fetch(Cancel(id=AUTO_ID, generation_id=id), HistoryRow)
        note = cancel_text(row)
        text = row_summary(row, client.http_url) + (f"; {note} (get_generation shows when)" if note else "")
        return tool_result(text, generation_content(row, client.http_url))

    async def retry_generation(
        self,
        id: GenerationId,
        ctx: Context[Any, Any],
        wait: Wait = False,
    ) -> Annotated[CallToolResult, Jobs]:
        """Make a new generation with the parameters of a failed or cancelled one; answers the new id."""
        async with self._link.client() as client:
            if wait:
                await client.subscribe([Channel.GENERATION_STATUS])
            made = await client.fetch(Retry(id=AUTO_ID, generation_id=id), Retried)
            rows = await follow_jobs(client, [made.generation_id], _reporter(ctx)) if wait else []
        return _jobs([str(made.generation_id)], rows, client.http_url)

    async def upscale_video(
        self,
        id: GenerationId,
        ctx: Context[Any, Any],
        resolution: Annotated[Resolution | None, Field(description="1080p (default) or 4k.")] = None,
        wait: Wait = False,
    ) -> Annotated[CallToolResult, Jobs]:
        """Upscale a completed generation's video; answers the upscale's own generation id (job_type upscale)."""
        request = Upscale(id=AUTO_ID, generation_id=id, resolution=resolution)
        return await self._make_one(request, Channel.UPSCALE_STATUS, ctx, wait)

    async def queue_status(self) -> Annotated[CallToolResult, QueueState]:
        """The relay's queue (jobs waiting, submitting, running), its request budget and paused accounts."""
        async with self._link.client() as client:
            state: Any = await client.request(QueueStatus(id=AUTO_ID))
        return tool_result(queue_text(state, datetime.now(UTC)), state)

    async def _make_one(self, request: Request, channel: Channel, ctx: Context[Any, Any], wait: bool) -> CallToolResult:
        async with self._link.client() as client:
            if wait:
                await client.subscribe([channel])
            made = await client.fetch(request, Created)
            rows = await follow_jobs(client, [made.generation_id], _reporter(ctx)) if wait else []
        return _jobs([str(made.generation_id)], rows, client.http_url, created=made.created)

    async def _row(self, request: Request) -> CallToolResult:
        async with self._link.client() as client:
            row = await client.fetch(request, HistoryRow)
        return tool_result(row_summary(row, client.http_url), generation_content(row, client.http_url))


def _jobs(
    ids: list[str],
    rows: list[HistoryRow],
    address: VideoAddress,
    *,
    batch_id: str | None = None,
    created: bool = True,
) -> CallToolResult:
    structured = {
        "generation_ids": ids,
        "batch_id": batch_id,
        "created": created,
        "finished": bool(rows),
        "generations": rows_content(rows, address),
    }
    return tool_result(jobs_summary(ids, rows, address), structured)


def _reporter(ctx: Context[Any, Any]) -> Report:
    """Progress reports as MCP progress notifications to the caller (when it asked for them)."""

    async def report(progress: float, total: float, message: str) -> None:
        await ctx.report_progress(progress, total, message)

    return report


def build_server(link: RelayLink) -> MCPServer[Any]:
    """The `veo mcp` server: the relay's tools and its kept videos (resources) over `link`."""
    server: MCPServer[Any] = MCPServer("veo-relay", instructions=INSTRUCTIONS)
    RelayTools(link).register(server)
    register_videos(server, link)
    return server
