"""No bearer token, session cookie or reCAPTCHA token in any error, repr or log line."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import msgspec
import pytest
import respx

from actors.flow import FlowClient, FlowError, GenerateSpec, SessionTokens, StatusHandle, UpscaleSpec
from actors.flow.models import ClientContext, RecaptchaContext
from actors.profiles import Profile
from tests.actors.flow.conftest import BEARER, COOKIE, FLOW, LABS, RECAPTCHA, SECRETS, envelope

GENERATE = f"{FLOW}/v1/video:batchAsyncGenerateVideoText"
UPSCALE = f"{FLOW}/v1/video:batchAsyncGenerateVideoUpsampleVideo"
STATUS = f"{FLOW}/v1/video:batchCheckAsyncVideoGenerationStatus"
SESSION = f"{LABS}/fx/api/auth/session"
MEDIA_URL = f"{LABS}/fx/api/trpc/media.getMediaUrlRedirect"
SPEC = GenerateSpec(scene_id="s", prompt="p", model="m")

Call = Callable[[FlowClient, Profile], object]
# call name -> (method, url, invocation, the secrets that call sends and so Flow could echo)
CALLS: dict[str, tuple[str, str, Call, tuple[str, ...]]] = {
    "generate": ("POST", GENERATE, lambda c, p: c.generate(p, SPEC, RECAPTCHA), (BEARER, RECAPTCHA)),
    "upscale": (
        "POST",
        UPSCALE,
        lambda c, p: c.upscale(p, UpscaleSpec(scene_id="s", source_media_id="m"), RECAPTCHA),
        (BEARER, RECAPTCHA),
    ),
    "status": ("POST", STATUS, lambda c, p: c.check_status(p, [StatusHandle(operation_name="o")], "media"), (BEARER,)),
    "session": ("GET", SESSION, lambda c, p: c.fetch_access_token(COOKIE), (COOKIE,)),
    "media_url": ("GET", MEDIA_URL, lambda c, p: c.resolve_video_url(p, "m"), (BEARER, COOKIE)),
}
ANSWERS: dict[str, Callable[[str], httpx.Response | Exception]] = {
    "echoing 400": lambda echo: httpx.Response(400, json=envelope(400, "INVALID_ARGUMENT", message=echo)),
    "echoing 403": lambda echo: httpx.Response(403, json=envelope(403, "PERMISSION_DENIED", message=echo)),
    "echoing 429": lambda echo: httpx.Response(
        429, json=envelope(429, "RESOURCE_EXHAUSTED", "PUBLIC_ERROR_USER_QUOTA_REACHED", echo)
    ),
    "echoing 500": lambda echo: httpx.Response(500, json=envelope(500, "INTERNAL", message=echo)),
    "echoing 401": lambda echo: httpx.Response(401, json=envelope(401, "UNAUTHENTICATED", message=echo)),
    "unreadable 200": lambda echo: httpx.Response(200, content=echo.encode()),
    "read timeout": lambda echo: httpx.ReadTimeout(f"timed out {echo}"),
    "connect error": lambda echo: httpx.ConnectError("refused"),
}


def assert_no_secret(text: str) -> None:
    """None of the fixture's secrets, nor any ya29 token, appears in the text."""
    for secret in (*SECRETS, "ya29."):
        assert secret not in text


def error_texts(error: BaseException) -> list[str]:
    """Every rendering of an error and of what it chains to."""
    texts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        texts += [str(current), repr(current), *map(str, current.args)]
        if isinstance(current, FlowError):
            texts.append(current.message)
        current = current.__cause__ if current.__cause__ is not None else None
    return texts


CASES = [
    (call, answer)
    for call in CALLS
    for answer in ANSWERS
    if not (call == "media_url" and answer == "unreadable 200")  # the redirect reads no body
]


@pytest.mark.parametrize(("call", "answer"), CASES)
def test_errors_never_show_secrets(
    client: FlowClient,
    router: respx.MockRouter,
    profile: Profile,
    caplog: pytest.LogCaptureFixture,
    call: str,
    answer: str,
) -> None:
    """Whatever Flow answers, even echoing the secrets it was sent, errors and logs stay free of them."""
    caplog.set_level(logging.DEBUG)
    method, url, invoke, sent = CALLS[call]
    echo = f"sent {' '.join(sent)} other ya29.c0-unrelated-token reCAPTCHA failed"
    outcome = ANSWERS[answer](echo)
    if isinstance(outcome, httpx.Response):
        router.route(method=method, url=url).mock(return_value=outcome)
    else:
        router.route(method=method, url=url).mock(side_effect=outcome)
    with pytest.raises(FlowError) as caught:
        invoke(client, profile)
    for text in error_texts(caught.value):
        assert_no_secret(text)
    assert_no_secret(caplog.text)


def test_profile_repr_and_str_hide_secrets(profile: Profile) -> None:
    """A profile shows its name and settings, never its token or cookie."""
    for text in (repr(profile), str(profile), f"{profile}", repr([profile])):
        assert_no_secret(text)
        assert "main" in text
        assert "[redacted]" in text


def test_session_tokens_and_request_bodies_hide_secrets() -> None:
    """Values carrying tokens render them as [redacted]."""
    tokens = SessionTokens(access_token=BEARER, session_cookie=COOKIE, expires="e")
    context = ClientContext(
        recaptcha_context=RecaptchaContext(token=RECAPTCHA), session_id=";1", project_id="p", tool="PINHOLE",
        user_paygate_tier="PAYGATE_TIER_ONE",
    )  # fmt: skip
    for text in (repr(tokens), str(tokens), repr(context), str(context)):
        assert_no_secret(text)
    assert RECAPTCHA.encode() in msgspec.json.encode(context)
