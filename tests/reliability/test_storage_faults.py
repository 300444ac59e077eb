"""The event store fills up, or the read model becomes read-only, in the middle of a batch.

Clear errors while it lasts (client commands get `internal` naming the problem, `/metrics` and the log
say so), nothing recorded twice or lost (Flow's answers wait until they can be recorded), and full
recovery when the fault clears: every job completes, the read model equals a rebuild, a subscribed
client gets every delta exactly once, and both SQLite files pass `integrity_check`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from domain.values import TERMINAL_STATUSES
from server.store import locate
from tests.e2e.harness import Peer, Relay, caught_up, relay, run, wait_until
from tests.reliability.storage import (
    DISK_FULL,
    READ_ONLY,
    break_event_store,
    break_read_model,
    on_first,
)
from tests.reliability.verify import delivery, integrity, journal, matches_rebuild
from tests.reliability.watcher import ALL_CHANNELS, Received
from veo_protocol import BatchGenerate, ErrorCode, ErrorReply, Generate, Subscribe
from veo_simulator import SimulatorConfig

JOBS = 16
FLOW = SimulatorConfig(lo=0.4, hi=0.9, seed=12)


async def metrics(target: Relay) -> dict[str, float]:
    """`/metrics` as {name: value}, from a snapshot taken now (the server takes one every second, off its loop)."""
    await asyncio.to_thread(target.server.metrics.refresh)
    async with httpx.AsyncClient() as http:
        text = (await http.get(target.http_url + "/metrics")).text
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def rows_of(target: Relay, ids: list[str]) -> list[str]:
    """Statuses of `ids` in the read model."""
    system = target.system
    return [row.status for row in system.history.get_many(system.db.reader(), ids)]


def all_done(target: Relay, ids: list[str]) -> bool:
    """Every job has a terminal row."""
    statuses = rows_of(target, ids)
    return len(statuses) == len(ids) and all(status in TERMINAL_STATUSES for status in statuses)


async def start_batch(target: Relay) -> tuple[Peer, Peer, list[str]]:
    """A client following every channel from position 0, and a batch under way; (watcher, client, ids)."""
    watcher = await target.connect()
    await watcher.ok(Subscribe, channels=ALL_CHANNELS, after=0)
    client = await target.connect()
    batch = await client.ok(BatchGenerate, prompts=[f"storage scene {i}" for i in range(JOBS)], delay_ms=50)
    return watcher, client, list(batch.data["generation_ids"])


async def recovered(target: Relay, watcher: Peer, ids: list[str]) -> None:
    """Every job completed, Flow created each scene once and every operation is recorded, the read model
    equals a rebuild, and the watcher got every journal delta exactly once."""
    await wait_until(lambda: all_done(target, ids), timeout=60, what="every job to finish")
    assert rows_of(target, ids) == ["completed"] * JOBS
    await caught_up(target, watcher)
    received = [Received(d.position, d.channel, d.data) for d in watcher.deltas]
    system = target.system
    assert delivery(received, journal(system.db)).exactly_once
    assert system.simulator is not None
    audit = system.simulator.audit()
    assert audit["duplicate_scene_ids"] == []
    recorded = {row.operation_name for row in system.history.get_many(system.db.reader(), ids)}
    assert {op["name"] for op in audit["operations"]} <= recorded  # no answer from Flow was lost
    assert await asyncio.to_thread(matches_rebuild, system.app, system.db) == []


def assert_sound_files(tmp_path: Path) -> None:
    """Both SQLite files pass integrity_check after the relay stopped."""
    location = locate(tmp_path, None)
    assert integrity(location.events_path) == "ok"
    assert integrity(location.views_path) == "ok"


def test_a_full_event_store_refuses_commands_clearly_keeps_flows_answers_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While the disk is full: `generate` gets `internal` naming the problem, /metrics shows the store
    unwritable, the log says why, and Flow's answers wait; afterwards everything completes exactly once."""
    caplog.set_level(logging.WARNING)

    async def scenario() -> None:
        async with relay(tmp_path, simulator=FLOW, keep_videos=False) as target:  # no kept-video events mid-check
            system = target.system
            fault = break_event_store(monkeypatch, system.app)
            on_first(monkeypatch, system.app, "record_submitted", fault)  # that job's call to Flow is then sent
            watcher, client, ids = await start_batch(target)
            await wait_until(lambda: fault.is_on, what="the first job's submission to be recorded")
            reply = await client.request(Generate, prompt="while the disk is full")
            assert isinstance(reply, ErrorReply)
            assert reply.code == ErrorCode.INTERNAL
            assert DISK_FULL in reply.message
            await wait_until(
                lambda: fault.raised >= 4 and len(system.poller.calls.pending()) >= 1,
                what="Flow's answers to wait in the mailbox while recording them is retried",
            )
            figures = await metrics(target)
            assert figures["veo_store_writable"] == 0
            assert figures["veo_store_write_errors_total"] >= 1
            fault.off()
            await recovered(target, watcher, ids)
            figures = await metrics(target)
            assert figures["veo_store_writable"] == 1
            await watcher.close()
            await client.close()

    run(scenario(), timeout=90)
    assert any(DISK_FULL in record.getMessage() or DISK_FULL in (record.exc_text or "") for record in caplog.records)
    assert_sound_files(tmp_path)


def test_a_read_only_read_model_stops_deltas_then_catches_up_with_each_delta_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While the read model refuses writes, events are still recorded and the projection retries with
    backoff (counted in /metrics, logged); once writable again it catches up and deltas resume, none lost."""
    caplog.set_level(logging.WARNING)

    async def scenario() -> None:
        async with relay(tmp_path, simulator=FLOW, keep_videos=False) as target:  # no kept-video events mid-check
            system = target.system
            fault = break_read_model(monkeypatch, system.db)
            on_first(monkeypatch, system.app, "record_started", fault)  # every other job's events come later
            watcher, client, ids = await start_batch(target)
            await wait_until(lambda: fault.is_on, what="the first job to start")
            await wait_until(lambda: system.projections.errors >= 1, what="the projection to fail")
            stuck_at = system.projections.position  # a page begun before the fault may have committed meanwhile
            await wait_until(lambda: system.projections.errors >= 3, what="the projection to retry")
            await wait_until(lambda: system.app.last_position() > stuck_at + 5, what="events recorded meanwhile")
            assert system.projections.position == stuck_at
            figures = await metrics(target)
            assert figures["veo_projection_lag_events"] > 0
            assert figures["veo_projection_errors_total"] >= 3
            fault.off()
            await recovered(target, watcher, ids)
            await watcher.close()
            await client.close()

    run(scenario(), timeout=90)
    assert any(READ_ONLY in (record.exc_text or "") for record in caplog.records)
    assert_sound_files(tmp_path)
