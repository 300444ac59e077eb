"""The lost-operation rule: a running job whose operation Flow no longer knows fails instead of waiting.

Flow says it does not know an operation in two ways (flow-api.md): a 404 NOT_FOUND answer to a call
naming it, or by leaving it out of its status answers ("missing item in response"). A missing item alone
proves little (Flow may answer partially), so a job counts as absent only from answers that reported other
jobs, and is lost once it has been absent for `PollerSettings.lost_after_s`.
"""

from __future__ import annotations

import logging

from actors.jobs import Job

__all__ = ["LOST_MESSAGE", "NOT_FOUND_DETAIL", "absent_too_long", "lost_message", "missing_detail"]

logger = logging.getLogger(__name__)

LOST_MESSAGE = (
    "{service} no longer knows this generation's operation ({detail}), so it will never finish. "
    "Nothing more will be charged for it; `veo retry {generation_id}` makes a new one."
)
NOT_FOUND_DETAIL = "it answered a status check with 404, not found"


def absent_too_long(job: Job, now: float, lost_after_s: float) -> bool:
    """An answer reporting other jobs left this one out: whether it has now been missing for `lost_after_s`.

    The first such answer starts the count; an answer that reports the job resets it (`job.absent_since`).
    """
    if job.absent_since is None:
        job.absent_since = now
        return False
    return now - job.absent_since >= lost_after_s


def missing_detail(lost_after_s: float) -> str:
    """How the absence rule found the operation lost, for the job's error message."""
    span = f"{lost_after_s:g} seconds" if lost_after_s < 120 else f"{lost_after_s / 60:g} minutes"
    return f"it was missing from the status answers for {span}"


def lost_message(job: Job, detail: str, service: str) -> str:
    """The `error_message` of a lost job, naming the `service` it ran on (`backends.service_name`)."""
    logger.warning("generation %s: %s lost operation %s (%s)", job.generation_id, service, job.operation_name, detail)
    return LOST_MESSAGE.format(service=service, detail=detail, generation_id=job.generation_id)
