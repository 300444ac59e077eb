"""Following jobs to their end for a tool called with `wait`: a progress notification for each step a job takes.

Progress counts steps: a job is worth 0 while pending, 1 while processing and 2 once it has ended, out of 2 per
job. Statuses only move forward, so every status change raises the count and each notification reports more
progress than the one before (as MCP asks of progress notifications).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from mcp.server.mcpserver.exceptions import ToolError

from domain.values import Status
from veo_client.relay_client import KEPT_WAIT_S, RelayClient, RelayUnavailable
from veo_client.results import HistoryRow, is_terminal_status

__all__ = ["Report", "follow_jobs", "steps_of"]

logger = logging.getLogger(__name__)

Report = Callable[[float, float, str], Awaitable[None]]
"""Sends one progress notification: progress, total, message."""

_STEPS_PER_JOB = 2


def steps_of(status: str) -> int:
    """How far a job in `status` has come: 0 pending, 1 processing, 2 ended."""
    if is_terminal_status(status):
        return _STEPS_PER_JOB
    return 1 if status == Status.PROCESSING else 0


async def follow_jobs(client: RelayClient, ids: Sequence[UUID], report: Report) -> list[HistoryRow]:
    """The jobs' final rows, in `ids` order, reporting progress as they move (subscribe before the command).

    A lost connection is a ToolError naming the jobs not seen to end (the relay keeps them).
    """
    total = float(_STEPS_PER_JOB * len(ids))
    rows: dict[str, HistoryRow] = {}
    reported = 0
    await report(0, total, f"{len(ids)} job{'s' if len(ids) != 1 else ''} queued")
    try:
        async for row in client.wait_for_jobs(ids, kept_within=KEPT_WAIT_S):
            rows[row.id] = row
            progress = sum(steps_of(r.status) for r in rows.values())
            if progress > reported:
                reported = progress
                ended = sum(is_terminal_status(r.status) for r in rows.values())
                await report(progress, total, f"{row.id} {row.status}; {ended} of {len(ids)} ended")
    except RelayUnavailable as exc:
        waiting = ", ".join(str(i) for i in ids if str(i) not in rows or not is_terminal_status(rows[str(i)].status))
        raise ToolError(
            f"Lost the relay while waiting ({exc}). The relay keeps the jobs: once it is back (start it with "
            f"`veo serve` if it stopped), read them with get_generation: {waiting}."
        ) from None
    return [rows[str(i)] for i in ids]
