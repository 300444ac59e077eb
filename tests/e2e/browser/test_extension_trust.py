"""The extension against a fake relay (a websockets server in the test) at its relay URL, as a process that took
the relay's port while `veo serve` was down would be: not knowing the provider token, it gets neither the
token, nor the session cookie, nor a minted token, whatever it pushes. One that does know it (speaks the
protocol as the relay does) gets them, but only for the allow-listed action and at most the cap a minute."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect
from websockets.sync.server import ServerConnection, serve

from tests.actors.system import wait_for
from tests.e2e.browser.test_extension import (  # the fixtures are used by name
    browser,
    configure,
    labs,
    page_calls,
)
from tests.e2e.browser.test_extension_session import FIRST, set_session
from tests.e2e.browser.test_extension_session import extension as session_extension
from veo_protocol.provider_proof import new_nonce, provider_proof, relay_proof

__all__ = ["browser", "labs"]

PROVIDER_TOKEN = "the-provider-token-veo-serve-printed"
CAP = 20  # guard.js MINTS_PER_MINUTE
OVER_CAP = 5


@pytest.fixture
def extension(tmp_path: Path) -> Path:
    """The loopback copy with the cookies permission granted at install (test_extension_session's)."""
    return Path(session_extension.__wrapped__(tmp_path))  # type: ignore[attr-defined]


def result(request_id: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": "result", "id": request_id, "ok": True, "data": data, "position": 0})


def captcha_request(request_id: str, action: str) -> str:
    return json.dumps({"type": "captcha_request", "request_id": request_id, "profile_id": "default", "action": action})


class FakeRelay:
    """A websocket server at `ws_url` that answers the challenge with the proof `key` gives (a made-up one when
    it has no key), pushes a registration result and a token request before any proof (an attempt to skip
    it), and once the extension registers pushes a token request for each of `actions`. It records what it
    got: the upgrade paths and every message."""

    def __init__(self, key: str | None, actions: list[str]) -> None:
        self.key = key
        self.actions = actions
        self.provider_token = PROVIDER_TOKEN  # what the extension is given
        self.paths: list[str] = []
        self.received: list[dict[str, Any]] = []
        self.challenges = 0
        self._server = serve(self._connection, "127.0.0.1", 0)
        self.ws_url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/ws"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-relay", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") == type_]

    def _connection(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        host = ws.request.headers["Host"]
        relay_nonce = ""
        ws.send(result("register", {"provider_id": "prov-fake", "providers": 1}))
        ws.send(captcha_request("cap-early", "VIDEO_GENERATION"))
        for raw in ws:
            message = json.loads(raw)
            self.received.append(message)
            if message.get("type") == "provide_session":
                ws.send(result(message["id"], {"accepted": True}))
            if message.get("type") != "register_provider":
                continue
            if "proof" not in message:
                self.challenges += 1
                relay_nonce = new_nonce()
                proof = (
                    relay_proof(self.key, host, message["nonce"], relay_nonce) if self.key else secrets.token_hex(32)
                )
                ws.send(result(message["id"], {"relay_nonce": relay_nonce, "relay_proof": proof}))
                continue
            assert self.key is not None and message["proof"] == provider_proof(
                self.key, host, message["nonce"], relay_nonce
            )
            ws.send(result(message["id"], {"provider_id": "prov-1", "providers": 1}))
            for i, action in enumerate(self.actions):
                ws.send(captcha_request(f"cap-{i}", action))


@pytest.fixture
def impostor() -> Iterator[FakeRelay]:
    relay = FakeRelay(None, ["VIDEO_GENERATION"] * 3)
    try:
        yield relay
    finally:
        relay.close()


@pytest.fixture
def knowing() -> Iterator[FakeRelay]:
    relay = FakeRelay(PROVIDER_TOKEN, ["IMAGE_GENERATION", "LOGIN", *["VIDEO_GENERATION"] * (CAP + OVER_CAP)])
    try:
        yield relay
    finally:
        relay.close()


def test_a_relay_that_does_not_know_the_token_gets_no_token_no_cookie_and_no_mint(
    labs: str, impostor: FakeRelay, browser: BrowserContext
) -> None:
    """It gets only a nonce: not the provider token (neither in the URL nor in a message), no session cookie,
    no reCAPTCHA token; the labs page mints nothing; the options page says why."""
    set_session(browser, labs, FIRST)
    page = browser.new_page()
    page.goto(labs)
    options = configure(browser, impostor, labs, session=True)
    state = options.locator("#state")
    expect(state).to_have_attribute("data-state", "untrusted")
    expect(state).to_contain_text("did not prove it knows this provider token")
    wait_for(lambda: impostor.challenges >= 1, 15, "the challenge")

    assert [m["type"] for m in impostor.received] == ["register_provider"] * len(impostor.received)
    assert all(set(m) == {"type", "id", "nonce"} for m in impostor.received), impostor.received
    everything = json.dumps(impostor.received) + " ".join(impostor.paths)
    assert PROVIDER_TOKEN not in everything
    assert FIRST not in everything
    assert all(path == "/ws?provider=proof" for path in impostor.paths), impostor.paths
    assert page_calls(page) == []
    expect(options.locator("#answered")).to_have_text("0")
    expect(options.locator("#session-state")).not_to_have_attribute("data-state", "sent")


def test_a_relay_that_knows_the_token_gets_tokens_for_the_allowed_action_up_to_the_cap(
    labs: str, knowing: FakeRelay, browser: BrowserContext
) -> None:
    """The session cookie and minted tokens go to it once it proved itself; actions outside the allow-list and
    requests beyond the cap a minute are not answered (the early, unproven request neither)."""
    set_session(browser, labs, FIRST)
    page = browser.new_page()
    page.goto(labs)
    options = configure(browser, knowing, labs, session=True)
    expect(options.locator("#state")).to_have_attribute("data-state", "registered")
    expect(options.locator("#session-state")).to_have_attribute("data-state", "sent")
    expect(options.locator("#answered")).to_have_text(str(CAP), timeout=60_000)
    expect(options.locator("#refused")).to_have_text(str(2 + OVER_CAP))

    assert [m["session_cookie"] for m in knowing.of_type("provide_session")] == [FIRST]
    provided = knowing.of_type("provide_captcha_token")
    calls = page_calls(page)
    assert len(provided) == CAP
    assert sorted(m["token"] for m in provided) == sorted(c.token for c in calls)
    assert {c.action for c in calls} == {"VIDEO_GENERATION"}
    assert "cap-early" not in {m["request_id"] for m in provided}
    assert PROVIDER_TOKEN not in json.dumps(knowing.received) + " ".join(knowing.paths)
