"""The Gemini API's refusals over real HTTP: keys, models, request checks, the per-key quota, the global rate."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.veo_simulator.conftest import MakeClient, StartSim, sim_config
from tests.veo_simulator.fakes import FakeClock
from tests.veo_simulator.gemini_calls import KEY, OTHER_KEY, check, predict, predict_path, video_body
from veo_simulator import Simulator, key_label

KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    }
}
KEY_MISSING = {
    "error": {
        "code": 403,
        "message": "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
        "status": "PERMISSION_DENIED",
    }
}


def test_a_missing_key_is_permission_denied_and_a_wrong_one_invalid(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """On every path: no key 403 PERMISSION_DENIED, an unknown key 400 API_KEY_INVALID; counted, never shown."""
    sim = start_sim(gemini_keys=(KEY,))
    client = make_client(sim, token="")
    name = predict(client).json()["name"]
    for key, status, envelope in (("", 403, KEY_MISSING), ("AIza-wrong", 400, KEY_INVALID)):
        for answer in (predict(client, key=key), check(client, name, key=key)):
            assert (answer.status_code, answer.json()) == (status, envelope)
    gemini = sim.audit()["gemini"]
    assert (gemini["missing_key"], gemini["invalid_key"], len(gemini["operations"])) == (2, 2, 1)
    assert "AIza-wrong" not in json.dumps(sim.audit())


def test_without_configured_keys_every_key_is_invalid(start_sim: StartSim, make_client: MakeClient) -> None:
    """A simulator given no Gemini key answers any key as invalid (also in ``?key=``)."""
    client = make_client(start_sim(), token="")
    assert predict(client).json() == KEY_INVALID
    assert client.post(f"{predict_path()}?key={KEY}", json=video_body()).json() == KEY_INVALID


def test_an_unknown_model_is_not_found(start_sim: StartSim, make_client: MakeClient) -> None:
    """A model not served (by default or by ``gemini_models``) is 404 with Google's message."""
    sim = start_sim(gemini_keys=(KEY,), gemini_models=("veo-3.0-generate-001",))
    client = make_client(sim, token="")
    answer = predict(client, model="veo-3.1-fast-generate-preview")
    assert answer.status_code == 404
    assert answer.json()["error"] == {
        "code": 404,
        "message": "models/veo-3.1-fast-generate-preview is not found for API version v1beta, or is not supported "
        "for predictLongRunning. Call ListModels to see the list of available models and their supported methods.",
        "status": "NOT_FOUND",
    }
    assert predict(client, model="veo-3.0-generate-001").status_code == 200


@pytest.fixture(scope="module")
def checker() -> Iterator[tuple[Simulator, httpx.Client]]:
    """One simulator and client for the request checks, which create nothing (no quota: refused calls count)."""
    with Simulator(sim_config(gemini_keys=(KEY,), gemini_rpm=0)) as sim, httpx.Client(base_url=sim.url) as client:
        yield sim, client


def _instance(**fields: Any) -> dict[str, Any]:
    return {"instances": [{"prompt": "a fox", **fields}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": []}, "`instances` must hold exactly one instance."),
        ({"parameters": {}}, "`instances` must hold exactly one instance."),
        ({"instances": [{"prompt": "  "}]}, "A text prompt or an input image is required."),
        ({"instances": [{"prompt": 3}]}, "`prompt` needs to be a string."),
        (video_body(aspectRatio="1:1"), "Aspect ratio 1:1 is not supported. Supported aspect ratios: 16:9, 9:16."),
        (video_body(durationSeconds=5), "The number value for `durationSeconds` is out of bound."),
        (video_body(durationSeconds=10), "The number value for `durationSeconds` is out of bound."),
        (video_body(durationSeconds="8"), "`durationSeconds` needs to be a number."),
        (video_body(resolution="1080p", durationSeconds=4), "Resolution 1080p needs `durationSeconds` 8."),
        (video_body(resolution="2k"), "Resolution 2k is not supported."),
        (video_body(numberOfVideos=1), "`numberOfVideos` isn't supported by this model."),
        (video_body(generateAudio=True), "`generateAudio` isn't supported by this model."),
        (video_body(sampleCount=0), "The number value for `sampleCount` is out of bound."),
        (video_body(seed=7), "`seed` isn't supported by this model."),
        (video_body(enhancePrompt=True), "`enhancePrompt` isn't supported by this model."),
        (video_body(personGeneration="allow_adult"), "`allow_adult` for personGeneration is currently not supported."),
        (video_body(personGeneration="dont_allow"), "`dont_allow` for personGeneration is currently not supported."),
        (video_body(negativePrompt=["rain"]), "`negativePrompt` needs to be a string."),
        ({**video_body(), "model": "x"}, 'Invalid JSON payload received. Unknown name "model": Cannot find field.'),
        (_instance(image={"inlineData": {"data": "AA=="}}), "`inlineData` isn't supported by this model."),
        (_instance(image={"mimeType": "image/png"}), "An image needs `bytesBase64Encoded` and `mimeType`."),
        (_instance(video={"uri": "x"}), "`video` isn't supported by this model."),
        (
            _instance(referenceImages=[{"referenceType": "asset"}]),
            "An image needs `bytesBase64Encoded` and `mimeType`.",
        ),
        (_instance(referenceImages=[{}] * 4), "`referenceImages` takes at most 3 images."),
    ],
)
def test_invalid_requests_are_invalid_arguments_and_create_nothing(
    checker: tuple[Simulator, httpx.Client], body: dict[str, Any], message: str
) -> None:
    """Each wrong body: 400 INVALID_ARGUMENT saying what is wrong; no operation."""
    sim, client = checker
    answer = predict(client, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith(message)
    assert sim.audit()["gemini"]["operations"] == []


def test_a_body_that_is_not_json_is_an_invalid_argument(start_sim: StartSim, make_client: MakeClient) -> None:
    """Unreadable JSON: 400 Invalid JSON payload."""
    client = make_client(start_sim(gemini_keys=(KEY,)), token="")
    answer = client.post(predict_path(), content=b"{nope", headers={"x-goog-api-key": KEY})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("Invalid JSON payload received.")


def test_a_key_over_its_quota_gets_429_until_the_minute_slides(start_sim: StartSim, make_client: MakeClient) -> None:
    """rpm 3: the fourth call in a minute gets 429 with Google's details and creates nothing; each key has its
    own quota; a call is admitted again once the first has left the sliding minute."""
    clock = FakeClock(100.0)
    sim = start_sim(monotonic=clock, gemini_keys=(KEY, OTHER_KEY), gemini_rpm=3)
    client = make_client(sim, token="")
    for _ in range(3):
        assert predict(client).status_code == 200
        clock.advance(10.0)
    refused = predict(client)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["message"].startswith("You exceeded your current quota, please check your plan and billing details.")
    details = {detail["@type"].rsplit(".", 1)[1]: detail for detail in error["details"]}
    assert details["QuotaFailure"]["violations"][0]["quotaValue"] == "3"
    assert details["RetryInfo"]["retryDelay"] == "30s"
    assert predict(client, key=OTHER_KEY).status_code == 200
    clock.advance(29.9)
    assert predict(client).status_code == 429
    clock.advance(0.1)
    assert predict(client).status_code == 200
    gemini = sim.audit()["gemini"]
    figures = gemini["keys"][key_label(KEY)]
    assert figures == {
        "index": 0,
        "predict_calls": 6,
        "max_calls_in_any_60s_window": 5,
        "max_accepted_in_any_60s_window": 3,
        "quota_429": 2,
        "rate_429": 0,
        "operation_checks": 0,
        "downloads": 0,
    }
    assert gemini["keys"][key_label(OTHER_KEY)]["predict_calls"] == 1
    assert len(gemini["operations"]) == 5


def test_the_global_rate_also_holds_the_gemini_paths(start_sim: StartSim, make_client: MakeClient) -> None:
    """Beyond ``rate`` arrivals in a second a Gemini call gets 429 RESOURCE_EXHAUSTED without quota details."""
    clock = FakeClock(100.0)
    sim = start_sim(monotonic=clock, rate=2.0, gemini_keys=(KEY,))
    client = make_client(sim, token="")
    name = predict(client).json()["name"]
    assert check(client, name).status_code == 200
    refused = check(client, name)
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    audit = sim.audit()
    assert audit["throttled_429"] == 1
    assert audit["requests_by_path"] == {
        predict_path(): 1,
        "/v1beta/models/veo-3.1-fast-generate-preview/operations/{id}": 2,
    }
    figures = audit["gemini"]["keys"][key_label(KEY)]
    assert (figures["predict_calls"], figures["operation_checks"], figures["rate_429"]) == (1, 2, 1)


def test_the_key_never_appears_in_the_audit_or_the_logs(
    start_sim: StartSim, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys are listed by label (a short sha256) and index only; access logs leave out the query (``?key=``)."""
    caplog.set_level(logging.DEBUG, logger="veo_simulator")
    sim = start_sim(gemini_keys=(KEY, OTHER_KEY), gemini_rpm=1)
    client = make_client(sim, token="")
    name = predict(client).json()["name"]
    assert predict(client).status_code == 429
    assert client.get(f"/v1beta/{name}?key={OTHER_KEY}").status_code == 404
    assert client.get(f"/v1beta/{name}?key=AIza-wrong").status_code == 400
    text = json.dumps(sim.audit())
    assert KEY not in text and OTHER_KEY not in text
    assert f"/v1beta/{name}" in caplog.text
    for secret in (KEY, OTHER_KEY, "AIza-wrong"):
        assert secret not in caplog.text
    assert set(sim.audit()["gemini"]["keys"]) == {key_label(KEY), key_label(OTHER_KEY)}
