"""The dashboard's "Token for the browser extension" disclosure in headless Chromium: the provider token the relay
holds, asked for only when it is opened, and a copy button that puts it on the clipboard."""

from __future__ import annotations

import pytest

from tests.e2e.browser.live_relay import LiveRelay
from veo_protocol import GetProviderToken

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install playwright)")

from playwright.sync_api import expect

from tests.e2e.browser.dashboard_page import NEEDS_CHROMIUM, Watched, browser, open_dashboard, relay, watched

__all__ = ["browser", "relay", "watched"]  # fixtures

pytestmark = NEEDS_CHROMIUM


def test_the_disclosure_shows_the_provider_token_and_copies_it(relay: LiveRelay, watched: Watched) -> None:
    """Closed, the page has not asked for it; opened, it shows the relay's provider token; Copy copies it."""
    page = watched.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=relay.url)
    open_dashboard(page, relay)
    expected = relay.ask(GetProviderToken(id="pt")).data["provider_token"]
    assert watched.requests_sent("get_provider_token") == []

    page.get_by_text("Token for the browser extension").click()
    expect(page.locator("#provider-token")).to_have_text(expected)
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-result")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == expected
    assert len(watched.requests_sent("get_provider_token")) == 1
    assert watched.problems == []
