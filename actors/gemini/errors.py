"""Errors of the Gemini API client, and the classification of the API's answers into them.

Every failure of one Gemini API call is a ``GeminiError``, which is also a ``FlowError`` of the same
meaning (each class below derives from the Flow error it mirrors), so the poller's outcome handler treats
both backends' answers alike::

    GeminiError (FlowError)    base; reason, flow_reason (the API's own reason or status), http_status,
    │                          retry_after, proves_nothing_created; a message without the key
    ├── Transient              nothing was created; retry with backoff: 408, 502, 503, 504, connection
    │                          refused, connect/pool timeouts; on status checks also 500, other 5xx,
    │                          read timeouts and connections broken after sending            (flow.Transient)
    ├── Ambiguous              ``predictLongRunning`` may have started a paid generation: 500 (or another
    │   │                      unexplained 5xx/3xx), read timeout or connection reset after sending; never
    │   │                      resent (reason ``interrupted_submission``)                     (flow.Ambiguous)
    │   └── UnreadableSubmission  a 2xx answer to a submission that names no operation  (flow.UnreadableSubmission)
    ├── MalformedResponse      a 2xx answer to a status check that is not an operation    (flow.MalformedResponse)
    ├── RateLimited            429 ``RESOURCE_EXHAUSTED`` within the key's per-minute quota; ``retry_after``
    │                          from the answer's RetryInfo or Retry-After                     (flow.Throttled)
    ├── QuotaReached           429 naming a per-day quota: the key's quota is used up        (flow.QuotaReached)
    ├── KeyRefused             400 ``API_KEY_INVALID``, 401, 403: the profile is unusable until its key is
    │                          fixed (reason ``key_refused``)
    ├── NotFound               404: unknown model, or an operation the API no longer knows    (flow.NotFound)
    └── BadRequest             any other 4xx: the request is wrong (reason ``invalid_request``) (flow.BadRequest)
        └── NotSupported       refused before sending: what the Gemini API cannot do (an upscale, a square video)

Every answer other than those listed as ambiguous proves that nothing was created.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import httpx
import msgspec

from actors.flow import errors as flow
from actors.gemini.models import ErrorEnvelope, OperationError
from domain.values import ErrorReason

__all__ = [
    "Ambiguous",
    "BadRequest",
    "GeminiError",
    "KeyRefused",
    "MalformedResponse",
    "NotFound",
    "NotSupported",
    "QuotaReached",
    "RateLimited",
    "Transient",
    "UnreadableSubmission",
    "error_from_response",
    "error_from_transport",
    "redact",
]

logger = logging.getLogger(__name__)

_KEY_PATTERNS = (
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?<=[?&]key=)[^&\s\"']+", re.IGNORECASE),
)
_MAX_MESSAGE = 300
_KEY_INVALID = "API_KEY_INVALID"
_ENVELOPE = msgspec.json.Decoder(ErrorEnvelope, strict=False)
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_AMBIGUOUS_TAIL = (
    "It is not resent: look for it in the API's usage, then retry the generation explicitly if nothing appeared."
)


class GeminiError(flow.FlowError):
    """A failed Gemini API call: ``reason`` is always the class's own (the API's reason or status is kept in
    ``flow_reason``), so a job fails with one of the documented reasons."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.reason = details.get("reason") or self.default_reason


class Transient(GeminiError, flow.Transient):
    """Nothing was created; the same call may be retried with backoff."""


class Ambiguous(GeminiError, flow.Ambiguous):
    """A `predictLongRunning` call may have started a generation; it must never be resent."""


class UnreadableSubmission(Ambiguous, flow.UnreadableSubmission):
    """A 2xx answer to a submission that names no operation: the API may have started it."""


class MalformedResponse(GeminiError, flow.MalformedResponse):
    """A successful answer to a status check that is not an operation."""


class RateLimited(GeminiError, flow.Throttled):
    """429 within the key's per-minute quota: wait ``retry_after`` seconds when given, and submit less often."""


class QuotaReached(GeminiError, flow.QuotaReached):
    """429 naming a per-day quota: the key's quota is used up."""


class KeyRefused(GeminiError):
    """The API refused the key (invalid, or no permission): the profile cannot be used until it is fixed."""

    default_reason = ErrorReason.KEY_REFUSED


class NotFound(GeminiError, flow.NotFound):
    """The API does not know the model (a submission fails ``invalid_request``) or the operation (lost)."""

    default_reason = ErrorReason.INVALID_REQUEST


class BadRequest(GeminiError, flow.BadRequest):
    """The API refused the request as invalid."""


class NotSupported(BadRequest):
    """The Gemini API cannot do what the job asks; refused before anything is sent."""


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets, API keys, ``key=`` query values and bearer tokens."""
    text = flow.redact(text, secrets)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


def error_from_transport(exc: httpx.RequestError, *, what: str, submission: bool) -> GeminiError:
    """Classify an httpx failure: before sending it proves nothing; after, a submission is ambiguous."""
    kind = type(exc).__name__
    if isinstance(exc, _NOTHING_SENT):
        return Transient(f"Could not reach the Gemini API for {what} ({kind}); nothing was sent.")
    if submission:
        return Ambiguous(
            f"The connection failed after {what} was sent ({kind}); the Gemini API may have started it. "
            + _AMBIGUOUS_TAIL
        )
    return Transient(f"{what.capitalize()} failed in transit ({kind}).")


def error_from_response(
    response: httpx.Response, *, what: str, submission: bool, secrets: Iterable[str | None] = ()
) -> GeminiError:
    """Classify a non-2xx answer by its HTTP status and Google's error envelope."""
    status = response.status_code
    body = _envelope(response.content)
    reasons = [d.reason for d in (body.details or ()) if d.reason] if body is not None else []
    api_reason = next(iter(reasons), None) or (body.status if body is not None else None)
    said_text = redact((body.message or "") if body is not None else "", secrets)[:_MAX_MESSAGE]
    said = f" The API said: {said_text}" if said_text else ""
    retry_after = _retry_after(body, response.headers.get("retry-after"))

    def make(cls: type[GeminiError], message: str) -> GeminiError:
        return cls(message + said, flow_reason=api_reason, http_status=status, retry_after=retry_after)

    if status == 429:
        if _per_day(body):
            return make(QuotaReached, f"The key's daily quota for {what} is used up (429).")
        wait = f" Retry after {retry_after:g} s." if retry_after is not None else ""
        return make(RateLimited, f"The key's per-minute quota refused {what} (429 RESOURCE_EXHAUSTED).{wait}")
    if _KEY_INVALID in reasons or status in (401, 403):
        return make(
            KeyRefused,
            f"The Gemini API refused the profile's API key for {what} ({api_reason or status}); the profile "
            "cannot be used until its api_key is fixed in the profiles file.",
        )
    if status == 404:
        return make(NotFound, f"The Gemini API does not know what {what} refers to (404).")
    if status in (408, 502, 503, 504):
        return make(Transient, f"The Gemini API is temporarily unavailable for {what} ({status}).")
    if 400 <= status < 500:
        return make(BadRequest, f"The Gemini API refused {what} as invalid ({status}).")
    if submission:
        return make(
            Ambiguous, f"The Gemini API answered {what} with HTTP {status}; it may have started it. " + _AMBIGUOUS_TAIL
        )
    return make(Transient, f"The Gemini API answered {what} with HTTP {status}.")


def _envelope(content: bytes) -> OperationError | None:
    if not content:
        return None
    try:
        return _ENVELOPE.decode(content).error
    except msgspec.DecodeError:
        return None


def _per_day(body: OperationError | None) -> bool:
    """Whether a 429 names a per-day quota (QuotaFailure violations' ids say PerDay)."""
    if body is None:
        return False
    for detail in body.details or ():
        for violation in detail.violations or ():
            if "perday" in f"{violation.quota_id or ''} {violation.quota_metric or ''}".lower():
                return True
    return False


def _retry_after(body: OperationError | None, header: str | None) -> float | None:
    """Seconds from RetryInfo's `retryDelay` ("34s", "1.5s"), else the Retry-After header's seconds."""
    delays = [d.retry_delay for d in (body.details or ()) if d.retry_delay] if body is not None else []
    for value in (*(d.rstrip("s") for d in delays), header):
        if value is None:
            continue
        try:
            seconds = float(value.strip())
        except ValueError:
            continue
        if seconds >= 0 and seconds != float("inf"):
            return seconds
    return None
