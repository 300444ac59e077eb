"""The Gemini API's error answers (generativelanguage.googleapis.com), ready to raise.

Messages and details are the ones Google sends: a missing key is 403 PERMISSION_DENIED (the API
does not know who is calling), a wrong key 400 INVALID_ARGUMENT with ErrorInfo ``API_KEY_INVALID``,
a used-up quota 429 with QuotaFailure, Help and RetryInfo details; the injected faults' 500 INTERNAL,
503 UNAVAILABLE and detail-less 429 RESOURCE_EXHAUSTED are the API's answers when it is in trouble.
"""

from __future__ import annotations

import logging
import math

from veo_simulator.envelope import ERROR_INFO_TYPE
from veo_simulator.errors import ApiError
from veo_simulator.faults import FaultWords

__all__ = [
    "GEMINI_FAULTS",
    "GEMINI_SERVICE",
    "api_key_invalid",
    "busy",
    "internal",
    "invalid",
    "key_missing",
    "model_not_found",
    "not_found",
    "overloaded",
    "quota_exceeded",
    "unsupported",
]

logger = logging.getLogger(__name__)

GEMINI_SERVICE = "generativelanguage.googleapis.com"
_RATE_LIMITS_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"
_KEY_INVALID = "API key not valid. Please pass a valid API key."


def key_missing() -> ApiError:
    """403 PERMISSION_DENIED: no ``x-goog-api-key`` header and no ``key`` parameter."""
    return ApiError(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def api_key_invalid() -> ApiError:
    """400 INVALID_ARGUMENT ``API_KEY_INVALID``: a key the service does not know."""
    return ApiError(
        400,
        "INVALID_ARGUMENT",
        _KEY_INVALID,
        details=(
            {
                "@type": ERROR_INFO_TYPE,
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": GEMINI_SERVICE},
            },
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": _KEY_INVALID},
        ),
    )


def model_not_found(model: str) -> ApiError:
    """404 NOT_FOUND for a model the API does not serve with predictLongRunning."""
    return ApiError(
        404,
        "NOT_FOUND",
        f"models/{model} is not found for API version v1beta, or is not supported for predictLongRunning. "
        "Call ListModels to see the list of available models and their supported methods.",
    )


def not_found() -> ApiError:
    """404 NOT_FOUND: an unknown path, operation or file (or an expired file)."""
    return ApiError(404, "NOT_FOUND", "Requested entity was not found.")


def invalid(message: str) -> ApiError:
    """400 INVALID_ARGUMENT without details: the request itself is wrong."""
    return ApiError(400, "INVALID_ARGUMENT", message)


def unsupported(field: str) -> ApiError:
    """400 INVALID_ARGUMENT for a field the model does not take (``numberOfVideos``, ``inlineData``, ...)."""
    return invalid(f"`{field}` isn't supported by this model.")


def quota_exceeded(model: str, rpm: int, retry_after_s: float) -> ApiError:
    """429 RESOURCE_EXHAUSTED: the key made its ``rpm`` predictLongRunning calls in the last minute."""
    delay = max(math.ceil(retry_after_s), 1)
    metric = f"{GEMINI_SERVICE}/generate_requests_per_model"
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        f"this error, head to: {_RATE_LIMITS_URL}. To monitor your current usage, head to: "
        f"https://ai.dev/rate-limit. \n* Quota exceeded for metric: {metric}, limit: {rpm}, model: {model}\n"
        f"Please retry in {retry_after_s:.6f}s."
    )
    details = (
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(rpm),
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": _RATE_LIMITS_URL}],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay}s"},
    )
    return ApiError(429, "RESOURCE_EXHAUSTED", message, details=details)


def busy() -> ApiError:
    """429 RESOURCE_EXHAUSTED without details, the API's own load: the simulator's per-second rate (``--rate``)
    and the injected ``429``."""
    return ApiError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")


def internal() -> ApiError:
    """500 INTERNAL, as the API words it."""
    return ApiError(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    )


def overloaded() -> ApiError:
    """503 UNAVAILABLE: the model is overloaded."""
    return ApiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


GEMINI_FAULTS = FaultWords(
    unavailable=overloaded, throttled=busy, internal=internal, truncated_submission=b'{"name": "models/'
)
"""How the Gemini API answers the injected faults (a 429 without details: not the key's per-minute quota)."""
