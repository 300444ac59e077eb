"""The extension's optional session bridge in Debian's chromium against a real `veo serve`: with the switch on,
the labs session cookie set in the browser reaches the relay, again when it changes, and is what the relay's
next bearer refresh sends to the Flow simulator; it never appears in the relay's output.

Uses the set-up of test_extension.py (same imitation labs page on loopback, same `veo serve` subprocess).
Chrome's permission prompt cannot be answered in an automated browser, so the loaded copy of `extension/`
grants the optional `cookies` permission at install (what the user's "Allow" on saving would grant).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import msgspec
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.actors.system import wait_for
from tests.e2e.browser.test_extension import (  # the fixtures are used by name
    Serve,
    browser,
    configure,
    generate,
    labs,
    prefix,
    relay,
)
from tests.e2e.browser.test_extension import extension as loopback_extension

__all__ = ["browser", "labs", "relay"]

SESSION_COOKIE = "__Secure-next-auth.session-token"
FIRST = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..first-BROWSER-session"
SECOND = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..second-BROWSER-session"


class SessionAudit(msgspec.Struct):
    """The simulator audit's session part."""

    session_cookies_presented: list[str] = []


@pytest.fixture
def extension(tmp_path: Path) -> Path:
    """The loopback copy of `extension/`, with the optional cookies permission granted at install, and access
    to https on loopback (the scheme of a Secure cookie; for labs.google the shipped manifest has it)."""
    copy = loopback_extension.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["permissions"].append("cookies")
    manifest["host_permissions"].append("https://127.0.0.1/*")  # a __Secure- cookie belongs to https
    manifest.pop("optional_permissions")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return Path(copy)


def set_session(context: BrowserContext, labs_url: str, value: str) -> None:
    """The labs host's session cookie, as logging in to labs would leave it."""
    host = httpx.URL(labs_url).host
    context.add_cookies([{"name": SESSION_COOKIE, "value": value, "domain": host, "path": "/", "secure": True}])


def session_audit(relay: Serve) -> SessionAudit:
    with httpx.Client(trust_env=False, timeout=10) as http:
        return msgspec.json.decode(http.get(f"{relay.simulator_url}/_sim/audit").content, type=SessionAudit)


def set_faults(relay: Serve, faults: dict[str, float]) -> None:
    with httpx.Client(trust_env=False, timeout=10) as http:
        http.post(f"{relay.simulator_url}/_sim/faults", json=faults).raise_for_status()


def switch_on(options: Page) -> None:
    options.check("#keepSessionFresh")
    options.click("#save")
    expect(options.locator("#saved")).to_contain_text("Saved")


def test_the_session_cookie_reaches_the_relay_and_its_next_bearer_refresh(
    labs: str, relay: Serve, browser: BrowserContext
) -> None:
    """Sent after registration and on change; when Flow refuses the bearer token the relay renews it with it."""
    set_session(browser, labs, FIRST)
    options = configure(browser, relay, labs)
    browser.new_page().goto(labs)
    expect(options.locator("#session-state")).to_have_attribute("data-state", "off")
    switch_on(options)
    state = options.locator("#session-state")
    expect(state).to_have_attribute("data-state", "sent")
    expect(state).to_have_attribute("data-accepted", "1")

    set_session(browser, labs, SECOND)
    expect(state).to_have_attribute("data-accepted", "2")  # the relay accepted the changed cookie too

    set_faults(relay, {"401": 1.0})  # Flow refuses the bearer token: the relay renews it from the session
    outcome: list[list[str]] = []
    worker = threading.Thread(target=lambda: outcome.append(generate(relay, 1)))
    worker.start()
    try:
        wait_for(lambda: session_audit(relay).session_cookies_presented != [], 20, "a bearer refresh")
    finally:
        set_faults(relay, {})
        worker.join(60)
    assert session_audit(relay).session_cookies_presented[0] == prefix(SECOND)
    assert outcome == [["completed"]]
    assert FIRST not in relay.text()
    assert SECOND not in relay.text()
