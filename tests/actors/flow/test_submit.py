"""Generate and upscale: request bodies, answers, and the at-most-once classification."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from actors.flow import (
    Ambiguous,
    FlowClient,
    GenerateSpec,
    MalformedResponse,
    Transient,
    Unauthenticated,
    UnreadableSubmission,
    UpscaleSpec,
)
from actors.profiles import Profile
from tests.actors.flow.conftest import BEARER, FLOW, RECAPTCHA

GENERATE = f"{FLOW}/v1/video:batchAsyncGenerateVideoText"
UPSCALE = f"{FLOW}/v1/video:batchAsyncGenerateVideoUpsampleVideo"
SCENE = "d5fa5147-8c65-4dd3-8650-03405f0ed7fe"
SPEC = GenerateSpec(scene_id=SCENE, prompt="a cat surfing", model="veo_3_1_t2v_fast", seed=17071)

OCT_2025 = {
    "operations": [
        {
            "operation": {"name": "52a55a4296c947d408fe559ba76c353c"},
            "sceneId": SCENE,
            "status": "MEDIA_GENERATION_STATUS_PENDING",
        }
    ],
    "remainingCredits": 44440,
}
MEDIA_ID = "b5d4de86-03f6-4c1c-a722-19c04abae87c"
JAN_2026 = {
    "operations": [{"operation": {"name": MEDIA_ID}, "sceneId": SCENE, "status": "MEDIA_GENERATION_STATUS_PENDING"}],
    "remainingCredits": 43890,
    "workflows": [
        {"name": "48157e9e", "metadata": {"createTime": "2026-01-31T20:16:25.165727Z", "primaryMediaId": MEDIA_ID}}
    ],
    "media": [
        {
            "name": MEDIA_ID,
            "projectId": "proj-1",
            "workflowId": "48157e9e",
            "mediaMetadata": {"mediaStatus": {"mediaGenerationStatus": "MEDIA_GENERATION_STATUS_PENDING"}},
        }
    ],
}


def test_generate_sends_the_2026_body_and_browser_headers(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """The body follows flow-api.md 1.1 with the reCAPTCHA context and a ';<epoch ms>' session id."""
    route = router.post(GENERATE).respond(200, json=OCT_2025)
    client.generate(profile, SPEC, RECAPTCHA)
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "mediaGenerationContext": {"batchId": SCENE, "audioFailurePreference": "BLOCK_SILENCED_VIDEOS"},
        "clientContext": {
            "recaptchaContext": {"token": RECAPTCHA, "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"},
            "sessionId": ";1761745563370",
            "projectId": "proj-1",
            "tool": "PINHOLE",
            "userPaygateTier": "PAYGATE_TIER_ONE",
        },
        "requests": [
            {
                "aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE",
                "seed": 17071,
                "textInput": {"prompt": "a cat surfing"},
                "videoModelKey": "veo_3_1_t2v_fast",
                "metadata": {"sceneId": SCENE},
            }
        ],
        "useV2ModelConfig": True,
    }
    assert request.headers["authorization"] == f"Bearer {BEARER}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["origin"] == "https://labs.google"
    assert request.headers["referer"] == "https://labs.google/"


@pytest.mark.parametrize(
    ("aspect", "wire"),
    [
        ("portrait", "VIDEO_ASPECT_RATIO_PORTRAIT"),
        ("square", "VIDEO_ASPECT_RATIO_SQUARE"),
    ],
)
def test_generate_maps_aspect_ratios_and_uses_the_given_batch_and_tier(
    client: FlowClient, router: respx.MockRouter, aspect: str, wire: str
) -> None:
    """Our aspect names become Flow's enums; the batch id and the profile's tier are sent as given."""
    ultra = Profile(name="u", project_id="p2", bearer_token=BEARER, tier="PAYGATE_TIER_TWO")
    route = router.post(GENERATE).respond(200, json=OCT_2025)
    spec = GenerateSpec(scene_id=SCENE, prompt="x", model="m", aspect_ratio=aspect, batch_id="b-1")  # type: ignore[arg-type]
    client.generate(ultra, spec, RECAPTCHA)
    body = json.loads(route.calls.last.request.content)
    assert body["requests"][0]["aspectRatio"] == wire
    assert "seed" not in body["requests"][0]
    assert body["mediaGenerationContext"]["batchId"] == "b-1"
    assert body["clientContext"]["userPaygateTier"] == "PAYGATE_TIER_TWO"
    assert body["clientContext"]["projectId"] == "p2"


def test_generate_without_a_recaptcha_token_sends_no_recaptcha_context(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """The Oct 2025 shape had no captcha field: a missing token leaves it out."""
    route = router.post(GENERATE).respond(200, json=OCT_2025)
    client.generate(profile, SPEC, None)
    assert "recaptchaContext" not in json.loads(route.calls.last.request.content)["clientContext"]


def test_generate_reads_the_oct_2025_answer(client: FlowClient, router: respx.MockRouter, profile: Profile) -> None:
    """The operation name, scene id, status and credits come from operations[0]."""
    router.post(GENERATE).respond(200, json=OCT_2025)
    result = client.generate(profile, SPEC, RECAPTCHA)
    assert result.operation_name == "52a55a4296c947d408fe559ba76c353c"
    assert result.media_name is None
    assert result.scene_id == SCENE
    assert result.remote_status == "MEDIA_GENERATION_STATUS_PENDING"
    assert result.remaining_credits == 44440
    assert not result.terminal
    handle = result.handle
    assert handle is not None
    assert handle.name_for("operations") == handle.name_for("media") == "52a55a4296c947d408fe559ba76c353c"


def test_generate_reads_the_2026_answer_with_its_media_name(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """The 2026 answer's media[0].name is the poll handle under the media contract."""
    router.post(GENERATE).respond(200, json=JAN_2026)
    result = client.generate(profile, SPEC, RECAPTCHA)
    assert result.operation_name == MEDIA_ID
    assert result.media_name == MEDIA_ID
    assert result.remaining_credits == 43890
    assert result.handle is not None
    assert result.handle.name_for("media") == MEDIA_ID


def test_generate_answer_with_only_media_uses_the_media_name(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """An answer with workflows and media but no operations is still a started job."""
    only_media = {k: v for k, v in JAN_2026.items() if k != "operations"}
    router.post(GENERATE).respond(200, json=only_media)
    result = client.generate(profile, SPEC, RECAPTCHA)
    assert result.operation_name is None
    assert result.media_name == MEDIA_ID
    assert result.remote_status == "MEDIA_GENERATION_STATUS_PENDING"
    assert result.scene_id == SCENE
    assert result.handle is not None
    assert result.handle.operation_name == MEDIA_ID


def test_generate_answer_naming_no_operation_is_ambiguous(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """A 200 without any handle cannot be tracked, and Flow may have started the job."""
    router.post(GENERATE).respond(200, json={"remainingCredits": 5})
    with pytest.raises(UnreadableSubmission) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert caught.value.proves_nothing_created is False
    assert caught.value.reason == "interrupted_submission"


@pytest.mark.parametrize(("resolution", "wire", "model"), [
    ("1080p", "VIDEO_RESOLUTION_1080P", "veo_3_1_upsampler_1080p"),
    ("4k", "VIDEO_RESOLUTION_4K", "veo_3_1_upsampler_4k"),
])  # fmt: skip
def test_upscale_sends_resolution_model_and_source_media(
    client: FlowClient, router: respx.MockRouter, profile: Profile, resolution: str, wire: str, model: str
) -> None:
    """Upscale follows flow-api.md 1.5: resolution enum, upsampler key and videoInput.mediaId."""
    route = router.post(UPSCALE).respond(
        200,
        json={
            "operations": [
                {
                    "operation": {"name": "5b769e4975d3dae482e8bc1193f4b5b9"},
                    "sceneId": "up-scene",
                    "status": "MEDIA_GENERATION_STATUS_PENDING",
                }
            ],
            "remainingCredits": 240,
        },
    )
    spec = UpscaleSpec(scene_id="up-scene", source_media_id="CAUSJD", resolution=resolution, seed=4254)  # type: ignore[arg-type]
    result = client.upscale(profile, spec, RECAPTCHA)
    body = json.loads(route.calls.last.request.content)
    assert body["requests"] == [
        {
            "aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE",
            "resolution": wire,
            "seed": 4254,
            "videoInput": {"mediaId": "CAUSJD"},
            "videoModelKey": model,
            "metadata": {"sceneId": "up-scene"},
        }
    ]
    assert body["clientContext"]["recaptchaContext"]["token"] == RECAPTCHA
    assert body["useV2ModelConfig"] is True
    assert result.operation_name == "5b769e4975d3dae482e8bc1193f4b5b9"
    assert result.remaining_credits == 240
    assert not result.terminal


def test_upscale_that_already_exists_is_terminal_with_inline_bytes(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """An existing upscale answers at once with rawBytes: successful, no handle to poll."""
    router.post(UPSCALE).respond(
        200,
        json={
            "operations": [
                {
                    "mediaGenerationId": "CAUSJD_upsampled",
                    "rawBytes": "AAAAIGZ0eXBpc29t",
                    "status": "MEDIA_GENERATION_STATUS_SUCCESSFUL",
                }
            ]
        },
    )
    result = client.upscale(profile, UpscaleSpec(scene_id="s", source_media_id="CAUSJD"), RECAPTCHA)
    assert result.terminal
    assert result.successful
    assert result.inline_video
    assert result.media_generation_id == "CAUSJD_upsampled"
    assert result.operation_name is None
    assert result.handle is None


def test_submission_answered_failed_carries_the_reason(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """A submission answered already FAILED reports Flow's reason verbatim."""
    router.post(GENERATE).respond(
        200,
        json={
            "operations": [
                {
                    "operation": {"name": "op", "error": {"code": 3, "message": "PUBLIC_ERROR_UNSAFE_GENERATION"}},
                    "status": "MEDIA_GENERATION_STATUS_FAILED",
                }
            ]
        },
    )
    result = client.generate(profile, SPEC, RECAPTCHA)
    assert result.terminal
    assert not result.successful
    assert result.error_reason == "PUBLIC_ERROR_UNSAFE_GENERATION"
    assert result.error_code == 3


@pytest.mark.parametrize("status", [500, 501, 505])
def test_submission_answered_with_a_server_error_is_ambiguous(
    client: FlowClient, router: respx.MockRouter, profile: Profile, status: int
) -> None:
    """HTTP 500 after a submission does not prove that nothing was created."""
    route = router.post(GENERATE).respond(
        status, json={"error": {"code": 500, "message": "Internal error encountered."}}
    )
    with pytest.raises(Ambiguous) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert caught.value.proves_nothing_created is False
    assert caught.value.reason == "interrupted_submission"
    assert caught.value.http_status == status
    assert route.call_count == 1


@pytest.mark.parametrize("status", [502, 503, 504, 408])
def test_submission_answered_unavailable_is_transient(
    client: FlowClient, router: respx.MockRouter, profile: Profile, status: int
) -> None:
    """502/503/504 prove nothing was created; the caller may retry."""
    route = router.post(GENERATE).respond(status, text="<html>high demand</html>")
    with pytest.raises(Transient) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert caught.value.proves_nothing_created is True
    assert route.call_count == 1


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("pool")]
)
def test_submission_that_never_left_is_transient(
    client: FlowClient, router: respx.MockRouter, profile: Profile, exc: Exception
) -> None:
    """Connection refused and connect timeouts prove that nothing was sent."""
    router.post(UPSCALE).mock(side_effect=exc)
    with pytest.raises(Transient) as caught:
        client.upscale(profile, UpscaleSpec(scene_id="s", source_media_id="m"), RECAPTCHA)
    assert caught.value.proves_nothing_created is True
    assert not isinstance(caught.value, Ambiguous)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.WriteTimeout("write"),
    ],
)
def test_submission_broken_after_sending_is_ambiguous(
    client: FlowClient, router: respx.MockRouter, profile: Profile, exc: Exception
) -> None:
    """A read timeout or reset after the request was sent may hide a created job."""
    router.post(GENERATE).mock(side_effect=exc)
    with pytest.raises(Ambiguous) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert caught.value.proves_nothing_created is False
    assert caught.value.reason == "interrupted_submission"


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>ok</html>", b"[]", b'{"operations": "nope"}', b'{"operations": [{"status": 7}]}', b"null"],
)
def test_submission_with_an_unreadable_200_body_is_ambiguous(
    client: FlowClient, router: respx.MockRouter, profile: Profile, content: bytes
) -> None:
    """A 200 that cannot be read is both a MalformedResponse and Ambiguous."""
    router.post(GENERATE).respond(200, content=content)
    with pytest.raises(UnreadableSubmission) as caught:
        client.generate(profile, SPEC, RECAPTCHA)
    assert isinstance(caught.value, MalformedResponse)
    assert isinstance(caught.value, Ambiguous)
    assert caught.value.proves_nothing_created is False


def test_submission_without_a_bearer_token_sends_nothing(client: FlowClient, router: respx.MockRouter) -> None:
    """A profile with only a session cookie must refresh its token before submitting."""
    cookie_only = Profile(name="c", project_id="p", session_cookie="c00kie-value")
    with pytest.raises(Unauthenticated) as caught:
        client.generate(cookie_only, SPEC, RECAPTCHA)
    assert caught.value.proves_nothing_created is True
    assert router.calls.call_count == 0
