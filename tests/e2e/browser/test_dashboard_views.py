"""How the dashboard looks and finds: the header, long prompts, video placeholders, badges, search and the gallery.

Each state is also written as screenshots at 1280x800 and 390x844 to `test-artifacts/dashboard/` (looked at by
a person before a change to the page is called done); every one of them is checked for sideways scrolling.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.browser.live_relay import LiveRelay
from veo_protocol import BatchGenerate, Generate

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install playwright)")

from playwright.sync_api import Page, expect

from tests.e2e.browser.dashboard_page import (
    LIVE,
    NARROW,
    NEEDS_CHROMIUM,
    SLOW_JOBS,
    WIDE,
    Watched,
    browser,
    open_dashboard,
    relay,
    snap,
    submit,
    watched,
)

__all__ = ["browser", "relay", "watched"]  # fixtures

pytestmark = NEEDS_CHROMIUM

LONG_PROMPT = ("a slow pan over a misty valley at dawn, birds rising from the reeds, " * 200)[:10_000]

ANALYTICS_CHECK = """
async () => {
  const { StatusBar } = await import("/statusbar.js");
  const bar = new StatusBar(document);
  bar.analytics({
    counts: { completed: 3, failed: 1, cancelled: 2 },
    completion: [
      { model: "veo_3_1_t2v_fast", job_type: "generation", count: 3, p50: 50, p90: 70, p99: 90 },
      { model: "some_new_model", job_type: "generation", count: 1, p50: 20, p90: 20, p99: 20 },
    ],
    failures: { timeout: 1 },
  });
  const text = (id) => document.getElementById(id).textContent;
  return {
    timing: text("timing"), failures: text("failures"), cancelled: text("cancelled"), table: text("timing-table"),
  };
}
"""

ACCOUNTS_CHECK = """
async () => {
  const { StatusBar } = await import("/statusbar.js");
  new StatusBar(document).accounts([
    { profile_id: "<img src=x>", state: "paused", seconds_left: 125, reason: "throttled by Flow", active: 2, limit: 3,
      gap: 1.5, throttles_last_hour: 1, blocks_total: 0, done_last_24h: 7, credits: 1240 },
  ]);
  const table = document.getElementById("accounts-table");
  return { text: table.tBodies[0].textContent, images: table.querySelectorAll("img").length };
}
"""


def height(page: Page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return float(box["height"])


def test_an_empty_history_says_how_to_start(relay: LiveRelay, watched: Watched) -> None:
    """A fresh relay: a friendly empty state, and a header of one short line even on a phone."""
    page = watched.page
    open_dashboard(page, relay)
    expect(page.locator("#history-empty")).to_have_text("No videos yet. Write a prompt above and press Generate.")
    snap(page, "empty", at="#history-heading")
    page.set_viewport_size(NARROW)
    assert height(page, "header") <= NARROW["height"] / 6, "the header takes too much of a phone's screen"


def test_the_header_says_the_usual_time_and_keeps_the_figures_for_details(relay: LiveRelay, watched: Watched) -> None:
    """One "usually about" from the most used model; friendly names and p90/p99 only under Details; cancelled
    jobs are counted apart from failures."""
    page = watched.page
    open_dashboard(page, relay)
    submit(page, "a lantern on a jetty")
    expect(page.locator("li.job")).to_have_attribute("data-status", "completed", timeout=LIVE)
    expect(page.locator("#timing")).to_have_text(re.compile(r"^usually about \d"), timeout=LIVE)
    expect(page.locator("#timing-table")).to_be_hidden()
    expect(page.locator("header")).not_to_contain_text("veo_3_1_t2v_fast")
    page.get_by_text("Details", exact=True).click()
    expect(page.locator("#timing-table")).to_be_visible()
    expect(page.locator("#timing-table tbody")).to_contain_text("Veo 3.1 Fast")
    snap(page, "details")

    shown = page.evaluate(ANALYTICS_CHECK)
    assert shown["timing"] == "usually about 50 s"
    assert shown["failures"] == "1 of 4 failed (25%)"
    assert shown["cancelled"] == " · 2 cancelled"
    assert "Veo 3.1 Fast50 s1 min 10 s1 min 30 s3" in shown["table"]
    assert "some_new_model" in shown["table"]  # a key without a friendly name is shown as it is

    expect(page.locator("#accounts-table tbody")).to_contain_text("default", timeout=LIVE)  # the simulator's account
    accounts = page.evaluate(ACCOUNTS_CHECK)
    assert accounts == {"text": "<img src=x>paused, 2 min 5 s left (throttled by Flow)2 of 31.5 s1071240", "images": 0}


def test_a_long_prompt_is_clipped_until_expanded(relay: LiveRelay, watched: Watched) -> None:
    """A 10,000-character prompt takes a few lines; "Show full prompt" opens it, "Show less" closes it."""
    page = watched.page
    relay.ask(Generate(id="long", prompt=LONG_PROMPT))
    relay.ask(Generate(id="short", prompt="a short prompt stays whole"))
    open_dashboard(page, relay)
    long_row = page.locator("li.job").filter(has_text="a slow pan over a misty valley")
    short_row = page.locator("li.job").filter(has_text="a short prompt stays whole")
    expect(short_row.locator(".expand")).to_be_hidden()
    toggle = long_row.get_by_role("button", name="Show full prompt (10,000 characters)")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert height(page, "li.job .prompt.clipped") < 80
    page.set_viewport_size(NARROW)
    assert height(page, "li.job .prompt.clipped") < 80
    page.set_viewport_size(WIDE)
    snap(page, "long-prompt-clipped", at="#history-heading")

    toggle.click()
    expect(long_row.get_by_role("button", name="Show less")).to_have_attribute("aria-expanded", "true")
    assert height(page, f"#{long_row.locator('.prompt').get_attribute('id')}") > 1000
    snap(page, "long-prompt-expanded", at="#history-heading")
    long_row.get_by_role("button", name="Show less").click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert height(page, "li.job .prompt.clipped") < 80


@pytest.mark.parametrize("relay", [SLOW_JOBS], indirect=True)
def test_each_status_has_its_badge_and_a_video_is_never_a_black_box(relay: LiveRelay, watched: Watched) -> None:
    """Running, completed, failed and cancelled rows side by side; cancelled is neutral, not failure red; a
    completed video asks only for its first frame and shows a placeholder until it has one (or instead)."""
    page = watched.page
    open_dashboard(page, relay)
    rows = page.locator("li.job")
    submit(page, "a quiet harbour at dusk")
    expect(rows).to_have_count(1)
    submit(page, "[fail] a dragon made of smoke")  # both run at once
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="a quiet harbour at dusk")).to_have_attribute("data-status", "completed", timeout=LIVE)
    expect(rows.filter(has_text="a dragon made of smoke")).to_have_attribute("data-status", "failed", timeout=LIVE)
    submit(page, "a paper plane over rooftops")
    rows.first.get_by_role("button", name=re.compile("^Cancel")).click()
    expect(rows.first).to_have_attribute("data-status", "cancelled")
    submit(page, "waves breaking on black sand")
    expect(rows.first).to_have_attribute("data-status", re.compile("pending|processing"))

    colour = "(selector) => getComputedStyle(document.querySelector(selector)).color"
    cancelled = page.evaluate(colour, '[data-status="cancelled"] .badge')
    failed = page.evaluate(colour, '[data-status="failed"] .badge')
    assert cancelled != failed
    expect(page.locator('[data-status="cancelled"] .badge')).to_have_text("Cancelled")

    completed = page.locator('li.job[data-status="completed"]').first
    expect(completed.locator("video")).to_have_attribute("preload", "metadata")
    player = completed.locator(".player")
    # The simulator's video is not a real MP4: the browser cannot show a frame, so the placeholder says so.
    expect(player).to_have_attribute("data-state", "unavailable")
    expect(player.locator(".placeholder")).to_be_visible()
    expect(player.locator(".caption")).to_have_text("No preview here: open the video")
    background = page.evaluate("getComputedStyle(document.querySelector('.player')).backgroundImage")
    assert "gradient" in background
    expect(completed.get_by_role("link", name="Open video")).to_be_visible()
    snap(page, "statuses", at="#history-heading")


def test_search_and_filters_read_the_whole_history(relay: LiveRelay, watched: Watched) -> None:
    """Search finds a row beyond the loaded page; status and date filters narrow it; Clear brings all back."""
    page = watched.page
    relay.ask(Generate(id="old", prompt="An old lighthouse at night"))
    prompts = ["[fail] a", "[fail] b", *(f"shot {n:02d}" for n in range(58))]
    relay.ask(BatchGenerate(id="fill", prompts=prompts, delay_ms=0))
    open_dashboard(page, relay)
    rows = page.locator("li.job")
    expect(rows).to_have_count(50)
    expect(rows.filter(has_text="lighthouse")).to_have_count(0)

    page.get_by_label("Search prompts").fill("LIGHTHOUSE")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("An old lighthouse at night")
    expect(page.locator("#filter-summary")).to_have_text("1 video matches")
    assert watched.requests_sent("get_history")[-1]["search"] == "LIGHTHOUSE"
    snap(page, "search", at="#history-heading")

    page.get_by_role("button", name="Clear").click()
    expect(rows).to_have_count(50)
    expect(page.locator("#filter-summary")).to_have_text("")
    page.locator("#status-filter").select_option("failed")
    expect(rows).to_have_count(2, timeout=LIVE)  # the failures arrive live when the page was read before them
    expect(page.locator('li.job:not([data-status="failed"])')).to_have_count(0)

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    page.locator("#status-filter").select_option("")
    page.get_by_label("From").fill(tomorrow)
    expect(page.locator("#history-empty")).to_have_text("No videos match these filters.")
    expect(rows).to_have_count(0)
    last = watched.requests_sent("get_history")[-1]
    assert (last["since"], last["tz"]) == (tomorrow, "UTC")
    snap(page, "no-match", at="#history-heading")
    page.get_by_role("button", name="Clear").click()
    expect(rows).to_have_count(50)


def test_the_gallery_is_a_denser_view_that_is_remembered(relay: LiveRelay, watched: Watched) -> None:
    """Cards side by side; the choice survives a reload; List goes back."""
    page = watched.page
    relay.ask(BatchGenerate(id="b", prompts=[f"a tiny planet number {n}" for n in range(6)], delay_ms=0))
    open_dashboard(page, relay)
    expect(page.locator('li.job[data-status="completed"]')).to_have_count(6, timeout=LIVE)
    page.get_by_role("button", name="Gallery").click()
    expect(page.get_by_role("button", name="Gallery")).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.locator("#groups")).to_have_class(re.compile(r"\bgallery\b"))
    expect(page.locator("li.job")).to_have_count(6)
    tops = [box["y"] for box in (page.locator("li.job").nth(n).bounding_box() for n in range(3)) if box]
    assert len(set(tops)) == 1, f"the gallery's first cards are not side by side: {tops}"
    snap(page, "gallery", at="#history-heading")
    page.get_by_role("button", name="List").click()
    expect(page.locator("#groups")).not_to_have_class(re.compile(r"\bgallery\b"))
    assert page.evaluate("localStorage.getItem('veo-relay.view')") == "list"
