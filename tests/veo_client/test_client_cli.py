"""The client commands against a real `veo serve` process: outputs, --json and exit codes of jobs that run."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.relay_process import RelayProcess, running_relay, start_veo, veo, watch_until_interrupted


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    with running_relay(tmp_path_factory.mktemp("relay")) as process:
        yield process


@pytest.fixture
def data(relay: RelayProcess) -> Path:
    return relay.data


def test_submit_with_wait_follows_the_job_in_plain_words_and_exits_0_once_done(data: Path, tmp_path: Path) -> None:
    """One line per status word, each with the time so far; the last says done, and how to save the copy the
    relay kept (it printed the backend's URL, which expires on Flow and needs the API key on the Gemini API)."""
    result = veo("submit", "a red fox in the snow", "--wait", data=data)
    assert result.code == 0, result.err
    words = [line.split()[1] for line in result.lines()]
    assert words[-1] == "done"
    assert words == sorted(set(words), key=["queued", "submitted", "rendering", "done"].index)
    last = result.lines()[-1].split()
    assert last[2].isdigit() and last[3] == "s"
    hint = " ".join(last[4:])
    assert hint == f"kept by the relay: veo get {last[0][:8]}"
    saved = veo(*hint.removeprefix("kept by the relay: veo ").split(), "-o", str(tmp_path / "fox.mp4"), data=data)
    assert saved.code == 0, saved.err
    assert (tmp_path / "fox.mp4").stat().st_size > 0
    assert {line.split()[0] for line in result.lines()} == {last[0]}
    assert "MEDIA_GENERATION_STATUS" not in result.out


def test_submit_without_wait_prints_the_id_and_a_repeated_key_is_not_paid_twice(data: Path) -> None:
    """The id alone on stdout; the same --request-key gives the same id with created false."""
    first = veo("submit", "a heron", "--request-key", "heron-1", data=data)
    again = veo("submit", "a heron", "--request-key", "heron-1", "--json", data=data)
    assert first.code == again.code == 0
    assert again.json() == {"generation_id": first.out.strip(), "created": False}
    assert "already used" not in first.err


def test_an_unsafe_prompt_with_wait_exits_1_with_the_reason(data: Path) -> None:
    """A job that fails makes --wait exit 1; --json prints the failed row."""
    result = veo("submit", "a forbidden scene [unsafe]", "--wait", "--json", data=data)
    row = result.json()
    assert result.code == 1
    assert (row["status"], row["error_reason"]) == ("failed", "PUBLIC_ERROR_UNSAFE_GENERATION")


def test_batch_shows_progress_until_every_job_completed(data: Path, tmp_path: Path) -> None:
    """Blank lines are skipped; the bar ends at 3/3 and the summary counts every job."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a kite over dunes\n\n  \na lighthouse at night\na paper boat\n")
    result = veo("batch", str(prompts), "--delay", "0.05", data=data)
    assert result.code == 0, result.err
    assert "3/3" in result.err
    assert "3 done" in result.err
    assert result.lines()[-1].endswith(": 3 done, 0 failed")


def test_batch_with_a_failing_prompt_exits_1_and_json_lists_every_final_row(data: Path, tmp_path: Path) -> None:
    """--json prints the final rows in prompt order; one failed job makes the batch exit 1."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a meadow\na storm [fail]\n")
    result = veo("batch", str(prompts), "--delay", "0", "--json", data=data)
    rows = result.json()
    assert result.code == 1
    assert [(r["prompt"], r["status"]) for r in rows] == [("a meadow", "completed"), ("a storm [fail]", "failed")]
    assert len({r["batch_id"] for r in rows}) == 1
    assert result.err == ""


def test_batch_without_wait_prints_the_batch_and_job_ids(data: Path, tmp_path: Path) -> None:
    """--no-wait --json is the batch_generate result."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\ntwo\n")
    result = veo("batch", str(prompts), "--no-wait", "--json", data=data)
    assert result.code == 0
    assert sorted(result.json()) == ["batch_id", "generation_ids"]
    assert len(result.json()["generation_ids"]) == 2


def test_batch_of_an_empty_file_is_a_usage_error(data: Path, tmp_path: Path) -> None:
    """Nothing is sent; exit 2."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n\n")
    result = veo("batch", str(prompts), data=data)
    assert result.code == 2
    assert "no prompts" in result.err


def test_status_history_refresh_and_upscale_of_a_completed_job(data: Path) -> None:
    """A completed job's row everywhere; its upscale completes on the upscale channel."""
    done = veo("submit", "an owl at dusk", "--wait", "--json", data=data).json()
    deadline = time.monotonic() + 30  # the relay keeps the video after the job completed: one more row change
    while (status := veo("status", done["id"], "--json", data=data)).json()["video_stored_at"] is None:
        assert time.monotonic() < deadline, "the video was not kept"
        time.sleep(0.1)
    refreshed = veo("refresh", done["id"], "--json", data=data)
    text = veo("status", done["id"], data=data)
    assert status.code == refreshed.code == text.code == 0
    assert status.json() == refreshed.json()
    kept = {"video_sha256", "video_bytes", "video_stored_at", "updated_at"}
    assert {k: v for k, v in status.json().items() if k not in kept} == {k: v for k, v in done.items() if k not in kept}
    assert f"video_url: {done['video_url']}" in text.out

    history = veo("history", "--limit", "3", "--tz", "UTC", "--json", data=data)
    page = history.json()
    assert history.code == 0
    assert page["groups"][0]["date"] == done["created_at"][:10]
    assert done["id"] in [row["id"] for group in page["groups"] for row in group["items"]]
    shown = veo("history", "--limit", "3", data=data)
    assert done["id"] in shown.out
    assert "older: --before" in shown.out

    upscaled = veo("upscale", done["id"], "--resolution", "4k", "--wait", "--json", data=data)
    row = upscaled.json()
    assert upscaled.code == 0
    assert (row["job_type"], row["status"], row["source_generation_id"]) == ("upscale", "completed", done["id"])


def test_cancel_of_a_finished_job_is_a_conflict_exiting_2(data: Path) -> None:
    """The server's message says why."""
    done = veo("submit", "a snail", "--wait", "--json", data=data).json()
    result = veo("cancel", done["id"], data=data)
    assert result.code == 2
    assert "already completed" in result.err


def test_retry_of_a_failed_job_makes_a_new_linked_job(data: Path) -> None:
    """The new id is printed; its row links back with retry_of."""
    failed = veo("submit", "a crash [unsafe]", "--wait", "--json", data=data).json()
    retried = veo("retry", failed["id"], data=data)
    new_id = retried.out.strip()
    assert retried.code == 0
    assert new_id != failed["id"]
    row = veo("status", new_id, "--json", data=data).json()
    assert row["retry_of"] == failed["id"]


def test_queue_shows_the_budget(data: Path) -> None:
    """JSON is the queue_status data as it is; text is a summary with units."""
    as_json = veo("queue", "--json", data=data)
    as_text = veo("queue", data=data)
    assert as_json.code == as_text.code == 0
    assert as_json.json()["budget"]["rate"] == 10.0
    assert " of 10 requests/s used in the last second" in as_text.out
    assert "0 waiting for a token" in as_text.out
    assert "budget.rate" not in as_text.out


def test_watch_json_streams_deltas_until_ctrl_c_which_exits_0(data: Path) -> None:
    """JSON Lines of deltas in position order, flattened; SIGINT ends the watch with exit code 0."""
    watch = start_veo(["watch", "--json"], data)
    assert watch.stdout is not None and watch.stderr is not None
    try:
        assert "watching from position" in watch.stderr.readline()
        job = veo("submit", "a watched pot", "--json", data=data).json()["generation_id"]
        deltas: list[dict[str, Any]] = []
        while not deltas or deltas[-1]["data"]["status"] != "completed":
            delta = json.loads(watch.stdout.readline())
            if delta["data"].get("id") == job:
                deltas.append(delta)
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=10) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
        watch.communicate()
    assert {d["type"] for d in deltas} == {"delta"}
    assert deltas[0]["data"]["status"] == "pending"
    positions = [d["position"] for d in deltas]
    assert positions == sorted(set(positions))


def test_watch_shows_the_latest_jobs_in_a_table_and_ctrl_c_exits_0(data: Path) -> None:
    """The table starts from a history snapshot: short ids and plain status words, no positions."""
    job = veo("submit", "a table of owls", "--wait", "--json", data=data).json()["id"]
    watch = watch_until_interrupted(data)
    out = watch.out
    assert watch.code == 0
    assert job[:8] in out
    assert "a table of owls" in out
    assert "done" in out
    assert "position" not in out
    assert "completed" not in out
