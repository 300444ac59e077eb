"""`/metrics` never waits on the store: with the store's reads hanging, a scrape and the websocket clients are
answered while the hanging read is still blocked."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest

from actors.clock import FakeClock
from server.metrics import MetricsSnapshot
from tests.e2e.harness import relay, run
from veo_protocol import QueueStatus

HANG_LIMIT = 20.0
"""A safety net only: the hanging read gives up after this, so that today's code fails rather than hangs."""


def samples(text: str) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in (line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    }


def test_a_scrape_is_answered_while_the_store_hangs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        async with relay(tmp_path) as target, httpx.AsyncClient(base_url=target.http_url, trust_env=False) as http:
            peer = await target.connect()
            before = samples((await http.get("/metrics")).text)
            entered, release, over = threading.Event(), threading.Event(), threading.Event()
            real = target.system.app.last_position

            def hanging() -> int:
                entered.set()
                release.wait(HANG_LIMIT)
                over.set()
                return real()

            monkeypatch.setattr(target.system.app, "last_position", hanging)
            scrape = asyncio.create_task(http.get("/metrics"))
            assert await asyncio.to_thread(entered.wait, HANG_LIMIT), "nothing read the store"
            answer = await scrape
            await peer.ok(QueueStatus)
            assert not over.is_set(), "the scrape waited for the hanging read"
            assert answer.status_code == 200
            during = samples(answer.text)
            assert during["veo_projection_lag_events"] == before["veo_projection_lag_events"]
            assert during["veo_connected_clients"] == 1
            release.set()
            await asyncio.to_thread(over.wait, HANG_LIMIT)
            await peer.close()

    run(scenario())


def test_the_snapshot_says_how_old_it_is(tmp_path: Path) -> None:
    """A store that stops answering shows as a growing `veo_metrics_age_seconds`."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            clock = FakeClock(100.0)
            snapshot = MetricsSnapshot(target.system, clock=clock)
            await asyncio.to_thread(snapshot.refresh)
            clock.advance(2.5)
            text = snapshot.render(3, 0)
            assert "# TYPE veo_metrics_age_seconds gauge" in text
            assert samples(text)["veo_metrics_age_seconds"] == 2.5
            assert samples(text)["veo_connected_clients"] == 3

    run(scenario())
