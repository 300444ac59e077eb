"""The PollerActor against the Flow simulator over loopback, with a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.poller_messages import ReadStatus
from domain.requests import GenerationSpec
from tests.actors.system import all_terminal, row, running_system, statuses, wait_for
from veo_simulator import SimulatorConfig

ON_SQLITE = pytest.mark.parametrize("backend", ["sqlite"])
"""For the poller's decisions, which the store does not change: the tests of what it records and restores (a
batch, a crash, a restart) run on PostgreSQL too, and tests/domain and tests/projections run every event on both."""


def test_a_batch_completes_within_the_budget_and_each_scene_is_submitted_once(
    tmp_path: Path, store: str | None
) -> None:
    """Every job reaches completed with a URL; Flow saw no burst over R and no duplicate submission."""
    with running_system(tmp_path, store=store, rate=10.0) as system:
        assert system.simulator is not None
        _, ids, _ = system.app.request_batch([GenerationSpec(prompt=f"scene {i}") for i in range(12)])
        system.poller.enqueue(ids, delay_s=0.05)
        wait_for(all_terminal(system, ids), what="the batch to finish")
        assert statuses(system, ids) == ["completed"] * 12
        assert all((r := row(system, i)) is not None and r.video_url for i in ids)
        audit = system.simulator.audit()
    assert audit["max_in_any_1s_window"] <= 10
    assert audit["duplicate_scene_ids"] == []
    assert audit["throttled_429"] == 0


@ON_SQLITE
def test_a_content_policy_refusal_fails_with_flows_reason(tmp_path: Path, store: str | None) -> None:
    """A 400 at submission is terminal for that prompt, with Flow's reason kept verbatim."""
    with running_system(tmp_path, store=store) as system:
        gid, _ = system.app.request_generation(GenerationSpec(prompt="something [unsafe]"))
        system.poller.enqueue([gid])
        wait_for(all_terminal(system, [gid]))
        failed = row(system, gid)
    assert failed is not None
    assert (failed.status, failed.error_reason) == ("failed", "PUBLIC_ERROR_UNSAFE_GENERATION")


@ON_SQLITE
def test_an_asynchronous_failure_is_recorded_from_the_status_check(tmp_path: Path, store: str | None) -> None:
    """A job Flow accepts and later fails ends failed with the reason from the status check."""
    with running_system(tmp_path, store=store) as system:
        gid, _ = system.app.request_generation(GenerationSpec(prompt="will [fail] later"))
        system.poller.enqueue([gid])
        wait_for(all_terminal(system, [gid]))
        failed = row(system, gid)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.operation_name is not None
    assert failed.error_reason == "PUBLIC_ERROR_UNSAFE_GENERATION"


@ON_SQLITE
def test_an_ambiguous_submission_is_never_resent(tmp_path: Path, store: str | None) -> None:
    """A 500 after the operation was created fails the job as interrupted_submission; Flow saw one call."""
    simulator = SimulatorConfig(lo=0.3, hi=0.6, seed=3, faults={"500": 1.0})
    with running_system(tmp_path, store=store, simulator=simulator) as system:
        assert system.simulator is not None
        gid, _ = system.app.request_generation(GenerationSpec(prompt="fox"))
        system.poller.enqueue([gid])
        wait_for(all_terminal(system, [gid]))
        failed = row(system, gid)
        audit = system.simulator.audit()
    assert failed is not None
    assert failed.error_reason == "interrupted_submission"
    assert audit["ambiguous_submissions"] == 1
    assert list(audit["generate_calls_per_scene"].values()) == [1]


@ON_SQLITE
def test_transient_refusals_are_retried_until_accepted(tmp_path: Path, store: str | None) -> None:
    """503s prove nothing was created: the job is deferred, resubmitted, and completes."""
    simulator = SimulatorConfig(lo=0.2, hi=0.4, seed=5, faults={"503": 0.5})
    with running_system(tmp_path, store=store, simulator=simulator) as system:
        assert system.simulator is not None
        ids = [system.app.request_generation(GenerationSpec(prompt=f"p{i}"))[0] for i in range(6)]
        system.poller.enqueue(ids)
        wait_for(all_terminal(system, ids), timeout=60)
        final = statuses(system, ids)
        audit = system.simulator.audit()
    assert final == ["completed"] * 6
    assert audit["duplicate_scene_ids"] == []


def test_a_crashed_poller_is_restarted_and_loses_nothing(tmp_path: Path, store: str | None) -> None:
    """Crashing the actor mid-run: the supervisor restarts it, restores, and every job completes once."""
    with running_system(tmp_path, store=store, simulator=SimulatorConfig(lo=0.5, hi=1.0, seed=2)) as system:
        assert system.simulator is not None
        _, ids, _ = system.app.request_batch([GenerationSpec(prompt=f"p{i}") for i in range(8)])
        system.poller.enqueue(ids, delay_s=0.05)
        wait_for(lambda: "pending" in statuses(system, ids))
        system.poller.crash("injected for the test")
        wait_for(lambda: system.poller.restarts == 1, what="the restart")
        wait_for(lambda: system.poller.published_status() is not None, what="the successor's first snapshot")
        wait_for(all_terminal(system, ids), timeout=30)
        final = statuses(system, ids)
        audit = system.simulator.audit()
    assert final == ["completed"] * 8
    assert audit["duplicate_scene_ids"] == []


@ON_SQLITE
def test_a_job_past_its_deadline_fails_with_timeout(tmp_path: Path, store: str | None) -> None:
    """The deadline counts from Started; a job Flow never finishes in time fails with reason timeout."""
    with running_system(tmp_path, store=store, deadline=0.5, simulator=SimulatorConfig(lo=30, hi=40, seed=1)) as system:
        gid, _ = system.app.request_generation(GenerationSpec(prompt="slow"))
        system.poller.enqueue([gid])
        wait_for(all_terminal(system, [gid]))
        failed = row(system, gid)
    assert failed is not None
    assert (failed.status, failed.error_reason) == ("failed", "timeout")
    assert failed.started_at is not None


def test_a_restart_of_the_service_keeps_the_built_in_simulators_jobs(tmp_path: Path, store: str | None) -> None:
    """The built-in simulator keeps its operations (and port) in the data directory: a job in flight
    across a stop and start of the whole service completes, and its video link stays valid."""
    slow = SimulatorConfig(lo=1.5, hi=2.0, seed=9)
    with running_system(tmp_path, store=store, simulator=slow) as system:
        gid, _ = system.app.request_generation(GenerationSpec(prompt="across a restart"))
        system.poller.enqueue([gid])
        wait_for(lambda: (r := row(system, gid)) is not None and r.operation_name is not None, what="Started")
        first_port = system.simulator.port if system.simulator else None
    with running_system(tmp_path, store=store, simulator=slow) as system:
        wait_for(all_terminal(system, [gid]))
        done = row(system, gid)
        second_port = system.simulator.port if system.simulator else None
        assert system.simulator is not None
        assert list(system.simulator.audit()["generate_calls_per_scene"].values()) in ([], [1])
    assert done is not None
    assert done.status == "completed"
    assert first_port == second_port
    assert done.video_url is not None
    assert f":{second_port}/" in done.video_url


@ON_SQLITE
def test_the_published_status_is_read_only_once_it_counts_every_message_told_before(
    tmp_path: Path, store: str | None
) -> None:
    """`queue_status` without asking the actor is what asking it answers, and never misses a job enqueued
    before it was read: while the actor has not handled that message yet, there is none (ask it instead)."""
    with running_system(tmp_path, store=store, simulator=SimulatorConfig(lo=5.0, hi=5.0, seed=3)) as system:
        supervisor = system.poller
        wait_for(lambda: supervisor.published_status() is not None, what="the first snapshot")
        asked = supervisor.actor.ask(ReadStatus(), block=True, timeout=5)
        assert supervisor.published_status() == msgspec.structs.replace(asked, restarts=0, last_restart_seconds=None)
        poller = supervisor.actor.proxy().poller.get(timeout=5)
        original, entered, release = poller.enqueue, threading.Event(), threading.Event()

        def held(*args: Any) -> None:
            entered.set()
            release.wait(10)
            original(*args)

        poller.enqueue = held
        made, _ = system.app.request_generation(GenerationSpec(prompt="count me"))
        supervisor.enqueue([made])
        assert supervisor.published_status() is None  # told, not yet seen
        assert entered.wait(5)
        assert supervisor.published_status() is None  # being handled
        release.set()
        wait_for(lambda: supervisor.published_status() is not None, what="the snapshot after the enqueue")
        status = supervisor.published_status()
        assert status is not None
        assert status.queued + status.waiting_token + status.submitting + status.pending + status.processing == 1
