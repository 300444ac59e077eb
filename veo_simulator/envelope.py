"""Google RPC error envelopes: the error answers Flow gives, ready to raise."""

from __future__ import annotations

import json
import logging
from typing import Any

from veo_simulator.errors import ApiError
from veo_simulator.faults import FaultWords

__all__ = [
    "ERROR_INFO_TYPE",
    "FLOW_FAULTS",
    "account_throttled",
    "bad_request",
    "cannot_cancel",
    "captcha_rejected",
    "internal",
    "model_quota_reached",
    "not_found",
    "quota_reached",
    "render_error",
    "throttled",
    "too_much_traffic",
    "unauthenticated",
    "unavailable",
    "unsafe_generation",
]

logger = logging.getLogger(__name__)

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
_DOMAIN = "aisandbox-pa.googleapis.com"


def render_error(error: ApiError) -> bytes:
    """The JSON body of an error answer: ``{"error": {code, message, status, details}}``."""
    body: dict[str, Any] = {"code": error.http_status, "message": error.message, "status": error.rpc_status}
    if error.details:
        body["details"] = list(error.details)
    elif error.reason is not None:
        body["details"] = [{"@type": ERROR_INFO_TYPE, "reason": error.reason, "domain": _DOMAIN}]
    return json.dumps({"error": body}).encode()


def bad_request(message: str) -> ApiError:
    """400 INVALID_ARGUMENT without a reason: the request itself is wrong."""
    return ApiError(400, "INVALID_ARGUMENT", message)


def unsafe_generation() -> ApiError:
    """400 INVALID_ARGUMENT PUBLIC_ERROR_UNSAFE_GENERATION: refused by the content filter at submit."""
    return ApiError(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "PUBLIC_ERROR_UNSAFE_GENERATION")


def cannot_cancel() -> ApiError:
    """400 FAILED_PRECONDITION: the generation has already finished."""
    return ApiError(
        400,
        "FAILED_PRECONDITION",
        "Precondition check failed.",
        "PUBLIC_ERROR_MEDIA_GENERATION_CANNOT_BE_CANCELED",
    )


def unauthenticated(reason: str = "ACCESS_TOKEN_EXPIRED") -> ApiError:
    """401 UNAUTHENTICATED: missing or expired bearer token."""
    return ApiError(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
        reason,
        (("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"'),),
    )


def captcha_rejected() -> ApiError:
    """403 PERMISSION_DENIED PUBLIC_ERROR_UNUSUAL_ACTIVITY: missing or reused reCAPTCHA token."""
    return ApiError(403, "PERMISSION_DENIED", "reCAPTCHA evaluation failed", "PUBLIC_ERROR_UNUSUAL_ACTIVITY")


def not_found() -> ApiError:
    """404 NOT_FOUND, as Flow answers a wrong model key or an unknown media id."""
    return ApiError(404, "NOT_FOUND", "Requested entity was not found.")


def throttled() -> ApiError:
    """429 RESOURCE_EXHAUSTED PUBLIC_ERROR_USER_REQUESTS_THROTTLED with ``Retry-After: 1``."""
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        "PUBLIC_ERROR_USER_REQUESTS_THROTTLED",
        (("Retry-After", "1"),),
    )


def account_throttled() -> ApiError:
    """429 RESOURCE_EXHAUSTED PUBLIC_ERROR_USER_REQUESTS_THROTTLED for one account; no hint when to come back."""
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        "You're requesting generations too quickly.",
        "PUBLIC_ERROR_USER_REQUESTS_THROTTLED",
    )


def too_much_traffic() -> ApiError:
    """429 RESOURCE_EXHAUSTED PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC: the account is hard-blocked."""
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        "reCAPTCHA evaluation failed",
        "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC",
    )


def quota_reached() -> ApiError:
    """429 RESOURCE_EXHAUSTED PUBLIC_ERROR_USER_QUOTA_REACHED: out of credits."""
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        "PUBLIC_ERROR_USER_QUOTA_REACHED",
    )


def model_quota_reached() -> ApiError:
    """429 RESOURCE_EXHAUSTED PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED: the model's daily quota is used up."""
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED",
    )


def internal() -> ApiError:
    """500 INTERNAL."""
    return ApiError(500, "INTERNAL", "Internal error encountered.")


def unavailable() -> ApiError:
    """503 UNAVAILABLE: Flow is busy."""
    return ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")


FLOW_FAULTS = FaultWords(
    unavailable=unavailable,
    throttled=throttled,
    internal=internal,
    truncated_submission=b'{"operations":[{"operation":{"name":"',
)
"""How Flow answers the injected faults (a 429 as its per-second throttle, with ``Retry-After: 1``)."""
