"""The Gemini API (Veo with an API key) client: one HTTP request per call, errors classified like Flow's."""

from __future__ import annotations

from actors.gemini.client import KEY_HEADER, STATUS_BATCH, GeminiClient, is_api_url, refusal
from actors.gemini.errors import (
    Ambiguous,
    BadRequest,
    GeminiError,
    KeyRefused,
    MalformedResponse,
    NotFound,
    NotSupported,
    QuotaReached,
    RateLimited,
    Transient,
    UnreadableSubmission,
)

__all__ = [
    "KEY_HEADER",
    "STATUS_BATCH",
    "Ambiguous",
    "BadRequest",
    "GeminiClient",
    "GeminiError",
    "KeyRefused",
    "MalformedResponse",
    "NotFound",
    "NotSupported",
    "QuotaReached",
    "RateLimited",
    "Transient",
    "UnreadableSubmission",
    "is_api_url",
    "refusal",
]
