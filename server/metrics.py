"""`/metrics`: Prometheus text exposition of the relay's health."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from actors.queue_status import QueueStatus
    from server.bootstrap import System

__all__ = ["render_metrics"]


def render_metrics(system: System, clients: int, delta_frames: int) -> str:
    """The current figures (from cheap snapshots: never blocks on the PollerActor)."""
    status = system.commands.last_status

    def num(figure: Callable[[QueueStatus], float]) -> float:
        return figure(status) if status is not None else 0

    lag = max(0, system.app.last_position() - system.projections.position)
    lines = [
        (
            "veo_flow_requests_last_second",
            "gauge",
            "Flow and labs requests started in the last second.",
            num(lambda s: s.requests_last_second),
        ),
        ("veo_flow_budget_rate", "gauge", "Allowed Flow requests per second.", system.commands.budget.rate),
        ("veo_flow_throttled_total", "counter", "429 answers received from Flow.", num(lambda s: s.throttled)),
        ("veo_flow_in_flight", "gauge", "Flow requests in flight.", num(lambda s: s.in_flight)),
        (
            "veo_queue_depth",
            "gauge",
            "Generations waiting to be submitted.",
            num(lambda s: s.queued + s.waiting_token),
        ),
        (
            "veo_running_jobs",
            "gauge",
            "Generations Flow is working on.",
            num(lambda s: s.pending + s.processing),
        ),
        (
            "veo_detection_latency_seconds",
            "gauge",
            "Mean bound on the time between a job finishing on Flow and the relay noticing (last minute).",
            num(lambda s: s.detection_latency),
        ),
        ("veo_poller_restarts_total", "counter", "PollerActor restarts after a crash.", system.commands.restarts),
        ("veo_connected_clients", "gauge", "Open websocket connections.", clients),
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
            "Completed videos that could not be written to the data directory (a full disk; retried later).",
            system.video_store_errors,
        ),
        ("veo_delta_frames_total", "counter", "Delta pushes to clients.", delta_frames),
    ]
    out: list[str] = []
    for name, kind, help_text, value in lines:
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\n".join(out) + "\n"
