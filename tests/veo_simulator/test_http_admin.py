"""Admin endpoints, the audit, and --state persistence across a restart."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.veo_simulator.conftest import MakeClient, StartSim, sim_config
from tests.veo_simulator.fakes import FakeClock
from tests.veo_simulator.payloads import (
    CANCEL,
    COOKIE,
    CREDITS,
    GENERATE,
    SESSION,
    STATUS,
    generate_body,
    legacy_status_body,
    media_status_body,
)
from veo_simulator import Simulator, StateFileError
from veo_simulator.persistence import StateFile, StateSnapshot


def wait_for_state(path: Path, condition: Callable[[StateSnapshot], bool], timeout: float = 5.0) -> bool:
    """Poll a state file written by another thread until ``condition`` holds for what it loads (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(StateFileError):
            saved = StateFile(path).load()
            if saved is not None and condition(saved):
                return True
        time.sleep(0.02)
    return False


def test_admin_operations_are_running_with_the_given_completion_instants(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """POST /_sim/operations creates N running operations, pollable in both contracts, not rate-counted."""
    clock = FakeClock()
    sim = start_sim(wall=clock, rate=1.0)
    client = make_client(sim)
    instants = [clock.now + 5, clock.now + 50]
    created = client.post("/_sim/operations", json={"count": 2, "complete_at": instants}).json()["operations"]
    assert [op["complete_at"] for op in created] == instants
    assert {op["status"] for op in sim.audit()["operations"]} == {"MEDIA_GENERATION_STATUS_ACTIVE"}
    assert all(op["name"] == op["media_name"] and op["scene_id"] for op in created)
    clock.advance(6)
    names = [op["name"] for op in created]
    statuses = [e["status"] for e in client.post(STATUS, json=legacy_status_body(*names)).json()["operations"]]
    assert statuses == ["MEDIA_GENERATION_STATUS_SUCCESSFUL", "MEDIA_GENERATION_STATUS_ACTIVE"]
    audit = sim.audit()
    assert audit["requests_total"] == 1
    assert audit["generate_calls_per_scene"] == {}
    assert [op["origin"] for op in audit["operations"]] == ["admin", "admin"]


def test_admin_operations_draw_completion_between_lo_and_hi(start_sim: StartSim, make_client: MakeClient) -> None:
    """With lo/hi, completion instants fall that many seconds from now."""
    clock = FakeClock()
    sim = start_sim(wall=clock)
    body = {"count": 50, "lo": 10, "hi": 20, "model": "veo_3_1_t2v_lite_low_priority", "project_id": "p"}
    created = make_client(sim).post("/_sim/operations", json=body).json()["operations"]
    assert len(created) == 50
    assert all(clock.now + 10 <= op["complete_at"] <= clock.now + 20 for op in created)
    media = make_client(sim).post(STATUS, json=media_status_body(created[0]["name"], project_id="p")).json()
    assert media["media"][0]["video"]["generatedVideo"]["model"] == "veo_3_1_t2v_lite_low_priority"


@pytest.mark.parametrize(
    "body",
    [{"count": 0}, {"count": 2, "complete_at": [1.0]}, {"count": 1, "lo": 5, "hi": 1}, {"count": 1, "bogus": 1}],
)
def test_bad_admin_operation_requests_are_refused(
    start_sim: StartSim, make_client: MakeClient, body: dict[str, object]
) -> None:
    """Invalid counts, instants or fields: 400 and nothing created."""
    sim = start_sim()
    assert make_client(sim).post("/_sim/operations", json=body).status_code == 400
    assert sim.audit()["operations"] == []


def test_python_api_creates_operations_like_the_endpoint(start_sim: StartSim) -> None:
    """Simulator.create_operations is the in-process form of POST /_sim/operations."""
    sim = start_sim()
    created = sim.create_operations(3, lo=100.0, hi=100.0)
    assert len(created) == 3
    assert len(sim.audit()["operations"]) == 3


def test_audit_counts_requests_seconds_and_duplicate_scenes(start_sim: StartSim, make_client: MakeClient) -> None:
    """Per-path and per-second counts; a scene submitted twice is listed as a duplicate."""
    sim = start_sim()
    client = make_client(sim)
    client.post(GENERATE, json=generate_body(scene_id="dup"))
    client.post(GENERATE, json=generate_body(scene_id="dup"))
    client.post(GENERATE, json=generate_body(scene_id="once"))
    client.get(CREDITS)
    audit = client.get("/_sim/audit").json()
    assert audit == {**sim.audit(), "now": audit["now"], "admin_requests": 1}
    assert audit["requests_total"] == 4
    assert audit["requests_by_path"] == {GENERATE: 3, CREDITS: 1}
    assert sum(audit["per_second"].values()) == 4
    assert all(key.isdigit() for key in audit["per_second"])
    assert audit["generate_calls_per_scene"] == {"dup": 2, "once": 1}
    assert audit["duplicate_scene_ids"] == ["dup"]
    assert audit["responses_by_status"] == {"200": 4}
    for op in audit["operations"]:
        assert op["created_at"] <= op["complete_at"]
        assert op["kind"] == "generate"


def test_unknown_admin_path_and_media_are_not_found(start_sim: StartSim, make_client: MakeClient) -> None:
    """/_sim/* answers 404 for what it does not know."""
    client = make_client(start_sim())
    assert client.get("/_sim/nothing").status_code == 404
    assert client.get("/_sim/media/unknown.mp4").status_code == 404


def test_state_survives_a_restart(tmp_path: Path) -> None:
    """Operations, expired tokens, session tokens and scene counts come back from --state."""
    state = tmp_path / "sim-state.json"
    first = Simulator(sim_config(state_file=state, lo=100.0, hi=100.0))
    first.start()
    try:
        with httpx.Client(base_url=first.url, cookies={COOKIE: "st"}) as labs:
            token = labs.get(SESSION).json()["access_token"]
        with httpx.Client(base_url=first.url, headers={"Authorization": "Bearer doomed"}) as doomed:
            first.set_faults({"401": 1.0})
            assert doomed.get(CREDITS).status_code == 401
            first.set_faults({})
        with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {token}"}) as client:
            name = client.post(GENERATE, json=generate_body(scene_id="s")).json()["media"][0]["name"]
        before = first.audit()["operations"]
    finally:
        first.stop()
    saved = StateFile(state).load()
    assert saved is not None
    assert "doomed" not in state.read_text()
    assert len(saved.operations) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["sim-state.json"]

    second = Simulator(sim_config(state_file=state))
    second.start()
    try:
        with httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {token}"}) as client:
            (entry,) = client.post(STATUS, json=legacy_status_body(name)).json()["operations"]
            assert entry["status"] == "MEDIA_GENERATION_STATUS_PENDING"
        with httpx.Client(base_url=second.url, headers={"Authorization": "Bearer doomed"}) as doomed:
            assert doomed.get(CREDITS).status_code == 401
        with httpx.Client(base_url=second.url, cookies={COOKIE: "st"}) as labs:
            assert labs.get(SESSION).json()["access_token"] == token
        after = second.audit()
        assert after["operations"][0]["complete_at"] == before[0]["complete_at"]
        assert after["generate_calls_per_scene"] == {"s": 1}
    finally:
        second.stop()


def test_state_is_saved_while_running(tmp_path: Path, start_sim: StartSim, make_client: MakeClient) -> None:
    """Changes reach the file shortly after they happen, not only on stop."""
    state = tmp_path / "state.json"
    sim = start_sim(state_file=state, persist_debounce_s=0.0)
    sim.create_operations(2)
    assert wait_for_state(state, lambda saved: len(saved.operations) == 2)


def test_saves_while_running_append_what_changed(tmp_path: Path, start_sim: StartSim, make_client: MakeClient) -> None:
    """With 500 operations saved, a cancel reaches the file as one short appended line."""
    state = tmp_path / "state.json"
    sim = start_sim(state_file=state, persist_debounce_s=0.0, lo=100.0, hi=100.0)
    names = [op["name"] for op in sim.create_operations(500)]
    assert wait_for_state(state, lambda saved: len(saved.operations) == 500)
    before = state.read_bytes()
    client = make_client(sim)
    assert client.post(CANCEL, json={"mediaId": names[7]}).status_code == 200
    cancelled = {names[7]}
    assert wait_for_state(state, lambda saved: {op.name for op in saved.operations if op.cancelled_at} == cancelled)
    after = state.read_bytes()
    assert after.startswith(before)
    assert after[len(before) :].count(b"\n") == 1
    assert len(after) - len(before) < 2_000


def test_corrupt_state_file_refuses_to_start(tmp_path: Path) -> None:
    """A state file that is not the simulator's is reported, not overwritten."""
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(StateFileError):
        Simulator(sim_config(state_file=state)).start()
    assert state.read_text() == "{not json"


def test_restarting_the_same_simulator_keeps_its_state_once(tmp_path: Path) -> None:
    """stop() then start() on one object serves the same operations without counting them twice."""
    sim = Simulator(sim_config(state_file=tmp_path / "state.json", lo=100.0, hi=100.0))
    sim.start()
    try:
        with httpx.Client(base_url=sim.url, headers={"Authorization": "Bearer t"}) as client:
            client.post(GENERATE, json=generate_body(scene_id="s"))
        sim.stop()
        sim.start()
        audit = sim.audit()
        assert audit["generate_calls_per_scene"] == {"s": 1}
        assert len(audit["operations"]) == 1
        with httpx.Client(base_url=sim.url) as client:
            assert client.get("/_sim/health").status_code == 200
    finally:
        sim.stop()
