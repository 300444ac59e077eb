"""Restore: rebuild the poller's working state from the store after a start or a crash (CONTRACT §1).

- only `Requested` (or a `Deferred` last attempt): back into the submission queue;
- `Submitted` without `Started`: if the call is still in flight (a crash of the actor, not the process)
  its answer will come; otherwise Flow may have it, so it fails as `interrupted_submission`;
- `Started`/`Progressed`: status checks resume, with the deadline counted from the original `Started`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from actors.calls import CallKind
from actors.jobs import Job, Phase
from actors.poller import Poller
from domain.errors import GenerationNotFound
from domain.values import ErrorReason

__all__ = ["RestoreReport", "Unfinished", "restore"]

logger = logging.getLogger(__name__)

INTERRUPTED_MESSAGE = (
    "veo-relay stopped while this submission was on its way to Flow, so Flow may have started (and charged "
    "for) it. It was not sent again. Check Flow's library; if the video is not there, use retry."
)


@dataclass(frozen=True)
class Unfinished:
    """A generation the store holds as not finished: what restore needs of it (the read model supplies these)."""

    generation_id: UUID
    started_at: datetime | None = None


@dataclass(frozen=True)
class RestoreReport:
    """How many jobs went where."""

    queued: int = 0
    running: int = 0
    awaiting_answer: int = 0
    interrupted: int = 0


def restore(poller: Poller, unfinished: Sequence[Unfinished], wall_now: datetime) -> RestoreReport:
    """Take every non-terminal generation back into the poller."""
    answers_due = poller.runner.busy_job_ids(CallKind.SUBMIT)
    counts = {"queued": 0, "running": 0, "awaiting_answer": 0, "interrupted": 0}
    now = poller.clock()
    for item in unfinished:
        generation_id = item.generation_id
        if generation_id in poller.jobs:
            continue
        try:
            generation = poller.app.get_generation(generation_id)
        except GenerationNotFound:
            logger.error("generation %s has no events; skipped", generation_id)
            continue
        if generation.is_terminal:
            continue
        poller.sequence += 1
        job = Job.from_generation(generation, poller.sequence)
        poller.remember_batch(generation)
        poller.jobs[generation_id] = job
        if job.profile_id not in poller.profiles:
            poller.finish_failed(job, ErrorReason.INVALID_REQUEST, f"Unknown profile {job.profile_id!r}.")
            continue
        if generation.is_started:
            started = item.started_at or wall_now
            started_at = now - max(0.0, (wall_now - started).total_seconds())
            poller.track_running(job, started_at, started_at + poller.settings.deadline_s)
            counts["running"] += 1
        elif generation.submission_open:
            if generation_id in answers_due:
                job.phase = Phase.SUBMITTING
                counts["awaiting_answer"] += 1
            else:
                poller.finish_failed(job, ErrorReason.INTERRUPTED_SUBMISSION, INTERRUPTED_MESSAGE)
                counts["interrupted"] += 1
        else:
            poller.put_in_queue(job)
            counts["queued"] += 1
    report = RestoreReport(**counts)
    logger.info("restored %s", report)
    return report
