"""The fault mix on the Gemini API's paths over real HTTP: Gemini-shaped answers, Flow's submission semantics
(refused before creating, or created then answered ambiguously), no 401 for a key, the audit's counts."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.veo_simulator.conftest import MakeClient, StartSim
from tests.veo_simulator.gemini_calls import KEY, check, download, predict
from veo_simulator import Simulator, key_label

GEMINI = {"gemini_keys": (KEY,), "gemini_rpm": 0}


def operations(sim: Simulator) -> list[dict[str, object]]:
    """The Gemini operations the simulator created."""
    return list(sim.audit()["gemini"]["operations"])


def video_uri(client: httpx.Client) -> str:
    """A finished operation's video download uri (the simulator's operations finish at once here)."""
    name = predict(client).json()["name"]
    return str(check(client, name).json()["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"])


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        (
            "503",
            503,
            {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"},
        ),
        (
            "429",
            429,
            {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"},
        ),
    ],
)
def test_503_and_429_on_predict_create_nothing(
    start_sim: StartSim, make_client: MakeClient, fault: str, status: int, error: dict[str, object]
) -> None:
    """Answered in the Gemini API's envelope before anything is created; the call does not count in the quota."""
    sim = start_sim(faults={fault: 1.0}, gemini_keys=(KEY,), gemini_rpm=1)
    answer = predict(make_client(sim, token=""))
    assert (answer.status_code, answer.json()) == (status, {"error": error})
    audit = sim.audit()
    assert (audit["gemini"]["operations"], audit["faults_injected"], audit["ambiguous_submissions"]) == (
        [],
        {fault: 1},
        0,
    )
    assert audit["gemini"]["keys"][key_label(KEY)]["max_accepted_in_any_60s_window"] == 0
    assert audit["throttled_429"] == 0


def test_500_on_predict_creates_the_operation_and_answers_internal(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """The operation exists (and runs to its video), but the caller got 500 INTERNAL."""
    sim = start_sim(faults={"500": 1.0}, **GEMINI)
    answer = predict(make_client(sim, token=""))
    assert answer.status_code == 500
    assert answer.json()["error"]["status"] == "INTERNAL" and "details" not in answer.json()["error"]
    (operation,) = operations(sim)
    assert (operation["ambiguous"], operation["outcome"]) == ("500", "video")
    audit = sim.audit()
    assert (audit["ambiguous_submissions"], audit["ambiguous_requests"], audit["faults_injected"]) == (1, 1, {"500": 1})


def test_malformed_on_predict_creates_and_answers_a_body_naming_no_operation(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """A 200 whose body is cut short before the operation's name."""
    sim = start_sim(faults={"malformed": 1.0}, **GEMINI)
    answer = predict(make_client(sim, token=""))
    assert answer.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        answer.json()
    (operation,) = operations(sim)
    assert operation["ambiguous"] == "malformed" and str(operation["name"]) not in answer.text
    assert sim.audit()["ambiguous_submissions"] == 1


def test_timeout_on_predict_creates_then_holds_past_the_read_timeout(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """The caller's read times out; the operation exists."""
    sim = start_sim(faults={"timeout": 1.0}, timeout_s=30.0, **GEMINI)
    with pytest.raises(httpx.ReadTimeout):
        predict(make_client(sim, token="", timeout=httpx.Timeout(5.0, read=0.3)))
    deadline = time.monotonic() + 30.0
    while not operations(sim) and time.monotonic() < deadline:  # the handler may not have read it yet
        time.sleep(0.01)
    (operation,) = operations(sim)
    assert operation["ambiguous"] == "timeout"


def test_an_ambiguous_fault_on_a_predict_the_quota_refuses_is_no_fault(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """Ambiguity needs something created: over the quota the answer is the quota's 429, and no fault is counted."""
    sim = start_sim(gemini_keys=(KEY,), gemini_rpm=1)
    client = make_client(sim, token="")
    assert predict(client).status_code == 200
    sim.set_faults({"500": 1.0})
    refused = predict(client)
    assert refused.status_code == 429 and refused.json()["error"]["details"]  # QuotaFailure, RetryInfo...
    audit = sim.audit()
    assert (len(audit["gemini"]["operations"]), audit["faults_injected"]) == (1, {})


@pytest.mark.parametrize(
    ("fault", "status"), [("500", 500), ("503", 503), ("429", 429), ("timeout", 504), ("malformed", 200)]
)
def test_faults_on_checks_and_downloads_only_fail_them(
    start_sim: StartSim, make_client: MakeClient, fault: str, status: int
) -> None:
    """A faulted operation check or file download is an error (504 after the hold for ``timeout``, an unreadable
    200 for ``malformed``): the check does not mark the operation seen done, the download does not redirect."""
    sim = start_sim(timeout_s=0.2, **GEMINI)
    client = make_client(sim, token="", timeout=5.0)
    name = predict(client).json()["name"]
    (file_id,) = sim.audit()["gemini"]["operations"][0]["files"]
    file_uri = f"{sim.url}/v1beta/files/{file_id}:download?alt=media"
    sim.set_faults({fault: 1.0})
    for answer in (check(client, name), download(client, file_uri, follow=False)):
        assert answer.status_code == status
        if status == 200:
            with pytest.raises(json.JSONDecodeError):
                answer.json()
        else:
            assert answer.json()["error"]["code"] == status
    audit = sim.audit()
    assert audit["gemini"]["operations"][0]["first_seen_done_at"] is None
    assert (audit["faults_injected"], audit["ambiguous_submissions"]) == ({fault: 2}, 0)


def test_401_does_not_apply_to_a_key(start_sim: StartSim, make_client: MakeClient) -> None:
    """A key cannot expire the way a bearer token does: a drawn 401 is no fault on the Gemini API's paths."""
    sim = start_sim(faults={"401": 1.0}, **GEMINI)
    client = make_client(sim, token="")
    uri = video_uri(client)
    assert download(client, uri).status_code == 200
    assert sim.audit()["faults_injected"] == {}


def test_the_key_is_checked_before_any_fault(start_sim: StartSim, make_client: MakeClient) -> None:
    """A call without a valid key is refused for it whatever the mix says, and no fault is counted."""
    sim = start_sim(faults={"503": 1.0}, **GEMINI)
    client = make_client(sim, token="")
    assert predict(client, key="").status_code == 403
    assert predict(client, key="AIza-wrong").status_code == 400
    assert sim.audit()["faults_injected"] == {}


def test_the_keyless_storage_gets_no_fault(start_sim: StartSim, make_client: MakeClient) -> None:
    """The redirect's target is not the API: its bytes come whatever the mix."""
    sim = start_sim(video_size=500, **GEMINI)
    client = make_client(sim, token="")
    uri = video_uri(client)
    location = download(client, uri, follow=False).headers["location"]
    sim.set_faults({"500": 1.0})
    stored = client.get(location)
    assert (stored.status_code, len(stored.content)) == (200, 500)
    assert sim.audit()["faults_injected"] == {}


def test_slow_holds_a_normal_answer(start_sim: StartSim, make_client: MakeClient) -> None:
    """``slow`` delays the answer 0.2-1.0 s and is counted."""
    sim = start_sim(faults={"slow": 1.0}, **GEMINI)
    started = time.monotonic()
    answer = predict(make_client(sim, token=""))
    assert time.monotonic() - started >= 0.2
    assert answer.status_code == 200 and answer.json()["name"].startswith("models/")
    assert sim.audit()["faults_injected"] == {"slow": 1}
