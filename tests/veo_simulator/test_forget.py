"""Forgetting an operation (``DELETE /_sim/operations/{name}``): afterwards every endpoint answers for it as
flow-api.md says Flow answers for an operation it does not know."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.veo_simulator.conftest import MakeClient, StartSim, sim_config
from tests.veo_simulator.fakes import FakeClock
from tests.veo_simulator.payloads import CANCEL, COOKIE, REDIRECT, STATUS, legacy_status_body, media_status_body
from tests.veo_simulator.test_http_admin import wait_for_state
from veo_simulator import Simulator
from veo_simulator.persistence import StateFile


def made(client: httpx.Client, count: int) -> list[dict[str, Any]]:
    """Running operations made through the admin endpoint (project ``p``)."""
    body = {"count": count, "lo": 100, "hi": 100, "project_id": "p"}
    operations: list[dict[str, Any]] = client.post("/_sim/operations", json=body).json()["operations"]
    return operations


def test_a_forgotten_operation_is_left_out_of_legacy_status_answers(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """The legacy contract reports the operations it knows and leaves the forgotten one out (200)."""
    client = make_client(start_sim())
    kept, lost = (op["name"] for op in made(client, 2))
    answer = client.delete(f"/_sim/operations/{lost}")
    assert (answer.status_code, answer.json()) == (200, {"forgotten": lost})
    status = client.post(STATUS, json=legacy_status_body(kept, lost))
    assert status.status_code == 200
    assert [e["operation"]["name"] for e in status.json()["operations"]] == [kept]
    alone = client.post(STATUS, json=legacy_status_body(lost))
    assert alone.status_code == 200
    assert "operations" not in alone.json()


def test_a_forgotten_operation_is_left_out_of_media_status_answers(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """The media contract does the same; forgetting by the media generation id works too."""
    client = make_client(start_sim())
    kept, lost = made(client, 2)
    assert client.delete(f"/_sim/operations/{lost['media_generation_id']}").json() == {"forgotten": lost["name"]}
    status = client.post(STATUS, json=media_status_body(kept["name"], lost["name"], project_id="p")).json()
    assert [m["name"] for m in status["media"]] == [kept["name"]]
    assert [op["name"] for op in client.get("/_sim/audit").json()["operations"]] == [kept["name"]]


def test_cancel_and_the_video_url_of_a_forgotten_operation_are_not_found(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """Cancel answers Google's 404 NOT_FOUND envelope, the media URL redirect its tRPC NOT_FOUND."""
    clock = FakeClock()
    sim = start_sim(wall=clock)
    client = make_client(sim)
    (lost,) = made(client, 1)
    client.delete(f"/_sim/operations/{lost['name']}")
    cancel = client.post(CANCEL, json={"mediaId": lost["name"]})
    assert cancel.status_code == 404
    assert cancel.json()["error"]["status"] == "NOT_FOUND"
    clock.advance(200)
    with httpx.Client(base_url=sim.url, cookies={COOKIE: "st"}) as labs:
        assert labs.get(REDIRECT, params={"name": lost["name"]}).status_code == 404


@pytest.mark.parametrize("path", ["/_sim/operations/unknown", "/_sim/operations/"])
def test_forgetting_what_the_simulator_does_not_know_is_not_found(
    start_sim: StartSim, make_client: MakeClient, path: str
) -> None:
    """An unknown name (or none): 404, nothing changes."""
    client = make_client(start_sim())
    made(client, 1)
    assert client.delete(path).status_code == 404
    assert len(client.get("/_sim/audit").json()["operations"]) == 1


def test_a_forgotten_operation_stays_forgotten_across_a_restart(tmp_path: Path) -> None:
    """With --state, the journal records the forgetting: the restarted simulator does not know it either."""
    state = tmp_path / "sim-state.json"
    first = Simulator(sim_config(state_file=state, persist_debounce_s=0.0))
    first.start()
    try:
        with httpx.Client(base_url=first.url) as client:
            kept, lost = (op["name"] for op in made(client, 2))
            assert wait_for_state(state, lambda saved: len(saved.operations) == 2)  # so the forgetting is appended
            assert client.delete(f"/_sim/operations/{lost}").status_code == 200
    finally:
        first.stop()
    saved = StateFile(state).load()
    assert saved is not None
    assert [op.name for op in saved.operations] == [kept]
    assert '"forgotten"' in state.read_text().splitlines()[-1]
    second = Simulator(sim_config(state_file=state))
    second.start()
    try:
        assert [op["name"] for op in second.audit()["operations"]] == [kept]
    finally:
        second.stop()
