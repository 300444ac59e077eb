"""Per-account limits over loopback HTTP: throttles, hard blocks, quotas, the per-account audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.veo_simulator.conftest import MakeClient, StartSim
from tests.veo_simulator.fakes import FakeClock
from tests.veo_simulator.payloads import (
    COOKIE,
    CREDITS,
    GENERATE,
    SESSION,
    UPSCALE,
    generate_body,
    reason_of,
    upscale_body,
)
from veo_simulator import Simulator, bearer_account, session_account

THROTTLED = "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
BLOCKED = "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC"
QUOTA = "PUBLIC_ERROR_USER_QUOTA_REACHED"
MODEL_QUOTA = "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED"
FAST, QUALITY = "veo_3_1_t2v_fast", "veo_3_1_t2v_quality"
TOKEN_A = "ya29.account-a"
TOKEN_B = "ya29.account-b"


def refused(response: httpx.Response, reason: str) -> None:
    """A 429 RESOURCE_EXHAUSTED with this reason."""
    assert response.status_code == 429, response.text
    payload = response.json()
    assert payload["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert reason_of(payload) == reason


def account(sim: Simulator, token: str = TOKEN_A) -> dict[str, Any]:
    """The audit's figures of the account behind ``token``."""
    figures: dict[str, Any] = sim.audit()["accounts"][bearer_account(token)]
    return figures


def test_the_n_plus_first_active_generation_is_throttled_and_creates_nothing(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """With 2 active allowed, the third is refused until one of the two is terminal."""
    clock = FakeClock()
    sim = start_sim(wall=clock, lo=100.0, hi=100.0, account_active=2)
    client = make_client(sim, TOKEN_A)
    assert [client.post(GENERATE, json=generate_body()).status_code for _ in range(2)] == [200, 200]
    response = client.post(GENERATE, json=generate_body(scene_id="refused"))
    refused(response, THROTTLED)
    assert "Retry-After" not in response.headers
    audit = sim.audit()
    assert len(audit["operations"]) == 2
    assert "refused" not in audit["generate_calls_per_scene"]
    assert account(sim)["throttled"] == {"active": 1}

    clock.advance(100.0)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    assert account(sim)["active"] == 1


def test_a_request_of_several_entries_counts_each(start_sim: StartSim, make_client: MakeClient) -> None:
    """Three entries do not fit into two free places."""
    sim = start_sim(wall=FakeClock(), lo=100.0, hi=100.0, account_active=2)
    refused(make_client(sim).post(GENERATE, json=generate_body(count=3)), THROTTLED)
    assert sim.audit()["operations"] == []


def test_upscales_count_like_generations(start_sim: StartSim, make_client: MakeClient) -> None:
    """A running upscale takes the account's only place."""
    clock = FakeClock()
    sim = start_sim(wall=clock, lo=10.0, hi=10.0, account_active=1)
    client = make_client(sim, TOKEN_A)
    video = client.post(GENERATE, json=generate_body()).json()["media"][0]["name"]
    refused(client.post(UPSCALE, json=upscale_body(video)), THROTTLED)
    clock.advance(10.0)
    assert client.post(UPSCALE, json=upscale_body(video)).status_code == 200
    refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    assert account(sim)["throttled"] == {"active": 2}


def test_a_submission_too_soon_after_the_previous_one_is_throttled(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """The gap runs from the account's previous submission, whatever that one's answer."""
    clock = FakeClock()
    sim = start_sim(wall=clock, account_gap=1.5)
    client = make_client(sim, TOKEN_A)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    clock.advance(1.0)
    refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    clock.advance(1.0)  # 2 s after the accepted one, 1 s after the throttled one
    refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    clock.advance(1.5)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    figures = account(sim)
    assert figures["throttled"] == {"gap": 2}
    assert figures["min_gap_seen"] == 1.0
    assert len(sim.audit()["operations"]) == 2


def test_repeated_throttles_within_the_window_hard_block_the_account_until_the_block_ends(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """The third throttle in 60 s blocks the account for 300 s; every submission meanwhile is refused."""
    clock = FakeClock()
    sim = start_sim(
        wall=clock, account_gap=10.0, account_throttles_before_block=3, account_window=60.0, account_block=300.0
    )
    client = make_client(sim, TOKEN_A)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    for _ in range(3):
        clock.advance(1.0)
        refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    blocked_at = clock.now
    for _ in range(3):
        clock.advance(60.0)
        response = client.post(GENERATE, json=generate_body())
        refused(response, BLOCKED)
        assert response.json()["error"]["message"] == "reCAPTCHA evaluation failed"
    figures = account(sim)
    assert figures["blocks"] == [{"start": blocked_at, "end": blocked_at + 300.0}]
    assert figures["blocked_until"] == blocked_at + 300.0
    assert figures["blocked_answers"] == 3

    clock.now = blocked_at + 300.0
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    figures = account(sim)
    assert figures["blocked_until"] is None
    assert (figures["submissions"], figures["submissions_accepted"], figures["throttled_total"]) == (8, 2, 3)
    assert len(sim.audit()["operations"]) == 2


def test_throttles_spread_wider_than_the_window_do_not_block(start_sim: StartSim, make_client: MakeClient) -> None:
    """Three throttles, each more than 60 s after the one before: no block."""
    clock = FakeClock()
    sim = start_sim(wall=clock, lo=1000.0, hi=1000.0, account_active=1, account_throttles_before_block=3)
    client = make_client(sim, TOKEN_A)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    for _ in range(4):
        clock.advance(61.0)
        refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    assert account(sim)["blocks"] == []


def test_a_used_up_quota_is_refused_with_its_reason(start_sim: StartSim, make_client: MakeClient) -> None:
    """Quota 2: the third generation is refused (not a throttle, no block), and stays refused."""
    clock = FakeClock()
    sim = start_sim(wall=clock, account_quota=2, account_throttles_before_block=1)
    client = make_client(sim, TOKEN_A)
    assert [client.post(GENERATE, json=generate_body()).status_code for _ in range(2)] == [200, 200]
    refused(client.post(GENERATE, json=generate_body()), QUOTA)
    clock.advance(3600.0)
    refused(client.post(GENERATE, json=generate_body()), QUOTA)
    figures = account(sim)
    assert (figures["quota_used"], figures["quota"], figures["quota_refusals"]) == (2, 2, 2)
    assert (figures["throttled"], figures["blocks"]) == ({}, [])
    assert len(sim.audit()["operations"]) == 2


def test_a_quota_can_be_set_for_one_credential(start_sim: StartSim, make_client: MakeClient) -> None:
    """``account_quotas`` overrides the quota of one account only."""
    sim = start_sim(account_quota=5, account_quotas={TOKEN_B: 1})
    a, b = make_client(sim, TOKEN_A), make_client(sim, TOKEN_B)
    assert b.post(GENERATE, json=generate_body()).status_code == 200
    refused(b.post(GENERATE, json=generate_body()), QUOTA)
    assert [a.post(GENERATE, json=generate_body()).status_code for _ in range(5)] == [200] * 5
    refused(a.post(GENERATE, json=generate_body()), QUOTA)


def test_a_used_up_model_quota_refuses_that_model_only(start_sim: StartSim, make_client: MakeClient) -> None:
    """A model quota of 2: the third generation of that model is refused with the per-model reason (creating
    nothing), other models and other accounts go on, and the audit counts it by model."""
    sim = start_sim(model_quotas={FAST: 2})
    a, b = make_client(sim, TOKEN_A), make_client(sim, TOKEN_B)
    assert [a.post(GENERATE, json=generate_body()).status_code for _ in range(2)] == [200, 200]
    refused(a.post(GENERATE, json=generate_body()), MODEL_QUOTA)
    refused(a.post(GENERATE, json=generate_body(count=2)), MODEL_QUOTA)
    assert a.post(GENERATE, json=generate_body(model=QUALITY)).status_code == 200
    assert b.post(GENERATE, json=generate_body()).status_code == 200
    figures = account(sim)
    assert (figures["model_quota_used"], figures["model_quota_refusals"]) == ({FAST: 2, QUALITY: 1}, {FAST: 2})
    assert (figures["quota_refusals"], figures["throttled"]) == (0, {})
    assert sim.audit()["account_limits"]["model_quotas"] == {FAST: 2}
    assert len(sim.audit()["operations"]) == 4


def test_accounts_are_limited_independently(start_sim: StartSim, make_client: MakeClient) -> None:
    """A's full account and A's block leave B untouched."""
    clock = FakeClock()
    sim = start_sim(wall=clock, lo=100.0, hi=100.0, account_active=1, account_throttles_before_block=1)
    a, b = make_client(sim, TOKEN_A), make_client(sim, TOKEN_B)
    assert a.post(GENERATE, json=generate_body()).status_code == 200
    refused(a.post(GENERATE, json=generate_body()), THROTTLED)
    refused(a.post(GENERATE, json=generate_body()), BLOCKED)
    assert b.post(GENERATE, json=generate_body()).status_code == 200
    assert account(sim, TOKEN_B)["blocks"] == []
    assert len(account(sim, TOKEN_A)["blocks"]) == 1


def test_tokens_minted_for_one_session_are_one_account(start_sim: StartSim, make_client: MakeClient) -> None:
    """The account of a session-minted token is the session cookie's, not the token's."""
    sim = start_sim(lo=100.0, hi=100.0, wall=FakeClock(), account_active=1)
    session = make_client(sim, token="", cookies={COOKIE: "session-1"})
    token = session.get(SESSION).json()["access_token"]
    client = make_client(sim, token)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    assert list(sim.audit()["accounts"]) == [session_account("session-1")]


def test_audit_figures_per_account(start_sim: StartSim, make_client: MakeClient) -> None:
    """Accepted submissions and generations, throttles by reason, max active and min gap seen."""
    clock = FakeClock()
    sim = start_sim(wall=clock, lo=100.0, hi=100.0, account_active=3, account_gap=2.0)
    client = make_client(sim, TOKEN_A)
    assert client.post(GENERATE, json=generate_body(count=2)).status_code == 200
    clock.advance(0.5)
    refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    clock.advance(2.5)
    refused(client.post(GENERATE, json=generate_body(count=2)), THROTTLED)
    clock.advance(3.0)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    audit = sim.audit()
    assert audit["account_limits"]["max_active"] == 3
    assert audit["accounts"][bearer_account(TOKEN_A)] == {
        "submissions": 4,
        "submissions_accepted": 2,
        "generations_accepted": 3,
        "throttled": {"gap": 1, "active": 1},
        "throttled_total": 2,
        "blocked_answers": 0,
        "blocks": [],
        "blocked_until": None,
        "quota_used": 3,
        "quota": None,
        "quota_refusals": 0,
        "model_quota_used": {"veo_3_1_t2v_fast": 3},
        "model_quota_refusals": {},
        "active": 3,
        "max_active_seen": 3,
        "min_gap_seen": 0.5,
        "credits": 50_000 - 3 * 20,
    }


def test_each_account_has_its_own_credits(start_sim: StartSim, make_client: MakeClient) -> None:
    """Balances, debits and running out are per account: B still pays when A cannot."""
    sim = start_sim(credits=30)
    a, b = make_client(sim, TOKEN_A), make_client(sim, TOKEN_B)
    assert a.post(GENERATE, json=generate_body()).json()["remainingCredits"] == 10
    refused(a.post(GENERATE, json=generate_body()), QUOTA)
    assert (a.get(CREDITS).json()["credits"], b.get(CREDITS).json()["credits"]) == (10, 30)
    assert b.post(GENERATE, json=generate_body()).json()["remainingCredits"] == 10
    assert account(sim)["quota_refusals"] == 1


def test_by_default_nothing_is_limited(start_sim: StartSim, make_client: MakeClient) -> None:
    """Without account settings, a burst on one account is accepted whole, and still audited."""
    sim = start_sim(lo=100.0, hi=100.0)
    client = make_client(sim, TOKEN_A)
    assert {client.post(GENERATE, json=generate_body()).status_code for _ in range(20)} == {200}
    audit = sim.audit()
    limits = audit["account_limits"]
    assert (limits["max_active"], limits["gap_s"], limits["throttles_before_block"], limits["quota"]) == (0, 0, 0, 0)
    figures = account(sim)
    assert (figures["submissions_accepted"], figures["throttled"], figures["max_active_seen"]) == (20, {}, 20)


def test_limits_change_while_running(start_sim: StartSim, make_client: MakeClient) -> None:
    """POST /_sim/accounts replaces the named limits; unknown names are a 400."""
    sim = start_sim(lo=100.0, hi=100.0, wall=FakeClock())
    client = make_client(sim, TOKEN_A)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    answer = client.post("/_sim/accounts", json={"max_active": 1, "quotas": {TOKEN_B: 0}})
    assert answer.status_code == 200
    assert answer.json()["limits"]["max_active"] == 1
    refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    assert client.post("/_sim/accounts", json={"max_actve": 1}).status_code == 400
    assert client.post("/_sim/accounts", json={"gap_s": -1}).status_code == 400
    listing = client.get("/_sim/accounts").json()
    assert listing["accounts"][bearer_account(TOKEN_A)]["throttled"] == {"active": 1}
    sim.set_account_limits(max_active=0)
    assert client.post(GENERATE, json=generate_body()).status_code == 200


def test_blocks_and_quotas_survive_a_restart(tmp_path: Path, start_sim: StartSim, make_client: MakeClient) -> None:
    """A restarted simulator keeps the account blocked, its quota used and its operations active."""
    clock = FakeClock()
    settings: dict[str, Any] = {
        "wall": clock,
        "lo": 1000.0,
        "hi": 1000.0,
        "state_file": tmp_path / "state.json",
        "account_active": 1,
        "account_throttles_before_block": 1,
        "account_block": 300.0,
        "account_quota": 3,
    }
    first = start_sim(**settings)
    client = make_client(first, TOKEN_A)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    refused(client.post(GENERATE, json=generate_body()), THROTTLED)
    first.stop()

    second = start_sim(**settings)
    client = make_client(second, TOKEN_A)
    refused(client.post(GENERATE, json=generate_body()), BLOCKED)
    clock.advance(300.0)
    refused(client.post(GENERATE, json=generate_body()), THROTTLED)  # the first one is still running
    clock.advance(1000.0)
    assert client.post(GENERATE, json=generate_body()).status_code == 200
    figures = account(second)
    assert (figures["quota_used"], len(figures["blocks"]), figures["submissions"]) == (2, 2, 5)
