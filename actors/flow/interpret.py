"""Reading Flow's answers: submissions and status checks into SubmitResult and RemoteStatus."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import NamedTuple

import httpx
import msgspec

from actors.flow.errors import UnreadableSubmission, redact
from actors.flow.models import MediaItem, OperationError, OperationItem, OperationsResponse
from actors.flow.values import RemoteStatus, StatusContract, StatusHandle, SubmitResult
from domain.values import CANCELLED_REMOTE_STATUS, FAILED_REMOTE_STATUS, SUCCESSFUL_REMOTE_STATUS

__all__ = [
    "SESSION_COOKIE",
    "remote_statuses",
    "session_cookie_from",
    "submit_result",
]

logger = logging.getLogger(__name__)

SESSION_COOKIE = "__Secure-next-auth.session-token"
_REASON_TOKEN = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")


class _Observed(NamedTuple):
    status: str | None
    error: OperationError | None
    reasons: tuple[str, ...]


class _Outcome(NamedTuple):
    terminal: bool
    successful: bool
    error_code: int | None
    error_reason: str | None
    error_message: str | None


_NOTHING = _Observed(None, None, ())


def _observe_operation(item: OperationItem) -> _Observed:
    error = item.operation.error if item.operation is not None else None
    status = item.status or (FAILED_REMOTE_STATUS if error is not None else None)
    return _Observed(status, error, ())


def _observe_media(item: MediaItem) -> _Observed:
    meta = item.media_metadata
    ms = meta.media_status if meta is not None else None
    if ms is None:
        return _NOTHING
    status = ms.media_generation_status or (FAILED_REMOTE_STATUS if ms.error is not None else None)
    return _Observed(status, ms.error, tuple(ms.failure_reasons or ()))


def _outcome(observed: _Observed) -> _Outcome:
    status, error, reasons = observed
    if status == SUCCESSFUL_REMOTE_STATUS:
        return _Outcome(True, True, None, None, None)
    if status not in (FAILED_REMOTE_STATUS, CANCELLED_REMOTE_STATUS):
        return _Outcome(False, False, None, None, None)
    code = error.code if error is not None else None
    message = (error.message or "").strip() if error is not None else ""
    is_token = bool(_REASON_TOKEN.match(message))
    reason = message if is_token else (reasons[0] if reasons else None)
    if status == CANCELLED_REMOTE_STATUS:
        return _Outcome(True, False, code, reason or "cancelled", "The generation was cancelled on Flow.")
    detail = ", ".join(dict.fromkeys(r for r in (reason, *reasons) if r))
    text = (
        f"Flow reported the generation as failed ({detail})."
        if detail
        else "Flow reported the generation as failed without giving a reason."
    )
    if message and not is_token:
        text += f" Flow said: {redact(message)[:200]}"
    return _Outcome(True, False, code, reason, text)


def submit_result(decoded: OperationsResponse, scene_id: str, what: str) -> SubmitResult:
    """Read an accepted submission; an answer naming no job raises UnreadableSubmission."""
    op = decoded.operations[0] if decoded.operations else None
    media = decoded.media[0] if decoded.media else None
    operation_name = (op.operation.name if op is not None and op.operation is not None else None) or None
    media_name = (media.name if media is not None else None) or None
    by_op = _observe_operation(op) if op is not None else _NOTHING
    observed = by_op if by_op.status else (_observe_media(media) if media is not None else by_op)
    outcome = _outcome(observed)
    media_generation_id = (op.media_generation_id if op is not None else None) or media_name
    if not operation_name and not media_name and not (outcome.terminal and media_generation_id):
        raise UnreadableSubmission(
            f"Flow accepted {what} but its answer names no operation or media; Flow may have started it. "
            "It is not resent: check Flow, then retry explicitly if nothing appeared.",
            http_status=200,
        )
    return SubmitResult(
        operation_name=operation_name,
        media_name=media_name,
        scene_id=(op.scene_id if op is not None else None) or scene_id,
        remote_status=observed.status,
        remaining_credits=decoded.remaining_credits,
        terminal=outcome.terminal,
        successful=outcome.successful,
        media_generation_id=media_generation_id,
        inline_video=bool(op is not None and op.raw_bytes),
        error_code=outcome.error_code,
        error_reason=outcome.error_reason,
        error_message=outcome.error_message,
    )


def remote_statuses(
    decoded: OperationsResponse, handles: Sequence[StatusHandle], contract: StatusContract
) -> list[RemoteStatus]:
    """Match a status answer to the handles asked about, in their order; unanswered ones are absent."""
    by_operation = {h.operation_name: h for h in handles}
    by_media = {h.name_for("media"): h for h in handles}
    by_scene = {h.scene_id: h for h in handles if h.scene_id}
    found: dict[str, RemoteStatus] = {}

    def from_operations() -> None:
        for item in decoded.operations or ():
            name = (item.operation.name if item.operation is not None else None) or ""
            handle = by_operation.get(name) or by_media.get(name) or by_scene.get(item.scene_id or "")
            if handle is None:
                logger.debug("status check answered for an operation nobody asked about")
                continue
            found.setdefault(handle.operation_name, _remote_from_operation(handle, item))

    def from_media() -> None:
        for item in decoded.media or ():
            name = item.name or ""
            handle = by_media.get(name) or by_operation.get(name)
            if handle is None:
                logger.debug("status check answered for a media nobody asked about")
                continue
            found.setdefault(handle.operation_name, _remote_from_media(handle, item))

    for parse in (from_media, from_operations) if contract == "media" else (from_operations, from_media):
        parse()
    ordered: list[RemoteStatus] = []
    credits = decoded.remaining_credits
    for handle in handles:
        status = found.pop(handle.operation_name, None)
        if status is not None:
            ordered.append(status if credits is None else msgspec.structs.replace(status, remaining_credits=credits))
    return ordered


def _remote_from_operation(handle: StatusHandle, item: OperationItem) -> RemoteStatus:
    op = item.operation
    meta = op.metadata if op is not None else None
    video = meta.video if meta is not None else None
    observed = _observe_operation(item)
    outcome = _outcome(observed)
    media_generation_id = (
        item.media_generation_id
        or (video.media_generation_id if video is not None else None)
        or (meta.name if meta is not None else None)
    )
    return RemoteStatus(
        handle=handle,
        scene_id=item.scene_id or handle.scene_id,
        status=observed.status,
        terminal=outcome.terminal,
        successful=outcome.successful,
        media_generation_id=media_generation_id,
        video_url=video.fife_url if video is not None else None,
        error_code=outcome.error_code,
        error_reason=outcome.error_reason,
        error_message=outcome.error_message,
    )


def _remote_from_media(handle: StatusHandle, item: MediaItem) -> RemoteStatus:
    observed = _observe_media(item)
    outcome = _outcome(observed)
    return RemoteStatus(
        handle=handle,
        scene_id=handle.scene_id,
        status=observed.status,
        terminal=outcome.terminal,
        successful=outcome.successful,
        media_generation_id=item.name,
        error_code=outcome.error_code,
        error_reason=outcome.error_reason,
        error_message=outcome.error_message,
    )


def session_cookie_from(response: httpx.Response) -> str | None:
    """The refreshed session cookie a Set-Cookie header carries, if any."""
    for header in response.headers.get_list("set-cookie"):
        pair, _, attributes = header.partition(";")
        name, _, value = pair.partition("=")
        if name.strip() != SESSION_COOKIE:
            continue
        value = value.strip().strip('"')
        if value and "max-age=0" not in attributes.lower().replace(" ", ""):
            return value
    return None
