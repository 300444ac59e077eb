"""The in-process scripting API (server.scripting.Relay) on a real store, PollerActor and simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from domain.errors import GenerationNotFound, IllegalTransition, InvalidParameter
from projections.rows import HistoryRow
from server.bootstrap import Settings
from server.scripting import DeltaStream, Relay
from veo_simulator import SimulatorConfig

FAST = (0.3, 0.8)
SLOW = (600.0, 600.0)
"""For jobs that must still be running when the test acts on them, however late its thread gets the CPU."""


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    # Without the video keeper: its VideoStored after Completed would change a final row between two reads.
    simulator = SimulatorConfig(lo=FAST[0], hi=FAST[1])
    settings = Settings(data_dir=tmp_path_factory.mktemp("relay"), simulator=simulator, keep_videos=False)
    with Relay.from_settings(settings) as started:
        yield started


@pytest.fixture(scope="module")
def slow_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    with Relay.start(tmp_path_factory.mktemp("slow-relay"), simulator_times=SLOW) as started:
        yield started


def test_submit_then_wait_gives_the_completed_row_that_status_also_reads(relay: Relay) -> None:
    """The row has the video; status reads the same row."""
    job = relay.submit("a fox at dawn", seed=7, priority="high", aspect_ratio="portrait")
    [row] = relay.wait([job], timeout=20)
    assert (row.status, row.seed, row.priority, row.aspect_ratio) == ("completed", 7, "high", "portrait")
    assert row.video_url is not None
    assert relay.status(job) == row


def test_status_right_after_submit_already_sees_the_request(relay: Relay) -> None:
    """Read-your-writes: the row exists as soon as submit returns."""
    job = relay.submit("a quick look")
    assert relay.status(job).prompt == "a quick look"
    relay.wait([job], timeout=20)


def test_a_repeated_request_key_names_the_same_job(relay: Relay) -> None:
    """Nothing is paid twice."""
    first = relay.submit("a heron", request_key="heron")
    assert relay.submit("a heron", request_key="heron") == first
    relay.wait([first], timeout=20)


def test_a_batch_completes_and_its_row_counts_every_job(relay: Relay) -> None:
    """All three complete; the batch row agrees."""
    made = relay.batch(["one", "two", "three"], delay=0.05)
    rows = relay.wait(made.generation_ids, timeout=20)
    assert [r.prompt for r in rows] == ["one", "two", "three"]
    assert {r.status for r in rows} == {"completed"}
    assert {r.batch_id for r in rows} == {str(made.batch_id)}
    batch = relay.batch_status(made.batch_id)
    assert batch is not None
    assert (batch.total, batch.completed, batch.failed) == (3, 3, 0)


def _changes_of(stream: DeltaStream, job: str, count: int | None = None) -> list[tuple[int, HistoryRow]]:
    """The job's deltas from the stream, until it completes (or `count` of them)."""
    seen: list[tuple[int, HistoryRow]] = []
    while (len(seen) < count) if count is not None else (not seen or seen[-1][1].status != "completed"):
        delta = stream.get(timeout=20)
        assert delta is not None, "no delta within 20 s"
        if isinstance(delta.row, HistoryRow) and delta.row.id == job:
            seen.append((delta.position, delta.row))
    return seen


def test_deltas_taken_before_a_submit_show_every_change_in_position_order(relay: Relay) -> None:
    """From pending to completed, positions rising; a stream resumed after the start replays the same deltas."""
    stream = relay.deltas()
    start = stream.position
    job = str(relay.submit("a watched pot"))
    seen = _changes_of(stream, job)
    assert seen[0][1].status == "pending"
    positions = [position for position, _ in seen]
    assert positions == sorted(set(positions))
    replay = relay.deltas(after=start)
    assert replay.resumed
    assert _changes_of(replay, job, count=len(seen)) == seen


def test_a_position_beyond_the_store_starts_live_and_says_so(relay: Relay) -> None:
    """resumed is false."""
    stream = relay.deltas(after=10**9)
    assert not stream.resumed
    assert stream.get(timeout=0) is None


def test_a_failed_job_can_be_retried_as_a_new_linked_job(relay: Relay) -> None:
    """The retry has a new id and retry_of."""
    failed = relay.submit("forbidden [unsafe]")
    [row] = relay.wait([failed], timeout=20)
    assert (row.status, row.error_reason) == ("failed", "PUBLIC_ERROR_UNSAFE_GENERATION")
    retried = relay.retry(failed)
    assert retried != failed
    assert relay.status(retried).retry_of == str(failed)
    relay.wait([retried], timeout=20)


def test_an_upscale_of_a_completed_job_completes(relay: Relay) -> None:
    """Its row is an upscale of the source."""
    source = relay.submit("a wide valley")
    relay.wait([source], timeout=20)
    upscaled = relay.upscale(source, "4k")
    [row] = relay.wait([upscaled], timeout=20)
    assert (row.job_type, row.status, row.source_generation_id) == ("upscale", "completed", str(source))


def test_cancel_stops_a_running_job_and_refuses_a_finished_one(slow_relay: Relay) -> None:
    """The job ends `cancelled` (wait returns, a delta says so); a second cancel says it is already cancelled."""
    stream = slow_relay.deltas()
    job = slow_relay.submit("a long take")
    slow_relay.cancel(job)
    [row] = slow_relay.wait([job], timeout=20)
    assert (row.status, row.error_reason) == ("cancelled", "cancelled")
    with pytest.raises(IllegalTransition, match="already cancelled"):
        slow_relay.cancel(job)
    statuses = []
    while "cancelled" not in statuses and (delta := stream.get(timeout=20)) is not None:
        if isinstance(delta.row, HistoryRow) and delta.row.id == str(job):
            statuses.append(delta.row.status)
    assert statuses[-1] == "cancelled"


def test_refresh_answers_with_the_row(relay: Relay) -> None:
    """A running job's row after the check; a finished job's row unchanged."""
    job = relay.submit("a refreshed sky")
    assert relay.refresh(job).id == str(job)
    [done] = relay.wait([job], timeout=20)
    assert relay.refresh(job) == done


def test_wait_gives_up_with_timeout_error(slow_relay: Relay) -> None:
    """A job that cannot finish within the timeout raises TimeoutError naming it."""
    job = slow_relay.submit("a slow dawn")
    with pytest.raises(TimeoutError, match=str(job)):
        slow_relay.wait([job], timeout=0)
    slow_relay.cancel(job)


def test_bad_arguments_and_unknown_ids_raise_domain_errors(relay: Relay) -> None:
    """Named fields; unknown ids."""
    with pytest.raises(InvalidParameter, match="profile_id"):
        relay.submit("x", profile="nobody")
    with pytest.raises(InvalidParameter, match="delay"):
        relay.batch(["x"], delay=-1)
    with pytest.raises(GenerationNotFound):
        relay.status(uuid4())
    with pytest.raises(GenerationNotFound):
        relay.wait([uuid4()], timeout=1)
    assert relay.batch_status(uuid4()) is None


def test_queue_status_reports_the_budget(relay: Relay) -> None:
    """The PollerActor's queue_status."""
    status = relay.queue_status()
    assert status["budget"] == {"rate": 10.0, "max_in_flight": 10}


def test_queue_status_says_whether_the_relay_keeps_videos(relay: Relay, slow_relay: Relay) -> None:
    """The node's setting, so a client knows whether to wait for a finished job's kept copy."""
    assert relay.queue_status()["keep_videos"] is False
    assert slow_relay.queue_status()["keep_videos"] is True


def test_stopping_the_relay_ends_open_delta_streams(tmp_path: Path) -> None:
    """Iteration stops instead of blocking forever."""
    relay = Relay.start(tmp_path, simulator_times=FAST)
    stream = relay.deltas()
    relay.stop()
    assert list(stream) == []
