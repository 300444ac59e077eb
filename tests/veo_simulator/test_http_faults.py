"""Injected faults over loopback HTTP: which create operations, which only fail, and the audit's count."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.veo_simulator.conftest import MakeClient, StartSim
from tests.veo_simulator.payloads import CREDITS, GENERATE, STATUS, generate_body, legacy_status_body, reason_of
from veo_simulator import Simulator


def audit_once(sim: Simulator, condition: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
    """The simulator's audit once `condition` holds for it (the last one read after `timeout`)."""
    deadline = time.monotonic() + timeout
    audit = sim.audit()
    while not condition(audit) and time.monotonic() < deadline:
        time.sleep(0.01)
        audit = sim.audit()
    return audit


@pytest.mark.parametrize(("fault", "status"), [("503", 503), ("429", 429)])
def test_transient_faults_on_generate_create_nothing(
    start_sim: StartSim, make_client: MakeClient, fault: str, status: int
) -> None:
    """503 and 429 are answered before anything is created, and are not ambiguous."""
    sim = start_sim(faults={fault: 1.0})
    response = make_client(sim).post(GENERATE, json=generate_body(scene_id="s"))
    assert response.status_code == status
    assert "error" in response.json()
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert reason_of(response.json()) == "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
    audit = sim.audit()
    assert audit["operations"] == []
    assert audit["faults_injected"] == {fault: 1}
    assert audit["ambiguous_submissions"] == 0
    assert audit["throttled_429"] == 0


def test_500_on_generate_creates_the_operation_and_counts_as_ambiguous(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """The client gets 500 INTERNAL, but the operation exists."""
    sim = start_sim(faults={"500": 1.0})
    response = make_client(sim).post(GENERATE, json=generate_body(scene_id="s"))
    assert response.status_code == 500
    assert response.json()["error"]["status"] == "INTERNAL"
    audit = sim.audit()
    (operation,) = audit["operations"]
    assert operation["ambiguous"] == "500"
    assert audit["ambiguous_submissions"] == 1
    assert audit["generate_calls_per_scene"] == {"s": 1}


def test_malformed_on_generate_creates_and_answers_an_unreadable_body(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """200 with a body that is not JSON; the operation exists."""
    sim = start_sim(faults={"malformed": 1.0})
    response = make_client(sim).post(GENERATE, json=generate_body(count=2))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    audit = sim.audit()
    assert len(audit["operations"]) == 2
    assert audit["ambiguous_submissions"] == 2
    assert audit["ambiguous_requests"] == 1
    assert audit["faults_injected"] == {"malformed": 1}


def test_timeout_on_generate_creates_then_holds_past_the_client_timeout(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """The client's read times out; the operation exists; other requests are answered meanwhile."""
    sim = start_sim(faults={"timeout": 1.0}, timeout_s=30.0)
    slow_client = make_client(sim, timeout=httpx.Timeout(5.0, read=0.3))
    with pytest.raises(httpx.ReadTimeout):
        slow_client.post(GENERATE, json=generate_body(scene_id="s"))
    # The client gives up after 0.3 s whether or not the simulator's thread has read the request by then.
    audit = audit_once(sim, lambda audit: audit["ambiguous_submissions"] > 0)
    assert audit["ambiguous_submissions"] == 1
    assert audit["operations"][0]["ambiguous"] == "timeout"
    sim.set_faults({})
    assert make_client(sim, timeout=2.0).get(CREDITS).status_code == 200


def test_timeout_answer_is_sent_once_the_hold_ends(start_sim: StartSim, make_client: MakeClient) -> None:
    """A patient client eventually receives the real answer."""
    sim = start_sim(faults={"timeout": 1.0}, timeout_s=0.3)
    response = make_client(sim, timeout=10.0).post(GENERATE, json=generate_body())
    assert response.status_code == 200
    assert response.json()["media"][0]["name"] == sim.audit()["operations"][0]["name"]


def test_stop_ends_a_holding_timeout_promptly(start_sim: StartSim) -> None:
    """stop() does not wait for a held answer's full hold."""
    sim = start_sim(faults={"timeout": 1.0}, timeout_s=60.0)
    errors: list[BaseException] = []

    def call() -> None:
        with httpx.Client(base_url=sim.url, headers={"Authorization": "Bearer t"}, timeout=30.0) as client:
            try:
                client.get(CREDITS)
            except httpx.HTTPError as exc:
                errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5.0
    while sim.audit()["faults_injected"].get("timeout") != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    caller.join(10.0)
    assert not caller.is_alive()
    assert time.monotonic() - started < 10.0


@pytest.mark.parametrize("fault", ["500", "503", "429", "malformed", "timeout"])
def test_faults_on_status_checks_change_nothing(start_sim: StartSim, make_client: MakeClient, fault: str) -> None:
    """A faulted status check is only an error: the terminal status is not marked as seen."""
    sim = start_sim(timeout_s=0.2)
    client = make_client(sim, timeout=5.0)
    name = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    sim.set_faults({fault: 1.0})
    response = client.post(STATUS, json=legacy_status_body(name))
    assert response.status_code != 200 or "SUCCESSFUL" not in response.text
    audit = sim.audit()
    assert audit["operations"][0]["first_seen_terminal_at"] is None
    assert audit["faults_injected"] == {fault: 1}
    assert audit["ambiguous_submissions"] == 0


def test_slow_fault_delays_an_otherwise_normal_answer(start_sim: StartSim, make_client: MakeClient) -> None:
    """slow holds the answer 0.2-1.0 s and the answer is the normal one."""
    sim = start_sim(faults={"slow": 1.0})
    client = make_client(sim)
    started = time.monotonic()
    response = client.get(CREDITS)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 200
    assert sim.audit()["faults_injected"] == {"slow": 1}


def test_fault_mix_is_replaced_through_the_admin_endpoint(start_sim: StartSim, make_client: MakeClient) -> None:
    """POST /_sim/faults replaces the whole mix; GET shows it; a bad mix is refused."""
    sim = start_sim(faults={"503": 1.0})
    client = make_client(sim)
    assert client.get(CREDITS).status_code == 503
    assert client.post("/_sim/faults", json={"500": 1.0}).json() == {"faults": {"500": 1.0}}
    assert client.get(CREDITS).status_code == 500
    assert client.post("/_sim/faults", json={}).status_code == 200
    assert client.get(CREDITS).status_code == 200
    assert client.get("/_sim/faults").json() == {"faults": {}}
    assert client.post("/_sim/faults", json={"teapot": 0.5}).status_code == 400
    assert client.post("/_sim/faults", json={"500": 0.7, "503": 0.7}).status_code == 400


def test_same_seed_injects_the_same_faults(start_sim: StartSim, make_client: MakeClient) -> None:
    """Fault draws come from the seeded generator."""
    runs = []
    for _ in range(2):
        sim = start_sim(seed=42, faults={"503": 0.5})
        client = make_client(sim)
        runs.append([client.get(CREDITS).status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503}


def test_faults_do_not_apply_to_a_submission_that_creates_nothing(start_sim: StartSim, make_client: MakeClient) -> None:
    """An [unsafe] prompt under a 500 mix gets its real 400, and nothing counts as ambiguous."""
    sim = start_sim(faults={"500": 1.0})
    response = make_client(sim).post(GENERATE, json=generate_body("[unsafe]"))
    assert response.status_code == 400
    assert sim.audit()["ambiguous_submissions"] == 0
    assert sim.audit()["faults_injected"] == {}
