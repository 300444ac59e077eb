"""Bearer expiry with session refresh, and single-use reCAPTCHA tokens, over loopback HTTP."""

from __future__ import annotations

import hashlib

from tests.veo_simulator.conftest import MakeClient, StartSim
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


def test_401_fault_expires_the_token_until_the_session_gives_a_new_one(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    """After a 401 the old token stays refused; the session endpoint mints a fresh one that works."""
    sim = start_sim()
    labs = make_client(sim, token="", cookies={COOKIE: "st"})
    old = labs.get(SESSION).json()["access_token"]
    flow = make_client(sim, token=old)
    assert flow.get(CREDITS).status_code == 200
    sim.set_faults({"401": 1.0})
    expired = flow.get(CREDITS)
    assert expired.status_code == 401
    assert expired.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "www-authenticate" in expired.headers
    sim.set_faults({})
    assert flow.get(CREDITS).status_code == 401
    new = labs.get(SESSION).json()["access_token"]
    assert new != old
    assert make_client(sim, token=new).get(CREDITS).status_code == 200
    audit = sim.audit()
    assert audit["tokens_expired"] == 1
    assert audit["sessions_issued"] == 2
    assert audit["faults_injected"] == {"401": 1}


def test_401_fault_on_generate_creates_nothing(start_sim: StartSim, make_client: MakeClient) -> None:
    """A 401 proves nothing was created."""
    sim = start_sim(faults={"401": 1.0})
    assert make_client(sim).post(GENERATE, json=generate_body()).status_code == 401
    assert sim.audit()["operations"] == []


def test_tokens_the_simulator_never_issued_are_accepted(start_sim: StartSim, make_client: MakeClient) -> None:
    """Any bearer token works unless the simulator expired it."""
    assert make_client(start_sim(), token="ya29.anything").get(CREDITS).status_code == 200


def test_required_captcha_refuses_a_missing_token(start_sim: StartSim, make_client: MakeClient) -> None:
    """No token: 403 PERMISSION_DENIED PUBLIC_ERROR_UNUSUAL_ACTIVITY 'reCAPTCHA evaluation failed'."""
    sim = start_sim(require_captcha=True)
    response = make_client(sim).post(GENERATE, json=generate_body())
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"] == "reCAPTCHA evaluation failed"
    assert reason_of(response.json()) == "PUBLIC_ERROR_UNUSUAL_ACTIVITY"
    assert sim.audit()["operations"] == []
    assert sim.audit()["captcha_rejected"] == 1


def test_required_captcha_accepts_each_token_once(start_sim: StartSim, make_client: MakeClient) -> None:
    """A fresh token passes (2026 or legacy field); reusing it is refused, for upscales too."""
    sim = start_sim(require_captcha=True)
    client = make_client(sim)
    first = client.post(GENERATE, json=generate_body(scene_id="a", captcha="tok-1"))
    assert first.status_code == 200
    reused = client.post(GENERATE, json=generate_body(scene_id="b", captcha="tok-1"))
    assert reused.status_code == 403
    legacy = client.post(GENERATE, json=generate_body(scene_id="c", captcha="tok-2", legacy_captcha=True))
    assert legacy.status_code == 200
    source = first.json()["media"][0]["name"]
    assert client.post(UPSCALE, json=upscale_body(source)).status_code == 403
    assert client.post(UPSCALE, json=upscale_body(source, captcha="tok-2")).status_code == 403
    assert client.post(UPSCALE, json=upscale_body(source, captcha="tok-3")).status_code == 200
    audit = sim.audit()
    assert audit["captcha_tokens_seen"] == 3
    assert audit["captcha_rejected"] == 3
    assert audit["captcha_token_by_scene"]["a"] == [hashlib.sha256(b"tok-1").hexdigest()[:12]]
    assert audit["captcha_token_by_scene"]["c"] == [hashlib.sha256(b"tok-2").hexdigest()[:12]]
    assert "b" not in audit["captcha_token_by_scene"]


def test_captcha_not_required_allows_reuse_but_still_records(start_sim: StartSim, make_client: MakeClient) -> None:
    """Without --require-captcha, tokens are optional and only recorded."""
    sim = start_sim()
    client = make_client(sim)
    assert client.post(GENERATE, json=generate_body(scene_id="a", captcha="same")).status_code == 200
    assert client.post(GENERATE, json=generate_body(scene_id="b", captcha="same")).status_code == 200
    assert client.post(GENERATE, json=generate_body(scene_id="c")).status_code == 200
    audit = sim.audit()
    assert audit["captcha_tokens_seen"] == 1
    assert set(audit["captcha_token_by_scene"]) == {"a", "b"}
