"""Live deltas over a real websocket: a job's life, one frame per event, and snapshot-then-subscribe."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

from domain.values import TERMINAL_STATUSES
from tests.e2e.harness import Peer, Relay, batch_finished, journal, relay, run, videos_kept
from veo_protocol import BatchGenerate, DeltaMessage, Generate, GetStatuses, Refresh, Subscribe
from veo_simulator import SimulatorConfig

GENERATIONS = "generation:status"
BATCHES = "batch:progress"


def statuses_of(peer: Peer, generation_id: str) -> list[str]:
    """The generation's statuses as its deltas arrived, repeats collapsed."""
    seen: list[str] = []
    for delta in peer.deltas:
        if delta.channel == GENERATIONS and delta.data["id"] == generation_id and delta.data["status"] not in seen[-1:]:
            seen.append(delta.data["status"])
    return seen


def as_journal(deltas: list[DeltaMessage]) -> list[tuple[int, str, Any]]:
    """Deltas as (position, channel, row) for comparing with the journal."""
    return [(d.position, d.channel, d.data) for d in deltas]


def journal_after(target: Relay, after: int, channels: set[str]) -> list[tuple[int, str, Any]]:
    """The journal's deltas after `after`, decoded like a client decodes them."""
    return [(d.position, d.channel, msgspec.json.decode(d.data)) for d in journal(target, after, channels)]


def test_a_generation_streams_pending_then_processing_then_completed(tmp_path: Path) -> None:
    """A subscriber sees the job's deltas live, in order, with strictly increasing positions, as journaled."""

    async def scenario() -> None:
        # without the keeper: its event after Completed would reach the journal after the peer's last delta
        simulator = SimulatorConfig(lo=3.0, hi=3.0, seed=1)
        async with relay(tmp_path, simulator=simulator, keep_videos=False) as target:
            peer = await target.connect()
            subscribed = await peer.ok(Subscribe, channels=[GENERATIONS])
            assert subscribed.data == {"channels": [GENERATIONS], "position": 0, "resumed": False}
            generated = await peer.ok(Generate, prompt="a fox at dawn")
            generation_id = generated.data["generation_id"]
            # Flow reports ACTIVE for most of the job; refresh checks now rather than when the poller would.
            await peer.until(lambda: any(d.data["remote_status"] for d in peer.deltas), what="Started")
            while (await peer.ok(Refresh, generation_id=generation_id)).data["status"] == "pending":
                await asyncio.sleep(0.2)  # a refresh within a second of the last check returns that check
            await peer.until(lambda: statuses_of(peer, generation_id)[-1] == "completed", what="completion")
            assert statuses_of(peer, generation_id) == ["pending", "processing", "completed"]
            positions = [d.position for d in peer.deltas]
            assert positions == sorted(set(positions)), positions
            assert positions[0] > subscribed.position
            await target.settled()
            assert as_journal(peer.deltas) == journal_after(target, subscribed.position, {GENERATIONS})
            await peer.close()

    run(scenario())


def test_an_event_changing_a_generation_and_its_batch_arrives_as_two_deltas_in_one_frame(tmp_path: Path) -> None:
    """Each batch item's change and the batch row it changes share a position and travel in one frame."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            await peer.ok(Subscribe, channels=[GENERATIONS, BATCHES])
            generated = await peer.ok(BatchGenerate, prompts=[f"scene {i}" for i in range(4)], delay_ms=0)
            batch_id = generated.data["batch_id"]

            def batch_done() -> bool:
                rows = [d.data for d in peer.deltas if d.channel == BATCHES]
                return bool(rows) and batch_finished(rows[-1]) == 4

            await peer.until(batch_done, what="the batch to finish")
            frame_of: dict[int, int] = {}
            for index, frame in enumerate(peer.frames):
                for delta in frame:
                    assert frame_of.setdefault(delta.position, index) == index, f"position {delta.position} split"
            batch_positions = {d.position for d in peer.deltas if d.channel == BATCHES}
            assert len(batch_positions) >= 8  # 4 requested, 4 finished
            for position in batch_positions:
                together = [d for d in peer.frames[frame_of[position]] if d.position == position]
                assert sorted(d.channel for d in together) == [BATCHES, GENERATIONS]
                batch_row = next(d.data for d in together if d.channel == BATCHES)
                generation_row = next(d.data for d in together if d.channel == GENERATIONS)
                assert batch_row["batch_id"] == generation_row["batch_id"] == batch_id
            positions = [d.position for d in peer.deltas]
            assert positions == sorted(positions)
            await peer.close()

    run(scenario())


def test_a_snapshot_then_subscribe_after_its_position_misses_nothing(tmp_path: Path) -> None:
    """Rows read with get_statuses plus the deltas after their position equal the final rows and the journal."""

    async def scenario() -> None:
        # without the keeper: its events after each Completed would keep coming once every job has finished
        async with relay(tmp_path, keep_videos=False) as target:
            producer = await target.connect()
            generated = await producer.ok(BatchGenerate, prompts=[f"shot {i}" for i in range(6)], delay_ms=150)
            ids: list[str] = generated.data["generation_ids"]
            while target.store_position() < len(ids) + 3:  # the batch is under way
                await asyncio.sleep(0.01)
            reader = await target.connect()
            snapshot = await reader.ok(GetStatuses, generation_ids=ids)
            subscribed = await reader.ok(Subscribe, channels=[GENERATIONS], after=snapshot.position)
            assert (subscribed.data["resumed"], subscribed.data["position"]) == (True, snapshot.position)
            rows = {row["id"]: row for row in snapshot.data}
            assert set(rows) == set(ids)

            def all_finished() -> bool:
                latest = dict(rows) | {d.data["id"]: d.data for d in reader.deltas}
                return all(row["status"] in TERMINAL_STATUSES for row in latest.values())

            await reader.until(all_finished, what="every job to finish")
            assert all(d.position > snapshot.position for d in reader.deltas)
            for delta in reader.deltas:
                rows[delta.data["id"]] = delta.data
            final = await reader.ok(GetStatuses, generation_ids=ids)
            assert rows == {row["id"]: row for row in final.data}
            await target.settled()
            assert as_journal(reader.deltas) == journal_after(target, snapshot.position, {GENERATIONS})
            await reader.close()
            await producer.close()

    run(scenario())


def test_subscribe_without_after_starts_live_at_the_current_position(tmp_path: Path) -> None:
    """The result gives the read model's current position; only later deltas follow."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            early = await target.connect()
            await early.ok(Subscribe, channels=[GENERATIONS])
            first = await early.ok(BatchGenerate, prompts=["first"], delay_ms=0)
            await early.until(lambda: statuses_of(early, first.data["generation_ids"][0])[-1:] == ["completed"])
            await videos_kept(target, first.data["generation_ids"][0])
            head = await target.settled()
            late = await target.connect()
            subscribed = await late.ok(Subscribe, channels=[GENERATIONS])
            assert (subscribed.position, subscribed.data["resumed"]) == (head, False)
            second = await late.ok(BatchGenerate, prompts=["second"], delay_ms=0)
            [second_id] = second.data["generation_ids"]
            await late.until(lambda: statuses_of(late, second_id)[-1:] == ["completed"])
            assert {d.data["id"] for d in late.deltas} == {second_id}
            assert all(d.position > head for d in late.deltas)
            await late.close()
            await early.close()

    run(scenario())
