"""The domain's value vocabularies: statuses, job types, priorities, reasons, and their limits."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "ACTIVE_REMOTE_STATUS",
    "CANCELLED_MESSAGE",
    "CANCELLED_REMOTE_STATUS",
    "DEFAULT_MODEL",
    "FAILED_REMOTE_STATUS",
    "MAX_PROMPT_CHARS",
    "MAX_REQUEST_KEY_CHARS",
    "MAX_SEED",
    "PRIORITY_RANK",
    "SUCCESSFUL_REMOTE_STATUS",
    "TERMINAL_STATUSES",
    "AspectRatio",
    "Channel",
    "ErrorReason",
    "JobType",
    "Priority",
    "Resolution",
    "Status",
    "status_after_failure",
]


class Status(StrEnum):
    """A generation's status as clients see it (the seed's four values, and `cancelled`)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Ended at the user's request (or on Flow): terminal, neither success nor failure."""


TERMINAL_STATUSES: Final = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})

# Flow's own status words (`remote_status`), one constant each.
ACTIVE_REMOTE_STATUS: Final = "MEDIA_GENERATION_STATUS_ACTIVE"
SUCCESSFUL_REMOTE_STATUS: Final = "MEDIA_GENERATION_STATUS_SUCCESSFUL"
FAILED_REMOTE_STATUS: Final = "MEDIA_GENERATION_STATUS_FAILED"
CANCELLED_REMOTE_STATUS: Final = "MEDIA_GENERATION_STATUS_CANCELLED"


class JobType(StrEnum):
    """What a generation asks of Flow."""

    GENERATION = "generation"
    UPSCALE = "upscale"


class Priority(StrEnum):
    """How urgently a job's submission and status checks are served."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK: Final = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class AspectRatio(StrEnum):
    """The video's shape."""

    LANDSCAPE = "landscape"
    PORTRAIT = "portrait"
    SQUARE = "square"


class Resolution(StrEnum):
    """An upscale's target resolution."""

    P1080 = "1080p"
    K4 = "4k"


CANCELLED_MESSAGE = "Cancelled at the user's request."
"""The error message of a generation cancelled by its user (reason `cancelled`)."""


class ErrorReason(StrEnum):
    """The contract's own failure reasons (Flow's reason strings are kept verbatim besides these)."""

    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    INTERRUPTED_SUBMISSION = "interrupted_submission"
    QUOTA_EXHAUSTED = "quota_exhausted"
    CAPTCHA_REJECTED = "captcha_rejected"
    INVALID_REQUEST = "invalid_request"
    OPERATION_LOST = "operation_lost"
    SAFETY_FILTERED = "safety_filtered"
    """The Gemini API filtered every video it made (raiMediaFilteredCount); its reasons are in the message."""
    KEY_REFUSED = "key_refused"
    """The Gemini API refused the profile's key (invalid, or no permission) and its `on_quota` is `fail`."""
    GENERATION_FAILED = "generation_failed"
    """The Gemini API reported the operation failed for a reason other than the request (its code in the message)."""


class VideoStoreFailure(StrEnum):
    """Why the relay gave up keeping a completed generation's video (`VideoStoreFailed`; the job stays completed)."""

    EXPIRED = "video_expired"
    """The video URL answered 403, 404 or 410 on every attempt (Flow's signed URLs expire within hours)."""
    DOWNLOAD_FAILED = "download_failed"
    """Another HTTP error or a network error on every attempt."""
    NOT_A_VIDEO = "not_a_video"
    """The URL answered with an empty body or a content type that is not video/*."""


def status_after_failure(error_reason: str) -> Status:
    """The status a `Failed` event leaves: `cancelled` for a cancellation, else `failed` (CONTRACT §1)."""
    return Status.CANCELLED if error_reason == ErrorReason.CANCELLED else Status.FAILED


DEFAULT_MODEL: Final = "veo_3_1_t2v_fast"
MAX_PROMPT_CHARS: Final = 10_000
MAX_REQUEST_KEY_CHARS: Final = 200
MAX_SEED: Final = 2**31 - 1


class Channel(StrEnum):
    """A live channel of row changes (CONTRACT §3): each row change is one delta on one of these."""

    GENERATION_STATUS = "generation:status"
    UPSCALE_STATUS = "upscale:status"
    BATCH_PROGRESS = "batch:progress"
