"""The Gemini API's JSON payloads for Veo as msgspec Structs: the request we encode, the answers we decode."""

from __future__ import annotations

import logging

import msgspec

__all__ = [
    "ErrorDetail",
    "ErrorEnvelope",
    "GeneratedSample",
    "Instance",
    "Operation",
    "OperationError",
    "OperationResponse",
    "Parameters",
    "PredictRequest",
    "QuotaViolation",
    "SampleVideo",
    "VideoResponse",
]

logger = logging.getLogger(__name__)


class _Wire(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Base of the Gemini API's payloads: camelCase names, every field optional, defaults left out."""


# ---- the request (encoded by us) ------------------------------------------------------------


class Instance(_Wire):
    """`instances[0]`: what to generate."""

    prompt: str


class Parameters(_Wire):
    """`parameters` of `predictLongRunning`: what a relay request carries that the Gemini API takes (a seed is
    Vertex-only there, so it is not sent)."""

    aspect_ratio: str | None = None


class PredictRequest(_Wire):
    """Body of `POST /v1beta/models/{model}:predictLongRunning`."""

    instances: list[Instance]
    parameters: Parameters


# ---- answers (decoded) ----------------------------------------------------------------------


class QuotaViolation(_Wire):
    """One entry of a `google.rpc.QuotaFailure` detail."""

    quota_id: str | None = None
    quota_metric: str | None = None


class ErrorDetail(_Wire):
    """One entry of `error.details`: ErrorInfo (`reason`), RetryInfo (`retryDelay`) or QuotaFailure."""

    type: str | None = msgspec.field(default=None, name="@type")
    reason: str | None = None
    retry_delay: str | None = None
    violations: list[QuotaViolation] | None = None


class OperationError(_Wire):
    """Google's RPC status: a failed call's `error`, or a finished operation's."""

    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorEnvelope(_Wire):
    """`{"error": {...}}` of a refused call."""

    error: OperationError | None = None


class SampleVideo(_Wire):
    """`generatedSamples[].video`: where the video can be downloaded (with the key)."""

    uri: str | None = None


class GeneratedSample(_Wire):
    """One generated video."""

    video: SampleVideo | None = None


class VideoResponse(_Wire):
    """`response.generateVideoResponse`."""

    generated_samples: list[GeneratedSample] | None = None
    rai_media_filtered_count: int | None = None
    rai_media_filtered_reasons: list[str] | None = None


class OperationResponse(_Wire):
    """`response` of a finished operation."""

    generate_video_response: VideoResponse | None = None


class Operation(_Wire):
    """A long-running operation: the answer of `predictLongRunning` and of `GET /v1beta/{name}`."""

    name: str | None = None
    done: bool = False
    error: OperationError | None = None
    response: OperationResponse | None = None
