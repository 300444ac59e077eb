"""Request bodies and paths for talking to the simulator the way a Flow client would."""

from __future__ import annotations

import uuid
from typing import Any

__all__ = [
    "CANCEL",
    "COOKIE",
    "CREDITS",
    "GENERATE",
    "PROJECT",
    "REDIRECT",
    "SESSION",
    "STATUS",
    "UPSCALE",
    "generate_body",
    "legacy_status_body",
    "media_status_body",
    "reason_of",
    "upscale_body",
]

GENERATE = "/v1/video:batchAsyncGenerateVideoText"
UPSCALE = "/v1/video:batchAsyncGenerateVideoUpsampleVideo"
STATUS = "/v1/video:batchCheckAsyncVideoGenerationStatus"
CREDITS = "/v1/credits"
CANCEL = "/v1/flowMedia:cancelGeneration"
SESSION = "/fx/api/auth/session"
REDIRECT = "/fx/api/trpc/media.getMediaUrlRedirect"
COOKIE = "__Secure-next-auth.session-token"
PROJECT = "9fa0c772-a01f-429f-94b5-4c3d65c5838a"


def _context(captcha: str | None, legacy_captcha: bool) -> dict[str, Any]:
    context: dict[str, Any] = {
        "sessionId": ";1761745563370",
        "projectId": PROJECT,
        "tool": "PINHOLE",
        "userPaygateTier": "PAYGATE_TIER_TWO",
    }
    if captcha is not None and legacy_captcha:
        context["recaptchaToken"] = captcha
    elif captcha is not None:
        context["recaptchaContext"] = {"token": captcha, "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"}
    return context


def generate_body(
    prompt: str = "a cat on a skateboard",
    scene_id: str | None = None,
    *,
    captcha: str | None = None,
    legacy_captcha: bool = False,
    count: int = 1,
    model: str = "veo_3_1_t2v_fast",
) -> dict[str, Any]:
    """A 2026 text-to-video body with ``count`` entries of ``model``."""
    return {
        "mediaGenerationContext": {"batchId": str(uuid.uuid4()), "audioFailurePreference": "BLOCK_SILENCED_VIDEOS"},
        "clientContext": _context(captcha, legacy_captcha),
        "requests": [
            {
                "aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE",
                "seed": 17071 + i,
                "textInput": {"prompt": prompt},
                "videoModelKey": model,
                "metadata": {"sceneId": scene_id if scene_id and count == 1 else str(uuid.uuid4())},
            }
            for i in range(count)
        ],
        "useV2ModelConfig": True,
    }


def upscale_body(
    media_id: str, *, captcha: str | None = None, resolution: str = "VIDEO_RESOLUTION_4K"
) -> dict[str, Any]:
    """A 2026 upscale body."""
    return {
        "mediaGenerationContext": {"batchId": str(uuid.uuid4()), "audioFailurePreference": "BLOCK_SILENCED_VIDEOS"},
        "clientContext": _context(captcha, False),
        "requests": [
            {
                "aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE",
                "resolution": resolution,
                "seed": 4254,
                "videoInput": {"mediaId": media_id},
                "videoModelKey": "veo_3_1_upsampler_4k",
                "metadata": {"sceneId": str(uuid.uuid4())},
            }
        ],
        "useV2ModelConfig": True,
    }


def legacy_status_body(*names: str, scene_id: str = "") -> dict[str, Any]:
    """A legacy ``operations`` status check."""
    return {
        "operations": [
            {"operation": {"name": name}, "sceneId": scene_id, "status": "MEDIA_GENERATION_STATUS_PENDING"}
            for name in names
        ]
    }


def media_status_body(*names: str, project_id: str = PROJECT) -> dict[str, Any]:
    """A 2026 ``media`` status check."""
    return {"media": [{"name": name, "projectId": project_id} for name in names]}


def reason_of(payload: dict[str, Any]) -> str:
    """The ErrorInfo reason of a Google error envelope."""
    details = payload["error"]["details"]
    assert details[0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    return str(details[0]["reason"])
