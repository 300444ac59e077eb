"""Flow and labs endpoints over loopback HTTP: shapes, lifecycle, errors."""

from __future__ import annotations

import hashlib

import pytest

from tests.veo_simulator.conftest import MakeClient, StartSim
from tests.veo_simulator.fakes import FakeClock
from tests.veo_simulator.payloads import (
    CANCEL,
    COOKIE,
    CREDITS,
    GENERATE,
    PROJECT,
    REDIRECT,
    SESSION,
    STATUS,
    UPSCALE,
    generate_body,
    legacy_status_body,
    media_status_body,
    reason_of,
    upscale_body,
)

PENDING = "MEDIA_GENERATION_STATUS_PENDING"
ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"
SUCCESSFUL = "MEDIA_GENERATION_STATUS_SUCCESSFUL"
FAILED = "MEDIA_GENERATION_STATUS_FAILED"


def test_generate_answers_the_2026_shape(start_sim: StartSim, make_client: MakeClient) -> None:
    """operations[], workflows[], media[] and remainingCredits, all naming the same media id."""
    sim = start_sim(lo=100.0, hi=100.0)
    response = make_client(sim).post(GENERATE, json=generate_body(scene_id="scene-1"))
    assert response.status_code == 200
    payload = response.json()
    (operation,) = payload["operations"]
    (workflow,) = payload["workflows"]
    (media,) = payload["media"]
    assert operation["sceneId"] == "scene-1"
    assert operation["status"] == PENDING
    assert media["name"] == operation["operation"]["name"] == workflow["metadata"]["primaryMediaId"]
    assert media["projectId"] == PROJECT
    assert media["workflowId"] == workflow["name"]
    assert media["mediaMetadata"]["mediaStatus"]["mediaGenerationStatus"] == PENDING
    assert isinstance(payload["remainingCredits"], int)


def test_each_request_entry_creates_one_operation(start_sim: StartSim, make_client: MakeClient) -> None:
    """A generate with four entries creates four operations."""
    sim = start_sim()
    payload = make_client(sim).post(GENERATE, json=generate_body(count=4)).json()
    assert len(payload["operations"]) == 4
    assert len({m["name"] for m in payload["media"]}) == 4
    assert len(sim.audit()["operations"]) == 4


def test_structured_prompt_is_accepted(start_sim: StartSim, make_client: MakeClient) -> None:
    """textInput.structuredPrompt.parts[] works like textInput.prompt."""
    sim = start_sim()
    body = generate_body()
    body["requests"][0]["textInput"] = {"structuredPrompt": {"parts": [{"text": "a dog "}, {"text": "surfing"}]}}
    body["requests"][0]["metadata"] = {}
    assert make_client(sim).post(GENERATE, json=body).status_code == 200
    assert sim.audit()["operations"][0]["scene_id"]


def test_legacy_status_reports_success_with_a_downloadable_fife_url(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """A successful legacy entry carries metadata.video.fifeUrl on this server and mediaGenerationId."""
    sim = start_sim()
    client = make_client(sim)
    name = client.post(GENERATE, json=generate_body(scene_id="s1")).json()["media"][0]["name"]
    payload = client.post(STATUS, json=legacy_status_body(name, scene_id="s1")).json()
    (entry,) = payload["operations"]
    assert entry["status"] == SUCCESSFUL
    assert entry["sceneId"] == "s1"
    video = entry["operation"]["metadata"]["video"]
    assert video["mediaGenerationId"] == entry["mediaGenerationId"]
    assert video["fifeUrl"].startswith(f"{sim.url}/_sim/media/{name}.mp4?")
    download = client.get(video["fifeUrl"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert download.content[4:8] == b"ftyp"
    assert "remainingCredits" in payload


def test_status_goes_pending_then_active_then_successful(start_sim: StartSim, make_client: MakeClient) -> None:
    """ACTIVE after 20% of the duration, SUCCESSFUL at the completion instant (both contracts)."""
    clock = FakeClock()
    sim = start_sim(wall=clock, lo=10.0, hi=10.0)
    client = make_client(sim)
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]

    def legacy() -> str:
        return str(client.post(STATUS, json=legacy_status_body(name)).json()["operations"][0]["status"])

    def media() -> str:
        entry = client.post(STATUS, json=media_status_body(name)).json()["media"][0]
        return str(entry["mediaMetadata"]["mediaStatus"]["mediaGenerationStatus"])

    assert (legacy(), media()) == (PENDING, PENDING)
    clock.advance(2.0)
    assert (legacy(), media()) == (ACTIVE, ACTIVE)
    clock.advance(8.0)
    assert (legacy(), media()) == (SUCCESSFUL, SUCCESSFUL)
    (record,) = sim.audit()["operations"]
    assert record["first_seen_terminal_at"] == clock.now
    assert record["complete_at"] == record["created_at"] + 10.0


def test_media_status_has_no_url_and_checks_the_project(start_sim: StartSim, make_client: MakeClient) -> None:
    """The media contract never carries a URL; an entry with another project id is absent."""
    sim = start_sim()
    client = make_client(sim)
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    response = client.post(STATUS, json=media_status_body(name))
    (entry,) = response.json()["media"]
    assert entry["name"] == name
    assert entry["mediaMetadata"]["visibility"] == "PRIVATE"
    assert "fifeUrl" not in response.text
    assert "http" not in response.text
    other = client.post(STATUS, json=media_status_body(name, project_id="another-project")).json()
    assert "media" not in other


def test_fail_marker_reports_failure_in_both_contracts(start_sim: StartSim, make_client: MakeClient) -> None:
    """[fail] is accepted, then FAILED with error code 3 and the reason; media adds failureReasons."""
    sim = start_sim()
    client = make_client(sim)
    submitted = client.post(GENERATE, json=generate_body("a [fail] prompt"))
    assert submitted.status_code == 200
    name = submitted.json()["media"][0]["name"]
    (legacy,) = client.post(STATUS, json=legacy_status_body(name)).json()["operations"]
    assert legacy["status"] == FAILED
    assert legacy["operation"]["error"] == {"code": 3, "message": "PUBLIC_ERROR_UNSAFE_GENERATION"}
    assert "metadata" not in legacy["operation"]
    (media,) = client.post(STATUS, json=media_status_body(name)).json()["media"]
    status = media["mediaMetadata"]["mediaStatus"]
    assert status["mediaGenerationStatus"] == FAILED
    assert status["error"] == {"code": 3, "message": "PUBLIC_ERROR_UNSAFE_GENERATION"}
    assert status["failureReasons"] == ["UNSAFE_GENERATION"]
    assert media["mediaMetadata"]["visibility"] == "FILTERED"
    assert client.get(f"/_sim/media/{name}.mp4").status_code == 404


def test_unknown_names_are_absent_from_status_answers(start_sim: StartSim, make_client: MakeClient) -> None:
    """Unknown names are left out; known ones in the same check are answered."""
    sim = start_sim()
    client = make_client(sim)
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    payload = client.post(STATUS, json=legacy_status_body("unknown-1", name, "unknown-2")).json()
    assert [e["operation"]["name"] for e in payload["operations"]] == [name]
    empty = client.post(STATUS, json=media_status_body("unknown")).json()
    assert "media" not in empty
    assert "remainingCredits" in empty


@pytest.mark.parametrize(
    ("contract", "refused", "accepted"),
    [("operations", "media", "operations"), ("media", "operations", "media")],
)
def test_single_contract_refuses_the_other_shape(
    start_sim: StartSim, make_client: MakeClient, contract: str, refused: str, accepted: str
) -> None:
    """--contract operations|media answers the other shape with 400 INVALID_ARGUMENT."""
    sim = start_sim(contract=contract)
    client = make_client(sim)
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    bodies = {"operations": legacy_status_body(name), "media": media_status_body(name)}
    rejected = client.post(STATUS, json=bodies[refused])
    assert rejected.status_code == 400
    assert rejected.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert rejected.json()["error"]["code"] == 400
    ok = client.post(STATUS, json=bodies[accepted])
    assert ok.status_code == 200
    assert accepted in ok.json()


@pytest.mark.parametrize("body", [{}, {"operations": [], "media": []}, {"operations": [{"foo": 1}], "x": 1}])
def test_status_check_needs_exactly_one_known_shape(
    start_sim: StartSim, make_client: MakeClient, body: dict[str, object]
) -> None:
    """Neither shape, both shapes or unknown fields: 400 INVALID_ARGUMENT."""
    response = make_client(start_sim()).post(STATUS, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_unsafe_marker_is_refused_at_submit_and_creates_nothing(start_sim: StartSim, make_client: MakeClient) -> None:
    """[unsafe] gets 400 PUBLIC_ERROR_UNSAFE_GENERATION and no operation exists."""
    sim = start_sim()
    response = make_client(sim).post(GENERATE, json=generate_body("an [unsafe] prompt", scene_id="s9"))
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert reason_of(response.json()) == "PUBLIC_ERROR_UNSAFE_GENERATION"
    audit = sim.audit()
    assert audit["operations"] == []
    assert audit["generate_calls_per_scene"] == {}


def test_unknown_fields_and_bad_json_are_invalid_arguments(start_sim: StartSim, make_client: MakeClient) -> None:
    """Like Google's parser: unknown names and unreadable bodies give 400."""
    sim = start_sim()
    client = make_client(sim)
    body = generate_body()
    body["requests"][0]["videoLengthSeconds"] = 8
    unknown = client.post(GENERATE, json=body)
    assert unknown.status_code == 400
    assert "videoLengthSeconds" in unknown.json()["error"]["message"]
    garbage = client.post(GENERATE, content=b"{not json", headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert garbage.status_code == 400
    assert sim.audit()["operations"] == []


def test_wrong_model_key_is_not_found(start_sim: StartSim, make_client: MakeClient) -> None:
    """An unknown videoModelKey gives 404 'Requested entity was not found'."""
    body = generate_body()
    body["requests"][0]["videoModelKey"] = "gpt_video"
    response = make_client(start_sim()).post(GENERATE, json=body)
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
    }


def test_credits_are_debited_by_generations(start_sim: StartSim, make_client: MakeClient) -> None:
    """GET /v1/credits reports the balance that generate responses also report."""
    sim = start_sim(credits=1000)
    client = make_client(sim)
    before = client.get(CREDITS).json()
    assert before["credits"] == 1000
    assert before["userPaygateTier"].startswith("PAYGATE_TIER_")
    remaining = client.post(GENERATE, json=generate_body()).json()["remainingCredits"]
    assert remaining < 1000
    assert client.get(CREDITS).json()["credits"] == remaining


@pytest.mark.parametrize(
    ("model", "cost"),
    [("veo_3_1_t2v_fast", 20), ("veo_3_1_t2v_fast_ultra", 10), ("veo_3_1_t2v", 100), ("veo_3_1_t2v_lite", 10)],
)
def test_each_model_costs_flows_price(start_sim: StartSim, make_client: MakeClient, model: str, cost: int) -> None:
    """Fast 20 (10 with an _ultra key), Quality 100, Lite 10 (flow-api.md §5)."""
    sim = start_sim(credits=1000)
    body = generate_body()
    body["requests"][0]["videoModelKey"] = model
    assert make_client(sim).post(GENERATE, json=body).json()["remainingCredits"] == 1000 - cost


def test_generate_without_credits_is_quota_reached(start_sim: StartSim, make_client: MakeClient) -> None:
    """When credits run out: 429 PUBLIC_ERROR_USER_QUOTA_REACHED and nothing created."""
    sim = start_sim(credits=5)
    response = make_client(sim).post(GENERATE, json=generate_body())
    assert response.status_code == 429
    assert reason_of(response.json()) == "PUBLIC_ERROR_USER_QUOTA_REACHED"
    assert sim.audit()["operations"] == []


def test_cancel_running_then_finished(start_sim: StartSim, make_client: MakeClient) -> None:
    """Cancel works once on a running generation; afterwards FAILED_PRECONDITION; unknown is 404."""
    sim = start_sim(lo=100.0, hi=100.0)
    client = make_client(sim)
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    assert client.post(CANCEL, json={"mediaId": name}).status_code == 200
    (entry,) = client.post(STATUS, json=legacy_status_body(name)).json()["operations"]
    assert entry["status"] == "MEDIA_GENERATION_STATUS_CANCELLED"
    again = client.post(CANCEL, json={"mediaId": name})
    assert again.status_code == 400
    assert again.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert reason_of(again.json()) == "PUBLIC_ERROR_MEDIA_GENERATION_CANNOT_BE_CANCELED"
    assert client.post(CANCEL, json={"mediaId": "nope"}).status_code == 404
    assert sim.audit()["operations"][0]["final_status"] == "MEDIA_GENERATION_STATUS_CANCELLED"


def test_cancel_of_a_finished_generation_is_refused(start_sim: StartSim, make_client: MakeClient) -> None:
    """A generation that already succeeded cannot be cancelled."""
    sim = start_sim()
    client = make_client(sim)
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    refused = client.post(CANCEL, json={"mediaId": name})
    assert refused.status_code == 400
    assert reason_of(refused.json()) == "PUBLIC_ERROR_MEDIA_GENERATION_CANNOT_BE_CANCELED"


def test_upscale_of_a_finished_video_is_polled_like_a_generation(start_sim: StartSim, make_client: MakeClient) -> None:
    """Upscale answers the generate shape; its result's mediaGenerationId ends in _upsampled."""
    sim = start_sim()
    client = make_client(sim)
    source = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    response = client.post(UPSCALE, json=upscale_body(source))
    assert response.status_code == 200
    name = response.json()["media"][0]["name"]
    (entry,) = client.post(STATUS, json=legacy_status_body(name)).json()["operations"]
    assert entry["status"] == SUCCESSFUL
    assert entry["mediaGenerationId"].endswith("_upsampled")
    kinds = [op["kind"] for op in sim.audit()["operations"]]
    assert kinds == ["generate", "upscale"]


def test_upscale_needs_a_known_successful_source(start_sim: StartSim, make_client: MakeClient) -> None:
    """Unknown source: 404; unfinished source: 400 FAILED_PRECONDITION; generation keys refused."""
    sim = start_sim(lo=100.0, hi=100.0)
    client = make_client(sim)
    assert client.post(UPSCALE, json=upscale_body("unknown")).status_code == 404
    running = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    unfinished = client.post(UPSCALE, json=upscale_body(running))
    assert unfinished.status_code == 400
    assert unfinished.json()["error"]["status"] == "FAILED_PRECONDITION"
    body = generate_body()
    body["requests"][0]["videoModelKey"] = "veo_3_1_upsampler_4k"
    assert client.post(GENERATE, json=body).status_code == 404


def test_session_needs_the_cookie_and_returns_a_stable_token(start_sim: StartSim, make_client: MakeClient) -> None:
    """No cookie: {} (NextAuth's anonymous session); with it: user, expires and a ya29 token."""
    sim = start_sim()
    anonymous = make_client(sim, token="")
    assert anonymous.get(SESSION).json() == {}
    client = make_client(sim, token="", cookies={COOKIE: "session-cookie-value"})
    first = client.get(SESSION).json()
    assert first["access_token"].startswith("ya29.sim-")
    assert first["expires"].endswith("Z")
    assert "email" in first["user"]
    assert client.get(SESSION).json()["access_token"] == first["access_token"]
    assert "session-cookie-value" not in str(sim.audit())


def test_requests_without_bearer_are_unauthenticated(start_sim: StartSim, make_client: MakeClient) -> None:
    """Flow paths need Authorization: Bearer."""
    response = make_client(start_sim(), token="").get(CREDITS)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_media_url_redirect_once_successful_after_the_lag(start_sim: StartSim, make_client: MakeClient) -> None:
    """404 while running and during the lag after success, then 302 to this server's media file."""
    clock = FakeClock()
    sim = start_sim(wall=clock, lo=10.0, hi=10.0, url_lag_s=2.0)
    client = make_client(sim, cookies={COOKIE: "cookie"})
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    assert client.get(REDIRECT, params={"name": name}).status_code == 404
    clock.advance(11.0)
    assert client.get(REDIRECT, params={"name": name}).status_code == 404
    clock.advance(1.0)
    redirect = client.get(REDIRECT, params={"name": name})
    assert redirect.status_code == 302
    assert redirect.headers["location"] == f"{sim.url}/_sim/media/{name}.mp4"
    followed = client.get(REDIRECT, params={"name": name}, follow_redirects=True)
    assert followed.status_code == 200
    assert followed.headers["content-type"] == "video/mp4"


def test_media_url_redirect_needs_the_cookie(start_sim: StartSim, make_client: MakeClient) -> None:
    """Without the session cookie the tRPC route answers 401; unknown media answer 404."""
    sim = start_sim()
    client = make_client(sim)
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    assert client.get(REDIRECT, params={"name": name}).status_code == 401
    with_cookie = make_client(sim, cookies={COOKIE: "c"})
    assert with_cookie.get(REDIRECT, params={"name": "unknown"}).status_code == 404


def test_unknown_flow_path_is_not_found(start_sim: StartSim, make_client: MakeClient) -> None:
    """Paths Flow does not have answer 404 in the Google envelope."""
    response = make_client(start_sim()).post("/v1/video:batchAsyncGenerateVideoNothing", json={})
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_secrets_never_appear_in_the_audit(start_sim: StartSim, make_client: MakeClient) -> None:
    """Bearer and captcha tokens are kept only as digests."""
    sim = start_sim()
    client = make_client(sim, token="ya29.very-secret")
    client.post(GENERATE, json=generate_body(captcha="captcha-secret", scene_id="s"))
    text = str(sim.audit())
    assert "very-secret" not in text
    assert "captcha-secret" not in text
    prefix = sim.audit()["captcha_token_by_scene"]["s"][0]
    assert hashlib.sha256(b"captcha-secret").hexdigest().startswith(prefix)
