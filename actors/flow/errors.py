"""Errors of the Flow client, and the classification of Flow's answers into them.

Every failure of one Flow or labs call is a ``FlowError``::

    FlowError                  base; carries reason, flow_reason, http_status, retry_after,
    │                          proves_nothing_created and a plain-language message without secrets
    ├── Transient              nothing was created; retry with backoff: 408, 502, 503, 504, connection
    │                          refused, connect/pool timeouts; on read-only calls also 500, other 5xx,
    │                          read timeouts and connections broken after sending
    ├── Ambiguous              a paid submission (generate, upscale) may have reached Flow: 500 (or another
    │   │                      unexplained 5xx/3xx), read timeout or connection reset after sending; never
    │   │                      resend it (CONTRACT.md §1, reason ``interrupted_submission``)
    │   └── UnreadableSubmission  a 2xx answer to a submission that could not be read; also a MalformedResponse
    ├── MalformedResponse      a 2xx body that is not JSON or has the wrong shape
    ├── Throttled              PUBLIC_ERROR_USER_REQUESTS_THROTTLED (or a 429 without a known reason);
    │                          ``retry_after`` holds the Retry-After header in seconds when present
    ├── QuotaReached           PUBLIC_ERROR_USER_QUOTA_REACHED: the account's quota or credits are used up
    │   └── ModelQuotaReached  PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED: only the requested model's daily quota
    ├── UnusualTraffic         PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC: Flow's hard throttle
    ├── CaptchaRejected        PUBLIC_ERROR_UNUSUAL_ACTIVITY, PUBLIC_ERROR_SOMETHING_WENT_WRONG, or a message
    │                          mentioning reCAPTCHA: get a new token and slow down
    ├── ContentPolicy          a content filter refused the prompt; ``reason`` is Flow's reason verbatim
    ├── AccessDenied           PUBLIC_ERROR_MODEL_ACCESS_DENIED (tier mismatch) or another 403
    ├── Unauthenticated        401, or no usable token: refresh the bearer token from the session
    ├── NotFound               404: unknown model key or media id
    └── BadRequest             any other 4xx: our request is wrong (reason ``invalid_request``)
        ├── ContractRejected   a 400 on a status check: the status contract is refused, or (when
        │                      ``handle_count`` > 1) the batch may be too large
        └── CannotCancel       PUBLIC_ERROR_MEDIA_GENERATION_CANNOT_BE_CANCELED

Classification looks at ``error.details[].reason`` of Google's RPC envelope first and at the HTTP
status only when no known reason is given. Every answer from Flow other than those listed as
ambiguous proves that nothing was created.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
from collections.abc import Iterable

import httpx
import msgspec

from actors.flow.models import ErrorEnvelope

__all__ = [
    "AccessDenied",
    "Ambiguous",
    "BadRequest",
    "CannotCancel",
    "CaptchaRejected",
    "ContentPolicy",
    "ContractRejected",
    "FlowError",
    "MalformedResponse",
    "ModelQuotaReached",
    "NotFound",
    "QuotaReached",
    "Throttled",
    "Transient",
    "Unauthenticated",
    "UnreadableSubmission",
    "UnusualTraffic",
    "error_from_response",
    "error_from_transport",
    "is_content_reason",
    "redact",
]

logger = logging.getLogger(__name__)

_REDACTED = "[redacted]"
_TOKEN_PATTERNS = (re.compile(r"ya29\.[A-Za-z0-9._\-]+"), re.compile(r"Bearer\s+\S+", re.IGNORECASE))
_MAX_FLOW_MESSAGE = 200


class FlowError(Exception):
    """A failed Flow or labs call."""

    default_reason = "flow_error"
    proves_nothing_created = True

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        flow_reason: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or flow_reason or self.default_reason
        self.flow_reason = flow_reason
        self.http_status = http_status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(reason={self.reason!r}, http_status={self.http_status!r}, message={self.message!r})"
        )


class Transient(FlowError):
    """Nothing was created; the same call may be retried with backoff."""

    default_reason = "transient"


class Ambiguous(FlowError):
    """A submission may have reached Flow; it must never be resent."""

    default_reason = "interrupted_submission"
    proves_nothing_created = False


class MalformedResponse(FlowError):
    """A successful answer whose body is not JSON or has the wrong shape."""

    default_reason = "malformed_response"


class UnreadableSubmission(Ambiguous, MalformedResponse):
    """A 2xx answer to a submission that could not be read: Flow may have started the job."""

    default_reason = "interrupted_submission"
    proves_nothing_created = False


class Throttled(FlowError):
    """Flow throttles this account's requests; pause for ``retry_after`` seconds when given."""

    default_reason = "throttled"


class QuotaReached(FlowError):
    """The account's credits or quota are used up."""

    default_reason = "quota_exhausted"


class ModelQuotaReached(QuotaReached):
    """The requested model's daily quota on this account is used up; other models still go through."""


class UnusualTraffic(FlowError):
    """Flow's hard anti-abuse throttle; pause the profile for minutes to hours."""

    default_reason = "unusual_traffic"


class CaptchaRejected(FlowError):
    """The reCAPTCHA token was refused; a new token is needed."""

    default_reason = "captcha_rejected"


class ContentPolicy(FlowError):
    """A content filter refused the request; terminal for this prompt."""

    default_reason = "content_policy"


class AccessDenied(FlowError):
    """The account may not use this model or resolution."""

    default_reason = "access_denied"


class Unauthenticated(FlowError):
    """The bearer token or session cookie is missing, expired or refused."""

    default_reason = "unauthenticated"


class NotFound(FlowError):
    """Flow does not know the model key or media id."""

    default_reason = "not_found"


class BadRequest(FlowError):
    """Flow refused the request as malformed."""

    default_reason = "invalid_request"


class ContractRejected(BadRequest):
    """A status check was refused: wrong status contract, or too many handles in one check."""

    def __init__(
        self,
        message: str,
        *,
        contract: str,
        handle_count: int,
        flow_reason: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, flow_reason=flow_reason, http_status=http_status)
        self.contract = contract
        self.handle_count = handle_count


class CannotCancel(BadRequest):
    """The generation is already finished and cannot be cancelled."""

    default_reason = "cannot_cancel"


_THROTTLED = "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
_QUOTA = "PUBLIC_ERROR_USER_QUOTA_REACHED"
_MODEL_QUOTA = "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED"
_UNUSUAL_TRAFFIC = "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC"
_CAPTCHA = frozenset({"PUBLIC_ERROR_UNUSUAL_ACTIVITY", "PUBLIC_ERROR_SOMETHING_WENT_WRONG"})
_ACCESS_DENIED = "PUBLIC_ERROR_MODEL_ACCESS_DENIED"
_CANNOT_CANCEL = "PUBLIC_ERROR_MEDIA_GENERATION_CANNOT_BE_CANCELED"
_CONTENT_SUFFIXES = (
    "UNSAFE_GENERATION",
    "PROMINENT_PEOPLE_FILTER_FAILED",
    "SEXUAL",
    "MINOR",
    "VIOLENCE_FILTER",
    "DANGER_FILTER",
    "AUDIO_FILTERED",
    "IP_INPUT_IMAGE",
    "NON_ENGLISH_PROMPT",
)
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_ENVELOPE_DECODER = msgspec.json.Decoder(ErrorEnvelope, strict=False)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with the given secrets and anything token-shaped replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(_REDACTED, text)
    return text


def is_content_reason(reason: str) -> bool:
    """Whether a Flow reason names a content filter."""
    return reason.endswith(_CONTENT_SUFFIXES) or "_FILTER" in reason


def error_from_transport(exc: httpx.RequestError, *, what: str, submission: bool) -> FlowError:
    """Classify an httpx failure: before sending it proves nothing; after, a submission is ambiguous."""
    kind = type(exc).__name__
    if isinstance(exc, _NOTHING_SENT):
        return Transient(f"Could not reach Flow for {what} ({kind}); nothing was sent.")
    if submission:
        return Ambiguous(
            f"The connection failed after {what} was sent ({kind}); Flow may have started it. "
            "It is not resent: check Flow, then retry the generation explicitly if nothing appeared."
        )
    return Transient(f"{what.capitalize()} failed in transit ({kind}).")


def error_from_response(
    response: httpx.Response,
    *,
    what: str,
    submission: bool,
    now: float,
    secrets: Iterable[str | None] = (),
) -> FlowError:
    """Classify a non-2xx answer by Flow's reason first, then by its HTTP status."""
    status = response.status_code
    envelope = _decode_envelope(response.content)
    body = envelope.error if envelope is not None else None
    reasons = [d.reason for d in (body.details or ()) if d.reason] if body is not None else []
    flow_message = redact((body.message or "") if body is not None else "", secrets)[:_MAX_FLOW_MESSAGE]
    said = f" Flow said: {flow_message}" if flow_message else ""
    retry_after = _retry_after(response.headers.get("retry-after"), now)
    reason = _pick_reason(reasons)

    def make(cls: type[FlowError], message: str) -> FlowError:
        return cls(message + said, flow_reason=reason, http_status=status, retry_after=retry_after)

    if reason == _THROTTLED or (status == 429 and not _is_known(reason)):
        wait = f" Retry after {retry_after:g} s." if retry_after is not None else ""
        return make(Throttled, f"Flow is throttling requests from this account ({status}).{wait}")
    if reason == _QUOTA:
        return make(QuotaReached, f"The account's Flow quota is used up ({reason}).")
    if reason == _MODEL_QUOTA:
        return make(ModelQuotaReached, f"The model's daily Flow quota on this account is used up ({reason}).")
    if reason == _UNUSUAL_TRAFFIC:
        return make(UnusualTraffic, f"Flow flagged unusual traffic from this account ({reason}); pause it.")
    if reason in _CAPTCHA or (not _is_known(reason) and 400 <= status < 500 and "recaptcha" in flow_message.lower()):
        return make(CaptchaRejected, f"Flow refused the reCAPTCHA token for {what}; a new token is needed.")
    if reason == _ACCESS_DENIED:
        return make(AccessDenied, f"This account may not use the requested model or resolution ({reason}).")
    if reason is not None and is_content_reason(reason):
        return make(ContentPolicy, f"Flow's content policy refused the request ({reason}).")
    if reason == _CANNOT_CANCEL:
        return make(CannotCancel, "The generation is already finished and cannot be cancelled.")
    if status == 401:
        return make(Unauthenticated, f"Flow refused the credentials for {what} (401); refresh the token.")
    if status == 403:
        return make(AccessDenied, f"Flow refused {what} (403).")
    if status == 404:
        return make(NotFound, f"Flow does not know what {what} refers to (404).")
    if status in (408, 502, 503, 504):
        return make(Transient, f"Flow is temporarily unavailable for {what} ({status}).")
    if 400 <= status < 500:
        return make(BadRequest, f"Flow refused {what} as invalid ({status}).")
    if submission:
        return make(
            Ambiguous,
            f"Flow answered {what} with HTTP {status}; it may have started the job. It is not resent: "
            "check Flow, then retry the generation explicitly if nothing appeared.",
        )
    return make(Transient, f"Flow answered {what} with HTTP {status}.")


def _is_known(reason: str | None) -> bool:
    return reason is not None and (
        reason in _CAPTCHA
        or reason in (_QUOTA, _MODEL_QUOTA, _THROTTLED, _UNUSUAL_TRAFFIC, _ACCESS_DENIED, _CANNOT_CANCEL)
        or is_content_reason(reason)
    )


def _pick_reason(reasons: list[str]) -> str | None:
    known = [r for r in reasons if r.startswith("PUBLIC_ERROR_")]
    candidates = known or reasons
    return candidates[0] if candidates else None


def _decode_envelope(content: bytes) -> ErrorEnvelope | None:
    if not content:
        return None
    try:
        return _ENVELOPE_DECODER.decode(content)
    except msgspec.DecodeError:
        return None


def _retry_after(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            logger.debug("ignoring unreadable Retry-After header")
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
