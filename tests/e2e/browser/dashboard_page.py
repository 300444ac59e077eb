"""The dashboard's test kit: a Playwright page watched for errors, a live relay, and helpers that read the page.

The test modules import `playwright` only after `pytest.importorskip`, then this module.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cmp_to_key
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    ViewportSize,
    WebSocket,
    expect,
    sync_playwright,
)

from tests.e2e.browser.live_relay import LiveRelay
from veo_simulator import SimulatorConfig

__all__ = [
    "JOBS",
    "LIVE",
    "LOST_SERVER",
    "NARROW",
    "NEEDS_CHROMIUM",
    "REFUSED_TOKEN",
    "SLOW_JOBS",
    "TOKEN",
    "WIDE",
    "Watched",
    "bar_values",
    "browser",
    "open_dashboard",
    "relay",
    "shown_as",
    "shown_rows",
    "snap",
    "status_history",
    "submit",
    "watched",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
)
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
WIDE = ViewportSize(width=1280, height=800)
NARROW = ViewportSize(width=390, height=844)
# What Chromium itself logs as errors when a test takes the server away or refuses a token on purpose.
LOST_SERVER = re.compile(r"WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|status of 426")
"""What a page logs while its relay is down: failed upgrades, and its probe of `/ws` (a plain GET telling a refused
token from a server that is down, connection.js) answered 426 by a relay that is back up by then."""
REFUSED_TOKEN = re.compile(r"WebSocket connection to .* failed|status of 401")
TOKEN = "browser-test-token"
JOBS = SimulatorConfig(lo=1.0, hi=2.0, seed=3)
SLOW_JOBS = SimulatorConfig(lo=3.0, hi=5.0, seed=4)
LIVE = 20_000  # ms: how long a row may take to reach a state it is heading for

# Installed before the page's own scripts: keeps every value `data-status` and `aria-valuenow` took, so a
# test can tell the states a row went through even when two came in one frame.
RECORDER = """
window.__veo = { statuses: {}, values: {} };
const keep = (map, key, value) => { (map[key] ??= []).push(value); };
new MutationObserver((records) => {
  for (const r of records) {
    const node = r.target;
    if (r.attributeName === "data-status" && node.dataset.id) keep(window.__veo.statuses, node.dataset.id, r.oldValue);
    if (r.attributeName === "aria-valuenow") {
      const owner = node.closest("[data-id], [data-batch]");
      const key = owner && (owner.dataset.id || owner.dataset.batch);
      if (key) keep(window.__veo.values, key, Number(node.getAttribute("aria-valuenow")));
    }
  }
}).observe(document, {
  subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ["data-status", "aria-valuenow"],
});
"""


@dataclass
class Watched:
    """A page and what it did that a test must not accept: uncaught errors, console errors (CSP refusals among
    them), non-loopback traffic. `expected` lists the console errors a test causes on purpose."""

    page: Page
    problems: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")
        elif message.type == "error" and not any(p.search(message.text) for p in self.expected):
            self.problems.append(f"console error: {message.text} (at {message.location.get('url')})")

    def request(self, request: Request) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("http", "ws")) and host != "127.0.0.1":
            self.problems.append(f"request off the machine: {request.url}")

    def websocket(self, socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: self.sent.append(payload if isinstance(payload, str) else ""))

    def requests_sent(self, request_type: str) -> list[dict[str, object]]:
        """The websocket requests of one type the page sent, in order."""
        frames = [json.loads(frame) for frame in self.sent if frame]
        return [frame for frame in frames if frame.get("type") == request_type]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def relay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveRelay]:
    simulator = getattr(request, "param", JOBS)
    live = LiveRelay(tmp_path, TOKEN, simulator)
    live.start()
    try:
        yield live
    finally:
        live.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport=WIDE, locale="en-GB", timezone_id="UTC")
    context.add_init_script(RECORDER)
    page = context.new_page()
    page.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)  # assertions have their own limit, 5 s unless set
    watch = Watched(page)
    page.on("pageerror", lambda error: watch.problems.append(f"uncaught: {error}"))
    page.on("console", watch.console)
    page.on("request", watch.request)
    page.on("websocket", watch.websocket)
    try:
        yield watch
    finally:
        context.close()
    assert watch.problems == [], watch.problems


def open_dashboard(page: Page, relay: LiveRelay) -> None:
    page.goto(f"{relay.url}/#token={TOKEN}")
    expect(page.locator("#conn")).to_have_text("Connected")


def snap(page: Page, name: str, at: str | None = None) -> None:
    """Screenshots of the page at 1280x800 and 390x844, scrolled to the element `at` (a selector) if given;
    the narrow one must not scroll sideways."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("wide", WIDE), ("narrow", NARROW)):
        page.set_viewport_size(size)
        if at is not None:
            page.locator(at).first.evaluate("(node) => node.scrollIntoView({ block: 'start' })")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"{name}: the page scrolls sideways on a phone ({width} px wide)"
    page.set_viewport_size(WIDE)
    page.evaluate("window.scrollTo(0, 0)")


def _display_order(a: dict[str, Any], b: dict[str, Any]) -> int:
    """rows.js's displayOrder: newest first, but a batch's items (one millisecond) in prompt (id) order."""
    if a["created_at"] != b["created_at"]:
        return -1 if a["created_at"] > b["created_at"] else 1
    group_a, group_b = a["batch_id"] or a["id"], b["batch_id"] or b["id"]
    if group_a != group_b:
        return -1 if group_a > group_b else 1
    id_a, id_b = str(a["id"]), str(b["id"])
    return (id_a > id_b) - (id_a < id_b)


def shown_as(relay: LiveRelay) -> list[tuple[str, str]]:
    """The relay's rows as the page must show them: (id, status) in display order."""
    rows = sorted(relay.rows(), key=cmp_to_key(_display_order))
    return [(row["id"], row["status"]) for row in rows]


def status_history(page: Page, row_id: str) -> list[str]:
    """The statuses a row's element showed, in order, repeats folded."""
    seen: list[str | None] = page.evaluate(
        """(id) => [...(window.__veo.statuses[id] ?? []),
                    document.querySelector(`li.job[data-id="${id}"]`)?.dataset.status]""",
        row_id,
    )
    folded: list[str] = []
    for status in seen:
        if status is not None and (not folded or folded[-1] != status):
            folded.append(status)
    return folded


def bar_values(page: Page, key: str) -> list[float]:
    """Every `aria-valuenow` the progress bar of a row (or batch) showed."""
    values: list[float] = page.evaluate("(key) => window.__veo.values[key] ?? []", key)
    return values


def expect_shown_as(page: Page, relay: LiveRelay) -> None:
    """The page comes to show the relay's rows (a delta may still be on its way when the relay is read)."""
    deadline = time.monotonic() + LIVE / 1000
    while (shown := shown_rows(page)) != (wanted := shown_as(relay)) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert shown == wanted


def shown_rows(page: Page) -> list[tuple[str, str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        "li.job", "nodes => nodes.map((n) => [n.dataset.id, n.dataset.status])"
    )
    return [(row_id, status) for row_id, status in rows]


def submit(page: Page, text: str, *, batch: bool = False, delay: str = "0.5") -> None:
    page.get_by_label("Prompt", exact=True).fill(text)
    page.get_by_label("Batch: one prompt per line").set_checked(batch)
    if batch:
        page.get_by_label("Delay between submissions (s)").fill(delay)
    page.get_by_role("button", name="Generate").click()
