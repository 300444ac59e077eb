"""`queue_status` as a snapshot the PollerActor publishes after each message, answered without asking it.

What only the actor's work changes (job counts, calls in flight, errors, providers) is copied as it is; what
changes with time alone (calls started in the last second, the detection latency over the last minute, the
seconds left of each profile pause) keeps the instants it is computed from and is computed when read. So
`at(now)` answers exactly what the actor would answer if asked at `now` with no message waiting for it,
and reading it costs neither a message in the actor's inbox nor a thread hand-off.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DETECTION_WINDOW_S", "Pause", "QueueSnapshot"]

DETECTION_WINDOW_S = 60.0
"""`detection_latency` is the mean over this many seconds."""


@dataclass(frozen=True, slots=True)
class Pause:
    """A profile whose submissions wait until `until` (a clock instant)."""

    profile_id: str
    until: float
    reason: str | None


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The poller's queue status as of its last message (CONTRACT §4 `queue_status`)."""

    queued: int
    waiting_token: int
    submitting: int
    pending: int
    processing: int
    in_flight: int
    starts: tuple[float, ...]
    """Instants of the calls started within the last second or so (the budget's window)."""
    budget: dict[str, object]
    providers: int
    throttled: int
    errors: dict[str, int]
    detections: tuple[tuple[float, float], ...]
    """(instant, latency bound) of the detections within the last `DETECTION_WINDOW_S` seconds."""
    pauses: tuple[Pause, ...]
    """Profile pauses that had not ended when the snapshot was taken."""

    def at(self, now: float) -> dict[str, object]:
        """The `queue_status` data at instant `now` (not before the snapshot was taken)."""
        recent = [bound for at, bound in self.detections if at >= now - DETECTION_WINDOW_S]
        return {
            "queued": self.queued,
            "waiting_token": self.waiting_token,
            "submitting": self.submitting,
            "pending": self.pending,
            "processing": self.processing,
            "in_flight": self.in_flight,
            "requests_last_second": sum(1 for start in self.starts if start + 1.0 > now),
            "budget": dict(self.budget),
            "providers": self.providers,
            "throttled": self.throttled,
            "errors": dict(self.errors),
            "detection_latency": round(sum(recent) / len(recent) / 2, 3) if recent else 0.0,
            "paused_profiles": [
                {"profile_id": pause.profile_id, "seconds_left": round(pause.until - now, 1), "reason": pause.reason}
                for pause in self.pauses
                if now < pause.until
            ],
        }
