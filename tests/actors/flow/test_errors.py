"""Classification of Flow's error answers (flow-api.md §2.2) into the client's exceptions."""

from __future__ import annotations

import email.utils

import pytest
import respx

from actors.flow import (
    AccessDenied,
    BadRequest,
    CaptchaRejected,
    ContentPolicy,
    FlowClient,
    FlowError,
    GenerateSpec,
    ModelQuotaReached,
    NotFound,
    QuotaReached,
    Throttled,
    Transient,
    Unauthenticated,
    UnusualTraffic,
)
from actors.profiles import Profile
from tests.actors.flow.conftest import FLOW, RECAPTCHA, WALL_CLOCK, envelope

GENERATE = f"{FLOW}/v1/video:batchAsyncGenerateVideoText"
SPEC = GenerateSpec(scene_id="s-1", prompt="p", model="veo_3_1_t2v_fast")

CONTENT_REASONS = [
    "PUBLIC_ERROR_UNSAFE_GENERATION",
    "PUBLIC_ERROR_PROMINENT_PEOPLE_FILTER_FAILED",
    "PUBLIC_ERROR_SEXUAL",
    "PUBLIC_ERROR_MINOR",
    "PUBLIC_ERROR_VIOLENCE_FILTER",
    "PUBLIC_ERROR_DANGER_FILTER",
    "PUBLIC_ERROR_AUDIO_FILTERED",
    "PUBLIC_ERROR_IP_INPUT_IMAGE",
    "PUBLIC_ERROR_NON_ENGLISH_PROMPT",
]

ROWS = [
    (429, "RESOURCE_EXHAUSTED", "PUBLIC_ERROR_USER_REQUESTS_THROTTLED", "too quickly", Throttled),
    (429, "RESOURCE_EXHAUSTED", "PUBLIC_ERROR_USER_QUOTA_REACHED", "quota", QuotaReached),
    (429, "RESOURCE_EXHAUSTED", "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED", "quota", ModelQuotaReached),
    (
        429,
        "RESOURCE_EXHAUSTED",
        "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC",
        "reCAPTCHA evaluation failed",
        UnusualTraffic,
    ),
    (403, "PERMISSION_DENIED", "PUBLIC_ERROR_UNUSUAL_ACTIVITY", "reCAPTCHA evaluation failed", CaptchaRejected),
    (403, "PERMISSION_DENIED", "PUBLIC_ERROR_SOMETHING_WENT_WRONG", "reCAPTCHA evaluation failed", CaptchaRejected),
    (403, "PERMISSION_DENIED", "PUBLIC_ERROR_MODEL_ACCESS_DENIED", "denied", AccessDenied),
    *[(400, "INVALID_ARGUMENT", reason, "invalid argument", ContentPolicy) for reason in CONTENT_REASONS],
]  # fmt: skip


@pytest.mark.parametrize(("status", "rpc_status", "reason", "message", "kind"), ROWS)
def test_reason_decides_the_error_kind_and_is_kept_verbatim(
    client: FlowClient,
    router: respx.MockRouter,
    profile: Profile,
    status: int,
    rpc_status: str,
    reason: str,
    message: str,
    kind: type[FlowError],
) -> None:
    """Each row of the reason table maps to its kind; Flow's reason is kept verbatim; nothing was created."""
    route = router.post(GENERATE).respond(status, json=envelope(status, rpc_status, reason, message))
    with pytest.raises(kind) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert type(caught.value) is kind
    assert caught.value.reason == reason
    assert caught.value.flow_reason == reason
    assert caught.value.http_status == status
    assert caught.value.proves_nothing_created is True
    assert route.call_count == 1


def test_reason_wins_over_the_http_status(client: FlowClient, router: respx.MockRouter, profile: Profile) -> None:
    """A quota reason on a 400 is still a quota error: classification is by reason, not HTTP code."""
    router.post(GENERATE).respond(400, json=envelope(400, "FAILED_PRECONDITION", "PUBLIC_ERROR_USER_QUOTA_REACHED"))
    with pytest.raises(QuotaReached):
        client.generate(profile, SPEC, RECAPTCHA)


@pytest.mark.parametrize(
    ("status", "body", "kind", "reason"),
    [
        (401, envelope(401, "UNAUTHENTICATED", message="Request had invalid authentication credentials."),
         Unauthenticated, "unauthenticated"),
        (401, None, Unauthenticated, "unauthenticated"),
        (404, envelope(404, "NOT_FOUND", message="Requested entity was not found."), NotFound, "not_found"),
        (400, envelope(400, "INVALID_ARGUMENT", message='Invalid JSON payload received. Unknown name "x"'),
         BadRequest, "invalid_request"),
        (400, None, BadRequest, "invalid_request"),
        (403, envelope(403, "PERMISSION_DENIED", message="The caller does not have permission"),
         AccessDenied, "access_denied"),
        (403, envelope(403, "PERMISSION_DENIED", message="reCAPTCHA evaluation failed"),
         CaptchaRejected, "captcha_rejected"),
        (429, envelope(429, "RESOURCE_EXHAUSTED", message="Resource has been exhausted"), Throttled, "throttled"),
        (429, envelope(429, "RESOURCE_EXHAUSTED", "SOMETHING_NEW"), Throttled, "SOMETHING_NEW"),
        (503, envelope(503, "UNAVAILABLE", message="Flow is currently experiencing high demand"),
         Transient, "transient"),
    ],
)  # fmt: skip
def test_answers_without_a_known_reason_are_classified_by_status(
    client: FlowClient,
    router: respx.MockRouter,
    profile: Profile,
    status: int,
    body: object,
    kind: type[FlowError],
    reason: str,
) -> None:
    """Without a known reason the HTTP status decides; our contract reason fills in."""
    if body is None:
        router.post(GENERATE).respond(status, text="not json")
    else:
        router.post(GENERATE).respond(status, json=body)
    with pytest.raises(kind) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert type(caught.value) is kind
    assert caught.value.reason == reason
    assert caught.value.proves_nothing_created is True


def test_quota_without_flow_reason_uses_the_contract_reason() -> None:
    """An error built without Flow's reason carries the contract's reason word."""
    assert QuotaReached("x").reason == "quota_exhausted"
    assert CaptchaRejected("x").reason == "captcha_rejected"
    assert BadRequest("x").reason == "invalid_request"


def test_throttled_carries_retry_after_seconds(client: FlowClient, router: respx.MockRouter, profile: Profile) -> None:
    """A Retry-After header in seconds is exposed on the error."""
    router.post(GENERATE).respond(
        429,
        json=envelope(429, "RESOURCE_EXHAUSTED", "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"),
        headers={"Retry-After": "30"},
    )
    with pytest.raises(Throttled) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert caught.value.retry_after == 30.0
    assert "30" in caught.value.message


def test_retry_after_as_an_http_date_is_measured_from_the_wall_clock(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """An HTTP-date Retry-After becomes seconds from the injected wall clock."""
    when = email.utils.formatdate(int(WALL_CLOCK) + 120, usegmt=True)
    router.post(GENERATE).respond(
        429,
        json=envelope(429, "RESOURCE_EXHAUSTED", "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"),
        headers={"Retry-After": when},
    )
    with pytest.raises(Throttled) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert caught.value.retry_after == pytest.approx(120 - (WALL_CLOCK % 1), abs=0.01)


@pytest.mark.parametrize("header", [None, "soon", "nan"])
def test_throttled_without_a_usable_retry_after_has_none(
    client: FlowClient, router: respx.MockRouter, profile: Profile, header: str | None
) -> None:
    """No or unreadable Retry-After leaves retry_after unset."""
    headers = {"Retry-After": header} if header else {}
    router.post(GENERATE).respond(
        429, json=envelope(429, "RESOURCE_EXHAUSTED", "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"), headers=headers
    )
    with pytest.raises(Throttled) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert caught.value.retry_after is None


def test_content_policy_message_is_plain_language(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """The message names the reason in a sentence people can read."""
    router.post(GENERATE).respond(
        400,
        json=envelope(
            400, "INVALID_ARGUMENT", "PUBLIC_ERROR_UNSAFE_GENERATION", "Request contains an invalid argument."
        ),
    )
    with pytest.raises(ContentPolicy) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert caught.value.message.startswith(
        "Flow's content policy refused the request (PUBLIC_ERROR_UNSAFE_GENERATION)."
    )
    assert str(caught.value) == caught.value.message
