"""The dashboard in a real headless Chromium driven by Playwright: live rows, batches, a restart, the token.

Skipped, saying why, where Debian's chromium (`/usr/bin/chromium`) or the `playwright` package is missing.
Never run `playwright install`: it downloads a browser. Screenshots go to `test-artifacts/dashboard/`; the
looks and the history's tools (search, filters, gallery) are tested in `test_dashboard_views.py`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.actors.system import wait_for
from tests.e2e.browser.live_relay import LiveRelay
from veo_protocol import BatchGenerate

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install playwright)")

from playwright.sync_api import expect

from tests.e2e.browser.dashboard_page import (
    LIVE,
    LOST_SERVER,
    NEEDS_CHROMIUM,
    REFUSED_TOKEN,
    SLOW_JOBS,
    TOKEN,
    Watched,
    bar_values,
    browser,
    expect_shown_as,
    open_dashboard,
    relay,
    shown_as,
    shown_rows,
    snap,
    status_history,
    submit,
    watched,
)

__all__ = ["browser", "relay", "watched"]  # fixtures

pytestmark = NEEDS_CHROMIUM


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
    expect(row).to_have_attribute("data-status", "completed", timeout=LIVE)
    expect(row.locator("video")).to_have_attribute("src", re.compile(r"^http://127\.0\.0\.1:\d+/"))
    # once the relay has kept the video, the player plays its own copy
    kept = re.compile(r"^http://127\.0\.0\.1:\d+/videos/[0-9a-f-]{36}\?token=")
    expect(row.locator("video")).to_have_attribute("src", kept, timeout=LIVE)
    expect(row.get_by_role("button", name=re.compile("^Upscale"))).to_be_visible()
    expect(row.get_by_role("progressbar")).to_be_hidden()
    first_id = row.get_attribute("data-id")
    assert first_id is not None
    assert status_history(page, first_id) == ["pending", "processing", "completed"]
    assert bar_values(page, first_id), "no progress bar while it ran"  # recorded: processing may be too short to see
    expect(page.locator("#announce")).to_contain_text("“a lighthouse in a storm, slow dolly in”: Completed")
    expect(page.locator("#timing")).to_have_text(re.compile(r"^usually about \d"))
    page.get_by_text("Details", exact=True).click()
    expect(page.locator("#timing-table")).to_contain_text("Veo 3.1 Fast")
    expect(page.locator("#timing-table thead")).to_contain_text("p90")

    submit(page, "a paper boat on a puddle")
    second = page.locator("li.job").filter(has_text="a paper boat")
    expect(second).to_have_attribute("data-status", "completed", timeout=LIVE)
    second_id = second.get_attribute("data-id")
    assert second_id is not None
    assert status_history(page, second_id) == ["pending", "processing", "completed"]
    # With the first video's ~1.5 s as the typical time the bar moves visibly; the 90 s fallback would not.
    assert max(bar_values(page, second_id), default=0) >= 5
    expect_shown_as(page, relay)


def test_a_batch_shows_live_progress_and_failures_in_plain_words(relay: LiveRelay, watched: Watched) -> None:
    """A batch's bar advances as its items finish, its rows in prompt order; a failed item says why; a completed
    one upscales once (the button goes when the upscale exists)."""
    page = watched.page
    open_dashboard(page, relay)
    expect(page.get_by_label("Delay between submissions (s)")).to_be_hidden()
    page.get_by_label("Batch: one prompt per line").check()
    expect(page.get_by_label("Delay between submissions (s)")).to_be_visible()
    page.get_by_label("Batch: one prompt per line").uncheck()
    expect(page.get_by_label("Delay between submissions (s)")).to_be_hidden()
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
    assert rows.locator(".prompt").all_text_contents() == prompts
    failed = rows.filter(has_text="[fail]")
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.locator(".error")).to_have_text(
        "Flow's content filter refused this prompt. Rephrase it and try again."
    )
    expect(failed.get_by_role("button", name=re.compile("^Retry"))).to_be_visible()
    expect(failed.get_by_role("button", name=re.compile("^Upscale"))).to_be_hidden()
    expect(page.locator("#failures")).to_have_text("1 of 4 failed (25%)")

    harbour = page.locator('li.job[data-job-type="generation"]').filter(has_text="a harbour at dawn")
    harbour.get_by_role("button", name=re.compile("^Upscale")).click()
    expect(harbour.locator(".note")).to_contain_text("Upscale to 1080p submitted")
    upscale = page.locator('li.job[data-job-type="upscale"]')
    expect(upscale).to_have_count(1)
    expect(upscale).to_contain_text("a harbour at dawn")
    expect(upscale).to_have_attribute("data-status", "completed", timeout=LIVE)
    expect(harbour.get_by_role("button", name=re.compile("^Upscale"))).to_be_hidden()
    expect(harbour.locator(".meta")).to_contain_text("upscaled")
    expect_shown_as(page, relay)
    snap(page, "batch", at="#batches")
    page.reload()
    expect(page.locator("li.job")).to_have_count(5)
    expect(harbour.get_by_role("button", name=re.compile("^Upscale"))).to_be_hidden()
    expect(
        page.locator('li.job[data-job-type="generation"]')
        .filter(has_text="a red kite")
        .get_by_role("button", name=re.compile("^Upscale"))
    ).to_be_visible()


@pytest.mark.parametrize("relay", [SLOW_JOBS], indirect=True)
def test_a_restart_mid_run_reconnects_and_misses_nothing(relay: LiveRelay, watched: Watched) -> None:
    """The page rides out a server restart: it resumes after its last position and ends equal to get_history."""
    page = watched.page
    watched.expected.append(LOST_SERVER)
    open_dashboard(page, relay)
    submit(page, "\n".join(f"take {n} of a slow pan across a glacier" for n in range(1, 6)), batch=True, delay="0.1")
    expect(page.locator("li.job")).to_have_count(5)

    def all_started() -> bool:
        rows = relay.system.history.page(relay.system.db.reader(), 50, None)
        return len(rows) == 5 and all(row.started_at is not None for row in rows)

    wait_for(all_started, what="every batch item to be on Flow")
    assert any(status != "completed" for _, status in relay.history()), "the jobs finished before the restart"
    relay.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    relay.start()
    expect(page.locator("#conn")).to_have_text("Connected", timeout=LIVE)
    expect(page.locator('li.job[data-status="completed"]')).to_have_count(5, timeout=LIVE)

    expect_shown_as(page, relay)
    for row_id, _ in shown_rows(page):
        assert status_history(page, row_id)[-2:] in (["processing", "completed"], ["pending", "completed"])
    subscribes = watched.requests_sent("subscribe")
    assert len(subscribes) == 2
    first_after, second_after = (int(str(s["after"])) for s in subscribes)
    assert second_after > first_after  # resumed after the last delta it applied, not from scratch
    assert len(watched.requests_sent("get_history")) == 1  # the server resumed it: no second snapshot
    expect(page.locator("#batches li").first).to_have_text("Batch of 5: 5 completed, 0 failed, 0 in progress")


def test_without_a_token_the_page_asks_for_one_and_refuses_a_wrong_one(relay: LiveRelay, watched: Watched) -> None:
    """The token form is keyboard-usable and nothing says "Connecting…" while it waits; a wrong token is refused
    in words; the right one is remembered."""
    page = watched.page
    watched.expected.append(REFUSED_TOKEN)
    page.goto(f"{relay.url}/")
    field_ = page.get_by_label("Server token")
    expect(field_).to_be_focused()
    expect(page.locator("#status")).to_be_hidden()
    expect(page.get_by_text("Connecting")).to_have_count(0)
    snap(page, "token")
    field_.fill("not-the-token")
    field_.press("Enter")
    expect(page.locator("#conn")).to_have_text("Token refused")
    expect(page.locator("#auth-reason")).to_contain_text("refused this token")
    expect(page.locator("#submit")).to_be_hidden()
    snap(page, "token-refused")
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
    expect_shown_as(page, relay)


def test_a_server_that_cannot_resume_makes_the_page_reread_its_snapshot(relay: LiveRelay, watched: Watched) -> None:
    """Back on a store that does not reach the page's position (resumed: false), the page drops its stale copy."""
    page = watched.page
    watched.expected.append(LOST_SERVER)
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
    expect_shown_as(page, relay)


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
    """Refresh reports the checked status; cancel gives a neutral CANCELLED badge, not a failure; retry adds a row."""
    page = watched.page
    open_dashboard(page, relay)
    submit(page, "a hot-air balloon over fields")
    row = page.locator("li.job").first
    expect(row).to_have_attribute("data-status", re.compile("pending|processing"))
    row.get_by_role("button", name=re.compile("^Refresh")).click()
    expect(row.locator(".note")).to_have_text(re.compile("^Checked: (Pending|Processing)$"))
    row.get_by_role("button", name=re.compile("^Cancel")).click()
    expect(row).to_have_attribute("data-status", "cancelled")
    expect(row.locator(".badge")).to_have_text("Cancelled")
    expect(row.locator(".error")).to_be_hidden()
    expect(row.get_by_role("button", name=re.compile("^Cancel"))).to_be_hidden()
    expect(page.locator("#announce")).to_contain_text("“a hot-air balloon over fields”: Cancelled")

    row.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.locator("li.job")).to_have_count(2)
    retried = page.locator("li.job").first
    expect(retried).to_contain_text("a hot-air balloon over fields")
    expect(retried.locator(".meta")).to_contain_text("retry")
    expect(retried).to_have_attribute("data-status", "completed", timeout=LIVE)
    assert [row_id for row_id, _ in shown_rows(page)] == [row_id for row_id, _ in shown_as(relay)]
