"""The Gemini client against respx: the requests it sends, and every answer classified (CONTRACT §1)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from actors.flow import GenerateSpec, UpscaleSpec
from actors.flow import errors as flow
from actors.gemini import (
    Ambiguous,
    BadRequest,
    GeminiClient,
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
from actors.profiles import Profile
from domain.values import ACTIVE_REMOTE_STATUS, FAILED_REMOTE_STATUS, SUCCESSFUL_REMOTE_STATUS, ErrorReason
from tests.actors.gemini.conftest import API, HANDLE, KEY, OPERATION, PREDICT, STATUS, envelope

SPEC = GenerateSpec(scene_id="s", prompt="a fox at dawn", model="veo_3_1_t2v_fast", aspect_ratio="portrait", seed=7)
VIDEO_URI = f"{API}/v1beta/files/abc:download?alt=media"


def done(response: dict[str, object]) -> dict[str, object]:
    return {"name": OPERATION, "done": True, "response": {"generateVideoResponse": response}}


def test_generate_sends_the_prompt_and_aspect_ratio_with_the_key_in_a_header(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    """predictLongRunning on the profile's model; the key only in x-goog-api-key; no seed (Vertex-only)."""
    route = router.post(PREDICT).respond(200, json={"name": OPERATION})
    result = client.generate(profile, SPEC)
    assert result.operation_name == OPERATION
    request = route.calls.last.request
    assert request.headers["x-goog-api-key"] == KEY
    assert "key=" not in str(request.url)
    assert json.loads(request.content) == {
        "instances": [{"prompt": "a fox at dawn"}],
        "parameters": {"aspectRatio": "9:16"},
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (UpscaleSpec(scene_id="s", source_media_id="m"), "Upscaling is a Flow feature"),
        (GenerateSpec(scene_id="s", prompt="p", model="m", aspect_ratio="square"), "not square"),
    ],
)
def test_what_the_api_cannot_do_is_refused_before_sending(
    client: GeminiClient, profile: Profile, spec: GenerateSpec | UpscaleSpec, expected: str
) -> None:
    with pytest.raises(NotSupported, match=expected) as caught:
        client.generate(profile, spec)
    assert caught.value.proves_nothing_created
    assert caught.value.reason == ErrorReason.INVALID_REQUEST


def test_a_running_operation_is_active(router: respx.MockRouter, client: GeminiClient, profile: Profile) -> None:
    route = router.get(STATUS).respond(200, json={"name": OPERATION})
    (status,) = client.check_status(profile, [HANDLE])
    assert (status.status, status.terminal) == (ACTIVE_REMOTE_STATUS, False)
    assert route.calls.last.request.headers["x-goog-api-key"] == KEY


def test_done_with_a_sample_completes_with_its_uri(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    router.get(STATUS).respond(200, json=done({"generatedSamples": [{"video": {"uri": VIDEO_URI}}]}))
    (status,) = client.check_status(profile, [HANDLE])
    assert (status.status, status.terminal, status.successful) == (SUCCESSFUL_REMOTE_STATUS, True, True)
    assert status.video_url == VIDEO_URI


def test_a_key_in_the_uri_is_never_kept(router: respx.MockRouter, client: GeminiClient, profile: Profile) -> None:
    uri = f"{VIDEO_URI}&key={KEY}"
    router.get(STATUS).respond(200, json=done({"generatedSamples": [{"video": {"uri": uri}}]}))
    (status,) = client.check_status(profile, [HANDLE])
    assert status.video_url is not None and KEY not in status.video_url
    assert "alt=media" in status.video_url


def test_done_with_an_error_fails_with_the_apis_code_and_message(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    error = {"code": 13, "message": "Video generation failed internally.", "status": "INTERNAL"}
    router.get(STATUS).respond(200, json={"name": OPERATION, "done": True, "error": error})
    (status,) = client.check_status(profile, [HANDLE])
    assert (status.status, status.terminal, status.successful) == (FAILED_REMOTE_STATUS, True, False)
    assert (status.error_code, status.error_reason) == (13, ErrorReason.GENERATION_FAILED)
    assert status.error_message is not None
    assert "13 INTERNAL" in status.error_message and "failed internally" in status.error_message


def test_an_invalid_argument_error_fails_as_invalid_request(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    error = {"code": 3, "message": "bad prompt", "status": "INVALID_ARGUMENT"}
    router.get(STATUS).respond(200, json={"name": OPERATION, "done": True, "error": error})
    (status,) = client.check_status(profile, [HANDLE])
    assert status.error_reason == ErrorReason.INVALID_REQUEST


def test_filtered_videos_fail_as_safety_filtered_with_the_reasons(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    reasons = ["The prompt could not be submitted: it may violate our policies."]
    router.get(STATUS).respond(200, json=done({"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": reasons}))
    (status,) = client.check_status(profile, [HANDLE])
    assert (status.terminal, status.successful, status.error_reason) == (True, False, ErrorReason.SAFETY_FILTERED)
    assert status.error_message is not None and reasons[0] in status.error_message


def test_done_without_a_video_fails(router: respx.MockRouter, client: GeminiClient, profile: Profile) -> None:
    router.get(STATUS).respond(200, json=done({}))
    (status,) = client.check_status(profile, [HANDLE])
    assert (status.terminal, status.error_reason) == (True, ErrorReason.GENERATION_FAILED)


RESPONSES = {
    "429 per minute": (
        httpx.Response(429, json=envelope(429, "RESOURCE_EXHAUSTED", message="quota", retry_delay="34s")),
        RateLimited,
    ),
    "429 per day": (
        httpx.Response(429, json=envelope(429, "RESOURCE_EXHAUSTED", quota_id="GenerateRequestsPerDayPerProject")),
        QuotaReached,
    ),
    "400 API_KEY_INVALID": (
        httpx.Response(400, json=envelope(400, "INVALID_ARGUMENT", "API_KEY_INVALID", "API key not valid.")),
        KeyRefused,
    ),
    "403": (httpx.Response(403, json=envelope(403, "PERMISSION_DENIED")), KeyRefused),
    "404": (httpx.Response(404, json=envelope(404, "NOT_FOUND")), NotFound),
    "400": (httpx.Response(400, json=envelope(400, "INVALID_ARGUMENT", message="bad")), BadRequest),
    "503": (httpx.Response(503, json=envelope(503, "UNAVAILABLE")), Transient),
}


@pytest.mark.parametrize("answer", RESPONSES)
def test_refusals_of_a_submission_are_classified(
    router: respx.MockRouter, client: GeminiClient, profile: Profile, answer: str
) -> None:
    """Each proves nothing was created, and is also the Flow error of the same meaning."""
    response, expected = RESPONSES[answer]
    router.post(PREDICT).mock(return_value=response)
    with pytest.raises(expected) as caught:
        client.generate(profile, SPEC)
    assert isinstance(caught.value, GeminiError)
    assert caught.value.proves_nothing_created


def test_the_mirrored_flow_errors() -> None:
    """The outcome handler treats them as the Flow errors of the same meaning."""
    assert issubclass(RateLimited, flow.Throttled)
    assert issubclass(QuotaReached, flow.QuotaReached)
    assert issubclass(Ambiguous, flow.Ambiguous) and issubclass(Transient, flow.Transient)
    assert issubclass(NotFound, flow.NotFound) and issubclass(BadRequest, flow.BadRequest)
    assert not issubclass(KeyRefused, flow.Unauthenticated)


def test_a_429_carries_the_retry_delay(router: respx.MockRouter, client: GeminiClient, profile: Profile) -> None:
    router.post(PREDICT).respond(429, json=envelope(429, "RESOURCE_EXHAUSTED", retry_delay="34s"))
    with pytest.raises(RateLimited) as caught:
        client.generate(profile, SPEC)
    assert caught.value.retry_after == 34.0


def test_a_refused_key_names_the_profile_as_unusable(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    router.post(PREDICT).respond(400, json=envelope(400, "INVALID_ARGUMENT", "API_KEY_INVALID"))
    with pytest.raises(KeyRefused) as caught:
        client.generate(profile, SPEC)
    assert caught.value.reason == ErrorReason.KEY_REFUSED
    assert "cannot be used until its api_key is fixed" in caught.value.message


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json=envelope(500, "INTERNAL")),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("reset"),
    ],
)
def test_a_submission_lost_after_sending_is_ambiguous(
    router: respx.MockRouter, client: GeminiClient, profile: Profile, answer: httpx.Response | Exception
) -> None:
    """500, a read timeout or a broken connection after sending: the API may have started it."""
    route = router.post(PREDICT)
    route.mock(side_effect=answer) if isinstance(answer, Exception) else route.mock(return_value=answer)
    with pytest.raises(Ambiguous) as caught:
        client.generate(profile, SPEC)
    assert not caught.value.proves_nothing_created
    assert caught.value.reason == ErrorReason.INTERRUPTED_SUBMISSION


def test_an_unreadable_or_nameless_acceptance_is_ambiguous(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    router.post(PREDICT).mock(side_effect=[httpx.Response(200, content=b"<html>"), httpx.Response(200, json={})])
    for _ in range(2):
        with pytest.raises(UnreadableSubmission):
            client.generate(profile, SPEC)


def test_nothing_sent_is_transient(router: respx.MockRouter, client: GeminiClient, profile: Profile) -> None:
    router.post(PREDICT).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(Transient) as caught:
        client.generate(profile, SPEC)
    assert caught.value.proves_nothing_created


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(500, json=envelope(500, "INTERNAL")), httpx.ReadTimeout("timed out")],
)
def test_a_failed_status_check_is_transient(
    router: respx.MockRouter, client: GeminiClient, profile: Profile, answer: httpx.Response | Exception
) -> None:
    route = router.get(STATUS)
    route.mock(side_effect=answer) if isinstance(answer, Exception) else route.mock(return_value=answer)
    with pytest.raises(Transient):
        client.check_status(profile, [HANDLE])


def test_an_unreadable_status_is_malformed(router: respx.MockRouter, client: GeminiClient, profile: Profile) -> None:
    router.get(STATUS).respond(200, content=b"not json")
    with pytest.raises(MalformedResponse):
        client.check_status(profile, [HANDLE])


def test_an_operation_the_api_forgot_is_not_found(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    router.get(STATUS).respond(404, json=envelope(404, "NOT_FOUND"))
    with pytest.raises(NotFound):
        client.check_status(profile, [HANDLE])


def test_a_download_sends_the_key_to_the_api_only_and_follows_redirects(
    router: respx.MockRouter, client: GeminiClient, profile: Profile
) -> None:
    """The key goes to the API host; the storage host it redirects to gets none."""
    storage = "https://storage.test/video.mp4?sig=1"
    api = router.get(VIDEO_URI).respond(302, headers={"location": storage})
    stored = router.get(storage).respond(200, content=b"MP4", headers={"content-type": "video/mp4"})
    with client.download(profile, VIDEO_URI) as response:
        assert response.read() == b"MP4"
    assert api.calls.last.request.headers["x-goog-api-key"] == KEY
    assert "x-goog-api-key" not in stored.calls.last.request.headers
