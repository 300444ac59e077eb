"""The JSON shapes Flow answers with (flow-api.md §1.2-1.4), built from simulated operations."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from veo_simulator.state import Operation, Status

__all__ = [
    "MEDIA_TYPE",
    "failure_reasons",
    "generate_response",
    "iso",
    "legacy_status_entry",
    "media_path",
    "media_status_entry",
]

logger = logging.getLogger(__name__)

MEDIA_TYPE = "type.googleapis.com/google.internal.labs.aisandbox.v1.Media"
_URL_LIFETIME_S = 6 * 3600
_FAILURE_CODE = 3  # google.rpc.Code INVALID_ARGUMENT, as Flow reports content-policy failures
_CANCELLED_CODE = 1


def iso(instant: float) -> str:
    """Epoch seconds as Google's RFC 3339 UTC text with microseconds."""
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def media_path(media_name: str) -> str:
    """Path of the simulated video file on this server."""
    return f"/_sim/media/{media_name}.mp4"


def failure_reasons(reason: str) -> list[str]:
    """``failureReasons`` for a Flow error reason (``PUBLIC_ERROR_X`` -> ``X``)."""
    return [reason.removeprefix("PUBLIC_ERROR_")]


def _error(operation: Operation, status: Status) -> dict[str, Any] | None:
    if status is Status.CANCELLED:
        return {"code": _CANCELLED_CODE, "message": "PUBLIC_ERROR_MEDIA_GENERATION_CANCELED"}
    if status is Status.FAILED and operation.failure_reason:
        return {"code": _FAILURE_CODE, "message": operation.failure_reason}
    return None


def generate_response(operations: list[Operation], statuses: list[Status], credits: int) -> dict[str, Any]:
    """The 2026 generate/upscale answer: ``operations[]``, ``workflows[]``, ``media[]``, ``remainingCredits``."""
    return {
        "operations": [
            {"operation": {"name": op.name}, "sceneId": op.scene_id, "status": status.value}
            for op, status in zip(operations, statuses, strict=True)
        ],
        "remainingCredits": credits,
        "workflows": [
            {
                "name": op.workflow_id,
                "metadata": {"createTime": iso(op.created_at), "primaryMediaId": op.name, "batchId": op.batch_id},
            }
            for op in operations
        ],
        "media": [
            {
                "name": op.media_name,
                "projectId": op.project_id,
                "workflowId": op.workflow_id,
                "mediaMetadata": {"mediaStatus": {"mediaGenerationStatus": status.value}},
            }
            for op, status in zip(operations, statuses, strict=True)
        ],
    }


def legacy_status_entry(operation: Operation, status: Status, base_url: str) -> dict[str, Any]:
    """One ``operations[]`` entry of a legacy status answer; a successful one carries ``fifeUrl``."""
    inner: dict[str, Any] = {"name": operation.name}
    entry: dict[str, Any] = {"operation": inner, "sceneId": operation.scene_id, "status": status.value}
    error = _error(operation, status)
    if error is not None:
        inner["error"] = error
    if status is Status.SUCCESSFUL:
        expires = int(operation.complete_at) + _URL_LIFETIME_S
        signature = f"?GoogleAccessId=simulator&Expires={expires}&Signature=sim"
        inner["metadata"] = {
            "@type": MEDIA_TYPE,
            "name": operation.media_generation_id,
            "video": {
                "seed": operation.seed,
                "mediaGenerationId": operation.media_generation_id,
                "prompt": operation.prompt,
                "fifeUrl": base_url + media_path(operation.media_name) + signature,
                "mediaVisibility": "PRIVATE",
                "servingBaseUri": base_url + f"/_sim/media/{operation.media_name}.jpg" + signature,
                "model": operation.model,
                "isLooped": False,
                "aspectRatio": operation.aspect_ratio,
            },
        }
        entry["mediaGenerationId"] = operation.media_generation_id
    return entry


def media_status_entry(operation: Operation, status: Status) -> dict[str, Any]:
    """One ``media[]`` entry of a 2026 status answer (never a URL)."""
    media_status: dict[str, Any] = {"mediaGenerationStatus": status.value}
    error = _error(operation, status)
    if error is not None:
        media_status["error"] = error
        media_status["failureReasons"] = failure_reasons(str(error["message"]))
    filtered = status is Status.FAILED
    return {
        "name": operation.media_name,
        "projectId": operation.project_id,
        "workflowId": operation.workflow_id,
        "mediaMetadata": {
            "createTime": iso(operation.created_at),
            "mediaTitle": operation.prompt[:60],
            "mediaStatus": media_status,
            "visibility": "FILTERED" if filtered else "PRIVATE",
        },
        "video": {
            "generatedVideo": {
                "seed": operation.seed,
                "prompt": operation.prompt,
                "model": operation.model,
                "aspectRatio": operation.aspect_ratio,
            },
            "dimensions": {"length": "8s"},
        },
    }
