"""Flow's JSON payloads as msgspec Structs: request bodies we encode, responses we decode."""

from __future__ import annotations

import logging

import msgspec

__all__ = [
    "CancelRequest",
    "ClientContext",
    "CreditsResponse",
    "ErrorBody",
    "ErrorDetail",
    "ErrorEnvelope",
    "GenerateItem",
    "GenerateRequest",
    "MediaGenerationContext",
    "MediaItem",
    "MediaMetadata",
    "MediaQuery",
    "MediaStatus",
    "MediaStatusRequest",
    "Operation",
    "OperationError",
    "OperationItem",
    "OperationMetadata",
    "OperationQuery",
    "OperationRef",
    "OperationsResponse",
    "OperationsStatusRequest",
    "RecaptchaContext",
    "RequestMetadata",
    "SessionResponse",
    "TextInput",
    "UpscaleItem",
    "UpscaleRequest",
    "VideoInfo",
    "VideoInput",
]

logger = logging.getLogger(__name__)


class _Wire(msgspec.Struct, rename="camel", kw_only=True):
    """Base of Flow's JSON payloads: camelCase names, every field optional."""


# ---- requests (encoded by us) ---------------------------------------------------------------


class RecaptchaContext(_Wire):
    """The reCAPTCHA Enterprise token of a submission (2026 shape)."""

    token: str = ""
    application_type: str = "RECAPTCHA_APPLICATION_TYPE_WEB"

    def __repr__(self) -> str:
        return "RecaptchaContext(token=[redacted])"


class ClientContext(_Wire, omit_defaults=True, kw_only=True):
    """Who submits: project, tool, paygate tier, session id and the reCAPTCHA token."""

    recaptcha_context: RecaptchaContext | None = None
    session_id: str
    project_id: str
    tool: str
    user_paygate_tier: str


class MediaGenerationContext(_Wire):
    """The batch a submission belongs to."""

    batch_id: str = ""
    audio_failure_preference: str = "BLOCK_SILENCED_VIDEOS"


class TextInput(_Wire):
    """The prompt of a text-to-video request."""

    prompt: str = ""


class VideoInput(_Wire):
    """The source video of an upscale."""

    media_id: str = ""


class RequestMetadata(_Wire):
    """Per-request metadata: our scene id."""

    scene_id: str = ""


class GenerateItem(_Wire, omit_defaults=True, kw_only=True):
    """One text-to-video request."""

    aspect_ratio: str
    seed: int | None = None
    text_input: TextInput
    video_model_key: str
    metadata: RequestMetadata


class UpscaleItem(_Wire, omit_defaults=True, kw_only=True):
    """One upscale (upsample) request."""

    aspect_ratio: str
    resolution: str
    seed: int | None = None
    video_input: VideoInput
    video_model_key: str
    metadata: RequestMetadata


class GenerateRequest(_Wire):
    """Body of ``/v1/video:batchAsyncGenerateVideoText``."""

    media_generation_context: MediaGenerationContext
    client_context: ClientContext
    requests: list[GenerateItem]
    use_v2_model_config: bool = True


class UpscaleRequest(_Wire):
    """Body of ``/v1/video:batchAsyncGenerateVideoUpsampleVideo``."""

    media_generation_context: MediaGenerationContext
    client_context: ClientContext
    requests: list[UpscaleItem]
    use_v2_model_config: bool = True


class OperationRef(_Wire):
    """An operation named in a status check."""

    name: str = ""


class OperationQuery(_Wire, omit_defaults=True):
    """One entry of a status check under the ``operations`` contract."""

    operation: OperationRef
    scene_id: str | None = None
    status: str | None = None


class MediaQuery(_Wire):
    """One entry of a status check under the ``media`` contract."""

    name: str = ""
    project_id: str = ""


class OperationsStatusRequest(_Wire):
    """Status check body, legacy ``operations`` contract."""

    operations: list[OperationQuery]


class MediaStatusRequest(_Wire):
    """Status check body, 2026 ``media`` contract."""

    media: list[MediaQuery]


class CancelRequest(_Wire):
    """Body of ``/v1/flowMedia:cancelGeneration``."""

    media_id: str = ""


# ---- responses (decoded from Flow) ----------------------------------------------------------


class ErrorDetail(_Wire):
    """One entry of ``error.details``."""

    reason: str | None = None


class ErrorBody(_Wire):
    """Google's RPC status."""

    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorEnvelope(_Wire):
    """``{"error": {...}}`` of a failed call."""

    error: ErrorBody | None = None


class OperationError(_Wire):
    """Why one operation or media failed."""

    code: int | None = None
    message: str | None = None


class VideoInfo(_Wire):
    """``operation.metadata.video`` of a finished operation."""

    media_generation_id: str | None = None
    fife_url: str | None = None
    model: str | None = None


class OperationMetadata(_Wire):
    """``operation.metadata``."""

    name: str | None = None
    video: VideoInfo | None = None


class Operation(_Wire):
    """``operation`` of an operations entry."""

    name: str | None = None
    metadata: OperationMetadata | None = None
    error: OperationError | None = None


class OperationItem(_Wire):
    """One entry of ``operations[]``."""

    operation: Operation | None = None
    scene_id: str | None = None
    status: str | None = None
    media_generation_id: str | None = None
    raw_bytes: str | None = None


class MediaStatus(_Wire):
    """``mediaMetadata.mediaStatus``."""

    media_generation_status: str | None = None
    error: OperationError | None = None
    failure_reasons: list[str] | None = None


class MediaMetadata(_Wire):
    """``media[].mediaMetadata``."""

    media_status: MediaStatus | None = None
    visibility: str | None = None


class MediaItem(_Wire):
    """One entry of ``media[]``."""

    name: str | None = None
    project_id: str | None = None
    workflow_id: str | None = None
    media_metadata: MediaMetadata | None = None


class OperationsResponse(_Wire):
    """Answer of generate, upscale and status checks (both contracts)."""

    operations: list[OperationItem] | None = None
    media: list[MediaItem] | None = None
    remaining_credits: int | None = None


class CreditsResponse(_Wire):
    """Answer of ``GET /v1/credits``."""

    credits: int | None = None
    user_paygate_tier: str | None = None


class SessionResponse(msgspec.Struct, kw_only=True):
    """Answer of labs' NextAuth ``/fx/api/auth/session`` (snake_case names)."""

    access_token: str | None = None
    expires: str | None = None
    error: str | None = None

    def __repr__(self) -> str:
        return f"SessionResponse(expires={self.expires!r}, error={self.error!r})"
