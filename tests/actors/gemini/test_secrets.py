"""The Gemini API key in no error, repr, log line or stored uri, whatever the API answers (even echoing it)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
import respx

from actors.flow import FlowError, GenerateSpec
from actors.gemini import GeminiClient
from actors.profiles import Profile
from tests.actors.gemini.conftest import HANDLE, KEY, OPERATION, PREDICT, STATUS, envelope

SPEC = GenerateSpec(scene_id="s", prompt="p", model="m")
CALLS: dict[str, tuple[str, str, Callable[[GeminiClient, Profile], object]]] = {
    "generate": ("POST", PREDICT, lambda c, p: c.generate(p, SPEC)),
    "status": ("GET", STATUS, lambda c, p: c.check_status(p, [HANDLE])),
}
ANSWERS: dict[str, Callable[[str], httpx.Response | Exception]] = {
    "echoing 400": lambda echo: httpx.Response(400, json=envelope(400, "INVALID_ARGUMENT", "API_KEY_INVALID", echo)),
    "echoing 403": lambda echo: httpx.Response(403, json=envelope(403, "PERMISSION_DENIED", message=echo)),
    "echoing 429": lambda echo: httpx.Response(429, json=envelope(429, "RESOURCE_EXHAUSTED", message=echo)),
    "echoing 500": lambda echo: httpx.Response(500, json=envelope(500, "INTERNAL", message=echo)),
    "unreadable 200": lambda echo: httpx.Response(200, content=echo.encode()),
    "read timeout": lambda echo: httpx.ReadTimeout(f"timed out {echo}"),
    "connect error": lambda echo: httpx.ConnectError(f"refused {echo}"),
}


def texts(error: BaseException) -> list[str]:
    out = [str(error), repr(error), *map(str, error.args)]
    if isinstance(error, FlowError):
        out.append(error.message)
    return out


@pytest.mark.parametrize(("call", "answer"), [(c, a) for c in CALLS for a in ANSWERS])
def test_errors_and_logs_never_show_the_key(
    client: GeminiClient,
    router: respx.MockRouter,
    profile: Profile,
    caplog: pytest.LogCaptureFixture,
    call: str,
    answer: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    method, url, invoke = CALLS[call]
    outcome = ANSWERS[answer](f"key {KEY} and https://x.test/v?alt=media&key=AIzaOtherKey0123456789012345678")
    route = router.route(method=method, url=url)
    route.mock(side_effect=outcome) if isinstance(outcome, Exception) else route.mock(return_value=outcome)
    with pytest.raises(FlowError) as caught:
        invoke(client, profile)
    for text in [*texts(caught.value), caplog.text]:
        assert KEY not in text
        assert "AIzaOtherKey" not in text
        assert "key=AIza" not in text


def test_an_operations_failure_message_echoing_the_key_is_redacted(
    client: GeminiClient, router: respx.MockRouter, profile: Profile
) -> None:
    error = {"code": 13, "message": f"failed for {KEY}"}
    router.get(STATUS).respond(200, json={"name": OPERATION, "done": True, "error": error})
    (status,) = client.check_status(profile, [HANDLE])
    assert status.error_message is not None and KEY not in status.error_message


def test_a_gemini_profile_hides_its_key(profile: Profile) -> None:
    for text in (repr(profile), str(profile), repr([profile])):
        assert KEY not in text
        assert "[redacted]" in text
    assert KEY in profile.secrets()
