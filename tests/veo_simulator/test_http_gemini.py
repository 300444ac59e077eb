"""The Gemini API's Veo paths over real HTTP: operation shapes, outcomes, downloads, file expiry, state file."""

from __future__ import annotations

from pathlib import Path

from tests.veo_simulator.conftest import MakeClient, StartSim
from tests.veo_simulator.fakes import FakeClock
from tests.veo_simulator.gemini_calls import KEY, MODEL, OTHER_KEY, check, download, predict, video_body
from veo_simulator import key_label
from veo_simulator.admin import video_bytes
from veo_simulator.gemini import FILTERED_REASON, RESPONSE_TYPE

GEMINI = {"gemini_keys": (KEY, OTHER_KEY), "gemini_rpm": 0}


def test_an_operation_runs_then_answers_its_video_uri(start_sim: StartSim, make_client: MakeClient) -> None:
    """The name while running (no ``done``), then ``done`` with the typed response and one sample's uri."""
    wall = FakeClock()
    sim = start_sim(wall=wall, lo=30.0, hi=30.0, **GEMINI)
    client = make_client(sim, token="")
    started = predict(
        client, video_body(durationSeconds=8, resolution="720p", negativePrompt="rain", personGeneration="allow_all")
    )
    assert started.status_code == 200
    name = started.json()["name"]
    assert started.json() == {"name": name}
    model, operation_id = name.removeprefix("models/").split("/operations/")
    assert model == MODEL and operation_id.isalnum()
    assert check(client, name).json() == {"name": name}
    wall.advance(30.0)
    done = check(client, name).json()
    file_id = sim.audit()["gemini"]["operations"][0]["files"][0]
    uri = f"{sim.url}/v1beta/files/{file_id}:download?alt=media"
    assert done == {
        "name": name,
        "done": True,
        "response": {"@type": RESPONSE_TYPE, "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]}},
    }


def test_the_download_redirects_to_keyless_storage_with_the_bytes(start_sim: StartSim, make_client: MakeClient) -> None:
    """The uri needs the key (header or ``&key=``) and answers 302; the storage URL needs none."""
    sim = start_sim(video_size=1000, **GEMINI)
    client = make_client(sim, token="")
    name = predict(client).json()["name"]
    uri = check(client, name).json()["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    file_id = uri.rsplit("/", 1)[1].split(":")[0]
    redirect = download(client, uri, follow=False)
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(f"{sim.url}/_sim/storage/{file_id}.mp4?") and KEY not in location
    stored = client.get(location)
    assert (stored.status_code, stored.headers["content-type"]) == (200, "video/mp4")
    assert stored.content == video_bytes(file_id, 1000) and len(stored.content) == 1000
    by_query = client.get(f"{uri}&key={KEY}", follow_redirects=True)
    assert by_query.content == stored.content
    assert download(client, uri, key="").status_code == 403
    gemini = sim.audit()["gemini"]
    assert (gemini["keys"][key_label(KEY)]["downloads"], gemini["storage_downloads"]) == (2, 2)


def test_fail_and_unsafe_markers_end_in_error_and_safety_filter(start_sim: StartSim, make_client: MakeClient) -> None:
    """``[fail]``: done with ``error``; ``[unsafe]``: done with the filter's count and reasons, no samples."""
    sim = start_sim(**GEMINI)
    client = make_client(sim, token="")
    failed = check(client, predict(client, video_body("[fail] a fox")).json()["name"]).json()
    assert failed["done"] is True and "response" not in failed
    assert set(failed["error"]) == {"code", "message"} and failed["error"]["code"] == 13
    filtered = check(client, predict(client, video_body("an [unsafe] fox")).json()["name"]).json()
    assert "error" not in filtered
    assert filtered["response"] == {
        "@type": RESPONSE_TYPE,
        "generateVideoResponse": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [FILTERED_REASON]},
    }
    outcomes = [op["outcome"] for op in sim.audit()["gemini"]["operations"]]
    assert sorted(outcomes) == ["error", "filtered"]


def test_outcome_probabilities(start_sim: StartSim, make_client: MakeClient) -> None:
    """``gemini_fail`` 1 fails every operation; ``gemini_filtered`` 1 filters every one."""
    for settings, outcome in (({"gemini_fail": 1.0}, "error"), ({"gemini_filtered": 1.0}, "filtered")):
        sim = start_sim(**GEMINI, **settings)
        client = make_client(sim, token="")
        for _ in range(3):
            assert predict(client).status_code == 200
        assert {op["outcome"] for op in sim.audit()["gemini"]["operations"]} == {outcome}


def test_sample_count_and_image_instances(start_sim: StartSim, make_client: MakeClient) -> None:
    """``sampleCount`` 2 gives two samples with different bytes; an image may stand in for the prompt (and then
    people are ``allow_adult``); reference images and a webhook config are taken; Veo 3.0 takes ``enhancePrompt``."""
    sim = start_sim(**GEMINI)
    client = make_client(sim, token="")
    name = predict(client, video_body(sampleCount=2)).json()["name"]
    samples = check(client, name).json()["response"]["generateVideoResponse"]["generatedSamples"]
    videos = [download(client, sample["video"]["uri"]).content for sample in samples]
    assert len(videos) == 2 and videos[0] != videos[1]
    image = {"bytesBase64Encoded": "iVBORw0KGgo=", "mimeType": "image/png"}
    assert predict(client, {"instances": [{"image": image}]}).status_code == 200
    from_image = {"instances": [{"image": image}], "parameters": {"personGeneration": "allow_adult"}}
    assert predict(client, from_image).status_code == 200
    references = [{"image": image, "referenceType": "asset"}] * 3
    assert predict(client, {"instances": [{"prompt": "a fox", "referenceImages": references}]}).status_code == 200
    assert predict(client, {**video_body(), "webhookConfig": {}}).status_code == 200
    assert predict(client, video_body(enhancePrompt=True), model="veo-3.0-generate-001").status_code == 200


def test_unknown_operations_and_other_keys_operations_are_not_found(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """An unknown id, the id under another model, or another key's operation or file: 404 NOT_FOUND."""
    sim = start_sim(**GEMINI)
    client = make_client(sim, token="")
    name = predict(client).json()["name"]
    operation_id = name.rsplit("/", 1)[1]
    uri = check(client, name).json()["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    for answer in (
        check(client, f"models/{MODEL}/operations/nosuchop1234"),
        check(client, f"models/veo-3.0-generate-001/operations/{operation_id}"),
        check(client, name, key=OTHER_KEY),
        download(client, uri, key=OTHER_KEY),
        download(client, f"{sim.url}/v1beta/files/nosuchfile12:download?alt=media"),
        client.get("/v1beta/models", headers={"x-goog-api-key": KEY}),
    ):
        assert answer.status_code == 404
        assert answer.json()["error"]["status"] == "NOT_FOUND"
    assert client.get("/_sim/storage/nosuchfile12.mp4").status_code == 404


def test_files_expire_after_their_time(start_sim: StartSim, make_client: MakeClient) -> None:
    """Past ``gemini_file_ttl_s`` after completion the download and the storage URL answer 404."""
    wall = FakeClock()
    sim = start_sim(wall=wall, gemini_file_ttl_s=3600.0, **GEMINI)
    client = make_client(sim, token="")
    name = predict(client).json()["name"]
    uri = check(client, name).json()["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    location = download(client, uri, follow=False).headers["location"]
    wall.advance(3599.0)
    assert download(client, uri).status_code == 200
    wall.advance(1.0)
    assert download(client, uri).status_code == 404
    assert client.get(location).status_code == 404
    assert check(client, name).json()["done"] is True


def test_gemini_operations_survive_a_restart(tmp_path: Path, start_sim: StartSim, make_client: MakeClient) -> None:
    """With a state file, a restarted simulator still answers the operation and serves its file."""
    state = tmp_path / "sim.json"
    wall = FakeClock()
    first = start_sim(wall=wall, lo=10.0, hi=10.0, state_file=state, **GEMINI)
    name = predict(make_client(first, token="")).json()["name"]
    first.stop()
    wall.advance(10.0)
    second = start_sim(wall=wall, lo=10.0, hi=10.0, state_file=state, **GEMINI)
    client = make_client(second, token="")
    done = check(client, name).json()
    assert done["done"] is True
    assert download(client, done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]).is_success
    second.stop()
    third = start_sim(wall=wall, state_file=state, **GEMINI)
    assert third.audit()["gemini"]["operations"][0]["first_seen_done_at"] == wall.now


def test_flow_media_has_the_configured_size(start_sim: StartSim, make_client: MakeClient) -> None:
    """``video_size`` is shared with Flow's media URLs."""
    sim = start_sim(video_size=2048)
    [created] = sim.create_operations(1, complete_at=[0.0])
    media = make_client(sim).get(f"/_sim/media/{created['media_name']}.mp4")
    assert media.content == video_bytes(created["media_name"], 2048)
