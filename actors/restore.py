"""Restore: rebuild the poller's working state from the store after a start or a crash (CONTRACT §1).

- only `Requested` (or a `Deferred` last attempt): back into the submission queue;
- `Submitted` without `Started`: if the call is still in flight (a crash of the actor, not the process)
  its answer will come; otherwise the backend may have it, so it fails as `interrupted_submission`;
- `Started`/`Progressed`: status checks resume, with the deadline counted from the original `Started`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from actors.poller_settings import PollerSettings
from actors.worklist import Worklist
from domain.application import VeoRelay
from domain.errors import GenerationNotFound
from domain.values import ErrorReason

__all__ = ["INTERRUPTED_GEMINI_MESSAGE", "INTERRUPTED_MESSAGE", "RestoreReport", "Unfinished", "restore"]

logger = logging.getLogger(__name__)

INTERRUPTED_MESSAGE = (
    "veo-relay stopped while this submission was on its way to Flow, so Flow may have started (and charged "
    "for) it. It was not sent again. Check Flow's library; if the video is not there, use retry."
)
INTERRUPTED_GEMINI_MESSAGE = (
    "veo-relay stopped while this submission was on its way to the Gemini API, so the API may have started (and "
    "billed for) it. It was not sent again. Check the key's usage; if the video was not made, use retry."
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


def restore(
    app: VeoRelay,
    work: Worklist,
    unfinished: Sequence[Unfinished],
    answers_due: Collection[UUID],
    now: float,
    wall_now: datetime,
    settings: PollerSettings,
    gemini_accounts: Collection[str],
) -> RestoreReport:
    """Take every non-terminal generation back into the worklist; `answers_due` are the jobs whose submission
    call is still in flight or unhandled, `now` and `wall_now` the same instant on the clock and the wall, and
    `gemini_accounts` the profiles on the Gemini API (an interrupted submission's message names its service)."""
    counts = {"queued": 0, "running": 0, "awaiting_answer": 0, "interrupted": 0}
    for item in unfinished:
        generation_id = item.generation_id
        if work.holds(generation_id):
            continue
        try:
            generation = app.get_generation(generation_id)
        except GenerationNotFound:
            logger.error("generation %s has no events; skipped", generation_id)
            continue
        job = work.take_in(generation)
        if job is None:
            continue
        if generation.is_started:
            started = item.started_at or wall_now
            started_at = now - max(0.0, (wall_now - started).total_seconds())
            work.track_running(job, started_at, started_at + settings.deadline_s)
            counts["running"] += 1
        elif generation.submission_open:
            if generation_id in answers_due:
                work.await_answer(job)
                counts["awaiting_answer"] += 1
            else:
                gemini = job.account in gemini_accounts
                message = INTERRUPTED_GEMINI_MESSAGE if gemini else INTERRUPTED_MESSAGE
                work.finish_failed(job, ErrorReason.INTERRUPTED_SUBMISSION, message)
                counts["interrupted"] += 1
        else:
            work.put_in_queue(job)
            counts["queued"] += 1
    report = RestoreReport(**counts)
    logger.info("restored %s", report)
    return report
