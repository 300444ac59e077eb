"""The simulator enforces its own rate: more than R arrivals in a sliding second get 429."""

from __future__ import annotations

from tests.veo_simulator.conftest import MakeClient, StartSim
from tests.veo_simulator.fakes import FakeClock
from tests.veo_simulator.payloads import CREDITS, GENERATE, SESSION, generate_body, reason_of


def test_arrivals_beyond_the_rate_in_one_second_are_throttled(start_sim: StartSim, make_client: MakeClient) -> None:
    """R+3 requests in the same instant: the last 3 get 429 with Retry-After: 1."""
    clock = FakeClock(100.0)
    sim = start_sim(rate=5.0, monotonic=clock)
    client = make_client(sim)
    responses = [client.get(CREDITS) for _ in range(8)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 3
    for throttled in responses[5:]:
        assert throttled.headers["retry-after"] == "1"
        assert throttled.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert reason_of(throttled.json()) == "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
    audit = sim.audit()
    assert audit["throttled_429"] == 3
    assert audit["max_in_any_1s_window"] == 8
    assert audit["requests_total"] == 8


def test_the_window_slides(start_sim: StartSim, make_client: MakeClient) -> None:
    """Once a full second has passed since the earlier arrivals, requests pass again."""
    clock = FakeClock(100.0)
    sim = start_sim(rate=2.0, monotonic=clock)
    client = make_client(sim)
    assert client.get(CREDITS).status_code == 200
    clock.advance(0.5)
    assert client.get(CREDITS).status_code == 200
    assert client.get(CREDITS).status_code == 429
    clock.advance(0.5)
    assert client.get(CREDITS).status_code == 429  # (100.0, 101.0] holds 100.5, 100.5, 101.0
    clock.advance(0.6)
    assert client.get(CREDITS).status_code == 200
    assert sim.audit()["max_in_any_1s_window"] == 3


def test_a_throttled_generate_creates_nothing(start_sim: StartSim, make_client: MakeClient) -> None:
    """The 429 proves nothing was created: no operation, no scene count, no attempt."""
    clock = FakeClock(100.0)
    sim = start_sim(rate=1.0, monotonic=clock)
    client = make_client(sim)
    assert client.get(CREDITS).status_code == 200
    response = client.post(GENERATE, json=generate_body(scene_id="s"))
    assert response.status_code == 429
    audit = sim.audit()
    assert audit["operations"] == []
    assert audit["generate_calls_per_scene"] == {}
    assert audit["generate_attempts_per_scene"] == {}


def test_labs_paths_count_and_admin_paths_do_not(start_sim: StartSim, make_client: MakeClient) -> None:
    """Session calls share the budget; /_sim/* never counts."""
    clock = FakeClock(100.0)
    sim = start_sim(rate=2.0, monotonic=clock)
    client = make_client(sim)
    for _ in range(5):
        assert client.get("/_sim/health").status_code == 200
    assert client.get(SESSION).status_code == 200
    assert client.get(CREDITS).status_code == 200
    assert client.get(SESSION).status_code == 429
    audit = sim.audit()
    assert audit["requests_by_path"] == {SESSION: 2, CREDITS: 1}
    assert sum(audit["per_second"].values()) == 3


def test_quick_requests_on_the_real_clock_are_throttled(start_sim: StartSim, make_client: MakeClient) -> None:
    """With real time, R+3 back-to-back requests hit the limit and the audit shows a window above R."""
    sim = start_sim(rate=3.0)
    client = make_client(sim)
    statuses = [client.get(CREDITS).status_code for _ in range(6)]
    throttled = statuses.count(429)
    assert throttled >= 1
    audit = sim.audit()
    assert audit["max_in_any_1s_window"] > 3
    assert audit["throttled_429"] == throttled
