"""Reading the Gemini API's operations into the values the poller already knows (SubmitResult, RemoteStatus).

A Gemini operation has no status words of its own, only `done`: the relay reports a running one as Flow's
ACTIVE (so its row reads `processing`), a finished one as SUCCESSFUL or FAILED.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from actors.flow.values import RemoteStatus, StatusHandle, SubmitResult
from actors.gemini.errors import MalformedResponse, UnreadableSubmission, redact
from actors.gemini.models import Operation, OperationError
from domain.values import ACTIVE_REMOTE_STATUS, FAILED_REMOTE_STATUS, SUCCESSFUL_REMOTE_STATUS, ErrorReason

__all__ = ["INVALID_CODES", "remote_status", "submit_result", "without_key"]

logger = logging.getLogger(__name__)

INVALID_CODES = frozenset({3, 9, 11, 400})
"""Operation error codes that mean the request itself was wrong (INVALID_ARGUMENT, FAILED_PRECONDITION,
OUT_OF_RANGE, or an HTTP 400): the job fails `invalid_request`; any other code fails `generation_failed`."""
_MAX_MESSAGE = 300


def submit_result(operation: Operation, what: str) -> SubmitResult:
    """An accepted `predictLongRunning`: its operation name (UnreadableSubmission when it names none)."""
    if not operation.name:
        raise UnreadableSubmission(
            f"The Gemini API accepted {what} but its answer names no operation; it may have started it. It is "
            "not resent: look for it in the API's usage, then retry the generation explicitly if nothing appeared.",
            http_status=200,
        )
    return SubmitResult(operation_name=operation.name)


def remote_status(operation: Operation, handle: StatusHandle, secrets: tuple[str, ...] = ()) -> RemoteStatus:
    """One operation's state: running, completed with its video's uri, or failed with a documented reason."""
    name = operation.name or handle.operation_name
    if name != handle.operation_name:
        raise MalformedResponse(f"The Gemini API answered a status check of one operation about another ({name}).")
    if not operation.done:
        return RemoteStatus(handle=handle, status=ACTIVE_REMOTE_STATUS)
    if operation.error is not None:
        return _failed(handle, *_operation_error(operation.error, secrets))
    video = operation.response.generate_video_response if operation.response is not None else None
    samples = (video.generated_samples or []) if video is not None else []
    uris = [s.video.uri for s in samples if s.video is not None and s.video.uri]
    if uris:
        return RemoteStatus(
            handle=handle,
            status=SUCCESSFUL_REMOTE_STATUS,
            terminal=True,
            successful=True,
            media_generation_id=name,
            video_url=without_key(uris[0]),
        )
    filtered = (video.rai_media_filtered_count or 0) if video is not None else 0
    if filtered > 0:
        reasons = "; ".join(redact(r, secrets) for r in (video.rai_media_filtered_reasons or []) if r) if video else ""
        said = f": {reasons[:_MAX_MESSAGE]}" if reasons else " (it gave no reason)"
        message = f"The Gemini API's safety filters removed the video{said}"
        return _failed(handle, None, ErrorReason.SAFETY_FILTERED, message)
    return _failed(
        handle, None, ErrorReason.GENERATION_FAILED, "The Gemini API finished the generation without a video."
    )


def without_key(uri: str) -> str:
    """The uri without any `key` query parameter (the API's uris carry none; a key must never be stored)."""
    parts = urlsplit(uri)
    if "key=" not in parts.query.lower():
        return uri
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "key"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _operation_error(error: OperationError, secrets: tuple[str, ...]) -> tuple[int | None, str, str]:
    """(code, reason, message) of a finished operation's error."""
    code = error.code
    reason = ErrorReason.INVALID_REQUEST if code in INVALID_CODES else ErrorReason.GENERATION_FAILED
    label = " ".join(str(x) for x in (code, error.status) if x is not None)
    message = f"The Gemini API reported the generation as failed ({label or 'no code'})."
    text = redact((error.message or "").strip(), secrets)[:_MAX_MESSAGE]
    if text:
        message += f" It said: {text}"
    return code, reason, message


def _failed(handle: StatusHandle, code: int | None, reason: str, message: str) -> RemoteStatus:
    return RemoteStatus(
        handle=handle,
        status=FAILED_REMOTE_STATUS,
        terminal=True,
        error_code=code,
        error_reason=reason,
        error_message=message,
    )
