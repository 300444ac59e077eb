"""What people read: status words, times against the usual, the queue summary and a batch file's line numbers."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from veo_client.batch_file import read_batch_file
from veo_client.queue_view import queue_text
from veo_client.relay_client import RelayError
from veo_client.render import row_lines, transition_line, watch_view
from veo_client.results import HistoryRow
from veo_client.words import duration, status_word, typical_times

NOW = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC)
TYPICAL = {("veo_3_1_t2v_fast", "generation"): 48.6}


def job(status: str, **fields: Any) -> HistoryRow:
    values: dict[str, Any] = {
        "id": "3f0c9a2e-1111-4222-8333-944445555666",
        "job_type": "generation",
        "status": status,
        "prompt": "a red fox",
        "model": "veo_3_1_t2v_fast",
        "aspect_ratio": "landscape",
        "priority": "normal",
        "profile_id": "default",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:12.000Z",
    }
    return HistoryRow(**(values | fields))


@pytest.mark.parametrize(
    ("row", "word"),
    [
        (job("pending"), "queued"),
        (job("pending", operation_name="op-1", remote_status="MEDIA_GENERATION_STATUS_PENDING"), "submitted"),
        (job("processing", operation_name="op-1", remote_status="MEDIA_GENERATION_STATUS_ACTIVE"), "rendering"),
        (job("completed", operation_name="op-1"), "done"),
        (job("failed", error_reason="timeout"), "failed"),
        (job("cancelled", error_reason="cancelled"), "cancelled"),
    ],
)
def test_each_status_has_its_plain_word(row: HistoryRow, word: str) -> None:
    """Queued until Flow accepted it, submitted once it did, then rendering, done, failed or cancelled."""
    assert status_word(row) == word


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0 s"), (49.6, "50 s"), (60, "1 min"), (125, "2 min 5 s"), (3780, "1 h 3 min")]
)
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    """Seconds, then minutes, then hours."""
    assert duration(seconds) == text


def test_a_running_job_shows_its_time_against_the_usual_and_never_flows_status() -> None:
    """`rendering  12 s (usually about 49 s)`: no MEDIA_GENERATION_STATUS_*."""
    row = job("processing", operation_name="op-1", remote_status="MEDIA_GENERATION_STATUS_ACTIVE")
    line = transition_line(row, TYPICAL)
    assert line == f"{row.id}  rendering  12 s (usually about 49 s)"


def test_a_failed_job_says_why_in_the_relays_sentence() -> None:
    """error_message, not the reason code nor Flow's status."""
    row = job(
        "failed",
        remote_status="MEDIA_GENERATION_STATUS_FAILED",
        error_reason="PUBLIC_ERROR_UNSAFE_GENERATION",
        error_message="Flow's content policy refused the prompt.",
    )
    assert transition_line(row, TYPICAL) == f"{row.id}  failed     12 s  Flow's content policy refused the prompt."


def test_without_a_finished_job_of_that_model_no_usual_time_is_claimed() -> None:
    """The usual time comes from get_analytics' medians; none for another model."""
    typical = typical_times({"completion": [{"model": "other", "job_type": "generation", "p50": 3.0}]})
    assert transition_line(job("pending"), typical).endswith("queued     12 s")


def test_a_row_in_plain_words_keeps_every_other_field() -> None:
    """`veo status`: the word instead of the status, no remote status, no empty fields."""
    text = row_lines(job("processing", remote_status="MEDIA_GENERATION_STATUS_ACTIVE"))
    assert "status: rendering" in text
    assert "MEDIA_GENERATION_STATUS" not in text
    assert "None" not in text
    assert "prompt: a red fox" in text


def _screen(*rows: HistoryRow) -> str:
    screen = io.StringIO()
    console = Console(file=screen, width=140, color_system=None)
    console.print(watch_view(rows, [], TYPICAL, NOW, console.width))
    return screen.getvalue()


def test_the_watch_screen_shows_short_ids_words_and_times_without_positions() -> None:
    """A running job counts up to now against the usual; a finished one shows how long it took."""
    screen = _screen(
        job("processing", id="aaaaaaaa-0000-4000-8000-000000000000", operation_name="op"),
        job("cancelled", id="bbbbbbbb-0000-4000-8000-000000000000", error_message="cancelled by you"),
    )
    assert "aaaaaaaa " in screen
    assert "aaaaaaaa-0000" not in screen
    assert "rendering" in screen
    assert "1 min (usually about 49 s)" in screen
    assert "cancelled" in screen
    assert "cancelled by you" in screen
    assert "position" not in screen


def test_the_queue_summary_has_units_pauses_with_clock_times_and_accounts() -> None:
    """Every figure with its unit; a pause says why and until when (local clock); accounts are listed."""
    state = {
        "queued": 3,
        "waiting_token": 1,
        "submitting": 0,
        "pending": 2,
        "processing": 5,
        "in_flight": 2,
        "requests_last_second": 4,
        "budget": {"rate": 10.0, "max_in_flight": 10},
        "providers": 1,
        "throttled": 0,
        "errors": {},
        "detection_latency": 0.0,
        "paused_profiles": [{"profile_id": "work", "seconds_left": 125.0, "reason": "quota exhausted"}],
        "accounts": [
            {
                "profile_id": "work",
                "state": "paused",
                "seconds_left": 125.0,
                "reason": "quota exhausted",
                "active": 2,
                "limit": 4,
            }
        ],
        "waiting_for_accounts": "waiting for an account: work is paused for 2 min 5 s (quota exhausted)",
    }
    text = queue_text(state, NOW)
    until = datetime(2026, 1, 1, 0, 3, 5, tzinfo=UTC).astimezone().strftime("%H:%M:%S")
    assert "3 queued, 1 waiting for a token, 0 submitting, 2 accepted, not running yet, 5 processing" in text
    assert "4 of 10 requests/s used in the last second" in text
    assert "2 of 10 calls out at once" in text
    assert "1 token provider connected" in text
    assert f"work: paused until {until} (in 2 min 5 s): quota exhausted\n" in text
    assert "paused     " not in text  # the accounts say their pauses: no second list of paused profiles
    assert "waiting    waiting for an account: work is paused" in text
    assert f"work: quota exhausted; until {until}" in queue_text({**state, "accounts": []}, NOW)  # an older relay
    assert "2 of 4 active" in text
    assert "{" not in text


def test_the_queue_summary_names_no_service_for_figures_that_count_both() -> None:
    """The relay's calls, 429s and poller count Gemini API profiles as well as Flow: its lines said "Flow"."""
    state = {"pending": 1, "in_flight": 2, "budget": {"rate": 10.0, "max_in_flight": 10}, "throttled": 3}
    text = queue_text({**state, "restarts": 1, "last_restart_seconds": 5.0}, NOW)
    assert "answered 429 (too many requests) 3 times" in text
    assert "the poller restarted 1 time" in text
    assert "Flow" not in text


def test_each_account_says_its_state_until_when_and_why_and_its_figures_in_words() -> None:
    """Ready (with a model out of its daily quota), paused until a clock time and why, resting; active against the
    limit as learned and as configured; the gap; throttles and blocks; jobs done; a field a newer relay adds is
    shown by its name."""
    figures = {"throttles_total": 0, "blocks_total": 0, "done_last_24h": 0, "pool": True, "reason": None}
    accounts = [
        {**figures, "profile_id": "a", "state": "ready", "seconds_left": None, "active": 3, "limit": 4}
        | {"configured_limit": 4, "gap": 1.5, "configured_gap": 1.5, "throttles_last_hour": 0, "done_last_24h": 12}
        | {"models_out_of_quota": {"veo_3_1_t2v_quality": "2026-01-01T02:01:00.000Z"}},
        {**figures, "profile_id": "b", "state": "paused", "seconds_left": 125.0, "active": 2, "limit": 3}
        | {"configured_limit": 4, "gap": 3.0, "configured_gap": 1.5, "throttles_last_hour": 1, "throttles_total": 1}
        | {"reason": "throttled by Flow (requesting generations too quickly)"}
        | {"models_out_of_quota": {"veo_3_1_t2v_lite": "tomorrow"}},  # an instant it cannot read: shown as it is
        {**figures, "profile_id": "c", "state": "resting", "seconds_left": 600.0, "active": 0, "limit": None}
        | {"configured_limit": None, "gap": 0.0, "configured_gap": 0.0, "throttles_last_hour": 1, "blocks_total": 1}
        | {"pool": False, "credits": 120, "out_of_quota_until": None},
    ]
    text = queue_text({"accounts": accounts}, NOW)
    clock = {s: (NOW + timedelta(seconds=s)).astimezone().strftime("%H:%M:%S") for s in (125, 600, 7200)}
    assert "accounts   3 accounts:" in text
    assert f"a: ready; veo_3_1_t2v_quality out of its daily quota until {clock[7200]} (in 2 h)\n" in text
    assert "3 of 4 active; submissions 1.5 s apart; 0 throttles in the last hour (0 since start), 0 hard blocks" in text
    assert "12 done in the last 24 h" in text
    assert (
        f"b: paused until {clock[125]} (in 2 min 5 s): throttled by Flow (requesting generations too quickly)" in text
    )
    assert "too quickly); veo_3_1_t2v_lite out of its daily quota until tomorrow\n" in text
    assert "2 of 3 active, lowered from 4 after throttles; submissions 3 s apart, widened from 1.5 s" in text
    assert "1 throttle in the last hour (1 since start), 0 hard blocks" in text
    assert f"c: resting after a hard block until {clock[600]} (in 10 min)" in text
    assert "0 active (no limit of its own)" in text
    assert "1 hard block; 0 done in the last 24 h; only requests naming it (pool = false); credits 120" in text
    assert "out of quota until" not in text  # unset fields are left out
    assert "True" not in text


def test_a_refused_prompt_is_reported_as_its_line_of_the_file() -> None:
    """Blank lines count: prompts[1] is the file's line 3."""
    prompts = read_batch_file("prompts.txt", ["a kite\n", "\n", "x" * 10_001 + "\n"])
    error = RelayError("bad_message", "prompts[1] must be text of 1 to 10,000 characters", "prompts[1]")
    located = prompts.located(error)
    assert located.message == "line 3 of prompts.txt: the prompt must be text of 1 to 10,000 characters"
    assert located.field == "prompts[1]"


def test_an_error_about_the_whole_batch_is_left_as_it_is() -> None:
    """Only an item's refusal names a line."""
    error = RelayError("bad_message", "delay_ms must be at most 60000", "delay_ms")
    assert read_batch_file("prompts.txt", ["a\n"]).located(error) is error
