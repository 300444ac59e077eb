"""`/metrics`: Prometheus text exposition of the relay's health, served from a snapshot kept current off the loop.

Some figures need the store (the projection lag reads its last position; a follower's queue status is the
leader's, read from the database). A scrape must never wait on them: a database blip would stall every websocket
client with it. A background task refreshes the snapshot in a worker thread every second; a scrape formats the
latest snapshot with the loop's own counters, and says how old the snapshot is (a stuck store shows as a growing
`veo_metrics_age_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from server.account_metrics import Family, account_families, labelled

if TYPE_CHECKING:
    from actors.clock import Clock
    from actors.queue_status import QueueStatus
    from server.bootstrap import System

__all__ = ["MetricsSnapshot"]

logger = logging.getLogger(__name__)

REFRESH_INTERVAL = 1.0
"""Seconds between two refreshes of the snapshot (after the previous one ended)."""

Figure = tuple[str, str, str, float]
"""(name, type, help, value) of one metric."""


def _system_figures(system: System, status: QueueStatus | None) -> list[Figure]:
    """The figures that come from the system and its queue status (some read the store: call off the loop)."""

    def num(figure: Callable[[QueueStatus], float]) -> float:
        return figure(status) if status is not None else 0

    lag = max(0, system.app.last_position() - system.projections.position)
    return [
        (
            "veo_flow_requests_last_second",
            "gauge",
            "Requests to Flow, labs and the Gemini API started in the last second.",
            num(lambda s: s.requests_last_second),
        ),
        (
            "veo_flow_budget_rate",
            "gauge",
            "Allowed requests per second (Flow, labs and the Gemini API together).",
            system.commands.budget.rate,
        ),
        (
            "veo_flow_throttled_total",
            "counter",
            "429 answers received from Flow or the Gemini API.",
            num(lambda s: s.throttled),
        ),
        (
            "veo_flow_in_flight",
            "gauge",
            "Requests to Flow, labs and the Gemini API in flight.",
            num(lambda s: s.in_flight),
        ),
        (
            "veo_queue_depth",
            "gauge",
            "Generations waiting to be submitted.",
            num(lambda s: s.queued + s.waiting_token),
        ),
        (
            "veo_running_jobs",
            "gauge",
            "Generations Flow or the Gemini API is working on.",
            num(lambda s: s.pending + s.processing),
        ),
        (
            "veo_detection_latency_seconds",
            "gauge",
            "Mean bound on the time between a job finishing on its service and the relay noticing (last minute).",
            num(lambda s: s.detection_latency),
        ),
        ("veo_poller_restarts_total", "counter", "PollerActor restarts after a crash.", system.commands.restarts),
        ("veo_projection_lag_events", "gauge", "Events recorded but not yet in the read models.", lag),
        (
            "veo_projection_errors_total",
            "counter",
            "Read-model updates that failed (retried with backoff; see the log for why).",
            system.projections.errors,
        ),
        (
            "veo_store_writable",
            "gauge",
            "1 when the last write to the event store succeeded, 0 when the store refused it (full, read-only).",
            0 if system.app.write_error is not None else 1,
        ),
        (
            "veo_store_write_errors_total",
            "counter",
            "Writes the event store refused (see the log for why).",
            system.app.write_errors,
        ),
        (
            "veo_video_store_errors_total",
            "counter",
            "Completed videos that could not be written to the video store (a full disk, a refused database write; "
            "retried later).",
            system.video_store_errors,
        ),
    ]


class MetricsSnapshot:
    """The system's figures, refreshed in a worker thread by a background task; `render` never blocks."""

    def __init__(self, system: System, interval: float = REFRESH_INTERVAL, clock: Clock = time.monotonic) -> None:
        self.system = system
        self.interval = interval
        self.clock = clock
        self._figures: list[Figure] = []
        self._families: list[Family] = []
        self._taken: float | None = None
        self._task: asyncio.Task[None] | None = None

    def refresh(self) -> None:
        """Take a new snapshot (blocking: from a worker thread)."""
        status = self.system.commands.last_status
        figures = _system_figures(self.system, status)
        families = account_families(status.accounts) if status is not None else []
        self._figures, self._families, self._taken = figures, families, self.clock()

    async def start(self) -> None:
        """Take the first snapshot, then keep it current in the background."""
        await asyncio.to_thread(self.refresh)
        self._task = asyncio.create_task(self._keep_current(), name="metrics-snapshot")

    async def stop(self) -> None:
        """Stop refreshing (a refresh stuck in its thread is left to end on its own)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _keep_current(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                logger.exception("refreshing the metrics snapshot failed; serving the previous one")

    def render(self, clients: int, delta_frames: int) -> str:
        """The exposition text: the latest snapshot and the loop's own counters (cheap; touches no database)."""
        age = self.clock() - self._taken if self._taken is not None else 0.0
        figures = [
            *self._figures,
            ("veo_connected_clients", "gauge", "Open websocket connections.", clients),
            ("veo_delta_frames_total", "counter", "Delta pushes to clients.", delta_frames),
            (
                "veo_metrics_age_seconds",
                "gauge",
                "Age of the snapshot the store-dependent figures come from (refreshed every second off the loop).",
                round(age, 3),
            ),
        ]
        out: list[str] = []
        for name, kind, help_text, value in figures:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        for name, kind, help_text, samples in self._families:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            out += [f"{labelled(name, labels)} {value}" for labels, value in samples]
        return "\n".join(out) + "\n"
