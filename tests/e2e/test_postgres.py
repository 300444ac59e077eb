"""A relay on PostgreSQL over websockets: resume on one node, and several nodes following one store live.

Every node runs its own projection runner and delta hub on the shared read model; a delta recorded on
any node reaches clients on every node at the same position, and a client can resume on another node.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from domain.requests import GenerationSpec
from server.bootstrap import Settings
from tests.e2e.harness import FAST_JOBS, Relay, batch_finished, caught_up, journal, keys, run, serving
from veo_protocol import BatchGenerate, DeltaMessage, Subscribe

CHANNELS = ["generation:status", "batch:progress"]


@asynccontextmanager
async def node(data: Path, store: str, *, poller: bool = True) -> AsyncIterator[Relay]:
    """A relay node on `store`, with its own data directory; `poller=False`: it never calls Flow.

    Without the video keeper: its events after each Completed would keep coming once a batch has finished, and
    the tests compare every client's deltas with the journal then.
    """
    settings = Settings(data_dir=data, store=store, port=0, simulator=FAST_JOBS, run_poller=poller, keep_videos=False)
    async with serving(settings) as target:
        yield target


def test_a_client_resuming_on_postgresql_gets_every_delta_exactly_once(tmp_path: Path, postgres_url: str) -> None:
    """Deltas before a lost connection plus those after `after` equal an unbroken client's, and the journal."""

    async def scenario() -> None:
        async with node(tmp_path, postgres_url) as target:
            witness = await target.connect()
            start = (await witness.ok(Subscribe, channels=CHANNELS)).position
            dropped = await target.connect()
            await dropped.ok(Subscribe, channels=CHANNELS)
            await witness.ok(BatchGenerate, prompts=[f"take {i}" for i in range(6)], delay_ms=100)
            await dropped.until(lambda: len(dropped.deltas) >= 10, what="the batch to be under way")
            assert dropped.ws.transport is not None
            dropped.ws.transport.abort()
            await dropped.closed_with()
            last = dropped.last_position
            assert last is not None
            resumed = await target.connect()
            answer = await resumed.ok(Subscribe, channels=CHANNELS, after=last)
            assert (answer.data["resumed"], answer.data["position"]) == (True, last)
            await witness.until(lambda: _batch_done(witness.deltas, 6), what="the batch to finish")
            await caught_up(target, witness, resumed)
            rejoined = dropped.deltas + resumed.deltas
            assert keys(rejoined) == keys(witness.deltas) == [(d.position, d.channel) for d in journal(target, start)]
            assert [d.data for d in rejoined] == [d.data for d in witness.deltas]
            await resumed.close()
            await witness.close()

    run(scenario())


def test_deltas_recorded_on_any_node_reach_clients_on_every_node_at_the_same_positions(
    tmp_path: Path, postgres_url: str
) -> None:
    """A batch run by one node and a request recorded on the other: both nodes' clients see the same deltas."""

    async def scenario() -> None:
        async with (
            node(tmp_path / "a", postgres_url) as first,
            node(tmp_path / "b", postgres_url, poller=False) as second,
        ):
            on_first, on_second = await first.connect(), await second.connect()
            start = (await on_first.ok(Subscribe, channels=CHANNELS)).position
            assert (await on_second.ok(Subscribe, channels=CHANNELS)).position == start
            await on_first.ok(BatchGenerate, prompts=[f"scene {i}" for i in range(4)], delay_ms=50)
            await asyncio.to_thread(second.system.app.request_generation, GenerationSpec(prompt="on the other node"))
            await on_first.until(lambda: _batch_done(on_first.deltas, 4), what="the batch to finish")
            await caught_up(first, on_first)
            await caught_up(second, on_second)
            assert (
                keys(on_second.deltas)
                == keys(on_first.deltas)
                == [(d.position, d.channel) for d in journal(first, start)]
            )
            assert [d.data for d in on_second.deltas] == [d.data for d in on_first.deltas]
            assert any(d.data.get("prompt") == "on the other node" for d in on_first.deltas)
            await on_first.close()
            await on_second.close()

    run(scenario())


def test_a_client_resumes_on_another_node_without_gaps_or_doubles(tmp_path: Path, postgres_url: str) -> None:
    """Positions are the store's: `after` from one node is honoured by the other."""

    async def scenario() -> None:
        async with (
            node(tmp_path / "a", postgres_url) as first,
            node(tmp_path / "b", postgres_url, poller=False) as second,
        ):
            witness = await first.connect()
            start = (await witness.ok(Subscribe, channels=CHANNELS)).position
            moving = await first.connect()
            await moving.ok(Subscribe, channels=CHANNELS)
            await witness.ok(BatchGenerate, prompts=[f"take {i}" for i in range(6)], delay_ms=100)
            await moving.until(lambda: len(moving.deltas) >= 8, what="the batch to be under way")
            await moving.close()
            last = moving.last_position
            assert last is not None
            elsewhere = await second.connect()
            answer = await elsewhere.ok(Subscribe, channels=CHANNELS, after=last)
            assert (answer.data["resumed"], answer.data["position"]) == (True, last)
            await witness.until(lambda: _batch_done(witness.deltas, 6), what="the batch to finish")
            await caught_up(first, witness)
            await caught_up(second, elsewhere)
            assert keys(moving.deltas + elsewhere.deltas) == keys(witness.deltas)
            assert keys(witness.deltas) == [(d.position, d.channel) for d in journal(second, start)]
            await elsewhere.close()
            await witness.close()

    run(scenario())


def _batch_done(deltas: list[DeltaMessage], size: int) -> bool:
    rows = [d.data for d in deltas if d.channel == "batch:progress"]
    return bool(rows) and batch_finished(rows[-1]) == size
