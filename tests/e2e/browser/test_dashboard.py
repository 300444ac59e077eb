"""The dashboard in a real headless Chromium driven by Playwright: live rows, batches, a restart, the token.

Skipped, saying why, where Debian's chromium (`/usr/bin/chromium`) or the `playwright` package is missing.
Never run `playwright install`: it downloads a browser. Screenshots go to `test-artifacts/dashboard/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.actors.system import wait_for
from tests.e2e.browser.live_relay import LiveRelay
from veo_protocol import BatchGenerate
from veo_simulator import SimulatorConfig

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install playwright)")

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, WebSocket, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
)

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
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
    """A page and what it did that a test must not accept: uncaught errors, CSP refusals, non-loopback traffic."""

    page: Page
    problems: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")

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
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC")
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
    assert watch.problems == []


def open_dashboard(page: Page, relay: LiveRelay) -> None:
    page.goto(f"{relay.url}/#token={TOKEN}")
    expect(page.locator("#conn")).to_have_text("Connected")


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


def test_a_prompt_goes_pending_processing_completed_live(relay: LiveRelay, watched: Watched) -> None:
    """The token moves from the address bar to local storage; a new row shows each status as it happens."""
    page = watched.page
    open_dashboard(page, relay)
    assert urlsplit(page.url).fragment == ""
    assert page.evaluate("localStorage.getItem('veo-relay.token')") == TOKEN

    submit(page, "a lighthouse in a storm, slow dolly in")
    expect(page.locator("#submit-result")).to_have_text("Submitted.")
    row = page.locator("li.job").filter(has_text="a lighthouse in a storm")
    expect(row).to_have_attribute("data-status", "processing", timeout=LIVE)
    expect(row.get_by_role("progressbar")).to_be_visible()
    expect(row).to_have_attribute("data-status", "completed", timeout=LIVE)
    expect(row.locator("video")).to_have_attribute("src", re.compile(r"^http://127\.0\.0\.1:\d+/"))
    expect(row.get_by_role("button", name=re.compile("^Upscale"))).to_be_visible()
    expect(row.get_by_role("progressbar")).to_be_hidden()
    first_id = row.get_attribute("data-id")
    assert first_id is not None
    assert status_history(page, first_id) == ["pending", "processing", "completed"]
    expect(page.locator("#announce")).to_contain_text("“a lighthouse in a storm, slow dolly in”: Completed")
    expect(page.locator("#timing")).to_contain_text("veo_3_1_t2v_fast: median")

    submit(page, "a paper boat on a puddle")
    second = page.locator("li.job").filter(has_text="a paper boat")
    expect(second).to_have_attribute("data-status", "completed", timeout=LIVE)
    second_id = second.get_attribute("data-id")
    assert second_id is not None
    assert status_history(page, second_id) == ["pending", "processing", "completed"]
    # With the first video's ~1.5 s as the typical time the bar moves visibly; the 90 s fallback would not.
    assert max(bar_values(page, second_id), default=0) >= 5
    assert shown_rows(page) == relay.history()


def test_a_batch_shows_live_progress_and_failures_in_plain_words(relay: LiveRelay, watched: Watched) -> None:
    """A batch's bar advances as its items finish; a failed item says why; a completed one upscales."""
    page = watched.page
    open_dashboard(page, relay)
    prompts = ["a harbour at dawn, gulls", "neon rain on a city street", "[fail] a cat on a skateboard", "a red kite"]
    submit(page, "\n".join(prompts), batch=True, delay="0.2")
    expect(page.locator("#submit-result")).to_have_text("Batch of 4 submitted.")
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("")
    batch = page.locator("#batches li").first
    expect(batch).to_have_text("Batch of 4: 3 completed, 1 failed, 0 in progress", timeout=LIVE)
    batch_id = batch.get_attribute("data-batch")
    assert batch_id is not None
    assert any(0 < value < 100 for value in bar_values(page, batch_id)), bar_values(page, batch_id)

    rows = page.locator("li.job")
    expect(rows).to_have_count(4)
    failed = rows.filter(has_text="[fail]")
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.locator(".error")).to_have_text(
        "Flow's content filter refused this prompt. Rephrase it and try again."
    )
    expect(failed.get_by_role("button", name=re.compile("^Retry"))).to_be_visible()
    expect(failed.get_by_role("button", name=re.compile("^Upscale"))).to_be_hidden()
    expect(page.locator("#failures")).to_contain_text("1 of 4 (25%)")

    harbour = page.locator('li.job[data-job-type="generation"]').filter(has_text="a harbour at dawn")
    harbour.get_by_role("button", name=re.compile("^Upscale")).click()
    expect(harbour.locator(".note")).to_contain_text("Upscale to 1080p submitted")
    upscale = page.locator('li.job[data-job-type="upscale"]')
    expect(upscale).to_have_count(1)
    expect(upscale).to_contain_text("a harbour at dawn")
    expect(upscale).to_have_attribute("data-status", "completed", timeout=LIVE)
    assert shown_rows(page) == relay.history()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "dashboard-wide.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "dashboard-narrow.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a narrow window ({width} px wide)"


@pytest.mark.parametrize("relay", [SLOW_JOBS], indirect=True)
def test_a_restart_mid_run_reconnects_and_misses_nothing(relay: LiveRelay, watched: Watched) -> None:
    """The page rides out a server restart: it resumes after its last position and ends equal to get_history."""
    page = watched.page
    open_dashboard(page, relay)
    submit(page, "\n".join(f"take {n} of a slow pan across a glacier" for n in range(1, 6)), batch=True, delay="0.1")
    expect(page.locator("li.job")).to_have_count(5)

    def all_started() -> bool:
        rows = relay.system.history.page(relay.system.db.reader(), 50, None)
        return len(rows) == 5 and all(row.started_at is not None for row in rows)

    wait_for(all_started, what="every batch item to be on Flow")
    assert any(status != "completed" for _, status in relay.history()), "the jobs finished before the restart"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-running.png"), full_page=True)
    relay.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    relay.start()
    expect(page.locator("#conn")).to_have_text("Connected", timeout=LIVE)
    expect(page.locator('li.job[data-status="completed"]')).to_have_count(5, timeout=LIVE)

    assert shown_rows(page) == relay.history()
    for row_id, _ in shown_rows(page):
        assert status_history(page, row_id)[-2:] in (["processing", "completed"], ["pending", "completed"])
    subscribes = watched.requests_sent("subscribe")
    assert len(subscribes) == 2
    first_after, second_after = (int(str(s["after"])) for s in subscribes)
    assert second_after > first_after  # resumed after the last delta it applied, not from scratch
    assert len(watched.requests_sent("get_history")) == 1  # the server resumed it: no second snapshot
    expect(page.locator("#batches li").first).to_have_text("Batch of 5: 5 completed, 0 failed, 0 in progress")


def test_without_a_token_the_page_asks_for_one_and_refuses_a_wrong_one(relay: LiveRelay, watched: Watched) -> None:
    """The token form is keyboard-usable; a wrong token is refused in words; the right one is remembered."""
    page = watched.page
    page.goto(f"{relay.url}/")
    field_ = page.get_by_label("Server token")
    expect(field_).to_be_focused()
    field_.fill("not-the-token")
    field_.press("Enter")
    expect(page.locator("#conn")).to_have_text("Token refused")
    expect(page.locator("#auth-reason")).to_contain_text("refused this token")
    expect(page.locator("#submit")).to_be_hidden()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-token-refused.png"))
    expect(field_).to_be_focused()
    assert page.evaluate("localStorage.getItem('veo-relay.token')") is None

    field_.fill(TOKEN)
    field_.press("Enter")
    expect(page.locator("#conn")).to_have_text("Connected")
    expect(page.locator("#auth")).to_be_hidden()
    page.reload()
    expect(page.locator("#conn")).to_have_text("Connected")


def test_older_rows_load_a_page_at_a_time(relay: LiveRelay, watched: Watched) -> None:
    """Fifty rows first, newest first; "Load more" (by keyboard) brings the rest in the server's order."""
    page = watched.page
    relay.ask(BatchGenerate(id="b1", prompts=[f"shot {n:02d}" for n in range(60)], delay_ms=0))
    open_dashboard(page, relay)
    rows = page.locator("li.job")
    expect(rows).to_have_count(50)
    more = page.get_by_role("button", name="Load more")
    more.focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(60)
    expect(more).to_be_hidden()
    assert [row_id for row_id, _ in shown_rows(page)] == [row_id for row_id, _ in relay.history()]


def test_a_server_that_cannot_resume_makes_the_page_reread_its_snapshot(relay: LiveRelay, watched: Watched) -> None:
    """Back on a store that does not reach the page's position (resumed: false), the page drops its stale copy."""
    page = watched.page
    open_dashboard(page, relay)
    submit(page, "a windmill at dusk\na mill pond", batch=True, delay="0")
    expect(page.locator('li.job[data-status="completed"]')).to_have_count(2, timeout=LIVE)
    expect(page.locator("#batches li")).to_have_count(1)
    relay.stop()
    relay.data_dir = relay.data_dir / "fresh"
    relay.start()
    expect(page.locator("#conn")).to_have_text("Connected", timeout=LIVE)
    expect(page.locator("li.job")).to_have_count(0)
    expect(page.get_by_text("No videos yet.")).to_be_visible()
    expect(page.locator("#batches li")).to_have_count(0)
    assert len(watched.requests_sent("get_history")) == 2

    submit(page, "a second windmill")
    expect(page.locator("li.job")).to_have_attribute("data-status", "completed", timeout=LIVE)
    assert shown_rows(page) == relay.history()


HISTORY_MODEL_CHECKS = """
async () => {
  const { History } = await import("/history.js");
  const { estimate } = await import("/words.js");
  const row = (id, day, status) => ({ id, created_at: `2025-01-0${day}T00:00:00.000Z`, status });
  const delta = (position, id, day, status) => ({ channel: "generation:status", position, data: row(id, day, status) });
  const h = new History();
  h.addPage({ groups: [{ date: "d", items: [row("b", 2, "processing")] }], next: "2025-01-02T00:00:00.000Z|b" }, 10);
  const stale = h.apply(delta(9, "b", 2, "pending"));
  const fresh = h.apply(delta(11, "b", 2, "completed"));
  const older = h.apply(delta(12, "a", 1, "completed"));
  const newer = h.apply(delta(13, "c", 3, "pending"));
  const started = new Date(Date.now() - 30000).toISOString();
  const running = { status: "processing", job_type: "generation", started_at: started };
  return {
    stale: stale === null, fresh: fresh?.row.status, older: older === null, newer: newer?.row.id,
    order: h.sorted().map((r) => r.id), position: h.position,
    half: Math.round(estimate(running, 60).fraction * 100),
    late: Math.round(estimate(running, 10).fraction * 100),
    queued: estimate({ status: "pending", job_type: "generation", started_at: null }, 60).fraction,
  };
}
"""


def test_the_page_keeps_the_newest_copy_of_each_row_and_estimates_progress(relay: LiveRelay, watched: Watched) -> None:
    """Stale deltas and rows beyond the loaded pages are skipped; progress is elapsed time against the median."""
    page = watched.page
    open_dashboard(page, relay)
    result = page.evaluate(HISTORY_MODEL_CHECKS)
    assert result == {
        "stale": True,
        "fresh": "completed",
        "older": True,
        "newer": "c",
        "order": ["c", "b"],
        "position": 13,
        "half": 45,
        "late": 98,
        "queued": None,
    }


@pytest.mark.parametrize("relay", [SLOW_JOBS], indirect=True)
def test_refresh_cancel_and_retry_work_from_a_rows_buttons(relay: LiveRelay, watched: Watched) -> None:
    """Refresh reports the checked status; cancel fails the job in plain words; retry adds a new row."""
    page = watched.page
    open_dashboard(page, relay)
    submit(page, "a hot-air balloon over fields")
    row = page.locator("li.job").first
    expect(row).to_have_attribute("data-status", re.compile("pending|processing"))
    row.get_by_role("button", name=re.compile("^Refresh")).click()
    expect(row.locator(".note")).to_have_text(re.compile("^Checked: (Pending|Processing)$"))
    row.get_by_role("button", name=re.compile("^Cancel")).click()
    expect(row).to_have_attribute("data-status", "failed")
    expect(row.locator(".error")).to_have_text("Cancelled at your request.")
    expect(row.get_by_role("button", name=re.compile("^Cancel"))).to_be_hidden()

    row.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.locator("li.job")).to_have_count(2)
    retried = page.locator("li.job").first
    expect(retried).to_contain_text("a hot-air balloon over fields")
    expect(retried.locator(".meta")).to_contain_text("retry")
    expect(retried).to_have_attribute("data-status", "completed", timeout=LIVE)
    assert shown_rows(page) == relay.history()
